"""Activations and output losses: the tables, derived derivatives, user expressions."""

from __future__ import annotations

import pytest
import sympy

from symgd.define import ACTIVATIONS, LOSSES, OUTPUT, PREACTIVATION, activation, loss
from symgd.derivation import output_error
from symgd.functions import sigmoid
from symgd.parse import ParseError

z, a = PREACTIVATION, OUTPUT
p, y = sympy.Symbol("p", real=True), sympy.Symbol("y", real=True)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_derivative_is_sympy_diff(name):
    row = ACTIVATIONS[name]
    assert sympy.simplify(row.derivative - sympy.diff(row.expression, z)) == 0
    in_output = row.derivative_in_output
    if in_output is not None:  # the output form must agree with the z form
        assert sympy.simplify(in_output.xreplace({a: row.expression}) - row.derivative) == 0


@pytest.mark.parametrize(
    "name, in_output",
    [("identity", sympy.Integer(1)), ("sigmoid", a * (1 - a)), ("tanh", 1 - a**2)],
)
def test_derivative_in_terms_of_output(name, in_output):
    assert sympy.expand(ACTIVATIONS[name].derivative_in_output - in_output) == 0


@pytest.mark.parametrize("name", ["relu", "softplus", "silu", "gelu", "leaky-relu"])
def test_derivative_without_output_form(name):
    assert ACTIVATIONS[name].derivative_in_output is None
    assert ACTIVATIONS[name].backward_form == ACTIVATIONS[name].derivative


@pytest.mark.parametrize(
    "text, expected",
    [
        ("z/(1 + exp(-z))", z / (1 + sympy.exp(-z))),
        ("x**3", z**3),
        ("u*sigmoid(u)", z * sigmoid(z)),
        ("swish", z * sigmoid(z)),
    ],
)
def test_user_expression(text, expected):
    act = activation(text)
    assert sympy.simplify(act.expression - expected) == 0
    assert sympy.simplify(act.derivative - sympy.diff(expected, z)) == 0


@pytest.mark.parametrize(
    "text, message",
    [
        ("tahn", "unknown activation 'tahn'"),
        ("x*w", "exactly one symbol"),
        ("__import__('os').system('true')", "not allowed"),
        ("2", "exactly one symbol"),
    ],
)
def test_bad_activation_is_rejected(text, message):
    with pytest.raises(ParseError, match=message):
        activation(text)


def test_leaky_relu_slope():
    act = activation("leaky-relu", slope=0.2)
    assert act.derivative.subs(z, -3) == pytest.approx(0.2)
    assert act.derivative.subs(z, 3) == 1
    with pytest.raises(ParseError, match="slope"):
        activation("leaky-relu", slope=1.5)


@pytest.mark.parametrize(
    "name, output_activation, delta",
    [
        ("mse", None, a - y),
        ("mse", "sigmoid", (a - y) * a * (1 - a)),
        ("mse", "tanh", (a - y) * (1 - a**2)),
        ("bce", None, p - y),
        ("softmax-cross-entropy", None, p - y),
    ],
)
def test_output_error_is_derived(name, output_activation, delta):
    error = output_error(name, output_activation)
    assert sympy.expand(error.delta - delta) == 0


def test_bce_output_error_matches_diff():
    bce = loss("binary-cross-entropy")
    raw = sympy.diff(bce.unit, z)
    derived = output_error(bce).delta.xreplace({p: sigmoid(z)})
    assert sympy.simplify((derived - raw).rewrite(sympy.exp)) == 0
    # A wrong δ must not pass the same comparison.
    assert sympy.simplify((derived + y - raw).rewrite(sympy.exp)) != 0


def test_unknown_loss():
    with pytest.raises(ParseError, match="unknown loss 'hinge'"):
        loss("hinge")


def test_every_loss_has_an_output_error():
    assert {name: str(output_error(name).delta) for name in LOSSES} == {
        "mse": "a - y",
        "bce": "p - y",
        "softmax-cross-entropy": "p - y",
    }
