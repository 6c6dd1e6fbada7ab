"""Compiled vector/matrix objectives: gradients and Hessians against finite differences,
stable at extreme logits, straight-line BLAS code (mirrors ``symgd/compile/tensors.py``)."""

from __future__ import annotations

import re

import mpmath
import numpy
import pytest

from symgd.compile import compile_tensor
from symgd.define import tensor_objective
from symgd.derivation import derive_tensor
from symgd.verify.gradcheck import check_gradient

#: The size of each shape letter in the tests.
SIZES = {"m": 5, "d": 3, "k": 4, "n": 3, "p": 4, "a": 5, "r": 2, "h": 4}

#: (name, loss, parameters, data, labels: how ``y``/``Y`` is drawn, has a Hessian)
OBJECTIVES = [
    ("least squares", "sum((X@w + b - y)**2)/(2*m)", "w[d], b", "X[m,d], y[m]", "real", True),
    ("ridge", "sum((X@w - y)**2)/(2*m) + 0.1*sum(w**2)", "w[d]", "X[m,d], y[m]", "real", True),
    (
        "logistic, softplus",
        "sum(softplus(-y*(X@w + b)))/m",
        "w[d], b",
        "X[m,d], y[m]",
        "sign",
        True,
    ),
    (
        "logistic, cross-entropy",
        "-sum(y*log(sigmoid(X@w+b)) + (1-y)*log(1-sigmoid(X@w+b)))/m",
        "w[d], b",
        "X[m,d], y[m]",
        "binary",
        True,
    ),
    (
        "softmax regression",
        "sum(logsumexp(X@W.T + b) - sum(Y*(X@W.T + b), axis=1))/m",
        "W[k,d], b[k]",
        "X[m,d], Y[m,k]",
        "onehot",
        False,
    ),
    ("quadratic form", "0.5*x@A@x", "x[n]", "A[n,n]", "real", True),
    ("squared residual norm", "norm(A@x-y)**2", "x[n]", "A[p,n], y[p]", "real", True),
    ("trace", "trace(A@X.T@B@X@C)", "X[p,n]", "A[n,n], B[p,p], C[n,n]", "real", False),
    (
        "matrix factorisation",
        "norm(M*(R - U@V.T))**2",
        "U[a,r], V[n,r]",
        "M[a,n], R[a,n]",
        "real",
        False,
    ),
    (
        "two-layer tanh",
        "sum(tanh(X@W1.T + b1)@w2)",
        "W1[h,d], b1[h], w2[h]",
        "X[m,d]",
        "real",
        False,
    ),
]

_IDS = [row[0] for row in OBJECTIVES]


def _shape(objective, symbol) -> tuple[int, ...]:
    return tuple(SIZES[str(n)] if not n.is_Integer else int(n) for n in objective.shape(symbol))


def _draw(objective, labels: str, seed: int = 0) -> tuple[dict, dict]:
    """Seeded parameters and data; ``y``/``Y`` drawn as the loss expects (±1, 0/1, one-hot)."""
    rng = numpy.random.default_rng(seed)
    params = {p.name: 0.5 * rng.standard_normal(_shape(objective, p)) for p in objective.params}
    data = {}
    for s in objective.data:
        shape = _shape(objective, s)
        value = rng.standard_normal(shape)
        if s.name in ("y", "Y") and labels == "sign":
            value = numpy.where(value > 0, 1.0, -1.0)
        elif s.name in ("y", "Y") and labels == "binary":
            value = (value > 0).astype(float)
        elif s.name in ("y", "Y") and labels == "onehot":
            value = numpy.eye(shape[1])[rng.integers(0, shape[1], shape[0])]
        data[s.name] = value
    return params, data


class _Flat:
    """A compiled objective as functions of one flat parameter vector (for the checkers)."""

    def __init__(self, compiled, params: dict, data: dict):
        self.compiled, self.data = compiled, data
        self.shapes = {n: numpy.shape(params[n]) for n in compiled.params}
        self.theta = numpy.concatenate([numpy.ravel(params[n]) for n in compiled.params])

    def params(self, theta: numpy.ndarray) -> dict:
        values, start = {}, 0
        for name, shape in self.shapes.items():
            size = int(numpy.prod(shape))
            values[name] = theta[start : start + size].reshape(shape)
            start += size
        return values

    def loss(self, theta: numpy.ndarray) -> float:
        return self.compiled.loss(self.params(theta), self.data)

    def gradient(self, theta: numpy.ndarray) -> numpy.ndarray:
        gradient = self.compiled.gradient(self.params(theta), self.data)
        return numpy.concatenate(
            [numpy.ravel(numpy.broadcast_to(gradient[n], s)) for n, s in self.shapes.items()]
        )

    def hessian(self, theta: numpy.ndarray) -> numpy.ndarray:
        return self.compiled.hessian(self.params(theta), self.data)


