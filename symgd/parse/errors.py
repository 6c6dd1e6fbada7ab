"""The one error user text raises, and how its messages quote the text they reject.

Every message is one line that names what was rejected and suggests the fix; the CLI prints it
as it is. The parse modules quote user text only through :func:`excerpt`, so a long or hostile
text never floods a message.
"""

from __future__ import annotations

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
