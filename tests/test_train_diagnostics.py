"""symgd.training.diagnostics: divergence, oscillation, vanishing and exploding gradients, and
the learning-rate verdicts.

Each finding has a run that must produce it and a healthy run that must not.
"""

from __future__ import annotations

import math

import numpy
import pytest

from symgd import cli
from symgd.data import linear_data
from symgd.training import (
    adam,
    classify_run,
    classify_runs,
    gradient_descent,
    loss_diverges,
    loss_oscillates,
    momentum,
    train,
)

DATA = linear_data(m=100, noise=0.3, seed=0)
START = {"w": 0.0, "b": 0.0}


def _findings(result, word):
    return [line for line in result.diagnostics if line.startswith(word)]


# --- divergence -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"learning_rate": 2.5, "epochs": 500},
        {"learning_rate": 40.0, "epochs": 500, "batch_size": 10},
        {"optimizer": momentum(3.0), "epochs": 500, "batch_size": 10},
    ],
    ids=["batch", "mini-batch", "momentum"],
)
def test_too_large_a_learning_rate_is_diagnosed_not_a_crash(compiled, options):
    result = train(compiled, DATA, START, **options)
    assert result.diverged and not result.converged
    assert "diverged in epoch" in result.message and "at step" in result.message
    assert "try" in result.message
    assert numpy.all(numpy.isfinite(result.theta)) and numpy.isfinite(result.loss_history).all()
    (note,) = _findings(result, "the last finite parameters")
    assert f"w={result.theta[0]:.6g}" in note
    # The step named in the message is the one that blew up.
    step = int(result.message.split("at step ")[1].split()[0])
    assert step == result.steps + 1


def test_nan_loss_is_named(compiled):
    def loss_and_gradient(theta, examples):
        loss = math.log(theta[0]) if theta[0] > 0 else math.nan  # leaves its domain at step 4
        return loss, numpy.array([1.0])

    result = gradient_descent(loss_and_gradient, numpy.array([1.0]), 1, learning_rate=0.4, epochs=9)
    assert result.diverged and "became nan/inf" in result.message and result.steps == 3
    assert result.theta[0] == pytest.approx(0.2)


def test_a_stable_rate_is_not_called_divergent(compiled):
    result = train(compiled, DATA, START, learning_rate=0.5, epochs=200)
    assert not result.diverged and result.diagnostics == ()


# --- oscillation ------------------------------------------------------------------------------


def test_oscillation_between_one_and_two_over_curvature(compiled):
    # The seed problem's largest curvature is L ~ 1: alpha = 1.9 overshoots every step and
    # still converges; alpha = 0.5 approaches the minimum from one side.
    zigzag = train(compiled, DATA, START, learning_rate=1.9, epochs=100)
    assert not zigzag.diverged
    (finding,) = _findings(zigzag, "oscillation")
    assert "opposite directions" in finding
    assert not _findings(train(compiled, DATA, START, learning_rate=0.5, epochs=100), "oscillation")


def test_a_loss_that_goes_up_and_down_is_oscillation():
    # Updates all point the same way, but the loss alternates between 3 and 1.
    def loss_and_gradient(theta, examples):
        return 2 + math.cos(math.pi * theta[0] / 0.1), numpy.array([-1.0])

    result = gradient_descent(loss_and_gradient, numpy.zeros(1), 1, learning_rate=0.1, epochs=30)
    (finding,) = _findings(result, "oscillation")
    assert "goes up and down" in finding

    def steady(theta, examples):
        return 2 + math.exp(-theta[0]), numpy.array([-1.0])

    assert not _findings(
        gradient_descent(steady, numpy.zeros(1), 1, learning_rate=0.1, epochs=30), "oscillation"
    )


def test_noisy_stochastic_steps_are_not_oscillation(compiled):
    result = train(compiled, DATA, START, learning_rate=0.05, epochs=20, batch_size=1)
    assert not _findings(result, "oscillation")


# --- vanishing and exploding gradients, per parameter block ------------------------------

X = numpy.random.default_rng(0).uniform(-1, 1, 50)
Y = numpy.tanh(0.8 * X)
LAYERS = 6


