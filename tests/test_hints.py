"""Hints from the table of mistake transformations: each row reproduces its answer exactly.

A table of (model, parameter, wrong answer, mistake class, fragment of the hint): every row of
:data:`symgd.verify.mistakes.MISTAKES` appears at least once; an answer no row reproduces gets
no hint.
"""

from __future__ import annotations

import functools

import pytest

from symgd.define import linear_regression, logistic_regression, objective
from symgd.derivation import derive
from symgd.verify import check_answer
from symgd.verify.mistakes import MISTAKES

_SOFTMAX = [
    "z1 = w1*x + b1",
    "z2 = w2*x + b2",
    "s = exp(z1) + exp(z2)",
    "p1 = exp(z1)/s",
    "p2 = exp(z2)/s",
]
_MODELS = {
    "linear": lambda: linear_regression(),
    "logistic": lambda: logistic_regression(),
    "ridge": lambda: objective("(y - yhat)**2/2", "w,b", "x,y", define={"yhat": "w*x + b"}, l2=0.1),
    "softmax": lambda: objective(
        "-y*log(p1) - (1 - y)*log(p2)", "w1,b1,w2,b2", "x,y", define=_SOFTMAX
    ),
    "network": lambda: objective(
        "(yhat - y)**2/2", "a,v", "x,y", define={"h": "tanh(a*x)", "yhat": "v*h"}
    ),
    "sigmoid-mse": lambda: objective(
        "(p - y)**2/2", "w,b", "x,y", define={"z": "w*x + b", "p": "sigmoid(z)"}
    ),
}


@functools.cache
def _derivation(model: str):
    return derive(_MODELS[model]())


CASES = [
    # wrong sign
    ("logistic", "w", "(y - p)*x", "wrong sign", "sign"),
    # factor 1/m, on each term separately
    ("linear", "w", "Sum((w*x_i + b - y_i)*x_i, i)", "factor 1/m", "1/m"),
    ("ridge", "w", "Sum((w*x_i + b - y_i)*x_i, i) + lamda*w", "factor 1/m", "data term is missing"),
    ("ridge", "w", "(Sum((w*x_i + b - y_i)*x_i, i) + lamda*w)/m", "factor 1/m", "divided by m too"),
    # constant factor: no square in the logistic loss
    ("logistic", "w", "(p - y)*x/2", "constant factor", "1/2 times"),
    ("linear", "w", "(w*x + b - y)*x/2", "constant factor", "square"),
    # the L2 term
    ("ridge", "w", "(w*x + b - y)*x", "forgotten regularisation", "regularisation term is missing"),
    ("ridge", "w", "(w*x + b - y)*x + 2*lamda*w", "regularisation factor", "2 times"),
    # a missing chain factor: the input x, sigma', tanh'
    ("softmax", "w1", "p1 - y", "missing chain-rule factor", "missing the input x"),
    ("logistic", "w", "p - y", "missing chain-rule factor", "missing the input x"),
    ("sigmoid-mse", "w", "(p - y)*x", "missing chain-rule factor", "σ'(z)"),
    ("network", "a", "(yhat - y)*v*x", "missing chain-rule factor", "1 - h**2"),
    # sigma' added to cross-entropy
    ("logistic", "w", "(p - y)*p*(1 - p)*x", "extra chain-rule factor", "σ'"),
    # a missing term: one of several chain-rule paths
    ("softmax", "w1", "-y*(1 - p1)*x", "missing term", "path"),
    # a wrong power
    ("network", "a", "(yhat - y)*v*(1 - h)*x", "wrong power", "h**2 became h"),
    # y and the prediction swapped
    ("sigmoid-mse", "w", "(y - p)*y*(1 - y)*x", "swapped prediction", "prediction"),
    # another parameter's gradient
    ("logistic", "b", "(p - y)*x", "another parameter", "gradient for w"),
    ("softmax", "b1", "(p1 - y)*x", "another parameter", "gradient for w1"),
    # swapped variables
    ("linear", "w", "(x*w + b - y)*w", "swapped variables", "swapped"),
    # nothing reproduces the answer: no hint
    ("linear", "w", "(w*x + b + y)*x", None, None),
    ("logistic", "w", "(p - y)*x**2 + 3", None, None),
]


@pytest.mark.parametrize(("model", "param", "answer", "mistake", "fragment"), CASES)
def test_hint_names_the_transformation_that_reproduces_the_answer(
    model, param, answer, mistake, fragment
):
    check = check_answer(_derivation(model), param, answer)
    assert check.verdict == "wrong", check
    if mistake is None:
        assert check.hint is None, check.hint
        return
    assert check.hint is not None and check.hint.mistake == mistake, check.hint
    assert fragment in check.hint.message, check.hint.message


def test_logistic_factor_hint_does_not_mention_a_square():
    check = check_answer(_derivation("logistic"), "w", "(p - y)*x/2")
    assert "square" not in check.hint.message


def test_softmax_missing_x_is_not_another_parameter():
    check = check_answer(_derivation("softmax"), "w1", "p1 - y")
    assert "b1" not in check.hint.message


def test_every_row_of_the_table_is_covered():
    assert {row.name for row in MISTAKES} <= {case[3] for case in CASES}


def test_every_row_has_one_line_of_hint():
    for row in MISTAKES:
        assert row.name and "\n" not in row.hint and callable(row.transform)
