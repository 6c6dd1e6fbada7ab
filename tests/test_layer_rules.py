"""Layer rules (symgd.derivation.layer_rules, normalization, recurrent): every displayed
equality checked against sympy.diff at small sizes; deliberately wrong rules must fail."""

from __future__ import annotations

import dataclasses

import pytest
import sympy

from symgd.derivation.layer_check import verify_rule
from symgd.derivation.layer_rules import (
    a,
    activation_rule,
    convolution_rule,
    dense_rule,
    flatten_rule,
)
from symgd.derivation.normalization import batchnorm_rule
from symgd.derivation.pooling import pooling_rule
from symgd.derivation.recurrent import rnn_rule

RULES = [
    lambda: convolution_rule("valid"),
    lambda: convolution_rule("same"),
    lambda: pooling_rule("maxpool"),
    lambda: pooling_rule("avgpool"),
    flatten_rule,
    dense_rule,
    lambda: activation_rule("tanh"),
    lambda: activation_rule("relu"),
    batchnorm_rule,
    rnn_rule,
]


@pytest.mark.parametrize("make", RULES)
def test_every_displayed_equality_holds(make):
    check = verify_rule(make())
    assert check.passed, check.failures[:1]


def _with_last_side(rule, number, wrong):
    chains = list(rule.chains)
    chain = chains[number]
    chains[number] = dataclasses.replace(chain, sides=(*chain.sides[:-1], wrong(chain.sides[-1])))
    return chains


def test_convolution_input_gradient_with_unflipped_kernel_fails():
    rule = convolution_rule("valid")
    o, c, p, q, r, s = sympy.symbols("o c p q r s", integer=True, nonnegative=True)
    delta = sympy.IndexedBase("delta", real=True)
    K = sympy.IndexedBase("K", real=True)

    def unflipped(side):
        return side.xreplace({delta[o, r - p, s - q]: delta[o, r + p, s + q]})

    chains = _with_last_side(rule, 2, unflipped)
    assert chains[2].sides[-1] != rule.chains[2].sides[-1]
    assert not verify_rule(rule, chains).passed
    assert K  # the kernel stays as it is


def test_batchnorm_without_the_xhat_term_fails():
    rule = batchnorm_rule()
    xhat = sympy.IndexedBase("xhat", real=True)

    def dropped(side):
        return side.replace(lambda e: isinstance(e, sympy.Indexed) and e.base == xhat, lambda e: 0)

    assert not verify_rule(rule, _with_last_side(rule, 1, dropped)).passed


def test_max_pooling_to_the_last_maximum_fails():
    rule = pooling_rule("maxpool")
    case = rule.cases[0]
    p_star, q_star = sympy.IndexedBase("p^{*}", real=True), sympy.IndexedBase("q^{*}", real=True)
    values = {idx: v for (base, idx), v in case.values.items() if base == a}

    def last(which):
        def argmax(e, ch, rw, cl):
            window = [
                (values[(ch, 2 * rw + dr, 2 * cl + dc)], dr, dc) for dr in (0, 1) for dc in (0, 1)
            ]
            best = max(v for v, _, _ in window)
            return [(dr, dc) for v, dr, dc in window if v == best][-1][which]

        return argmax

    wrong = dataclasses.replace(
        case, definitions={**case.definitions, p_star: last(0), q_star: last(1)}
    )
    assert not verify_rule(dataclasses.replace(rule, cases=(wrong,))).passed


def test_rnn_recursion_without_tanh_derivative_fails():
    rule = rnn_rule()
    h = sympy.IndexedBase("h", real=True)
    t, p = sympy.symbols("t p", integer=True, positive=True)
    chains = _with_last_side(rule, 1, lambda side: side.xreplace({h[t, p]: 0}))
    assert not verify_rule(rule, chains).passed
