"""Stage 4: compiled NumPy code equals SymPy's own evaluation."""

from __future__ import annotations

import numpy
import pytest
import sympy
from numpy.testing import assert_allclose

from symgd.compile import compile_objective
from symgd.define import linear_regression, logistic_regression, objective
from symgd.derivation import derive


def _sympy_reference(derivation, theta, data):
    """J and ∇J evaluated by SymPy itself, example by example, in high precision."""
    obj = derivation.objective
    m = len(next(iter(data.values())))
    values = dict(zip(obj.params, theta))
    loss, grad = 0.0, numpy.zeros(len(obj.params))
    for i in range(m):
        point = {**values, **{d: data[d.name][i] for d in obj.data}}
        loss += float(obj.expanded_loss.rewrite(sympy.exp).evalf(30, subs=point))
        for k, p in enumerate(obj.params):
            grad[k] += float(derivation.gradient[p].rewrite(sympy.exp).evalf(30, subs=point))
    if obj.reduction == "mean":
        loss, grad = loss / m, grad / m
    if obj.l2:
        loss += obj.l2 / 2 * float(numpy.dot(theta, theta))
        grad += obj.l2 * numpy.asarray(theta)
    return loss, grad


OBJECTIVES = [
    linear_regression(),
    logistic_regression(),
    logistic_regression(features=4),
    objective("(y - (w*x + b))**2/2", "w,b", "x,y", l2=0.3),
    objective("log(cosh(w*x + b - y))", "w,b", "x,y", reduction="sum"),
    objective("(y - a*exp(-k*x))**2", "a,k", "x,y"),
    # A deep chain: some gradients share no factor with data, others only through tanh.
    objective(
        "(y - a3)**2/2",
        "w1,w2,w3",
        "x,y",
        define={"a1": "tanh(w1*x)", "a2": "tanh(w2*a1)", "a3": "tanh(w3*a2)"},
    ),
]


@pytest.mark.parametrize("obj", OBJECTIVES, ids=lambda o: str(o.loss))
def test_compiled_equals_sympy(obj):
    derivation = derive(obj)
    compiled = compile_objective(derivation)
    rng = numpy.random.default_rng(1)
    data = {d.name: rng.uniform(-1, 1, 7) for d in obj.data}
    if "y" in data and "sigmoid" in str(obj.expanded_loss):
        data["y"] = (data["y"] > 0).astype(float)
    theta = rng.uniform(-1, 1, len(obj.params))
    loss, grad = compiled.loss_and_gradient(theta, compiled.prepare(data))
    ref_loss, ref_grad = _sympy_reference(derivation, theta, data)
    assert_allclose(loss, ref_loss, rtol=1e-12)
    assert_allclose(grad, ref_grad, rtol=1e-11, atol=1e-14)
    assert_allclose(compiled.loss(theta, data), ref_loss, rtol=1e-12)
    assert_allclose(list(compiled.gradient(theta, data).values()), ref_grad, rtol=1e-11, atol=1e-14)


def test_source_is_kept_and_uses_blas_for_linear_structure():
    compiled = compile_objective(derive(logistic_regression(features=4)))
    assert "def gradient(theta, X):" in compiled.source
    assert "theta[0:4] @ X[0:4]" in compiled.source  # z = w . x as one product
    assert "grad[0:4] = X[0:4] @ r" in compiled.source  # X r for all weights at once
    assert "_sigmoid(" in compiled.source  # the stable sigmoid


def test_seed_source_shares_the_residual():
    compiled = compile_objective(derive(linear_regression()))
    gradient_source = compiled.source.split("def gradient")[1].split("def loss_and")[0]
    assert gradient_source.count("b + w*x - y") + gradient_source.count("w*x + b - y") <= 1


def test_stable_logistic_loss_is_finite_far_from_zero():
    compiled = compile_objective(derive(logistic_regression()))
    data = {"x": numpy.array([800.0, -800.0]), "y": numpy.array([0.0, 1.0])}
    loss, grad = compiled.loss_and_gradient(numpy.array([1.0, 0.0]), compiled.prepare(data))
    assert_allclose(loss, 800.0)
    assert numpy.all(numpy.isfinite(grad))


def test_symbols_named_like_generated_locals_still_work():
    obj = objective("(r - theta*X)**2/2", "theta", "X,r")
    compiled = compile_objective(derive(obj))
    got = compiled.gradient({"theta": 2.0}, {"X": [1.0, 2.0], "r": [1.0, 1.0]})
    assert_allclose(got["theta"], ((2 - 1) * 1 + (4 - 1) * 2) / 2)


def test_float32():
    compiled = compile_objective(derive(linear_regression()), dtype=numpy.float32)
    X = compiled.prepare({"x": [1.0, 2.0], "y": [3.0, 5.0]})
    assert X.dtype == numpy.float32
    loss, grad = compiled.loss_and_gradient(compiled.theta([2.0, 1.0]), X)
    assert grad.dtype == numpy.float32
    assert_allclose(grad, [0.0, 0.0])


@pytest.mark.parametrize(
    ("data", "message"),
    [({"x": [1.0]}, "no data for symbol 'y'"), ({"x": [1.0, 2.0], "y": [1.0]}, "differ in length")],
)
def test_bad_data_is_named(data, message):
    compiled = compile_objective(derive(linear_regression()))
    with pytest.raises(ValueError, match=message):
        compiled.prepare(data)


def test_float32_keeps_float32_through_constants():
    # sqrt(2/pi) and 0.044715 print as Python floats, so float32 data stays float32
    obj = objective("(y - w*x*(1 + tanh(sqrt(2/pi)*(w*x + 0.044715*(w*x)**3)))/2)**2", "w", "x,y")
    compiled = compile_objective(derive(obj), dtype=numpy.float32)
    X = compiled.prepare({"x": [0.5, -1.0], "y": [0.2, 0.1]})
    loss, grad = compiled.loss_and_gradient(compiled.theta([0.7]), X)
    assert loss.dtype == numpy.float32 and grad.dtype == numpy.float32
    with pytest.raises(ValueError, match="float64 or numpy.float32"):
        compile_objective(derive(obj), dtype=numpy.float16)


def test_huber_objective_compiles_piecewise_without_warnings():
    w, x, y = (sympy.Symbol(n, real=True) for n in "wxy")
    r = y - w * x
    huber = sympy.Piecewise((r**2 / 2, sympy.Abs(r) <= 1), (sympy.Abs(r) - sympy.S.Half, True))
    obj = objective(huber, "w", "x,y")
    compiled = compile_objective(derive(obj))
    data = {"x": numpy.array([1.0, 2.0, -3.0]), "y": numpy.array([0.5, 10.0, 0.0])}
    got = compiled.gradient({"w": 1.0}, data)["w"]
    residuals = data["x"] * 1.0 - data["y"]
    want = numpy.mean(numpy.clip(residuals, -1, 1) * data["x"])
    assert_allclose(got, want)
    assert "numpy.select" not in compiled.source
    assert "numpy.select" in compile_objective(derive(obj), stable=False).source


def test_stable_flag_off_shows_the_overflow():
    naive = compile_objective(derive(logistic_regression()), stable=False)
    data = naive.prepare({"x": numpy.array([800.0]), "y": numpy.array([0.0])})
    with pytest.warns(RuntimeWarning):
        loss = naive.loss_function(numpy.array([1.0, 0.0]), data)
    assert not numpy.isfinite(loss)
