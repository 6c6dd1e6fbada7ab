"""symgd.training.optimizers: every optimiser reaches known minima, matches the textbook formula
computed by hand, renders its rule, and leaves its inputs alone."""

from __future__ import annotations

import pickle
import shutil

import numpy as np
import pytest
from numpy.testing import assert_allclose

from symgd.limits import run_process
from symgd.training import (
    OPTIMIZERS,
    SCHEDULES,
    ChainState,
    GradientTransformation,
    adam,
    apply_updates,
    chain,
    clip_by_global_norm,
    clip_by_value,
    cosine_decay,
    current_learning_rate,
    global_norm,
    make_optimizer,
    sgd,
    step_decay,
    update_rule_latex,
)

# --- problems with known minima ---------------------------------------------------------------

QUADRATIC_A = np.array([[3.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 2.0]])
QUADRATIC_MINIMUM = np.array([1.0, -2.0, 0.5])


def _flatten(params):
    return np.concatenate([np.atleast_1d(params["w"]), np.atleast_1d(params["b"])])


def quadratic_gradient(params):
    """Gradient of f = 1/2 (theta - c)^T A (theta - c), theta = (w_0, w_1, b); b is 0-d."""
    gradient = QUADRATIC_A @ (_flatten(params) - QUADRATIC_MINIMUM)
    return {"w": gradient[:2], "b": np.array(gradient[2])}


def rosenbrock_gradient(params):
    """Gradient of f = (1 - x)^2 + 100 (y - x^2)^2, minimum at (1, 1)."""
    x, y = params["w"]
    return {"w": np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])}


PROBLEMS = {
    # name: (gradient, start, minimum, tolerance on |theta - minimum|)
    "quadratic": (
        quadratic_gradient,
        {"w": np.zeros(2), "b": np.array(0.0)},
        QUADRATIC_MINIMUM,
        1e-3,
    ),
    "rosenbrock": (rosenbrock_gradient, {"w": np.array([-1.2, 1.0])}, np.ones(2), 1e-2),
}

# Learning rate per (optimiser, problem), and keyword arguments, chosen so each converges.
LEARNING_RATES = {
    "sgd": {"quadratic": 0.3, "rosenbrock": 1e-3},
    "momentum": {"quadratic": 0.05, "rosenbrock": 1e-3},
    "nesterov": {"quadratic": 0.05, "rosenbrock": 1e-3},
    "adagrad": {"quadratic": 0.5, "rosenbrock": 1.0},
    # RMSProp's steps stay near alpha in size, so it oscillates about the minimum at ~alpha / 2.
    "rmsprop": {"quadratic": 8e-4, "rosenbrock": 1e-3},
    "adam": {"quadratic": 0.05, "rosenbrock": 5e-3},
    "adamw": {"quadratic": 0.05, "rosenbrock": 5e-3},
}
OPTIONS = {"adamw": {"weight_decay": 1e-4}}
MAX_STEPS = 20_000
# Schedules decay over MAX_STEPS, except where an optimiser needs most of the budget at full rate:
# plain SGD crawls along Rosenbrock's valley (curvature ~0.4 along it, ~1000 across it). Warm-up
# always lasts a tenth of MAX_STEPS.
SCHEDULE_HORIZON = {("sgd", "rosenbrock"): 10 * MAX_STEPS, ("adagrad", "rosenbrock"): 4 * MAX_STEPS}
VARIANTS = ["plain", "clip_norm", "clip_value", *(f"schedule_{name}" for name in SCHEDULES)]


def _build(name: str, problem: str, variant: str) -> GradientTransformation:
    rate = LEARNING_RATES[name][problem]
    if variant.startswith("schedule_"):
        schedule = variant.removeprefix("schedule_")
        horizon = SCHEDULE_HORIZON.get((name, problem), MAX_STEPS)
        rate = SCHEDULES[schedule](rate, MAX_STEPS if schedule == "warmup" else horizon)
    optimizer = OPTIMIZERS[name](rate, **OPTIONS.get(name, {}))
    if variant == "clip_norm":
        return chain(clip_by_global_norm(10.0), optimizer)
    if variant == "clip_value":
        return chain(clip_by_value(10.0), optimizer)
    return optimizer


