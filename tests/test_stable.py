"""Stable numerics: accuracy against mpmath, no NumPy warnings, stable training."""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import numpy
import pytest
import sympy
from numpy.testing import assert_allclose

from symgd.compile import (
    compile_expression,
    compile_objective,
    stable_softplus_sigmoid,
)
from symgd.define import logistic_regression
from symgd.derivation import derive
from symgd.training import train
from symgd.verify import TOLERANCES, check_gradient

_BENCH = pathlib.Path(__file__).parents[1] / "benchmarks" / "bench_stable.py"
if str(_BENCH.parent) not in sys.path:  # the script imports its neighbour _timing.py
    sys.path.append(str(_BENCH.parent))
_spec = importlib.util.spec_from_file_location("bench_stable", _BENCH)
bench_stable = sys.modules.setdefault("bench_stable", importlib.util.module_from_spec(_spec))
if not hasattr(bench_stable, "ROWS"):
    _spec.loader.exec_module(bench_stable)

z, u, y = sympy.symbols("z u y", real=True)
a, b, c = sympy.symbols("a b c", real=True)
E = sympy.exp
T = sympy.Tuple

ACCURACY = {numpy.float64: 1e-12, numpy.float32: 1e-5}


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32], ids=lambda d: d.__name__)
@pytest.mark.parametrize("row", bench_stable.ROWS, ids=lambda r: r.name)
def test_accuracy_against_mpmath(row, dtype):
    worst, where = bench_stable.worst_error(row, dtype)
    assert worst <= ACCURACY[dtype], f"{row.name}: relative error {worst:.3g} at {where}"


def test_the_accuracy_check_fails_naive_code():
    row = bench_stable.Row("softplus", sympy.log(1 + E(z)))
    naive = compile_expression(row.expression, row.symbols, stable=False)
    with pytest.warns(RuntimeWarning, match="overflow"):
        assert numpy.isinf(naive(numpy.array([800.0]))[0])
    # the error measure itself catches a wrong answer: tanh' written without the rewrite
    wrong = bench_stable.Row("tanh'", sympy.Mul(sympy.Integer(1), 1 - sympy.tanh(z) ** 2))
    assert bench_stable._true_value(bench_stable._reference(wrong, 0.0), [30.0]) > 0
    plain = compile_expression(wrong.expression, wrong.symbols, stable=False)
    assert plain(numpy.array([30.0]))[0] == 0.0  # 1 - tanh(30)**2 cancels to 0: error 1


@pytest.mark.parametrize(
    ("expression", "naive_warns"),
    [
        (sympy.Piecewise((sympy.log(z), z > 0), (0, True)), True),
        (sympy.Piecewise((sympy.sqrt(z), z >= 0), (-sympy.sqrt(-z), True)), True),
        (sympy.Piecewise((z, sympy.Abs(z) <= 1), (sympy.sign(z), True)), False),  # Huber'
    ],
)
def test_piecewise_branches_only_where_selected(expression, naive_warns):
    values = numpy.array([-4.0, -1.0, 0.0, 0.25, 4.0])
    compiled = compile_expression(expression, [z])
    got = compiled(values)  # warnings are errors in this suite
    want = [float(expression.subs(z, v)) for v in values]
    assert_allclose(got, want, rtol=1e-15)
    if naive_warns:
        with pytest.warns(RuntimeWarning):
            compile_expression(expression, [z], stable=False)(values)


@pytest.mark.parametrize("at_zero", [0.0, 0.5, 1.0])
def test_relu_derivative_at_zero_is_configurable(at_zero):
    relu_derivative = sympy.diff(sympy.Max(0, z), z)
    compiled = compile_expression(relu_derivative, [z], heaviside_at_zero=at_zero)
    assert_allclose(compiled(numpy.array([-2.0, 0.0, 3.0])), [0.0, at_zero, 1.0])
    assert compile_expression(relu_derivative, [z])(numpy.array(0.0)) == 0.0  # the default


def test_softmax_cross_entropy_with_huge_logits():
    z1, z2, z3 = bench_stable.LOGITS
    total = E(z1) + E(z2) + E(z3)
    loss = compile_expression(-sympy.log(E(z1) / total), bench_stable.LOGITS)
    logits = numpy.array([[1e4, -1e4], [0.0, 0.0], [-1e4, 1e4]])
    assert_allclose(loss(*logits), [0.0, 2e4])