def _gradient_matches(loss, gradient, theta) -> bool:
    return check_gradient(loss, gradient, theta, rtol=1e-6, atol=1e-8).passed


def _hessian_matches(gradient, hessian, theta) -> bool:
    """Each row of the Hessian against central differences of that gradient entry."""
    return all(
        _gradient_matches(lambda t, j=j: gradient(t)[j], lambda t, j=j: hessian(t)[j], theta)
        for j in range(theta.size)
    )


@pytest.fixture(scope="module")
def compiled_objectives() -> dict:
    compiled = {}
    for name, loss, params, data, _, hessian in OBJECTIVES:
        derivation = derive_tensor(tensor_objective(loss, params, data))
        compiled[name] = compile_tensor(derivation, hessian=hessian)
    return compiled


@pytest.mark.parametrize("row", OBJECTIVES, ids=_IDS)
def test_gradient_equals_finite_differences(row, compiled_objectives):
    name, *_, labels, _ = row
    compiled = compiled_objectives[name]
    flat = _Flat(compiled, *_draw(compiled.derivation.objective, labels))
    assert _gradient_matches(flat.loss, flat.gradient, flat.theta), compiled.source


@pytest.mark.parametrize(
    "row", [r for r in OBJECTIVES if r[-1]], ids=[r[0] for r in OBJECTIVES if r[-1]]
)
def test_hessian_equals_finite_differences_of_the_gradient(row, compiled_objectives):
    name, *_, labels, _ = row
    compiled = compiled_objectives[name]
    flat = _Flat(compiled, *_draw(compiled.derivation.objective, labels, seed=1))
    hessian = flat.hessian(flat.theta)
    assert hessian.shape == (flat.theta.size, flat.theta.size)
    numpy.testing.assert_allclose(hessian, hessian.T, rtol=1e-12, atol=1e-12)
    assert _hessian_matches(flat.gradient, flat.hessian, flat.theta), compiled.source


def test_the_checkers_fail_a_wrong_gradient_and_a_wrong_hessian(compiled_objectives):
    compiled = compiled_objectives["logistic, cross-entropy"]
    flat = _Flat(compiled, *_draw(compiled.derivation.objective, "binary"))
    nudge = numpy.zeros_like(flat.theta)
    nudge[1] = 1e-4
    assert _gradient_matches(flat.loss, flat.gradient, flat.theta)
    assert not _gradient_matches(flat.loss, lambda t: flat.gradient(t) + nudge, flat.theta)
    assert not _gradient_matches(flat.loss, lambda t: 1.001 * flat.gradient(t), flat.theta)
    assert not _hessian_matches(flat.gradient, lambda t: flat.hessian(t) * 1.001, flat.theta)


def test_least_squares_equals_the_closed_form(compiled_objectives):
    compiled = compiled_objectives["least squares"]
    params, data = _draw(compiled.derivation.objective, "real")
    X, y, w, b = data["X"], data["y"], params["w"], params["b"]
    residual = X @ w + b - y
    loss, gradient = compiled.loss_and_gradient(params, data)
    assert loss == pytest.approx(residual @ residual / (2 * len(y)), rel=1e-12)
    numpy.testing.assert_allclose(gradient["w"], X.T @ residual / len(y), rtol=1e-12)
    numpy.testing.assert_allclose(gradient["b"], residual.mean(), rtol=1e-12)
    hessian = compile_tensor(compiled.derivation, hessian=True).hessian(params, data)
    design = numpy.column_stack([X, numpy.ones(len(y))])
    numpy.testing.assert_allclose(hessian, design.T @ design / len(y), rtol=1e-12)


def test_a_mini_batch_is_the_batch_objective(compiled_objectives):
    """``m`` is read off the arrays: rows 1..3 give the mean over those three examples."""
    compiled = compiled_objectives["logistic, cross-entropy"]
    params, data = _draw(compiled.derivation.objective, "binary")
    batch = {name: value[1:4] for name, value in data.items()}
    loss, gradient = compiled.loss_and_gradient(params, batch)
    z = batch["X"] @ params["w"] + params["b"]
    p = 1 / (1 + numpy.exp(-z))
    y = batch["y"]
    assert loss == pytest.approx(-numpy.mean(y * numpy.log(p) + (1 - y) * numpy.log(1 - p)))
    numpy.testing.assert_allclose(gradient["w"], batch["X"].T @ (p - y) / 3, rtol=1e-12)


def _mp_softplus(z: float) -> mpmath.mpf:
    return mpmath.log(1 + mpmath.exp(mpmath.mpf(z)))


