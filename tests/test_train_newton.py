"""symgd.training.newton: Newton's method gives the textbook answers (A⁻¹b, least squares,
scikit-learn's logistic regression) in textbook iteration counts; its damping and line search
keep a non-convex run going down; and it runs in the runner like every other optimiser."""

from __future__ import annotations

import numpy
import pytest
import sklearn
from numpy.testing import assert_allclose
from sklearn.linear_model import LogisticRegression

from symgd.data import linear_data
from symgd.training import (
    OPTIMIZERS,
    Newton,
    TrainConfig,
    gradient_descent,
    make_optimizer,
    newton,
    sgd,
    train,
    update_rule_latex,
)

# --- problems with known answers -----------------------------------------------------------------


def _quadratic(seed: int = 0, n: int = 5):
    """J = θᵀAθ/2 − bᵀθ with A symmetric positive definite: the minimum is A⁻¹b."""
    rng = numpy.random.default_rng(seed)
    M = rng.standard_normal((n, n))
    A, b = M @ M.T + n * numpy.eye(n), rng.standard_normal(n)

    def loss_and_gradient(theta, examples):
        return float(theta @ A @ theta / 2 - b @ theta), A @ theta - b

    return loss_and_gradient, A, b


def _logistic(m: int = 2000, n: int = 30, seed: int = 0):
    """Mean cross-entropy on a non-separable data set (labels drawn from the probabilities)."""
    rng = numpy.random.default_rng(seed)
    X = rng.standard_normal((m, n))
    probabilities = 1 / (1 + numpy.exp(-(X @ rng.normal(scale=0.5, size=n) + 0.3)))
    y = (rng.random(m) < probabilities).astype(float)
    design = numpy.column_stack([X, numpy.ones(m)])  # the last parameter is the intercept

    def loss_and_gradient(theta, examples):
        A, t = design[examples], y[examples]
        z = A @ theta
        p = 1 / (1 + numpy.exp(-z))
        return float(numpy.mean(numpy.logaddexp(0, z) - t * z)), A.T @ (p - t) / len(t)

    def hessian(theta, examples):  # Xᵀ diag(p (1 − p)) X / m
        A = design[examples]
        p = 1 / (1 + numpy.exp(-(A @ theta)))
        return (A.T * (p * (1 - p))) @ A / len(A)

    return loss_and_gradient, hessian, X, y


def _least_squares(m: int = 200, n: int = 3, seed: int = 1):
    """J = |Xθ − y|² / (2m), Hessian XᵀX/m."""
    rng = numpy.random.default_rng(seed)
    design = numpy.column_stack([rng.standard_normal((m, n)), numpy.ones(m)])
    y = design @ rng.normal(size=n + 1) + 0.3 * rng.standard_normal(m)

    def loss_and_gradient(theta, examples):
        A, t = design[examples], y[examples]
        residual = A @ theta - t
        return float(residual @ residual / (2 * len(t))), A.T @ residual / len(t)

    def hessian(theta, examples):
        A = design[examples]
        return A.T @ A / len(A)

    return loss_and_gradient, hessian, design, y


def _double_well(theta, examples):
    """J = θ⁴ − θ²: a maximum at 0 (negative curvature for |θ| < 1/√6), minima at ±1/√2."""
    return float(theta[0] ** 4 - theta[0] ** 2), numpy.array([4 * theta[0] ** 3 - 2 * theta[0]])


def _double_well_hessian(theta, examples):
    return numpy.array([[12 * theta[0] ** 2 - 2]])


def _no_penalty() -> dict:
    """scikit-learn 1.8 spells "no penalty" C=inf and deprecates penalty=None."""
    major, minor = (int(part) for part in sklearn.__version__.split(".")[:2])
    return {"C": numpy.inf} if (major, minor) >= (1, 8) else {"penalty": None}


# --- one step on a quadratic -------------------------------------------------------------------

OPTIMIZER_SPELLINGS = {
    "newton()": newton(),
    "newton(line_search=False)": newton(line_search=False),
    '"newton"': "newton",
    'make_optimizer("newton")': make_optimizer("newton", 0.1),
    "factory": lambda total_steps: newton(),
}


