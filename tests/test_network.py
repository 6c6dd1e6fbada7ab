"""Networks, defined and derived: layer rules and expanded chains against sympy.diff."""

from __future__ import annotations

import dataclasses

import numpy
import pytest
import sympy

from symgd.compile import compile_network, one_hot
from symgd.define import ACTIVATIONS, PREACTIVATION, network, parse_layers
from symgd.derivation import (
    EXPANDED_LIMIT,
    dense_rules,
    derive_network,
    is_zero,
    layer_rule_gradient,
)
from symgd.parse import ParseError

LOSS_NAMES = ["mse", "bce", "softmax-cross-entropy"]


def _equal(a: sympy.Expr, b: sympy.Expr) -> bool:
    """Symbolic equality: every function application becomes one symbol, then expand.

    Both sides apply the same functions to the same arguments, so the difference is a
    polynomial in those symbols that expands to 0 exactly when the gradients agree.
    """
    difference = a - b
    difference = difference.xreplace({f: sympy.Dummy() for f in difference.atoms(sympy.Function)})
    return sympy.expand(difference) == 0


def _rules_match_diff(derivation) -> dict:
    scalar = derivation.scalar
    ell = scalar.expanded_loss
    constraint = scalar.constraint
    return {
        param: _equal(rule.xreplace(constraint), sympy.diff(ell, param).xreplace(constraint))
        for param, rule in layer_rule_gradient(derivation).items()
    }


CASES = [("2,2,1", name, loss) for name in ACTIVATIONS for loss in ("mse", "bce")] + [
    pytest.param("2,3,2", name, loss, marks=pytest.mark.slow)
    for name in ACTIVATIONS
    for loss in LOSS_NAMES
]


@pytest.mark.parametrize("layers, act, loss", CASES)
def test_layer_rules_equal_diff_of_expanded_loss(layers, act, loss):
    derivation = derive_network(network(layers, activation=act, loss=loss), expanded=True)
    verdicts = _rules_match_diff(derivation)
    assert len(verdicts) == derivation.network.parameter_count
    assert all(verdicts.values()), [str(p) for p, ok in verdicts.items() if not ok]


def test_user_activation_rules_equal_diff():
    derivation = derive_network(
        network("2,2,1", activation="z/(1 + exp(-z))", loss="bce"), expanded=True
    )
    assert all(_rules_match_diff(derivation).values())


def _wrong_tanh():
    tanh = ACTIVATIONS["tanh"]
    # 1 - tanh(z) instead of 1 - tanh(z)**2: the classic slip.
    return dataclasses.replace(tanh, derivative=1 - sympy.tanh(PREACTIVATION))


def test_wrong_sigma_prime_fails_the_symbolic_check():
    net = dataclasses.replace(network("2,2,1", loss="mse"), activation=_wrong_tanh())
    verdicts = _rules_match_diff(derive_network(net, expanded=True))
    first_layer = [p for p in verdicts if "(1)" in p.name]
    assert not any(verdicts[p] for p in first_layer)
    assert all(verdicts[p] for p in verdicts if "(2)" in p.name)  # σ' is not on their path


def test_expanded_chain_for_a_first_layer_weight():
    derivation = derive_network(network("2,2,1", activation="sigmoid"), expanded=True)
    chain = derivation.expanded[1]  # w^{(1)}_{12}
    assert chain.param.name == "w^{(1)}_{12}"
    assert [node.name for node in chain.paths[0][1:]] == [
        "a^{(2)}_{1}",
        "z^{(2)}_{1}",
        "a^{(1)}_{1}",
        "z^{(1)}_{1}",
        "w^{(1)}_{12}",
    ]
    a1, a2, w2, x2, y1 = (
        sympy.Symbol(n, real=True)
        for n in ("a^{(1)}_{1}", "a^{(2)}_{1}", "w^{(2)}_{11}", "x_{2}", "y_{1}")
    )
    assert chain.local_derivatives[0] == (a2 - y1, sympy.Integer(1), w2, a1 * (1 - a1), x2)
    assert is_zero(chain.in_intermediates - (a2 - y1) * w2 * a1 * (1 - a1) * x2)


def test_expanded_limit():
    with pytest.raises(ValueError, match="more than 60"):
        derive_network(network("8,8,1"), expanded=True)
    assert network("2,3,2").parameter_count <= EXPANDED_LIMIT


def test_dense_rules_from_index_notation():
    rules = dense_rules().rules
    W, a, b, delta = (sympy.IndexedBase(n, real=True) for n in ("W", "a", "b", "delta"))
    i, p, q = sympy.symbols("i p q", integer=True, positive=True)
    n = sympy.Symbol("n", integer=True, positive=True)
    assert [r.variable for r in rules] == [W[p, q], a[q], b[p]]
    assert rules[0].result == delta[p] * a[q]
    assert rules[1].result == sympy.Sum(W[i, q] * delta[i], (i, 1, n))
    assert rules[2].result == delta[p]
    assert rules[0].local.has(sympy.KroneckerDelta)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("2", "at least an input and an output"),
        ("2,x,1", "'x' at item 2"),
        ("2,0,1", "out of range"),
        ("2,,1", "'' at item 2"),
        ("2,-3,1", "'-3'"),
    ],
)
def test_bad_layer_specs(spec, message):
    with pytest.raises(ParseError, match=message):
        parse_layers(spec)


def test_output_activation_with_logit_loss_is_rejected():
    with pytest.raises(ValueError, match="drop the output activation"):
        network("2,2,1", loss="bce", output_activation="sigmoid")


def test_compiled_agrees_with_expanded_layer_rules():
    net = network("2,3,2", activation="tanh", loss="softmax-cross-entropy")
    derivation = derive_network(net, expanded=True)
    compiled = compile_network(net)
    scalar = derivation.scalar
    rng = numpy.random.default_rng(5)
    theta = rng.standard_normal(net.parameter_count)
    x, label = rng.standard_normal(2), 1
    values = dict(zip(scalar.params, theta, strict=True))
    values |= dict(zip(scalar.inputs, x, strict=True)) | {
        scalar.targets[0]: 0,
        scalar.targets[1]: 1,
    }
    symbolic = [float(g.xreplace(values)) for g in layer_rule_gradient(derivation).values()]
    numeric = compiled.gradient(theta, x[None, :], one_hot(numpy.array([label]), 2))
    numpy.testing.assert_allclose(numeric, symbolic, rtol=1e-10)