def _minimise(optimizer, gradient, start, minimum, tolerance):
    params, state = start, optimizer.init(start)
    for step in range(MAX_STEPS):
        updates, state = optimizer.update(gradient(params), state, params)
        params = apply_updates(params, updates)
        if step % 50 == 0 and np.linalg.norm(_flatten_any(params) - minimum) < tolerance:
            return step
    raise AssertionError(
        f"not within {tolerance} of {minimum} after {MAX_STEPS} steps: {_flatten_any(params)}"
    )


def _flatten_any(params):
    return np.concatenate([np.atleast_1d(value) for value in params.values()])


@pytest.mark.parametrize("problem", sorted(PROBLEMS))
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_registry_reaches_known_minimum(name, variant, problem):
    gradient, start, minimum, tolerance = PROBLEMS[problem]
    _minimise(_build(name, problem, variant), gradient, start, minimum, tolerance)


def test_registry_tables_cover_every_optimizer():
    assert set(LEARNING_RATES) == set(OPTIMIZERS)
    assert set(OPTIMIZERS) == {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"}
    assert set(SCHEDULES) == {"constant", "step", "exponential", "cosine", "warmup"}


# --- first updates against the textbook, written by hand in plain NumPy -------------------------

ALPHA, BETA, B1, B2, EPS, DECAY, WEIGHT_DECAY = 0.1, 0.8, 0.9, 0.999, 1e-8, 0.7, 0.05
THETA = np.array([0.5, -1.5, 2.0])
G1 = np.array([0.3, -2.0, 1e-3])
G2 = np.array([-0.7, 0.4, 5.0])


def _textbook(name, gradients, theta):
    """The first two updates, each rule typed in from its paper / the PyTorch docs."""
    updates = []
    m = v = np.zeros_like(theta)
    for t, g in enumerate(gradients, start=1):
        if name == "sgd":
            update = -ALPHA * g
        elif name == "momentum":
            v = BETA * v + g
            update = -ALPHA * v
        elif name == "nesterov":
            v = BETA * v + g
            update = -ALPHA * (g + BETA * v)
        elif name == "adagrad":
            v = v + g**2
            update = -ALPHA * g / (np.sqrt(v) + EPS)
        elif name == "rmsprop":
            v = DECAY * v + (1 - DECAY) * g**2
            update = -ALPHA * g / (np.sqrt(v) + EPS)
        else:  # adam, adamw
            m = B1 * m + (1 - B1) * g
            v = B2 * v + (1 - B2) * g**2
            m_hat, v_hat = m / (1 - B1**t), v / (1 - B2**t)
            update = -ALPHA * m_hat / (np.sqrt(v_hat) + EPS)
            if name == "adamw":
                update = update - ALPHA * WEIGHT_DECAY * theta
        updates.append(update)
        theta = theta + update
    return updates


HYPERPARAMETERS = {
    "sgd": {},
    "momentum": {"beta": BETA},
    "nesterov": {"beta": BETA},
    "adagrad": {"eps": EPS},
    "rmsprop": {"decay": DECAY, "eps": EPS},
    "adam": {"b1": B1, "b2": B2, "eps": EPS},
    "adamw": {"b1": B1, "b2": B2, "eps": EPS, "weight_decay": WEIGHT_DECAY},
}


def _first_updates(optimizer, gradients, theta):
    params, state, updates = {"p": theta}, optimizer.init({"p": theta}), []
    for g in gradients:
        update, state = optimizer.update({"p": g}, state, params)
        params = apply_updates(params, update)
        updates.append(update["p"])
    return updates


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_first_updates_match_textbook(name):
    optimizer = OPTIMIZERS[name](ALPHA, **HYPERPARAMETERS[name])
    ours = _first_updates(optimizer, [G1, G2], THETA)
    for step, (got, expected) in enumerate(
        zip(ours, _textbook(name, [G1, G2], THETA), strict=True), 1
    ):
        assert_allclose(got, expected, rtol=1e-12, atol=0, err_msg=f"{name} update {step}")


def test_a_wrong_rule_is_caught():
    (update,) = _first_updates(sgd(ALPHA), [G1], THETA)
    with pytest.raises(AssertionError):
        assert_allclose(update, ALPHA * G1, rtol=1e-12)  # sign error: gradient ascent


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_equations_are_the_code(name):
    """Evaluating the equations with SymPy gives the numbers the compiled update gives."""
    optimizer = OPTIMIZERS[name](ALPHA, **HYPERPARAMETERS[name])
    (update,) = _first_updates(optimizer, [G1], THETA)
    for index in range(len(THETA)):
        values = {"beta": BETA, "beta_1": B1, "beta_2": B2, "epsilon": EPS, "rho": DECAY}
        values |= {"lambda": WEIGHT_DECAY, "alpha": ALPHA, "t": 1}
        values |= {"g_t": G1[index], "theta_t": THETA[index]}
        for eq in optimizer.equations:
            # Symbols not yet known are the previous state (m^{(t-1)}, ...), zero at the start.
            rhs = eq.rhs.subs({s: values.get(s.name, 0.0) for s in eq.rhs.free_symbols})
            values[eq.lhs.name] = float(rhs)
        assert_allclose(values["theta_t+1"] - THETA[index], update[index], rtol=1e-9)


# --- LaTeX -------------------------------------------------------------------------------------

LATEX_SYMBOLS = {
    "sgd": [r"\theta^{(t+1)}", r"\theta^{(t)}", r"\alpha", "g^{(t)}"],
    "momentum": [r"v^{(t-1)}", r"\beta", r"\alpha v^{(t)}"],
    "nesterov": [r"v^{(t-1)}", r"\beta v^{(t)}", "g^{(t)}"],
    "adagrad": ["G^{(t-1)}", r"\sqrt{G^{(t)}}", r"\epsilon"],
    "rmsprop": [r"\rho v^{(t-1)}", r"\sqrt{v^{(t)}}", r"\epsilon"],
    "adam": [r"\hat{m}^{(t)}", r"\hat{v}^{(t)}", r"\beta_{1}^{t}", r"\beta_{2}", "m^{(t-1)}"],
    "adamw": [r"\hat{m}^{(t)}", r"\lambda \theta^{(t)}", r"\beta_{1}"],
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_update_rule_latex(name):
    latex = update_rule_latex(OPTIMIZERS[name](0.1))
    assert latex.startswith(r"\begin{aligned}") and latex.endswith(r"\end{aligned}")
    assert r"\theta^{(t+1)} &= \theta^{(t)} - " in latex
    for symbol in LATEX_SYMBOLS[name]:
        assert symbol in latex, (symbol, latex)


def test_chain_latex_names_the_clipped_gradient():
    latex = update_rule_latex(chain(clip_by_global_norm(1.0), adam(cosine_decay(0.1, 10))))
    assert (
        r"\tilde{g}^{(t)} &= \frac{g^{(t)} \tau}{\max\left(\tau, \left\lVert g^{(t)} \right\rVert"
        in latex
    )
    assert r"\beta_{1} m^{(t-1)} + \tilde{g}^{(t)}" in latex
    assert r"\alpha^{(t)}" in latex  # a scheduled rate


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_latex_compiles(tmp_path):
    blocks = [update_rule_latex(OPTIMIZERS[name](0.1)) for name in OPTIMIZERS]
    blocks.append(update_rule_latex(chain(clip_by_value(1.0), clip_by_global_norm(1.0), sgd(1.0))))
    blocks += [schedule(0.1, 100).latex for schedule in SCHEDULES.values()]
    body = "\n".join(rf"\[ {block} \]" for block in blocks)
    document = tmp_path / "rules.tex"
    document.write_text(
        "\\documentclass{article}\\usepackage{amsmath}\\begin{document}\n"
        f"{body}\n\\end{{document}}\n"
    )
    result = run_process(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", document.name],
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout[-2000:]


# --- purity, state -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_update_does_not_modify_inputs_and_state_pickles(name):
    optimizer = chain(clip_by_global_norm(1.0), OPTIMIZERS[name](0.1))
    params = {"w": np.array([[1.0, 2.0], [3.0, 4.0]]), "b": np.array(0.5)}
    grads = {"w": np.array([[0.1, -0.2], [0.3, 4.0]]), "b": np.array(-1.0)}
    state = optimizer.init(params)
    _, state = optimizer.update(grads, state, params)
    copies = [pickle.loads(pickle.dumps(x)) for x in (params, grads, state)]
    updates, new_state = optimizer.update(grads, state, params)
    for before, after in zip(copies, (params, grads, state), strict=True):
        assert pickle.dumps(before) == pickle.dumps(after)
    assert new_state.inner[1].count == 2
    assert updates["b"].shape == () and updates["w"].shape == (2, 2)
    assert updates["b"].dtype == np.float64
    restored = pickle.loads(pickle.dumps(new_state))
    assert_allclose(
        optimizer.update(grads, restored, params)[0]["w"],
        optimizer.update(grads, new_state, params)[0]["w"],
    )


def test_adamw_needs_params():
    optimizer = OPTIMIZERS["adamw"](0.1)
    state = optimizer.init({"w": np.zeros(1)})
    with pytest.raises(ValueError, match="needs the parameters"):
        optimizer.update({"w": np.ones(1)}, state)


def test_clipping():
    grads = {"w": np.array([3.0, 0.0]), "b": np.array(-4.0)}
    assert global_norm(grads) == pytest.approx(5.0)
    by_norm = clip_by_global_norm(2.5)
    clipped, _ = by_norm.update(grads, by_norm.init(grads))
    assert_allclose(clipped["w"], [1.5, 0.0])
    assert_allclose(clipped["b"], -2.0)
    unchanged, _ = by_norm.update({"w": np.zeros(2)}, by_norm.init({"w": np.zeros(2)}))
    assert_allclose(unchanged["w"], 0.0)  # zero gradients: no division by zero
    by_value = clip_by_value(1.0)
    clipped, _ = by_value.update(grads, by_value.init(grads))
    assert_allclose(clipped["w"], [1.0, 0.0])
    assert_allclose(clipped["b"], -1.0)
    with pytest.raises(ValueError, match="positive"):
        clip_by_value(0.0)


def test_current_learning_rate_is_the_last_used_rate():
    schedule = step_decay(1.0, step_size=2, gamma=0.1)
    for optimizer in (sgd(schedule), chain(clip_by_value(1.0), sgd(schedule))):
        params = {"w": np.array([1.0])}
        state = optimizer.init(params)
        assert current_learning_rate(state) == 1.0  # before any update: the first update's rate
        rates = []
        for _ in range(5):
            updates, state = optimizer.update({"w": np.array([1.0])}, state)
            rates.append(-updates["w"][0])  # |g| <= 1, so the update is -rate
            assert current_learning_rate(state) == pytest.approx(rates[-1])
        assert_allclose(rates, [1.0, 1.0, 0.1, 0.1, 0.01])
    assert current_learning_rate(sgd(0.25).init({})) == 0.25
    with pytest.raises(ValueError, match="no learning rate"):
        current_learning_rate(ChainState((clip_by_value(1.0).init({}),)))


# --- make_optimizer ----------------------------------------------------------------------------


def test_make_optimizer():
    optimizer = make_optimizer("momentum", 0.1, schedule="cosine", total_steps=100, clip_norm=1.0)
    latex = update_rule_latex(optimizer)
    assert r"\tilde{g}^{(t)}" in latex and r"\alpha^{(t)}" in latex
    state = optimizer.init({"w": np.zeros(1)})
    assert current_learning_rate(state) == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"name": "adamm"}, r"unknown optimizer 'adamm'; known: sgd, momentum, .*adamw$"),
        ({"name": "adam", "schedule": "cosin"}, r"unknown schedule 'cosin'; known: constant"),
        ({"name": "adam", "schedule": "cosine"}, "needs total_steps"),
    ],
)
def test_make_optimizer_rejects_bad_names(arguments, message):
    with pytest.raises(ValueError, match=message) as error:
        make_optimizer(learning_rate=0.1, **arguments)
    assert "\n" not in str(error.value)
