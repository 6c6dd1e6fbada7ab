"""symgd.training.config: one frozen, validated config; keywords and a config give one run."""

from __future__ import annotations

import dataclasses

import numpy
import pytest

from symgd.training import TrainConfig, adam, gradient_descent
from symgd.training.config import Plan


def _quadratic(theta, examples):
    return float((theta - 3.0) @ (theta - 3.0)), 2 * (theta - 3.0)


def test_config_is_frozen_and_validated_once():
    config = TrainConfig(learning_rate=0.1, epochs=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.epochs = 4
    with pytest.raises(ValueError, match="checkpoint_every"):
        TrainConfig(learning_rate=0.1, epochs=3, checkpoint_every=0)
    with pytest.raises(TypeError, match="learning_rat"):
        gradient_descent(_quadratic, numpy.zeros(1), 1, learning_rat=0.1, epochs=3)


def test_a_config_and_keywords_give_the_same_run():
    options = dict(optimizer=adam(0.1), steps=50, batch_size=1, seed=4)
    by_keywords = gradient_descent(_quadratic, numpy.zeros(2), 3, **options)
    by_config = gradient_descent(_quadratic, numpy.zeros(2), 3, TrainConfig(**options))
    overridden = gradient_descent(
        _quadratic, numpy.zeros(2), 3, TrainConfig(**options | {"steps": 10}), steps=50
    )
    for result in (by_config, overridden):
        assert numpy.array_equal(result.theta, by_keywords.theta)
        assert result.loss_history == by_keywords.loss_history


def test_plan_counts_steps_and_builds_the_optimizer_for_the_run_length():
    lengths = []

    def optimizer(total_steps):
        lengths.append(total_steps)
        return adam(0.1)

    plan = Plan.make(TrainConfig(optimizer=optimizer, epochs=3, batch_size=4), 2, 10)
    assert (plan.n_train, plan.batch_size, plan.steps_per_epoch, plan.total_steps) == (10, 4, 3, 9)
    assert lengths == [9] and plan.names == ("theta0", "theta1")
    assert plan.blocks == (("theta0", slice(0, 1)), ("theta1", slice(1, 2)))
    with pytest.raises(ValueError, match="at least one example"):
        Plan.make(TrainConfig(learning_rate=0.1, epochs=1), 2, 0)
