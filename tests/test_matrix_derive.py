"""Stage 2: vector and matrix gradients and Hessians, each checked against ``sympy.diff`` of the
objective written out element by element (MatrixCalculus.org's examples and the usual models)."""

from __future__ import annotations

import dataclasses

import pytest
import sympy

from symgd.define import Operation, tensor_objective
from symgd.derivation import (
    check_expanded_gradient as check_gradient,
    check_expanded_hessian as check_hessian,
    derive_hessian,
    derive_tensor,
    expansion,
)
from symgd.render.tensors import tensor_latex, tensor_text

#: (loss, params, data, {parameter: the gradient exactly as tensor_text prints it}).
GRADIENTS = [
    ("0.5*x@A@x", "x[n]", "A[n,n]", {"x": "0.5*x @ A + 0.5*(A @ x)"}),
    ("sum(A@exp(x))", "x[n]", "A[m,n]", {"x": "sum(A, axis=0)*exp(x)"}),
    ("y@(A@exp(x))", "x[n]", "A[m,n], y[m]", {"x": "(A.T @ y)*exp(x)"}),
    ("(y*v)@x", "x[n]", "y[n], v[n]", {"x": "v*y"}),
    ("norm(A@x-y)**2", "x[n]", "A[m,n], y[m]", {"x": "2*(A.T @ (A @ x - y))"}),
    (
        "sum(log(exp(-y*(X@w)) + 1))", "w[d]", "X[m,d], y[m]",
        {"w": "-X.T @ (y/(exp((X @ w)*y) + 1))"},
    ),
    (
        "trace(A@X.T@B@X@C)", "X[n,k]", "A[p,k], B[n,n], C[k,p]",
        {"X": "B.T @ X @ A.T @ C.T + B @ X @ C @ A"},
    ),
    ("log(det(inv(X)))", "X[n,n]", "", {"X": "-inv(X).T"}),
    ("sum((X@w - y)**2)/(2*m)", "w[d]", "X[m,d], y[m]", {"w": "(X.T @ (X @ w - y))/m"}),
    (
        "sum((X@w - y)**2)/(2*m) + lamda/2*w@w", "w[d]", "X[m,d], y[m], lamda",
        {"w": "(X.T @ (X @ w - y))/m + lamda*w"},
    ),
    (
        "sum(softplus(-y*(X@w + b)))/m", "w[d], b", "X[m,d], y[m]",
        {
            "w": "-X.T @ (y*sigmoid(-y*(X @ w + b)))/m",
            "b": "-sum(y*sigmoid(-y*(X @ w + b)))/m",
        },
    ),
    (
        "-sum(y*log(sigmoid(X@w+b)) + (1-y)*log(1-sigmoid(X@w+b)))/m", "w[d], b", "X[m,d], y[m]",
        {"w": "(X.T @ (sigmoid(X @ w + b) - y))/m", "b": "sum(sigmoid(X @ w + b) - y)/m"},
    ),
    (
        "sum(logsumexp(X@W.T + b) - sum(Y*(X@W.T + b), axis=1))/m", "W[k,d], b[k]",
        "X[m,d], Y[m,k]",
        {
            "W": "((softmax(X @ W.T + b) - Y).T @ X)/m",
            "b": "sum(softmax(X @ W.T + b) - Y, axis=0)/m",
        },
    ),
    (
        "norm(M*(R - U@V.T))**2", "U[n,k], V[p,k]", "M[n,p], R[n,p]",
        {"U": "2*((M**2*(U @ V.T - R)) @ V)", "V": "2*((M**2*(U @ V.T - R)).T @ U)"},
    ),
    (
        "sum(tanh(X@W1.T + b1)@w2)", "W1[h,d], b1[h], w2[h]", "X[m,d]",
        {
            "W1": "(w2*(1 - tanh(X @ W1.T + b1)**2)).T @ X",
            "b1": "sum(w2*(1 - tanh(X @ W1.T + b1)**2), axis=0)",
            "w2": "sum(tanh(X @ W1.T + b1), axis=0)",
        },
    ),
]  # fmt: skip

#: (loss, params, data, {(q, p): the Hessian block as tensor_text prints it}).
HESSIANS = [
    ("0.5*x@A@x", "x[n]", "A[n,n]", {("x", "x"): "0.5*A + 0.5*A.T"}),
    ("norm(A@x-y)**2", "x[n]", "A[m,n], y[m]", {("x", "x"): "2*(A.T @ A)"}),
    ("sum((X@w - y)**2)/(2*m)", "w[d]", "X[m,d], y[m]", {("w", "w"): "(X.T @ X)/m"}),
    (
        "sum((X@w - y)**2)/(2*m) + lamda/2*w@w", "w[d]", "X[m,d], y[m], lamda",
        {("w", "w"): "(X.T @ X)/m + lamda*eye(d)"},
    ),
    (
        "-sum(y*log(sigmoid(X@w+b)) + (1-y)*log(1-sigmoid(X@w+b)))/m", "w[d], b", "X[m,d], y[m]",
        {
            ("w", "w"): "(X.T @ (diag((1 - sigmoid(X @ w + b))*sigmoid(X @ w + b)) @ X))/m",
            ("b", "b"): "sum((1 - sigmoid(X @ w + b))*sigmoid(X @ w + b))/m",
        },
    ),
    (
        "sum(softplus(-y*(X@w + b)))/m", "w[d], b", "X[m,d], y[m]",
        {
            ("w", "w"): "(X.T @ (diag(y**2*(1 - sigmoid(-y*(X @ w + b)))*sigmoid(-y*(X @ w + b)))"
            " @ X))/m",
        },
    ),
    ("sum(A@exp(x))", "x[n]", "A[m,n]", {("x", "x"): "diag(sum(A, axis=0)*exp(x))"}),
]  # fmt: skip