@pytest.mark.parametrize("spelling", list(OPTIMIZER_SPELLINGS))
def test_a_quadratic_is_solved_in_exactly_one_step(spelling):
    loss_and_gradient, A, b = _quadratic()
    result = gradient_descent(
        loss_and_gradient, numpy.zeros(5), 1, optimizer=OPTIMIZER_SPELLINGS[spelling],
        hessian=lambda theta, examples: A, steps=1,
    )  # fmt: skip
    assert_allclose(result.theta, numpy.linalg.solve(A, b), rtol=0, atol=1e-10)
    assert result.learning_rate_history == (1.0,)
    assert result.gradient_norm_history == (pytest.approx(numpy.linalg.norm(b)),)


# A wrong Hessian must not look like Newton's one-step convergence: the test above can fail.
WRONG_HESSIANS = {
    "scaled by 10": lambda A: 10 * A,
    "negated": lambda A: -A,
    "diagonal only": lambda A: numpy.diag(numpy.diag(A)),
    "not finite": lambda A: numpy.full_like(A, numpy.nan),
}


@pytest.mark.parametrize("wrong", list(WRONG_HESSIANS))
def test_a_wrong_hessian_does_not_converge_in_one_step(wrong):
    loss_and_gradient, A, b = _quadratic()
    H = WRONG_HESSIANS[wrong](A)
    result = gradient_descent(
        loss_and_gradient, numpy.zeros(5), 1, optimizer=newton(),
        hessian=lambda theta, examples: H, steps=1,
    )  # fmt: skip
    assert numpy.abs(result.theta - numpy.linalg.solve(A, b)).max() > 1e-3
    # Damping and the steepest-descent fallback still give a step that lowers the loss.
    assert result.loss_history[1] < result.loss_history[0]


def test_constant_damping_converges_linearly_not_in_one_step():
    loss_and_gradient, A, b = _quadratic()
    solution = numpy.linalg.solve(A, b)

    def run(steps):
        return gradient_descent(
            loss_and_gradient, numpy.zeros(5), 1, optimizer=newton(damping=1.0),
            hessian=lambda theta, examples: A, steps=steps,
        ).theta  # fmt: skip

    assert numpy.abs(run(1) - solution).max() > 1e-3
    # Linear convergence, stopped by the line search once loss differences are rounding.
    assert_allclose(run(40), solution, rtol=0, atol=1e-7)


# --- the textbook answers ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def logistic():
    loss_and_gradient, hessian, X, y = _logistic()
    result = gradient_descent(
        loss_and_gradient, numpy.zeros(31), len(y), optimizer=newton(), hessian=hessian, epochs=30
    )
    return result, loss_and_gradient, X, y


def test_logistic_regression_reaches_a_zero_gradient_in_few_newton_steps(logistic):
    result, loss_and_gradient, _, y = logistic
    norms = result.gradient_norm_history
    # gradient_norm_history[k] is the gradient after k steps.
    assert min(k for k, norm in enumerate(norms) if norm < 1e-10) <= 15
    assert numpy.linalg.norm(loss_and_gradient(result.theta, slice(0, len(y)))[1]) < 1e-10
    # Superlinear (quadratic) convergence at the end, where linear would shrink by a factor;
    # below ~1e-12 the norm is rounding noise (whether one more step is tried depends on it).
    above_noise = [norm for norm in norms if norm > 1e-12]
    first, second, third = above_noise[-3:]
    assert first < 1e-2 and second < first**1.5 and third < second**1.5
    assert result.converged and not result.diverged
    assert "no Newton step lowered the loss" in result.message and result.epochs < 30


def test_logistic_regression_matches_scikit_learn(logistic):
    result, _, X, y = logistic
    model = LogisticRegression(tol=1e-12, max_iter=10_000, **_no_penalty()).fit(X, y)
    theirs = numpy.append(model.coef_[0], model.intercept_[0])
    assert_allclose(result.theta, theirs, rtol=1e-6, atol=1e-6 * numpy.abs(theirs).max())


def test_least_squares_is_solved_in_one_step():
    loss_and_gradient, hessian, design, y = _least_squares()
    result = gradient_descent(
        loss_and_gradient, numpy.zeros(4), len(y), optimizer=newton(), hessian=hessian, steps=1
    )
    solution = numpy.linalg.lstsq(design, y, rcond=None)[0]
    assert_allclose(result.theta, solution, rtol=0, atol=1e-10)


