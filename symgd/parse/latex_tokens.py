r"""The LaTeX subset as data: the commands it knows and its tokenizer.

Adding a Greek letter, a function command or an ignored spacing command is one entry in a table
here; :mod:`symgd.parse.latex` translates the tokens.

Example:
    >>> tokenize(r"\frac{1}{2} x")
    [('command', 'frac'), ('symbol', '{'), ('number', '1'), ('symbol', '}'), ('symbol', '{'), ('number', '2'), ('symbol', '}'), ('letter', 'x')]
"""  # noqa: E501

from __future__ import annotations

import re

from symgd.parse.errors import ParseError, excerpt
from symgd.parse.names import FUNCTIONS

SUGGESTION = "write the answer in SymPy syntax instead, e.g. '(w*x + b - y)*x'"
"""The fix every LaTeX rejection suggests."""

# \pi is the constant pi, not a symbol: it is not in this table.
GREEK: dict[str, str] = {
    name: name
    for name in [
        "alpha",
        "beta",
        "gamma",
        "delta",
        "epsilon",
        "zeta",
        "eta",
        "theta",
        "iota",
        "kappa",
        "mu",
        "nu",
        "xi",
        "omicron",
        "rho",
        "tau",
        "upsilon",
        "phi",
        "chi",
        "psi",
        "omega",
        "Gamma",
        "Delta",
        "Theta",
        "Xi",
        "Pi",
        "Sigma",
        "Phi",
        "Psi",
        "Omega",
    ]
}
GREEK.update({"lambda": "lamda", "Lambda": "Lamda", "varepsilon": "epsilon", "varphi": "phi"})
# LaTeX function commands -> symgd function names (``\sigma`` is handled on its own).
FUNCTION_COMMANDS = {name: name for name in FUNCTIONS if name.islower() and name != "abs"}
FUNCTION_COMMANDS["ln"] = "log"
ACCENTS = {"hat": "hat", "bar": "bar", "tilde": "tilde"}
NAME_COMMANDS = ("operatorname", "mathrm", "text", "textrm", "mathit")
PRODUCT_COMMANDS = {"cdot": "*", "times": "*", "ast": "*"}
DIVISION_COMMANDS = {"frac", "dfrac", "tfrac"}
_IGNORED = {"left", "right", "big", "Big", "bigl", "bigr", "Bigl", "Bigr", "displaystyle"}
_SPACES = {",", ";", ":", "!", " ", "quad", "qquad"}

_TOKEN = re.compile(
    r"\\(?P<command>[A-Za-z]+|.)|(?P<number>\d+(?:\.\d*)?|\.\d+)|(?P<letter>[A-Za-z])"
    r"|(?P<space>\s+)|(?P<symbol>[-+*/^_{}()\[\]'=|])"
)


def tokenize(text: str) -> list[tuple[str, str]]:
    """Split LaTeX into ``(kind, value)`` tokens, dropping spaces and sizing commands.

    Kinds are ``command`` (without the backslash), ``number``, ``letter`` (one letter) and
    ``symbol``.

    Args:
        text: The LaTeX.

    Returns:
        The tokens in order.

    Raises:
        ParseError: A character outside the subset.
    """
    tokens = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise ParseError(
                f"character {text[position]!r} in LaTeX {excerpt(text)} is not supported; "
                + SUGGESTION
            )
        position = match.end()
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "space" or (kind == "command" and value in _SPACES):
            continue
        if kind == "command" and value in _IGNORED:
            continue
        tokens.append((kind, value))
    return tokens
