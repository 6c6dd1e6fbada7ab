"""Typos in hand-written answers get a one-line message with a concrete suggestion."""

from __future__ import annotations

import pytest

from symgd.define import logistic_regression
from symgd.derivation import derive
from symgd.parse import ParseError, parse_expression
from symgd.verify import check_answer

LOGISTIC = derive(logistic_regression())

TYPOS = [
    ("(sigmoid(w*x+b) - y)x", "insert `*` at column 21: `...)*x`"),
    ("2x", "insert `*` at column 2: `...2*x`"),
    ("x(p - y)", "insert `*` at column 2: `...x*(`"),
    ("(p - y)(x)", "insert `*` at column 8: `...)*(`"),
    ("e**(-z)", "did you mean `exp(-z)`?"),
    ("e^{-z}", "did you mean `exp(-z)`?"),
    ("e^(-z)", "did you mean `exp(-z)`?"),
    ("ln(p)", "write `log` for the natural logarithm"),
    ("sigma(z) - y", "did you mean `sigmoid(z)`?"),
    ("Sigmoid(z) - y", "did you mean `sigmoid(z)`?"),
    ("sum(p - y)", "write `Sum(p - y, i)` for a sum over the examples"),
    ("p_i - y_i", "indices are implied: write `p` for p_i"),
    (r"\sum_i (p_i - y_i)", "LaTeX input needs `--latex`"),
    (r"\frac{1}{m}(p - y)", "LaTeX input needs `--latex`"),
    ("(p - y)\u00b7x", "use `*` for \u00b7"),
    ("(p \u2212 y)*x", "use `-` for \u2212"),
    ("(p - y)\u00d7x", "use `*` for \u00d7"),
]


@pytest.mark.parametrize(("text", "fragment"), TYPOS)
def test_typo_gets_a_one_line_suggestion(text, fragment):
    with pytest.raises(ParseError) as error:
        check_answer(LOGISTIC, "b", text)
    message = str(error.value)
    assert fragment in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "text", ["p_i", "e**x", "e", "(p - y)*x", "log(p)", "sigmoid(z)", "exp(-z)"]
)
def test_legal_text_is_still_accepted(text):
    # 'p_i' and 'e' are legal symbol names outside the checker: no hint rejects them.
    parse_expression(text)


def test_correct_answer_after_the_fix():
    assert check_answer(LOGISTIC, "w", "(sigmoid(w*x+b) - y)*x").verdict == "correct"