def test_train_passes_the_hessian_through(compiled):
    data = linear_data(m=60, noise=0.4, seed=2)
    X = compiled.prepare(data)

    def hessian(theta, examples):  # the loss is quadratic: gradient differences are exact
        columns = X if isinstance(examples, slice) else X[:, examples]
        gradient = lambda t: compiled.loss_and_gradient(t, columns)[1]  # noqa: E731
        return numpy.column_stack([gradient(theta + e) - gradient(theta) for e in numpy.eye(2)])

    result = train(
        compiled, data, {"w": 0.0, "b": 0.0}, optimizer="newton", hessian=hessian, steps=1
    )
    design = numpy.column_stack([data["x"], numpy.ones_like(data["x"])])
    solution = numpy.linalg.lstsq(design, data["y"], rcond=None)[0]
    assert_allclose([result.params["w"], result.params["b"]], solution, rtol=0, atol=1e-10)


KNOWN_MINIMA = {
    # name: (loss_and_gradient, hessian, start, minimum, most steps)
    "quadratic": (
        _quadratic()[0], lambda theta, examples: _quadratic()[1], numpy.zeros(5),
        numpy.linalg.solve(*_quadratic()[1:]), 1,
    ),
    "rosenbrock": (
        lambda t, e: (
            float((1 - t[0]) ** 2 + 100 * (t[1] - t[0] ** 2) ** 2),
            numpy.array([-2 * (1 - t[0]) - 400 * t[0] * (t[1] - t[0] ** 2),
                         200 * (t[1] - t[0] ** 2)]),
        ),
        lambda t, e: numpy.array([[2 - 400 * (t[1] - 3 * t[0] ** 2), -400 * t[0]],
                                  [-400 * t[0], 200.0]]),
        numpy.array([-1.2, 1.0]), numpy.ones(2), 30,
    ),
    "double well from +0.1": (_double_well, _double_well_hessian, [0.1], [2**-0.5], 30),
    "double well from -0.1": (_double_well, _double_well_hessian, [-0.1], [-(2**-0.5)], 30),
    "double well from +0.3": (_double_well, _double_well_hessian, [0.3], [2**-0.5], 30),
    "double well from 3": (_double_well, _double_well_hessian, [3.0], [2**-0.5], 30),
}  # fmt: skip


@pytest.mark.parametrize("problem", list(KNOWN_MINIMA))
def test_every_step_goes_down_to_a_known_minimum(problem):
    loss_and_gradient, hessian, start, minimum, most_steps = KNOWN_MINIMA[problem]
    result = gradient_descent(
        loss_and_gradient, numpy.array(start, dtype=float), 1, optimizer=newton(),
        hessian=hessian, epochs=100,
    )  # fmt: skip
    assert_allclose(result.theta, minimum, rtol=0, atol=1e-8)
    history = numpy.array(result.loss_history)
    assert numpy.all(numpy.diff(history) <= 0), history
    assert result.converged and result.steps <= most_steps + 1  # + the step that finds nothing


def test_negative_curvature_is_damped_not_followed():
    # At 0.1 the Hessian is -1.88: a plain Newton step would climb to the maximum at 0.
    result = gradient_descent(
        _double_well, numpy.array([0.1]), 1, optimizer=newton(), hessian=_double_well_hessian,
        steps=1,
    )  # fmt: skip
    assert result.theta[0] > 0.1 and result.loss_history[1] < result.loss_history[0]
    plain = 0.1 - _double_well(numpy.array([0.1]), None)[1][0] / -1.88
    assert abs(plain) < 0.01  # what undamped Newton would do
    # The damping grew past the negative curvature (not straight to steepest descent: inf).
    optimizer, params = newton(), {"theta": numpy.array([0.1])}
    _, state = optimizer.update(
        {"theta": _double_well(params["theta"], None)[1]}, optimizer.init(params), params,
        hessian=_double_well_hessian(params["theta"], None),
        value_fn=lambda p: _double_well(p["theta"], None)[0],
    )  # fmt: skip
    assert 1.88 < float(state.accumulators["damping"]["theta"]) < 100