def _deep_tanh_chain(theta, examples):
    """a_k = tanh(w_k a_{k-1}), a_0 = x, J = mean (a_L - y)^2 / 2, backprop by hand."""
    a = [X[examples]]
    for k in range(LAYERS):
        a.append(numpy.tanh(theta[k] * a[-1]))
    delta = a[-1] - Y[examples]
    loss = float(numpy.mean(delta**2) / 2)
    gradient = numpy.empty(LAYERS)
    for k in reversed(range(LAYERS)):
        dz = delta * (1 - a[k + 1] ** 2)
        gradient[k] = numpy.mean(dz * a[k])
        delta = dz * theta[k]
    return loss, gradient


@pytest.mark.parametrize(("init", "vanishing"), [(5.0, True), (1.0, False)])
def test_vanishing_gradients_in_a_saturated_deep_chain(init, vanishing):
    names = tuple(f"w{k + 1}" for k in range(LAYERS))
    result = gradient_descent(
        _deep_tanh_chain, numpy.full(LAYERS, init), 50, learning_rate=0.1, epochs=30, names=names
    )
    findings = _findings(result, "vanishing gradients")
    if vanishing:
        # Saturated tanh units multiply the signal by ~0 per layer: the first layers starve.
        assert any("block w1:" in line for line in findings)
        assert not any("block w6:" in line for line in findings)
    else:
        assert findings == []


def test_blocks_group_parameters_like_a_network_layer():
    blocks = [("W1", slice(0, 3)), ("W2", slice(3, 6))]
    result = gradient_descent(
        _deep_tanh_chain, numpy.full(LAYERS, 5.0), 50, learning_rate=0.1, epochs=10, blocks=blocks
    )
    assert set(result.block_gradient_norms) == {"W1", "W2"}
    assert any("block W1:" in line for line in _findings(result, "vanishing gradients"))


@pytest.mark.parametrize(("sign", "exploding"), [(-1.0, True), (1.0, False)])
def test_exploding_gradients_are_flagged_per_block(sign, exploding):
    # J = sign * a^2 / 2 + b^2 / 2: with sign = -1 the loss is unbounded below, so it keeps
    # falling (no divergence) while a's gradient grows by (1 + alpha) every step.
    def loss_and_gradient(theta, examples):
        a, b = theta
        return float(sign * a * a / 2 + b * b / 2), numpy.array([sign * a, b])

    blocks = [("a", slice(0, 1)), ("b", slice(1, 2))]
    result = gradient_descent(
        loss_and_gradient, numpy.ones(2), 1, learning_rate=0.1, epochs=100, blocks=blocks
    )
    assert not result.diverged
    findings = _findings(result, "exploding gradients")
    assert findings == (["exploding gradients in block a" + findings[0][30:]] if exploding else [])
    assert not any("block b" in line for line in findings)


def test_adam_on_a_healthy_problem_has_no_findings(compiled):
    result = train(compiled, DATA, START, optimizer=adam(0.05), epochs=300, batch_size=20)
    assert result.diagnostics == ()


# --- learning-rate verdicts (classify_run), with the same oscillation test as the runner -------


def _bowl_history(rate, steps=30):
    """J = (w - 2)^2 + 3 (b - 1)^2 along gradient descent from 0, in closed form."""
    k = numpy.arange(steps + 1)
    return 4 * (1 - 2 * rate) ** (2 * k) + 3 * (1 - 6 * rate) ** (2 * k)


def test_rates_on_a_quadratic_are_classified():
    histories = {rate: _bowl_history(rate) for rate in (0.005, 0.15, 0.4)}
    best = min(h[-1] for h in histories.values() if numpy.isfinite(h[-1]))
    kinds = {rate: classify_run(h, best) for rate, h in histories.items()}
    assert kinds == {0.005: "too slow", 0.15: "good", 0.4: "diverging"}


def test_heavy_ball_overshoot_is_oscillating():
    # Momentum 0.9 on J = theta^2 overshoots the minimum: the loss rises between epochs.
    theta, velocity, history = 1.0, 0.0, [1.0]
    for _ in range(40):
        velocity = 0.9 * velocity + 2 * theta
        theta -= 0.1 * velocity
        history.append(theta**2)
    assert classify_run(history, best_final=0.0) == "oscillating"
    assert classify_run(sorted(history, reverse=True), best_final=0.0) != "oscillating"


