"""symgd.render.matrix_document: matrix-form derivations as LaTeX, Markdown, documents and text."""

from __future__ import annotations

import re

import pytest

from symgd.define import tensor_expression, tensor_objective
from symgd.derivation import derive_hessian, derive_tensor
from symgd.derivation.expansion import compare
from symgd.display import display_latex
from symgd.parse import ParseError
from symgd.render import matrix_document, matrix_latex, matrix_markdown, matrix_text
from symgd.render.tensors import tensor_latex

_LOGISTIC = "-sum(y*log(sigmoid(z)) + (1 - y)*log(1 - sigmoid(z)))/m"

#: name: (loss, params, data, definitions, names shown, with Hessian, LaTeX the block must hold)
CASES = {
    "least-squares": (
        "sum((X@w + b - y)**2)/(2*m)",
        "w[d], b",
        "X[m,d], y[m]",
        (),
        None,
        False,
        [
            r"\boldsymbol{X} \in \mathbb{R}^{m \times d}",
            r"\boldsymbol{w} \in \mathbb{R}^{d}",
            r"b \in \mathbb{R}",
            r"\frac{\partial J}{\partial \left(\boldsymbol{X} \boldsymbol{w}\right)} &= ",
        ],
    ),
    "ridge": (
        "sum((X@w + b - y)**2)/(2*m) + lamda/2*(w@w)",
        "w[d], b",
        "X[m,d], y[m], lamda",
        (),
        None,
        True,
        [r"\lambda \in \mathbb{R}", r"\lambda \boldsymbol{w}", r"\lambda I"],
    ),
    "logistic": (
        _LOGISTIC,
        "w[d], b",
        "X[m,d], y[m]",
        ("z = X@w + b",),
        {"p": "sigmoid(z)"},
        True,
        [
            r"\boldsymbol{z} &= \boldsymbol{X} \boldsymbol{w} + b",
            r"\boldsymbol{p} &= \sigma\left(\boldsymbol{z}\right)",
            r"\frac{\partial J}{\partial \boldsymbol{z}} &= ",
            r"\boldsymbol{X}^{\top} \left(\boldsymbol{p} - \boldsymbol{y}\right)",
            r"\nabla^{2}_{\boldsymbol{w} \boldsymbol{w}} J &= ",
            r"\nabla^{2}_{\boldsymbol{w} b} J &= ",
            r"\frac{\partial^{2} J}{\partial b^{2}} &= ",
            r"\operatorname{diag}\left(",
            r"\odot",
        ],
    ),
    "softmax": (
        "(sum(logsumexp(Z)) - sum(Y*Z))/m",
        "W[k,d], b[k]",
        "X[m,d], Y[m,k]",
        ("Z = X@W.T + b",),
        {"P": "softmax(Z)"},
        False,
        [
            r"\boldsymbol{W} \in \mathbb{R}^{k \times d}",
            r"\boldsymbol{Z} &= \boldsymbol{X} \boldsymbol{W}^{\top} + \boldsymbol{b}",
            r"\boldsymbol{P} &= \operatorname{softmax}\left(\boldsymbol{Z}\right)",
            r"\nabla_{\boldsymbol{W}} J &= ",
            r"\nabla_{\boldsymbol{b}} J &= ",
            r"\left(\boldsymbol{P} - \boldsymbol{Y}\right)^{\top} \boldsymbol{X}",
            r"\odot",
        ],
    ),
}


def _made(name):
    loss, params, data, define, names, with_hessian, _ = CASES[name]
    derivation = derive_tensor(tensor_objective(loss, params, data, define=define))
    return derivation, derive_hessian(derivation) if with_hessian else None, names


@pytest.fixture(scope="module")
def made():
    return {name: _made(name) for name in CASES}


@pytest.mark.parametrize("name", CASES)
def test_latex_block_shows_shapes_gradients_and_convention(made, name):
    derivation, hessian, names = made[name]
    latex = matrix_latex(derivation, hessian, names=names)
    assert latex.startswith("\\begin{align*}") and latex.endswith("\\end{align*}")
    for needed in CASES[name][-1]:
        assert needed in latex, needed
    assert r"\text{(a gradient has the shape of what it differentiates)}" in latex
    assert latex.count("shape of what it differentiates") == 1
    assert r"\nabla_{\boldsymbol{w}} J &= " in latex or r"\nabla_{\boldsymbol{W}} J &= " in latex
    assert r"\frac{\partial J}{\partial b} &= " in latex or r"\nabla_{\boldsymbol{b}} J" in latex
    assert r"^{\top}" in latex and r"\boldsymbol{X}" in latex


@pytest.mark.parametrize("name", CASES)
def test_no_internal_names_anywhere(made, name):
    derivation, hessian, names = made[name]
    for shown in (
        matrix_latex(derivation, hessian, names=names),
        matrix_markdown(derivation, hessian, names=names, title=name),
        matrix_document(derivation, hessian, names=names, title=name),
        matrix_text(derivation, hessian, names=names),
        display_latex(hessian if hessian is not None else derivation),
    ):
        assert "_t" not in shown and "_v" not in shown, shown