def test_separable_logistic_regression_trains_all_epochs():
    rng = numpy.random.default_rng(0)
    x = numpy.concatenate([rng.uniform(-3, -1, 50), rng.uniform(1, 3, 50)])
    data = {"x": x, "y": (x > 0).astype(float)}
    compiled = compile_objective(derive(logistic_regression()))
    result = train(compiled, data, {"w": 0.0, "b": 0.0}, learning_rate=50.0, epochs=3000)
    assert result.epochs == 3000 and not result.diverged
    assert result.params["w"] > 30  # the weights keep growing
    assert all(numpy.isfinite(result.loss_history))
    loss, gradient = compiled.loss_and_gradient(result.theta, compiled.prepare(data))
    assert numpy.isfinite(loss) and numpy.all(numpy.isfinite(gradient))
    # far beyond: every example at |z| > 800, where naive code gives inf and nan
    far = result.theta * 1000 / result.theta[0]
    loss, gradient = compiled.loss_and_gradient(far, compiled.prepare(data))
    assert numpy.isfinite(loss) and numpy.all(numpy.isfinite(gradient))
    naive = compile_objective(derive(logistic_regression()), stable=False)
    with numpy.errstate(all="ignore"):  # the teaching case: naive code overflows here
        loss, gradient = naive.loss_and_gradient(far, naive.prepare(data))
    assert not (numpy.isfinite(loss) and numpy.all(numpy.isfinite(gradient)))


def test_float32_gradient_check_with_stated_tolerances():
    compiled = compile_objective(derive(logistic_regression(features=3)), dtype=numpy.float32)
    rng = numpy.random.default_rng(2)
    data = {f"x{j}": rng.standard_normal(64) for j in (1, 2, 3)}
    data["y"] = (data["x1"] > 0).astype(float)
    X = compiled.prepare(data)
    theta = rng.standard_normal(4).astype(numpy.float32)
    loss = lambda t: compiled.loss_function(t, X)  # noqa: E731
    gradient = lambda t: compiled.gradient_function(t, X)  # noqa: E731
    assert gradient(theta).dtype == numpy.float32 and loss(theta).dtype == numpy.float32
    assert check_gradient(loss, gradient, theta).passed  # TOLERANCES[float32]
    assert TOLERANCES[numpy.float32][0] < 0.1
    assert not check_gradient(loss, lambda t: 1.1 * gradient(t), theta).passed


def test_softplus_and_sigmoid_together_match_mpmath():
    import mpmath

    points = [-1e4, -800, -745, -720, -30, -1, -1e-300, 0, 1e-300, 1e-8, 1, 30, 800, 1e4]
    points += list(numpy.linspace(-40, 40, 801))
    z_values = numpy.array(points, dtype=float)
    softplus_, sigma = stable_softplus_sigmoid(z_values)
    tiny = numpy.finfo(float).tiny
    for z_value, got_softplus, got_sigma in zip(z_values, softplus_, sigma, strict=True):
        x = mpmath.mpf(float(z_value))
        for got, exact in (
            (got_softplus, mpmath.log1p(mpmath.exp(x))),
            (got_sigma, 1 / (1 + mpmath.exp(-x))),
        ):
            if exact < tiny:  # below the normal range: the float result is 0 or subnormal
                assert 0 <= got <= 2 * tiny
            else:
                assert abs(got - float(exact)) <= 1e-12 * float(exact), (z_value, got, exact)


def test_softplus_and_sigmoid_together_keep_type_and_shape():
    softplus_, sigma = stable_softplus_sigmoid(numpy.array([-3.0, 0.0, 3.0], dtype=numpy.float32))
    assert softplus_.dtype == sigma.dtype == numpy.float32
    softplus_, sigma = stable_softplus_sigmoid(numpy.float64(-2.0))
    assert_allclose([softplus_, sigma], [numpy.log1p(numpy.exp(-2.0)), 1 / (1 + numpy.exp(2.0))])


def test_logistic_loss_and_gradient_share_one_exponential():
    compiled = compile_objective(derive(logistic_regression(features=3)))
    body = compiled.source.split("def loss_and_gradient")[1]
    assert "_softplus_sigmoid(" in body and "logaddexp" not in body
    assert "_softplus_sigmoid(" not in compiled.source.split("def loss_and_gradient")[0]
    rng = numpy.random.default_rng(5)
    data = {f"x{j}": 300 * rng.standard_normal(200) for j in (1, 2, 3)}
    data["y"] = (data["x1"] > 0).astype(float)
    X, theta = compiled.prepare(data), rng.standard_normal(4)
    loss, gradient = compiled.loss_and_gradient(theta, X)
    assert_allclose(loss, compiled.loss_function(theta, X), rtol=1e-14)
    assert_allclose(gradient, compiled.gradient_function(theta, X), rtol=1e-14, atol=1e-300)