@pytest.mark.parametrize("name", ["logistic, softplus", "logistic, cross-entropy"])
def test_logistic_is_finite_and_exact_at_logits_of_800(name, compiled_objectives):
    compiled = compiled_objectives[name]
    labels = "sign" if "softplus" in name else "binary"
    X = numpy.array([[800.0], [-800.0], [800.0], [-800.0], [0.5]])
    y = numpy.array([1.0, 1.0, -1.0, -1.0, 1.0])
    y = y if labels == "sign" else (y > 0).astype(float)
    params = {"w": numpy.array([1.0]), "b": numpy.float64(0.0)}
    with numpy.errstate(over="raise", divide="raise", invalid="raise"):
        loss, gradient = compiled.loss_and_gradient(params, {"X": X, "y": y})
    signs = numpy.where(y > 0, 1.0, -1.0)
    z = X[:, 0]
    expected_loss = sum(_mp_softplus(-s * t) for s, t in zip(signs, z, strict=True)) / len(z)
    sigma = [1 / (1 + mpmath.exp(s * t)) for s, t in zip(signs, z, strict=True)]
    expected_w = sum(-s * q * t for s, q, t in zip(signs, sigma, z, strict=True)) / len(z)
    assert loss == pytest.approx(float(expected_loss), rel=1e-13)
    assert gradient["w"][0] == pytest.approx(float(expected_w), rel=1e-13)
    assert numpy.isfinite(compiled.hessian(params, {"X": X, "y": y})).all()


def test_softmax_regression_is_finite_and_exact_at_logits_of_1000(compiled_objectives):
    compiled = compiled_objectives["softmax regression"]
    X = numpy.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    W = numpy.zeros((4, 3))
    W[0, 0], W[1, 0], W[2, 1], W[3, 1] = 1000.0, -1000.0, 1000.0, 999.0
    Y = numpy.eye(4)[[1, 3]]
    params = {"W": W, "b": numpy.zeros(4)}
    with numpy.errstate(over="raise", divide="raise", invalid="raise"):
        loss, gradient = compiled.loss_and_gradient(params, {"X": X, "Y": Y})
    logits = X @ W.T
    expected = 0
    for row, label in zip(logits, (1, 3), strict=True):
        expected += mpmath.log(sum(mpmath.exp(mpmath.mpf(v)) for v in row)) - row[label]
    assert loss == pytest.approx(float(expected / 2), rel=1e-13)
    assert numpy.isfinite(gradient["W"]).all() and numpy.isfinite(gradient["b"]).all()
    # Row 1 puts 1/(1+e) on class 3 and e/(1+e) on class 2, against a target on class 3.
    share = float(1 / (1 + mpmath.e))
    numpy.testing.assert_allclose(gradient["b"], [0.5, -0.5, (1 - share) / 2, (share - 1) / 2])


#: (name, what the generated loss_and_gradient or hessian must contain)
STRAIGHT_LINE = [
    ("least squares", ["X_ @ w", "X_.T"]),
    ("logistic, cross-entropy", ["_softplus_sigmoid(", "X_.T"]),
    ("logistic, softplus", ["_softplus_sigmoid(", "X_.T"]),
    ("softmax regression", ["_logsumexp_softmax_rows("]),
]


@pytest.mark.parametrize(("name", "needles"), STRAIGHT_LINE, ids=[r[0] for r in STRAIGHT_LINE])
def test_generated_code_is_straight_line_blas(name, needles, compiled_objectives):
    source = compiled_objectives[name].source
    for needle in needles:
        assert needle in source, source
    for banned in ("for ", ".copy(", "numpy.diag(", "while "):
        assert banned not in source, source
    assert source.count(" @ ") >= 2


@pytest.mark.parametrize("name", ["logistic, softplus", "logistic, cross-entropy"])
def test_each_shared_part_is_computed_once(name, compiled_objectives):
    """``X@w``, the logits and σ are computed once for the loss and both gradients."""
    source = compiled_objectives[name].source
    loss_and_gradient, hessian = source.split("\n\n\ndef hessian")
    assert loss_and_gradient.count("X_ @ w") == 1
    assert loss_and_gradient.count("_sigmoid") == 1, loss_and_gradient
    assert hessian.count("_sigmoid_derivative(") == 1, hessian
    # diag(c) @ X is a row scaling; the block below the diagonal is a transpose.
    assert re.search(r"\[:, None\] \* X_", hessian), hessian
    assert "numpy.transpose(h_0_1)" in hessian


def test_a_hessian_needs_vector_parameters(compiled_objectives):
    compiled = compiled_objectives["softmax regression"]
    with pytest.raises(ValueError, match="matrix"):
        compile_tensor(compiled.derivation, hessian=True)
    params, data = _draw(compiled.derivation.objective, "onehot")
    with pytest.raises(ValueError, match="compiled without a Hessian"):
        compiled.hessian(params, data)
    with pytest.raises(ValueError, match="no value for 'b'"):
        compiled.loss({"W": params["W"]}, data)
