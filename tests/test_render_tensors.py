"""Stage 3: vector and matrix results as NumPy text (which parses back) and as LaTeX (which the
real pdflatex compiles)."""

from __future__ import annotations

import re

import pytest
from test_matrix_derive import GRADIENTS, HESSIANS

from symgd.define import tensor_expression, tensor_objective
from symgd.derivation import derive_hessian, derive_tensor
from symgd.derivation.expansion import compare
from symgd.render import document
from symgd.render.tensors import tensor_latex, tensor_text

INTERNAL = re.compile(r"_t\d|_v")


def _derivation(loss: str, params: str, data: str):
    return derive_tensor(tensor_objective(loss, params, data))


def _all_printed():
    """(label, text, LaTeX) of every gradient and Hessian block of the tables."""
    printed = []
    for loss, params, data, _ in GRADIENTS:
        derivation = _derivation(loss, params, data)
        for p, g in derivation.gradient.items():
            label = f"{loss}: d/d{p}"
            printed.append(
                (label, tensor_text(derivation.graph, g), tensor_latex(derivation.graph, g))
            )
    for loss, params, data, _ in HESSIANS:
        hessian = derive_hessian(_derivation(loss, params, data))
        for (q, p), h in hessian.blocks.items():
            label = f"{loss}: d2/d{q}d{p}"
            printed.append((label, tensor_text(hessian.graph, h), tensor_latex(hessian.graph, h)))
    return printed


@pytest.fixture(scope="module")
def printed():
    return _all_printed()


def test_no_internal_node_name_is_ever_printed(printed):
    for label, text, latex in printed:
        assert not INTERNAL.search(text), (label, text)
        assert not INTERNAL.search(latex), (label, latex)


def test_all_latex_compiles_with_pdflatex(printed, pdflatex):
    body = "\n".join(f"\\[ {latex} \\]" for _, _, latex in printed)
    pdflatex(document(body, title="Matrix gradients"))


LATEX = [
    ("sum((X@w - y)**2)/(2*m)", "w[d]", "X[m,d], y[m]", "w",
     r"\frac{\boldsymbol{X}^{\top} \left(\boldsymbol{X} \boldsymbol{w} - "
     r"\boldsymbol{y}\right)}{m}"),
    ("norm(M*(R - U@V.T))**2", "U[n,k], V[p,k]", "M[n,p], R[n,p]", "U",
     r"2 \left(\boldsymbol{M}^{2} \odot \left(\boldsymbol{U} \boldsymbol{V}^{\top} - "
     r"\boldsymbol{R}\right)\right) \boldsymbol{V}"),
    ("0.5*x@A@x", "x[n]", "A[n,n]", "x",
     r"0.5 \boldsymbol{x}^{\top} \boldsymbol{A} + 0.5 \boldsymbol{A} \boldsymbol{x}"),
    ("log(det(inv(X)))", "X[n,n]", "", "X", r"- \boldsymbol{X}^{-\top}"),
    ("y@(A@exp(x))", "x[n]", "A[m,n], y[m]", "x",
     r"\left(\boldsymbol{A}^{\top} \boldsymbol{y}\right) \odot e^{\boldsymbol{x}}"),
]  # fmt: skip


@pytest.mark.parametrize(("loss", "params", "data", "name", "expected"), LATEX)
def test_latex(loss, params, data, name, expected):
    derivation = _derivation(loss, params, data)
    p = next(s for s in derivation.objective.params if s.name == name)
    assert tensor_latex(derivation.graph, derivation.gradient[p]) == expected


def test_bold_arrays_transposes_and_hadamard_products(printed):
    latex = {label: latex for label, _, latex in printed}
    softplus = latex["sum(softplus(-y*(X@w + b)))/m: d/dw"]
    assert r"\boldsymbol{X}^{\top}" in softplus and r"\odot" in softplus
    assert r"\boldsymbol{b}" not in softplus  # a scalar stays plain
    ridge = latex["sum((X@w - y)**2)/(2*m) + lamda/2*w@w: d2/dwdw"]
    assert ridge.endswith(r"\lambda I")


def test_bce_gradient_prints_as_a_lecturer_writes_it():
    derivation = _derivation(
        "-sum(y*log(sigmoid(X@w+b)) + (1-y)*log(1-sigmoid(X@w+b)))/m", "w[d], b", "X[m,d], y[m]"
    )
    w = derivation.objective.params[0]
    assert tensor_text(derivation.graph, derivation.gradient[w]) == (
        "(X.T @ (sigmoid(X @ w + b) - y))/m"
    )


@pytest.mark.parametrize(("loss", "params", "data", "expected"), GRADIENTS)
def test_printed_gradient_parses_back_to_the_same_values(loss, params, data, expected):
    derivation = _derivation(loss, params, data)
    objective = derivation.objective
    graph = objective.graph.copy()
    results = {}
    for p in objective.params:
        text = tensor_text(derivation.graph, derivation.gradient[p])
        expr, graph = tensor_expression(objective, text, graph)
        results[f"d/d{p}"] = (expr, (p,))
    check = compare(objective, graph, results)
    assert check.passed, check


def test_a_wrong_pasted_gradient_does_not_compare_equal():
    objective = tensor_objective("sum((X@w - y)**2)/(2*m)", "w[d]", "X[m,d], y[m]")
    expr, graph = tensor_expression(objective, "X.T @ (X @ w + y)/m")
    assert not compare(objective, graph, {"w": (expr, objective.params)}).passed


def test_printed_hessians_parse_back(printed):
    for loss, params, data, _ in HESSIANS:
        hessian = derive_hessian(_derivation(loss, params, data))
        objective = hessian.derivation.objective
        graph = objective.graph.copy()
        results = {}
        for (q, p), h in hessian.blocks.items():
            expr, graph = tensor_expression(objective, tensor_text(hessian.graph, h), graph)
            results[f"{q},{p}"] = (expr, (q, p))
        check = compare(objective, graph, results)
        assert check.passed, (loss, check)