@pytest.mark.parametrize("name", ["least-squares", "ridge"])
def test_gradient_lines_are_the_engine_gradients(made, name):
    derivation, hessian, _ = made[name]
    latex = matrix_latex(derivation, hessian)
    w, b = derivation.objective.params
    lines = [line.removesuffix(" \\\\") for line in latex.splitlines()]
    shown_w = tensor_latex(derivation.graph, derivation.gradient[w])
    shown_b = tensor_latex(derivation.graph, derivation.gradient[b])
    assert rf"\nabla_{{\boldsymbol{{w}}}} J &= {shown_w}" in lines
    assert rf"\frac{{\partial J}}{{\partial b}} &= {shown_b}" in lines


@pytest.mark.parametrize("name", ["least-squares", "ridge"])
def test_text_gradients_read_back_as_the_gradient(made, name):
    """Each ``dJ/dθ = …`` line is NumPy notation that parses back to the correct gradient."""
    derivation, _, _ = made[name]
    objective = derivation.objective
    rows = matrix_text(derivation).splitlines()
    lines = dict(row.split(" = ", 1) for row in rows if " = " in row)
    graph = objective.graph.copy()
    results = {}
    for p in objective.params:
        expr, _ = tensor_expression(objective, lines[f"dJ/d{p.name}"], graph)
        results[p.name] = (expr, (p,))
    assert compare(objective, graph, results).passed


def test_a_wrong_text_gradient_fails_the_read_back(made):
    derivation, _, _ = made["least-squares"]
    objective = derivation.objective
    w = objective.params[0]
    expr, graph = tensor_expression(objective, "X.T @ (X@w + b - y)")  # the 1/m forgotten
    assert not compare(objective, graph, {"w": (expr, (w,))}).passed


def test_intermediate_adjoint_is_shown_once(made):
    """``∂J/∂(Xw)`` inside ``z = Xw + b`` equals ``∂J/∂z``: only the named one is shown."""
    derivation, hessian, names = made["logistic"]
    latex = matrix_latex(derivation, hessian, names=names)
    assert latex.count(r"\frac{\partial J}{\partial") == 2  # ∂J/∂z and ∂J/∂b
    assert r"\partial \left(\boldsymbol{X}" not in latex


def test_hessian_blocks_on_and_above_the_diagonal(made):
    derivation, hessian, names = made["logistic"]
    latex = matrix_latex(derivation, hessian, names=names)
    assert r"\nabla^{2}_{b \boldsymbol{w}}" not in latex
    line = next(row for row in latex.splitlines() if row.startswith(r"\nabla^{2}_{\boldsymbol{w}"))
    assert r"\boldsymbol{p}" in line and r"\sigma" not in line


def test_names_replace_inside_operations(made):
    """``p`` replaces ``σ(z)`` inside the sum of the objective too."""
    derivation, hessian, names = made["logistic"]
    text = matrix_text(derivation, hessian, names=names)
    assert "J(w, b) = -sum(y*log(p) + (1 - y)*log(1 - p))/m" in text
    assert "p = sigmoid(z)" in text and "d2J/dwdw = " in text
    plain = matrix_text(derivation, hessian)
    assert "sigmoid(z)" in plain.splitlines()[-1] and "p =" not in plain


@pytest.mark.parametrize(
    ("names", "error"),
    [
        ({"w": "sigmoid(z)"}, ValueError),
        ({"z": "X@w"}, ValueError),
        ({"2p": "sigmoid(z)"}, ParseError),
        ({"p": "sigmoid(z"}, ParseError),
        ({"p": "__import__('os')"}, ParseError),
    ],
)
def test_bad_names_are_one_line_errors(made, names, error):
    derivation, _, _ = made["logistic"]
    with pytest.raises(error) as caught:
        matrix_latex(derivation, names=names)
    assert "\n" not in str(caught.value)


def test_markdown_blocks(made):
    derivation, hessian, names = made["logistic"]
    markdown = matrix_markdown(derivation, hessian, names=names, title="Logistic regression")
    assert markdown.startswith("# Logistic regression")
    assert markdown.count("$$") % 2 == 0 and markdown.count("\\begin{aligned}") == 5
    for heading in ("Shapes", "Objective", "Backward through the intermediates", "Hessian"):
        assert f"**{heading}**" in markdown


def test_display_hook(made):
    derivation, hessian, _ = made["logistic"]
    for result in (derivation, hessian):
        shown = display_latex(result)
        assert shown.startswith("$$\\begin{aligned}") and shown.endswith("\\end{aligned}$$")
    if hasattr(derivation, "_repr_latex_"):
        assert derivation._repr_latex_() == display_latex(derivation)


@pytest.mark.parametrize("name", CASES)
def test_documents_compile_with_pdflatex(made, name, pdflatex):
    derivation, hessian, names = made[name]
    source = matrix_document(derivation, hessian, names=names, title=f"{name} & {{100%}}")
    pdf = pdflatex(source, name=name)
    log = pdf.with_suffix(".log").read_text(encoding="latin-1")
    assert "Overfull \\hbox" not in log, re.findall(r"Overfull.*\n.*", log)[:3]
