"""Stage 6: the finite-difference gradient check, which must fail on a wrong gradient."""

from __future__ import annotations

import numpy
import pytest

from symgd.compile import compile_objective
from symgd.data import linear_data
from symgd.define import linear_regression
from symgd.derivation import derive
from symgd.verify import central_difference, check_gradient


def _seed():
    compiled = compile_objective(derive(linear_regression()))
    X = compiled.prepare(linear_data(m=50, seed=3))
    return compiled, X


def test_seed_gradient_passes():
    compiled, X = _seed()
    report = check_gradient(
        lambda t: compiled.loss_function(t, X),
        lambda t: compiled.gradient_function(t, X),
        numpy.array([0.3, -1.2]),
        names=compiled.params,
    )
    assert report.passed
    assert [c.name for c in report.checks] == ["w", "b"]
    for c in report.checks:
        assert c.relative_error < 1e-8
        assert c.absolute_error == pytest.approx(abs(c.analytic - c.numeric))


@pytest.mark.parametrize(
    "wrong",
    [
        lambda g: -g,  # wrong sign
        lambda g: 2 * g,  # extra factor 2
        lambda g: g * numpy.array([1.0, 0.0]),  # forgot the bias gradient
        lambda g: g + numpy.array([0.0, 1e-4]),  # a small but real bug
    ],
)
def test_wrong_gradient_fails(wrong):
    compiled, X = _seed()
    report = check_gradient(
        lambda t: compiled.loss_function(t, X),
        lambda t: wrong(compiled.gradient_function(t, X)),
        numpy.array([0.3, -1.2]),
        names=compiled.params,
    )
    assert not report.passed
    assert "FAIL" in report.table()


def test_random_direction_check_for_large_problems():
    rng = numpy.random.default_rng(0)
    A = rng.standard_normal((300, 300))
    A = A @ A.T / 300
    loss = lambda t: 0.5 * t @ A @ t  # noqa: E731
    theta = rng.standard_normal(300)
    good = check_gradient(loss, lambda t: A @ t, theta, full_check_limit=100)
    assert good.method == "random-direction" and good.passed
    bad = check_gradient(loss, lambda t: A @ t * 1.01, theta, full_check_limit=100)
    assert not bad.passed


def test_blocks_report_worst_entry():
    loss = lambda t: float(numpy.sum(t**3))  # noqa: E731
    theta = numpy.arange(1.0, 7.0)
    wrong = lambda t: 3 * t**2 + (numpy.arange(6) == 4) * 1.0  # noqa: E731
    report = check_gradient(
        loss, wrong, theta, blocks=[("W", slice(0, 4), (2, 2)), ("b", slice(4, 6), (2,))]
    )
    assert report.checks[0].passed
    assert not report.checks[1].passed and report.checks[1].worst_index == (0,)


def test_central_difference_accuracy():
    numeric = central_difference(lambda t: float(numpy.sin(t).sum()), numpy.array([0.1, 2.0, 30.0]))
    numpy.testing.assert_allclose(numeric, numpy.cos([0.1, 2.0, 30.0]), rtol=1e-7)


def test_report_to_dict_is_json_ready():
    import json

    compiled, X = _seed()
    report = check_gradient(
        lambda t: compiled.loss_function(t, X),
        lambda t: compiled.gradient_function(t, X),
        numpy.array([1.0, 2.0]),
        names=compiled.params,
    )
    data = json.loads(json.dumps(report.to_dict()))
    assert data["passed"] is True and data["parameters"][0]["name"] == "w"


# --- numeric modes: complex step and Richardson extrapolation -----------------------------

from symgd.verify import MODE_TOLERANCES, complex_step, richardson  # noqa: E402


def _analytic_problem():
    A = numpy.array([[2.0, 0.5, 0.0], [0.5, 1.0, 0.3], [0.0, 0.3, 3.0]])
    loss = lambda t: numpy.sum(numpy.exp(0.3 * t)) + 0.5 * t @ A @ t  # noqa: E731
    gradient = lambda t: 0.3 * numpy.exp(0.3 * t) + A @ t  # noqa: E731
    return loss, gradient, numpy.array([0.4, -1.3, 2.2])


@pytest.mark.parametrize(
    ("numeric", "bound"),
    [(central_difference, 1e-8), (richardson, 1e-11), (complex_step, 4e-16)],
)
def test_mode_accuracy_ordering(numeric, bound):
    loss, gradient, theta = _analytic_problem()
    error = numpy.max(
        numpy.abs(numeric(loss, theta) - gradient(theta)) / numpy.abs(gradient(theta))
    )
    assert error < bound


@pytest.mark.parametrize("mode", ["central", "complex-step", "richardson"])
def test_modes_pass_right_and_fail_wrong(mode):
    loss, gradient, theta = _analytic_problem()
    good = check_gradient(loss, gradient, theta, mode=mode)
    assert good.passed and good.method == mode
    assert (good.rtol, good.atol) == MODE_TOLERANCES[(mode, numpy.float64)]
    # a bug of relative size 1e-7 passes central differences' tolerance but not the tighter ones
    tiny = check_gradient(loss, lambda t: gradient(t) * (1 + 1e-7), theta, mode=mode)
    assert tiny.passed is (mode == "central")
    bad = check_gradient(loss, lambda t: -gradient(t), theta, mode=mode)
    assert not bad.passed


@pytest.mark.parametrize("mode", ["complex-step", "richardson"])
def test_modes_random_direction(mode):
    loss, gradient, theta = _analytic_problem()
    good = check_gradient(loss, gradient, theta, mode=mode, full_check_limit=1, directions=3)
    assert good.passed and good.method == f"random-direction {mode}"
    bad = check_gradient(
        loss, lambda t: gradient(t) * 1.001, theta, mode=mode, full_check_limit=1, directions=3
    )
    assert not bad.passed


def test_float32_tolerances_are_looser():
    loss, gradient, theta = _analytic_problem()
    for mode in ("central", "complex-step", "richardson"):
        rtol32, _ = MODE_TOLERANCES[(mode, numpy.float32)]
        rtol64, _ = MODE_TOLERANCES[(mode, numpy.float64)]
        assert rtol32 > rtol64
    report = check_gradient(loss, gradient, theta.astype(numpy.float32), mode="richardson")
    assert report.rtol == MODE_TOLERANCES[("richardson", numpy.float32)][0]


def test_unknown_mode_is_rejected():
    with pytest.raises(ValueError, match="mode must be one of"):
        check_gradient(lambda t: 0.0, lambda t: t, numpy.zeros(1), mode="forward")
