"""Stage 5: the runner reaches least squares in all three modes and diagnoses divergence."""

from __future__ import annotations

import numpy
import pytest
from numpy.testing import assert_allclose

from symgd.compile import compile_objective
from symgd.derive import derive
from symgd.model import linear_regression
from symgd.train import gradient_descent, largest_curvature, linear_data, train


@pytest.fixture(scope="module")
def compiled():
    return compile_objective(derive(linear_regression()))


def _least_squares(data):
    design = numpy.column_stack([data["x"], numpy.ones_like(data["x"])])
    return numpy.linalg.lstsq(design, data["y"], rcond=None)[0]


@pytest.mark.parametrize(
    ("batch_size", "learning_rate", "epochs"),
    [(None, 0.5, 3000), (1, 0.05, 400), (16, 0.2, 1500)],
    ids=["batch", "stochastic", "mini-batch"],
)
def test_seed_reaches_least_squares_in_every_mode(compiled, batch_size, learning_rate, epochs):
    # Noise-free seed data: the least-squares fit interpolates, so every mode converges to it.
    data = linear_data(m=64, noise=0.0, seed=0)
    result = train(
        compiled,
        data,
        {"w": 0.0, "b": 0.0},
        learning_rate=learning_rate,
        epochs=epochs,
        batch_size=batch_size,
        tolerance=0.0,
    )
    assert not result.diverged
    assert_allclose(result.theta, _least_squares(data), atol=1e-6)


def test_batch_reaches_least_squares_with_noise(compiled):
    data = linear_data(m=200, noise=0.3, seed=0)
    result = train(
        compiled, data, {"w": 0.0, "b": 0.0}, learning_rate=0.5, epochs=5000, tolerance=1e-15
    )
    assert result.converged
    assert_allclose(result.theta, _least_squares(data), atol=1e-6)


def test_shuffling_is_seeded(compiled):
    data = linear_data(m=40, seed=1)
    runs = [
        train(
            compiled, data, {"w": 0, "b": 0}, learning_rate=0.1, epochs=3, batch_size=4, seed=s
        ).theta
        for s in (7, 7, 8)
    ]
    assert numpy.array_equal(runs[0], runs[1])
    assert not numpy.array_equal(runs[0], runs[2])


def test_loss_history_decreases_and_counts_epochs(compiled):
    result = train(compiled, linear_data(seed=2), {"w": 0, "b": 0}, learning_rate=0.3, epochs=20)
    assert len(result.loss_history) == 21 and result.epochs == 20 and result.steps == 20
    assert all(a >= b for a, b in zip(result.loss_history, result.loss_history[1:]))


@pytest.mark.parametrize("learning_rate", [2.5, 50.0, 1e6])
def test_divergence_is_diagnosed(compiled, learning_rate):
    data = linear_data(m=100, seed=0)
    result = train(compiled, data, {"w": 0.0, "b": 0.0}, learning_rate=learning_rate, epochs=500)
    assert result.diverged and not result.converged
    assert "diverged" in result.message and "try" in result.message
    assert numpy.all(numpy.isfinite(result.theta))
    assert numpy.isfinite(result.loss_history).all()


def test_divergence_suggests_a_stable_rate(compiled):
    data = linear_data(m=100, seed=0)
    result = train(compiled, data, {"w": 0.0, "b": 0.0}, learning_rate=2.5, epochs=500)
    suggested = float(result.message.rsplit("try <= ", 1)[1])
    again = train(compiled, data, {"w": 0.0, "b": 0.0}, learning_rate=suggested, epochs=500)
    assert not again.diverged


def test_curvature_of_a_quadratic():
    A = numpy.diag([1.0, 4.0, 9.0])
    assert largest_curvature(lambda t: A @ t, numpy.ones(3)) == pytest.approx(9.0, rel=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"learning_rate": -1.0}, "learning rate"),
        ({"learning_rate": 0.1, "batch_size": 0}, "batch size"),
        ({"learning_rate": float("nan")}, "learning rate"),
    ],
)
def test_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gradient_descent(lambda t, e: (0.0, t), numpy.zeros(1), 3, epochs=1, **kwargs)
