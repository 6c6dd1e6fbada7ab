"""symgd.training.rules and symgd.training.transforms: rules compose, and composing at run time
(chain) and symbolically (compose) give the same numbers."""

from __future__ import annotations

import numpy as np
import pytest
import sympy
from numpy.testing import assert_allclose

from symgd.training import (
    UPDATE_RULES,
    adam,
    adamw,
    add_decayed_weights,
    apply_updates,
    chain,
    compose,
    scale_by_adam,
    scale_by_learning_rate,
    sgd,
    update_rule_latex,
)
from symgd.training.rules import (
    ADD_DECAYED_WEIGHTS,
    LEARNING_RATE,
    PARAMETER,
    SCALE_BY_ADAM,
)

GRADIENTS = [np.array([0.3, -2.0, 1e-3]), np.array([-0.7, 0.4, 5.0]), np.array([1.0, 1.0, -1.0])]
THETA = np.array([0.5, -1.5, 2.0])


def _trajectory(optimizer):
    params, state = {"p": THETA}, optimizer.init({"p": THETA})
    for gradient in GRADIENTS:
        updates, state = optimizer.update({"p": gradient}, state, params)
        params = apply_updates(params, updates)
    return params["p"]


@pytest.mark.parametrize(
    ("composed", "chained"),
    [
        (lambda: adam(0.1), lambda: chain(scale_by_adam(), scale_by_learning_rate(0.1))),
        (
            lambda: adamw(0.1, weight_decay=0.05),
            lambda: chain(scale_by_adam(), add_decayed_weights(0.05), scale_by_learning_rate(0.1)),
        ),
        (lambda: sgd(0.1), lambda: scale_by_learning_rate(0.1)),
    ],
    ids=["adam", "adamw", "sgd"],
)
def test_composed_rules_run_like_the_chained_building_blocks(composed, chained):
    assert_allclose(_trajectory(composed()), _trajectory(chained()), rtol=1e-13)


def test_adam_and_adamw_share_adams_equations():
    adam_rule, adamw_rule = UPDATE_RULES["adam"], UPDATE_RULES["adamw"]
    assert adam_rule.assignments == adamw_rule.assignments == SCALE_BY_ADAM.assignments
    weight_decay = ADD_DECAYED_WEIGHTS.hyperparameters["weight_decay"]
    # AdamW's step is Adam's step minus alpha * lambda * theta, and nothing else.
    difference = adamw_rule.update - (adam_rule.update - LEARNING_RATE * weight_decay * PARAMETER)
    assert sympy.simplify(difference) == 0


def test_adamw_renders_as_one_rule():
    latex = update_rule_latex(adamw(0.1))
    assert r"\tilde{g}" not in latex and "g^{(1)}" not in latex
    assert latex.count("&=") == 5  # m, v, m-hat, v-hat, theta


def test_compose_refuses_a_state_used_twice():
    with pytest.raises(ValueError, match="mu, nu used twice|b1, b2, eps, mu, nu used twice"):
        compose("twice", SCALE_BY_ADAM, SCALE_BY_ADAM)
    with pytest.raises(ValueError, match="at least one rule"):
        compose("nothing")


def test_a_wrong_composition_is_caught():
    # Weight decay after the learning rate scales lambda by 1 instead of alpha: other numbers.
    wrong = chain(scale_by_adam(), scale_by_learning_rate(0.1), add_decayed_weights(0.05))
    with pytest.raises(AssertionError):
        assert_allclose(_trajectory(wrong), _trajectory(adamw(0.1, weight_decay=0.05)))
