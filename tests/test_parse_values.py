"""Tests for symgd.parse.values: the budgets on what SymPy builds from accepted text.

Each rejection uses the exact input of issue 15 where there is one: ``L`` and ``OPTIONS`` are
the issue's ``L="(y - w*x - b)**2/2"`` and ``O="--params w,b --data x,y"``.
"""

from __future__ import annotations

import time
import warnings

import pytest
import sympy

from symgd.cli import main
from symgd.parse import ParseError, parse_expression, symbol

L = "(y - w*x - b)**2/2"
OPTIONS = ["--params", "w,b", "--data", "x,y"]
w, b, x, y, z = (symbol(name) for name in ("w", "b", "x", "y", "z"))
TOWER_19 = "**".join(["x"] * 19)

# (text, a fragment of the one-line message)
REJECTED = [
    ("((((x+1)**64)**64)**64)**64", "the limit is 64 for the product of nested exponents"),
    (f"{L} + ((((x+1)**64)**64)**64)**64*w*b", "the limit is 64"),
    ("(x**8)**9", "multiply to the exponent 72"),
    ("(x**64*y)**64", "multiply to the exponent 4096"),
    ("x**64*x**64", "multiply to the exponent 128"),
    (TOWER_19, "nested 4 deep"),
    (f"{L} + {TOWER_19}*w", "the limit is 3"),
    ("exp(exp(exp(exp(x))))", "nested 4 deep"),
    (f"{L} + w*b*(1e-300*1e-300)", "1.000e-600"),
    ("w*b*(1e-300*1e-300)", "too small for float64 (it would be 0)"),
    ("1e300*1e300*x", "too large for float64 (it would be inf)"),
    ("exp(710)*x", "too large for float64"),
    ("exp(-750)*x", "too small for float64"),
    ("exp(exp(exp(exp(9))))", "too large for float64"),
    ("sqrt(-1)", "sqrt(-1) is not a real number"),
    ("log(-1)", "log(-1) is not a real number"),
    ("(-96)**0.001", "(-96)**0.001 is not a real number"),
    (f"{L} + sqrt(-1)*w", "sqrt(-1) is not a real number"),
    (f"{L} + log(-1)*w", "log(-1) is not a real number"),
    (f"{L} + (-96)**0.001*w", "(-96)**0.001 is not a real number"),
    ("sqrt(-2)*sqrt(-2)", "sqrt(-2) is not a real number"),  # each constant as it is built
    ("x/0.0", "division by zero"),
]


@pytest.mark.parametrize(("text", "fragment"), REJECTED, ids=[t[:40] for t, _ in REJECTED])
def test_values_beyond_the_budgets_are_refused_in_one_line(text, fragment):
    start = time.perf_counter()
    with pytest.raises(ParseError) as caught:
        parse_expression(text)
    message = str(caught.value)
    assert "\n" not in message
    assert fragment in message
    assert time.perf_counter() - start < 1.0


ACCEPTED = [
    ("(y - w*x - b)**2", (y - w * x - b) ** 2),
    ("sigmoid(z)**2", parse_expression("sigmoid(z)") ** 2),
    ("x**64", x**64),
    ("(x**8)**8", x**64),
    ("((x + 1)**8 + 1)**8", ((x + 1) ** 8 + 1) ** 8),
    ("x**x**x**x", x ** (x ** (x**x))),
    ("exp(-exp(x))", sympy.exp(-sympy.exp(x))),
    ("sqrt(x)**64", x**32),
    ("exp(x)**64", sympy.exp(64 * x)),
    ("1e-300*x", sympy.Float(1e-300) * x),
    ("1e300*x", sympy.Float(1e300) * x),
    ("exp(700)*x", sympy.exp(700) * x),
    ("sqrt(2)*x", sympy.sqrt(2) * x),
    ("log(2)*pi*x", sympy.log(2) * sympy.pi * x),
    ("cos(1)**2 + sin(1)**2 - 1", sympy.cos(1) ** 2 + sympy.sin(1) ** 2 - 1),
    ("sqrt(x - 1)", sympy.sqrt(x - 1)),
]


@pytest.mark.parametrize(("text", "expected"), ACCEPTED, ids=[t for t, _ in ACCEPTED])
def test_legitimate_values_stay_accepted(text, expected):
    assert parse_expression(text) == expected


def test_a_syntax_warning_never_leaks(recwarn, capfd):
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        with pytest.raises(ParseError, match="conditional expression"):
            parse_expression("1if x else y")
    assert not [r for r in recwarn if issubclass(r.category, SyntaxWarning)]
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize(
    "extra",
    [
        "((((x+1)**64)**64)**64)**64*w*b",
        "w*b*(1e-300*1e-300)",
        "sqrt(-1)*w",
        "log(-1)*w",
        "(-96)**0.001*w",
        "(1if x else y)",
        f"{TOWER_19}*w",
    ],
)
def test_issue_inputs_through_derive_exit_2_with_one_line(extra, capsys):
    assert main(["derive", f"{L} + {extra}", *OPTIONS]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1
    assert "Traceback" not in captured.err