OSCILLATION_TABLE = [
    # (loss history, oscillates)
    ([3.0, 1.0, 3.0, 1.0, 3.0], True),
    ([1.0, 0.2, 0.4, 0.1], True),
    ([1.0, 1.5, 0.5, 0.2], True),  # up, then down by more than the noise level
    ([1.0, 0.5, 0.25, 0.125], False),
    ([1.0, 0.5, 0.25, 0.25 + 1e-4, 0.2], False),  # a rise of 1e-4 of the range is noise
    ([1.0, 1.0, 1.0], False),
    ([1.0, 2.0, 4.0], False),  # growth is divergence, not oscillation
    ([1.0, 0.5], False),
    ([], False),
]


@pytest.mark.parametrize(("history", "oscillates"), OSCILLATION_TABLE)
def test_oscillation_is_one_definition_of_a_loss_history(history, oscillates):
    assert loss_oscillates(history) is oscillates
    if len(history) >= 2 and history[-1] <= history[0]:
        assert (classify_run(history, best_final=0.0) == "oscillating") is oscillates


def test_the_runner_and_the_verdicts_agree_on_oscillation(compiled):
    def up_and_down(theta, examples):
        return 2 + math.cos(math.pi * theta[0] / 0.1), numpy.array([-1.0])

    wobbly = gradient_descent(up_and_down, numpy.zeros(1), 1, learning_rate=0.1, epochs=30)
    noisy = train(compiled, DATA, START, learning_rate=0.05, epochs=20, batch_size=1)
    verdicts = classify_runs({1.0: wobbly.loss_history, 0.05: noisy.loss_history})
    assert verdicts[1.0] == "oscillating" and _findings(wobbly, "oscillation")
    assert verdicts[0.05] != "oscillating" and not _findings(noisy, "oscillation")


# --- divergence: the one definition (issue 15, defect 6) ----------------------------------------


@pytest.mark.parametrize(
    ("history", "diverged"),
    [
        ([0.693, 0.5, 32564.0], True),  # the logistic run of the issue: 0.693 -> 32,564
        ([2.46, 1.3e6], True),  # net train --lr 1e6: 1.3e6 after two epochs
        ([1.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.1], True),  # rose five epochs running, past the start
        ([1.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95], False),  # rising, but still below the start
        ([1.0, 0.2, 0.4, 0.1, 0.3, 0.05], False),  # brief rises: mini-batch noise, Adam
        ([1e-6, 5e-6], False),  # five times a tiny loss: inside the margin
        ([1.0, float("nan")], True),
    ],
)
def test_divergence_definition(history, diverged):
    assert (loss_diverges(history) is not None) == diverged


@pytest.fixture
def unstandardised_logistic_csv(tmp_path):
    """Logistic data with one feature near 1000 and one near 1: scales 10^3 apart."""
    rng = numpy.random.default_rng(0)
    x1, x2 = rng.normal(1000, 300, 200), rng.normal(0, 1, 200)
    y = (x1 / 1000 + x2 + rng.normal(0, 0.5, 200) > 1).astype(int)
    path = tmp_path / "logistic.csv"
    rows = ["x1,x2,y"] + [f"{a:.17g},{b:.17g},{c}" for a, b, c in zip(x1, x2, y, strict=True)]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_logistic_on_unstandardised_data_is_diverged_exit_1(unstandardised_logistic_csv, capsys):
    # It went 0.693 -> 7,701 and exited 0 with "finished 50 epochs".
    code = cli.main([
        "train", "log(1 + exp(-(2*y - 1)*(w1*x1 + w2*x2 + b)))", "--params", "w1,w2,b",
        "--data", "x1,x2,y", "--csv", str(unstandardised_logistic_csv),
        "--init", "w1=0,w2=0,b=0", "--lr", "0.1", "--epochs", "50",
    ])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert "diverged" in err and "grew from 0.693" in err and "try" in err
    assert "differ in size by a factor of" in err and "x1 about" in err and "standardise" in err


def test_net_train_digits_with_a_huge_rate_is_diverged_exit_1(capsys):
    code = cli.main([
        "net", "train", "--dataset", "digits", "--layers", "64,16,10",
        "--loss", "softmax-cross-entropy", "--lr", "1e6", "--epochs", "2",
    ])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 1 and err.count("\n") == 1 and "diverged" in err and "try" in err
    assert "finished" not in out and "Warning" not in err