# --- the runner: settings, histories, endings ----------------------------------------------------


@pytest.mark.parametrize(
    "optimizer",
    [newton(), "newton", lambda total_steps: newton(), make_optimizer("newton", 0.1)],
    ids=["newton()", '"newton"', "factory", "make_optimizer"],
)
def test_newton_without_a_hessian_is_a_one_line_error(optimizer):
    loss_and_gradient, _, _ = _quadratic()
    with pytest.raises(ValueError, match=r"Newton's method needs the Hessian: pass hessian=") as e:
        gradient_descent(loss_and_gradient, numpy.zeros(5), 1, optimizer=optimizer, steps=1)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: newton(damping=-1.0), r"damping must be a number >= 0, not -1.0"),
        (lambda: newton(damping=numpy.inf), r"damping must be a number >= 0"),
        (lambda: newton(armijo=1.0), r"Armijo constant c must be in \(0, 1\)"),
        (lambda: newton(max_halvings=-1), r"max_halvings must be a whole number >= 0"),
        (lambda: make_optimizer("newton", 0.1, clip_norm=1.0), "drop the schedule and clipping"),
        (lambda: TrainConfig(optimizer="adam", steps=1), "learning rate must be a positive"),
        (
            lambda: gradient_descent(
                _quadratic()[0], numpy.zeros(5), 1, optimizer=newton(),
                hessian=lambda theta, examples: numpy.eye(4), steps=1,
            ),
            r"the Hessian must be a 5×5 matrix \(one row and column per parameter\), not one of "
            r"shape \(4, 4\)",
        ),
        (
            lambda: newton().update({"w": numpy.zeros(1)}, newton().init({})),
            "Newton's update needs params, hessian= and",
        ),
    ],
)  # fmt: skip
def test_bad_settings(make, message):
    with pytest.raises(ValueError, match=message) as error:
        make()
    assert "\n" not in str(error.value)


def test_a_string_optimizer_name_is_resolved_like_make_optimizer():
    loss_and_gradient, A, b = _quadratic()
    by_name = gradient_descent(
        loss_and_gradient, numpy.zeros(5), 1, optimizer="sgd", learning_rate=0.05, steps=20
    )
    explicit = gradient_descent(loss_and_gradient, numpy.zeros(5), 1, optimizer=sgd(0.05), steps=20)
    assert numpy.array_equal(by_name.theta, explicit.theta)
    with pytest.raises(ValueError, match="unknown optimizer 'newtn'"):
        gradient_descent(loss_and_gradient, numpy.zeros(5), 1, optimizer="newtn", steps=1)


def test_histories_and_tolerance_behave_as_for_other_optimizers():
    loss_and_gradient, A, b = _quadratic()
    hessian = lambda theta, examples: A  # noqa: E731
    result = gradient_descent(
        loss_and_gradient, numpy.zeros(5), 1, optimizer=newton(), hessian=hessian, epochs=10,
        tolerance=1e-12,
    )  # fmt: skip
    minimum = -b @ numpy.linalg.solve(A, b) / 2
    assert result.converged and result.message.startswith("converged after 2 epochs")
    assert result.loss_history == (0.0, pytest.approx(minimum), pytest.approx(minimum))
    assert len(result.gradient_norm_history) == len(result.learning_rate_history) == result.steps
    assert result.learning_rate_history[0] == 1.0
    assert set(result.block_gradient_norms) == {f"theta{j}" for j in range(5)}
    # Without a tolerance the run still ends once the line search cannot lower the loss.
    endless = gradient_descent(
        loss_and_gradient, numpy.zeros(5), 1, optimizer=newton(), hessian=hessian, epochs=1000
    )
    assert endless.converged and endless.epochs < 10


def test_a_gradient_that_does_not_belong_to_the_loss_stops_at_once():
    loss_and_gradient, A, b = _quadratic()

    def wrong(theta, examples):  # the gradient of -J: every Newton "descent" direction climbs
        loss, gradient = loss_and_gradient(theta, examples)
        return loss, -gradient

    start = numpy.ones(5)
    result = gradient_descent(
        wrong, start, 1, optimizer=newton(), hessian=lambda theta, examples: A, epochs=50
    )
    assert numpy.array_equal(result.theta, start)
    assert result.learning_rate_history == (0.0,) and result.epochs == 1
    assert "no Newton step lowered the loss" in result.message
    assert "does not belong to the loss" in result.message


