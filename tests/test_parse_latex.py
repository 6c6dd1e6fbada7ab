"""Tests for symgd.parse.latex and symgd.parse.sums: the LaTeX subset and sums over examples.

Tables of (input, exact SymPy result), as in latexify-py's tests; every rejection is a one-line
:class:`ParseError` that suggests SymPy syntax.
"""

from __future__ import annotations

import contextlib
import time

import pytest
import sympy

from symgd.functions import sigmoid, softplus
from symgd.parse import (
    EXAMPLE_INDEX,
    ParseError,
    latex_translation,
    parse_latex,
    parse_with_sums,
    symbol,
)

w, b, x, y, z, m = (symbol(name) for name in ("w", "b", "x", "y", "z", "m"))
lamda, yhat, xbar = symbol("lamda"), symbol("yhat"), symbol("xbar")
X, Y = (sympy.IndexedBase(name, real=True)[EXAMPLE_INDEX] for name in ("x", "y"))


def _over_examples(body: sympy.Expr) -> sympy.Sum:
    return sympy.Sum(body, (EXAMPLE_INDEX, 1, m))


LATEX = [
    (r"\frac{1}{m}\sum_{i=1}^{m}(w x_i + b - y_i) x_i", _over_examples((w * X + b - Y) * X) / m),
    (r"\sum_i (w x_i - y_i)", _over_examples(w * X - Y)),
    (r"\sigma(z)(1-\sigma(z))", sigmoid(z) * (1 - sigmoid(z))),
    (r"\sigma'(z)", sigmoid(z) * (1 - sigmoid(z))),
    (r"e^{-z}", sympy.exp(-z)),
    (r"\ln(x) + \log x", 2 * sympy.log(x)),
    (r"\sqrt{x^2+1}", sympy.sqrt(x**2 + 1)),
    (r"\lambda w", lamda * w),
    (r"\left(x\right)^2", x**2),
    (r"|x|", sympy.Abs(x)),
    (r"\operatorname{softplus}(z)", softplus(z)),
    (r"\frac{\partial J}{\partial w} = 2 x", 2 * x),
    (r"x \cdot y \times z", x * y * z),
    (r"\tanh^2(z)", sympy.tanh(z) ** 2),
    (r"\bar{x}\hat{y}", xbar * yhat),
    (r"$2(\hat{y}-y)$", 2 * (yhat - y)),
    (r"wx + b", w * x + b),
]


@pytest.mark.parametrize(("text", "expected"), LATEX, ids=[t for t, _ in LATEX])
def test_latex_subset_reads_as_the_expected_expression(text, expected):
    result = parse_latex(text, data=["x", "y"])
    assert result == expected or sympy.simplify(result - expected) == 0


def test_known_names_take_a_run_of_letters():
    assert latex_translation(r"2(\hat{y}-y)") == "2*(yhat - y)"
    assert parse_latex("w1 x", symbols={"w1": symbol("w1")}) == symbol("w1") * x
    assert parse_latex("w1 x") == 1 * w * x  # no name 'w1': w times 1 times x


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (r"\int_0^1 x\,dx", r"\int"),
        (r"\input{/etc/passwd}", r"\input"),
        (r"\sum_{j=1}^{n} x_j", "sums run over the examples"),
        (r"\sum_i \sum_i x_i", "nested sum"),
        (r"\sqrt[3]{x}", "n-th root"),
        (r"x # y", "not supported"),
        (r"\frac{1}{2", "unexpected end"),
        ("", "empty answer"),
        ("x" * 10_001, "too long"),
    ],
)
def test_latex_outside_the_subset_is_refused_in_one_line(text, fragment):
    with pytest.raises(ParseError) as caught:
        parse_latex(text)
    message = str(caught.value)
    assert "\n" not in message and fragment in message


SUMS = [
    ("Sum(w*x_i - y_i, (i, 1, m))/m", _over_examples(w * X - Y) / m),
    ("Sum(w*x - y, i)", _over_examples(w * X - Y)),
    ("x_i + Sum(y_i, i)", x + _over_examples(Y)),  # outside a sum x_i is x
    ("w*x + b", w * x + b),
]


@pytest.mark.parametrize(("text", "expected"), SUMS, ids=[t for t, _ in SUMS])
def test_sums_over_examples(text, expected):
    assert parse_with_sums(text, data=["x", "y"]) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("Sum(Sum(x_i, i), i)", "nested sums"),
        ("Sum(x_i, (i, 0, m))", "i = 1 to m"),
        ("Sum(x_i)", "a body and an index"),
        ("Sum(i*x_i, i)", "the index i itself"),
        ("Sum(__import__('os'), i)", "unknown function '__import__'"),
    ],
)
def test_bad_sums_are_refused_in_one_line(text, fragment):
    with pytest.raises(ParseError) as caught:
        parse_with_sums(text, data=["x"])
    message = str(caught.value)
    assert "\n" not in message and fragment in message


# Issue 15: depth and length budgets before translating, a linear letter-run scan.
@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("(" * 300 + "x" + ")" * 300, "nested more than 60 deep"),
        ("{" * 300 + "x" + "}" * 300, "nested more than 60 deep"),
        ("[" * 300 + "x" + "]" * 300, "nested more than 60 deep"),
        ("\\sqrt{" * 300 + "x" + "}" * 300, "nested more than 60 deep"),
        ("\\exp" * 300 + " x", "more than 60 nested parts"),
        ("\\log\\sin" * 150 + " x", "more than 60 nested parts"),
        ("x" * 10_001, "too long"),
    ],
    ids=["parentheses", "braces", "brackets", "sqrt", "exp", "log-sin", "long"],
)
def test_deep_or_long_latex_is_refused_in_one_line(text, fragment):
    for function in (latex_translation, parse_latex):
        with pytest.raises(ParseError) as caught:
            function(text)
        assert "\n" not in str(caught.value)
        assert fragment in str(caught.value)


def _seconds(function, *args, **kwargs) -> float:
    start = time.perf_counter()
    with contextlib.suppress(ParseError):
        function(*args, **kwargs)
    return time.perf_counter() - start


@pytest.mark.parametrize("known", [(), ("a" * 40, "b")], ids=["no-names", "a-40-letter-name"])
def test_a_9000_letter_run_is_read_in_linear_time(known):
    text = "a" * 9000
    assert latex_translation(text, known=known).replace("*", "") == text
    with pytest.raises(ParseError):  # its translation is over the text or exponent budgets
        parse_latex(text, symbols={name: symbol(name) for name in known})
    # The cubic scan took 50 s for 9000 letters; linear time is milliseconds. A generous bound
    # on a shared machine: 10x the time of a 900-letter run plus 2 s.
    short = _seconds(latex_translation, text[:900], known=known)
    assert _seconds(latex_translation, text, known=known) < 10 * 10 * short + 2.0
