"""Stable rewrites (symgd.compile.rewrites): one row per table entry."""

from __future__ import annotations

import pytest
import sympy

from symgd.compile import (
    REWRITES,
    compile_objective,
    log_softmax,
    logsumexp,
    stabilize,
)
from symgd.define import logistic_regression
from symgd.derivation import derive
from symgd.functions import sigmoid, softplus

z, u, y = sympy.symbols("z u y", real=True)
a, b, c = sympy.symbols("a b c", real=True)
E = sympy.exp
T = sympy.Tuple

#: (words in the rule's name, textbook form, stable form): one row per entry of REWRITES.
ROWS = [
    ("1/(1 + e^{−z}) = σ(z)", 1 / (1 + E(-z)), sigmoid(z)),
    ("e^{z} σ(−z)", E(z) / (1 + E(z)), sigmoid(z)),
    ("distribute", (E(z) - y) / (1 + E(z)), sigmoid(z) - y * sigmoid(-z)),
    ("1 − σ(z) = σ(−z)", 1 - sigmoid(z), sigmoid(-z)),
    ("log-sigmoid", sympy.log(sigmoid(z)), -softplus(-z)),
    ("log(1 − σ(z))", sympy.log(1 - sigmoid(z)), -softplus(z)),
    ("softplus", sympy.log(1 + E(z)), softplus(z)),
    ("log-sum-exp", sympy.log(E(a) + E(b) + E(c)), logsumexp(a, b, c)),
    ("softmax denominator", 1 / (E(a) + E(b) + E(c)), E(-logsumexp(a, b, c))),
    ("softmax:", E(a) / (E(a) + E(b)), E(log_softmax(T(a), T(a, b)))),
    ("log-softmax", a - sympy.log(E(a) + E(b)), log_softmax(T(a), T(a, b))),
    ("log1p", sympy.log(1 + z), sympy.codegen.cfunctions.log1p(z)),
    ("expm1", E(z) - 1, sympy.codegen.cfunctions.expm1(z)),
    ("1 − tanh(z)² = sech(z)²", 1 - sympy.tanh(z) ** 2, sympy.sech(z) ** 2),
    ("1/cosh", 1 / sympy.cosh(z) ** 2, sympy.sech(z) ** 2),
    ("1 ± tanh(z)", (1 + sympy.tanh(z)) / 2, sigmoid(2 * z)),
]


def test_every_rewrite_has_a_row():
    for rule in REWRITES:
        assert any(words in rule.name for words, _, _ in ROWS), f"no test row for {rule.name!r}"


@pytest.mark.parametrize(("words", "textbook", "stable"), ROWS, ids=[r[0] for r in ROWS])
def test_rewrite_row(words, textbook, stable):
    got = stabilize(textbook)
    assert got == stable
    # the same mathematics: equal at moderate points, in the textbook form's own terms
    point = {z: 0.3, a: 0.2, b: -0.7, c: 1.1, y: 0.4}
    want = textbook.rewrite(sympy.exp).evalf(30, subs=point)
    assert abs(got.rewrite(sympy.exp).evalf(30, subs=point) - want) < 1e-25


def test_derivation_keeps_the_textbook_form():
    derivation = derive(logistic_regression())
    compiled = compile_objective(derivation)
    assert "sigmoid" in str(derivation.objective.expanded_loss)  # the display form
    assert "log(" in str(derivation.objective.expanded_loss)
    assert "numpy.logaddexp(0, " in compiled.source  # the stable form in the code
    naive = compile_objective(derivation, stable=False)
    assert "1 / (1 + numpy.exp(-(w*x + b)))" in naive.source
    assert "numpy.log(1 - _t0)" in naive.source