def test_mini_batch_newton_uses_each_batch_hessian():
    loss_and_gradient, hessian, design, y = _least_squares(m=120)
    batches = []

    def recording(theta, examples):
        batches.append(examples)
        return hessian(theta, examples)

    result = gradient_descent(
        loss_and_gradient, numpy.zeros(4), 120, optimizer=newton(), hessian=recording,
        batch_size=40, seed=7, steps=1,
    )  # fmt: skip
    (batch,) = batches
    assert batch.size == 40
    solution = numpy.linalg.lstsq(design[batch], y[batch], rcond=None)[0]
    assert_allclose(result.theta, solution, rtol=0, atol=1e-10)


def test_stochastic_newton_with_validation_early_stopping_and_callbacks():
    loss_and_gradient, hessian, X, y = _logistic(m=600, n=5, seed=3)
    seen = []
    result = gradient_descent(
        loss_and_gradient, numpy.zeros(6), len(y), optimizer="newton", hessian=hessian,
        batch_size=100, epochs=30, validation_split=0.25, early_stopping=3,
        callbacks=[lambda info: seen.append(info.epoch)],
    )  # fmt: skip
    assert result.steps == 5 * result.epochs  # 450 training examples in batches of 100
    assert len(result.validation_history) == result.epochs + 1 == len(seen) + 1
    assert result.stopped_early and result.best_epoch < result.epochs
    # Each step jumps to about its own batch's minimum: the losses are noisy, but go down.
    assert min(result.loss_history) < result.loss_history[0] - 0.05
    assert min(result.validation_history) < result.validation_history[0] - 0.05
    assert all(0 <= rate <= 1 for rate in result.learning_rate_history)


# --- checkpoints -------------------------------------------------------------------------------


def _checkpointed(tmp_path, **options):
    loss_and_gradient, hessian, _, y = _logistic(m=300, n=4, seed=5)
    settings = dict(optimizer=newton(damping=1e-3), hessian=hessian, batch_size=60, seed=3,
                    validation_split=0.2, checkpoint_dir=tmp_path)  # fmt: skip
    settings.update(options)
    return gradient_descent(loss_and_gradient, numpy.zeros(5), len(y), **settings)


@pytest.mark.parametrize("stop_after", [3, 4, 9])
def test_stop_and_resume_is_identical(tmp_path, stop_after):
    uninterrupted = _checkpointed(tmp_path / "whole", epochs=4)
    first = _checkpointed(tmp_path / "part", steps=stop_after)
    assert first.steps == stop_after
    resumed = _checkpointed(tmp_path / "part", epochs=4, resume=True)
    assert numpy.array_equal(resumed.theta, uninterrupted.theta)
    for field in ("loss_history", "validation_history", "gradient_norm_history",
                  "learning_rate_history", "block_gradient_norms", "epochs", "steps"):  # fmt: skip
        assert getattr(resumed, field) == getattr(uninterrupted, field), field


def test_resuming_a_newton_run_with_another_optimizer_is_refused(tmp_path):
    _checkpointed(tmp_path, steps=2)
    with pytest.raises(ValueError, match="optimizer state does not fit"):
        _checkpointed(tmp_path, optimizer=sgd(0.1), epochs=3, resume=True)


# --- what Newton is and is not -----------------------------------------------------------------


def test_newton_renders_its_rule_and_stays_out_of_the_gradient_only_registry():
    optimizer = newton()
    assert isinstance(optimizer, Newton)
    assert update_rule_latex(optimizer) == (
        "\\begin{aligned}\n"
        "\\theta^{(t+1)} &= \\theta^{(t)} - \\alpha^{(t)} "
        "\\left(\\lambda I + H^{(t)}\\right)^{-1} g^{(t)}\n"
        "\\end{aligned}"
    )
    # Deliberately not in OPTIMIZERS: the registry tests drive optimisers with gradients alone,
    # and Newton needs a Hessian; the known-minima table above is its registry test.
    assert "newton" not in OPTIMIZERS