def _derive(loss: str, params: str, data: str):
    return derive_tensor(tensor_objective(loss, params, data))


def _named(derivation, name: str) -> sympy.Symbol:
    return next(p for p in derivation.objective.params if p.name == name)


@pytest.mark.parametrize(("loss", "params", "data", "expected"), GRADIENTS)
def test_gradient_text_and_check(loss, params, data, expected):
    derivation = _derive(loss, params, data)
    printed = {p.name: tensor_text(derivation.graph, g) for p, g in derivation.gradient.items()}
    assert printed == expected
    for g in derivation.gradient.values():
        assert tensor_latex(derivation.graph, g)
    check = check_gradient(derivation)
    assert check.passed, check


@pytest.mark.parametrize(("loss", "params", "data", "expected"), HESSIANS)
def test_hessian_text_and_check(loss, params, data, expected):
    hessian = derive_hessian(_derive(loss, params, data))
    printed = {
        (q.name, p.name): tensor_text(hessian.graph, h) for (q, p), h in hessian.blocks.items()
    }
    for key, text in expected.items():
        assert printed[key] == text
    check = check_hessian(hessian)
    assert check.passed, check


def test_piecewise_hessian_has_no_impulse():
    # d/dz of Heaviside is an impulse; almost everywhere (and in every framework) it is 0.
    hessian = derive_hessian(_derive("sum(Max(0, 1 - y*(X@w)))/m", "w[d]", "X[m,d], y[m]"))
    w = _named(hessian.derivation, "w")
    assert tensor_text(hessian.graph, hessian.blocks[w, w]) == "0"
    gradient = tensor_text(hessian.graph, hessian.derivation.gradient[w])
    assert "Heaviside" in gradient and "DiracDelta" not in gradient


def test_logistic_hessian_is_x_diag_x():
    hessian = derive_hessian(_derive("sum(softplus(-y*(X@w + b)))/m", "w[d], b", "X[m,d], y[m]"))
    w = _named(hessian.derivation, "w")
    assert "diag(" in tensor_text(hessian.graph, hessian.blocks[w, w])
    assert r"\operatorname{diag}" in tensor_latex(hessian.graph, hessian.blocks[w, w])


@pytest.mark.parametrize(
    ("loss", "params", "data"),
    [
        ("log(det(inv(X)))", "X[n,n]", ""),
        ("norm(M*(R - U@V.T))**2", "U[n,k], V[p,k]", "M[n,p], R[n,p]"),
    ],
)
def test_hessian_of_a_matrix_parameter_is_refused_in_one_line(loss, params, data):
    with pytest.raises(ValueError, match="is a matrix") as error:
        derive_hessian(_derive(loss, params, data))
    assert "\n" not in str(error.value)


def test_derive_needs_no_size_and_checks_at_two_sizes(monkeypatch):
    derivation = _derive("sum(softplus(-y*(X@w + b)))/m", "w[d], b", "X[m,d], y[m]")
    for g in derivation.gradient.values():  # sizes stay symbolic: no number but the ones written
        assert not g.atoms(sympy.Integer) - {sympy.Integer(-1), sympy.Integer(1)}
    sizes = []
    for chosen in [(3, 2, 4), (2, 5)]:
        monkeypatch.setattr(expansion, "SIZES", chosen)
        check = check_gradient(derivation)
        assert check.passed, check
        sizes.append(check.sizes)
    assert sizes[0] != sizes[1]


def _wrong(derivation, name: str, change):
    p = _named(derivation, name)
    gradient = {**derivation.gradient, p: change(derivation, derivation.gradient[p])}
    return dataclasses.replace(derivation, gradient=gradient)


def _transposed(derivation, g):
    graph = derivation.graph
    return graph.add(Operation("transpose", (g,), graph.shape(g)[::-1]))


@pytest.mark.parametrize(
    ("loss", "params", "data", "name", "change"),
    [
        ("sum((X@w - y)**2)/(2*m)", "w[d]", "X[m,d], y[m]", "w", lambda d, g: 1.01 * g),
        ("sum(softplus(-y*(X@w + b)))/m", "w[d], b", "X[m,d], y[m]", "b", lambda d, g: 1.01 * g),
        ("log(det(inv(X)))", "X[n,n]", "", "X", _transposed),
        ("trace(A@X@B)", "X[n,n]", "A[n,n], B[n,n]", "X", _transposed),
        (
            "sum((X@w - y)**2)/(2*m) + lamda/2*w@w", "w[d]", "X[m,d], y[m], lamda", "w",
            lambda d, g: g.subs(d.objective.data[2], 0),  # the ridge term left out
        ),
    ],
)  # fmt: skip
def test_a_wrong_gradient_fails_the_check(loss, params, data, name, change):
    derivation = _derive(loss, params, data)
    assert check_gradient(derivation).passed
    assert not check_gradient(_wrong(derivation, name, change)).passed


def test_a_wrong_hessian_block_fails_the_check():
    hessian = derive_hessian(_derive("sum(softplus(-y*(X@w + b)))/m", "w[d], b", "X[m,d], y[m]"))
    assert check_hessian(hessian).passed
    w = _named(hessian.derivation, "w")
    blocks = {**hessian.blocks, (w, w): 1.01 * hessian.blocks[w, w]}
    assert not check_hessian(dataclasses.replace(hessian, blocks=blocks)).passed
    b = _named(hessian.derivation, "b")
    blocks = {**hessian.blocks, (w, b): 0 * hessian.blocks[w, b]}
    assert not check_hessian(dataclasses.replace(hessian, blocks=blocks)).passed
