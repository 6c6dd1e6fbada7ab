"""The one error user text raises, and how its messages quote the text they reject.

Every message is one line that names what was rejected and suggests the fix; the CLI prints it
as it is. The parse modules quote user text only through :func:`excerpt`, so a long or hostile
text never floods a message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

EXCERPT_LENGTH = 40
"""About how many characters of user text a message quotes."""


class ParseError(ValueError):
    """Rejected user text; the message is one line, names what was rejected and how to fix it.

    Example:
        >>> from symgd.parse import parse_expression
        >>> parse_expression("x^2")
        Traceback (most recent call last):
        ...
        symgd.parse.errors.ParseError: operator '^' is not allowed in 'x^2'; ...
    """

    def __init__(self, message: str) -> None:
        # One line whatever the caller passed: the CLI prints it as is.
        super().__init__(" ".join(message.splitlines()))


def excerpt(text: str) -> str:
    """Quote user text for a one-line message, truncated to about 40 characters.

    Args:
        text: The user text.

    Returns:
        The ASCII-quoted text (``ascii``), shortened with ``...`` when too long.

    Example:
        >>> excerpt("w*x + b")
        "'w*x + b'"
        >>> excerpt("x" * 100)
        "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...'"
    """
    if len(text) > EXCERPT_LENGTH:
        text = text[: EXCERPT_LENGTH - 3] + "..."
    return ascii(text)


def describe_character(char: str) -> str:
    """Name one character unambiguously: its ``repr`` and its code point.

    Example:
        >>> describe_character("\\u0445")
        "'х' (U+0445)"
    """
    return f"{char!r} (U+{ord(char):04X})"


# Common slips in hand-written answers: one concrete suggestion each (rules as data).
FUNCTION_SUGGESTIONS = {
    "ln": "write `log` for the natural logarithm",
    "Log": "write `log` for the natural logarithm",
    "sigma": "did you mean `sigmoid({args})`?",
    "Sigmoid": "did you mean `sigmoid({args})`?",
    "sig": "did you mean `sigmoid({args})`?",
    "sum": "write `Sum({args}, i)` for a sum over the examples, or no sum for a per-example answer",
    "Exp": "did you mean `exp({args})`?",
    "e": "did you mean `exp({args})`?",
}
"""Misspelt function names, to the suggestion (``{args}`` is the argument text)."""

CHARACTER_SUGGESTIONS = {
    "\u00b7": "use `*` for \u00b7",
    "\u22c5": "use `*` for \u22c5",
    "\u00d7": "use `*` for \u00d7",
    "\u2217": "use `*` for \u2217",
    "\u2212": "use `-` for \u2212",
    "\u2013": "use `-` for \u2013",
    "\u00f7": "use `/` for \u00f7",
    "\u00b2": "write `**2` for \u00b2",
    "\u03c3": "write `sigmoid(...)` for \u03c3",
    "\u03bb": "write `lamda` for \u03bb",
    "\u03a3": "write `Sum(..., i)` for \u03a3",
    "\u2211": "write `Sum(..., i)` for \u2211",
}
"""Non-ASCII characters students type, to the ASCII they mean."""


def function_suggestion(name: str, arguments: str) -> str:
    """The suggestion for an unknown function name, or ``""``.

    Example:
        >>> function_suggestion("sigma", "z")
        'did you mean `sigmoid(z)`?'
    """
    template = FUNCTION_SUGGESTIONS.get(name)
    return template.format(args=arguments) if template else ""


def missing_operator_suggestion(text: str, column: int) -> str:
    """Where a ``*`` is missing (``(a)x``, ``2x``, ``x(a)``, ``(a)(b)``), else ``""``.

    Args:
        text: The stripped text ``ast`` rejected.
        column: The 1-based column of the syntax error.

    Example:
        >>> missing_operator_suggestion("(p - y)x", 8)
        'insert `*` at column 8: `...)*x`'
    """
    number = re.search(r"(?<![\w.])\d+(?:\.\d*)?(?=[A-Za-z_])", text)
    if number and not re.fullmatch(r"[eE][-+]?\d", text[number.end() : number.end() + 2]):
        column = number.end() + 1  # '2x' fails as a number before the column of 'x'
    index = column - 1
    if not 0 < index < len(text):
        return ""
    before, after = text[:index].rstrip()[-1:], text[index]
    operand_ends = before and (before in ")]}" or before.isalnum() or before == "_")
    if operand_ends and (after.isalpha() or after == "("):
        return f"insert `*` at column {column}: `...{before}*{after}`"
    return ""


def unknown_name_suggestion(names: Iterable[str], known: Iterable[str], exponents=()) -> str:
    """A suggestion for unknown symbol names in an answer (``"; ..."``), or ``""``.

    Args:
        names: The unknown names.
        known: The names the answer may use.
        exponents: The exponents of powers of ``e``, as text, to suggest ``exp(...)``.

    Example:
        >>> unknown_name_suggestion(["p_i"], ["p", "y"])
        '; indices are implied: write `p` for p_i'
    """
    known = set(known)
    for name in sorted(names):
        base, underscore, index = name.rpartition("_")
        if underscore and base in known and index in _INDEX_LETTERS:
            return f"; indices are implied: write `{base}` for {name}"
        if name == "e":
            exponent = next(iter(exponents), "...")
            return f"; did you mean `exp({exponent})`?"
    return ""


_INDEX_LETTERS = {"i", "j", "k", "n"}
