r"""Budgets on user text, checked before any expensive work: characters, nesting, tree size.

Every limit symgd puts on user text is a constant here; each rejection is a
:class:`~symgd.parse.errors.ParseError`.

* text: at most 10 000 characters, ASCII only (Python folds Unicode look-alikes such as
  fullwidth ``ｅｘｐ`` into ``exp``), one line, bracket nesting at most 60 by a character scan;
* tree: at most 2000 nodes and depth 60 (a chain ``a + b - c`` or ``a*b/c`` is one level);
* names: at most 40 characters;
* numbers (checked by the builder): ``a ** n`` with a numeric exponent needs
  :math:`|n| \le 64`; with a numeric base as well, :math:`|n \log_{10} |a|| \le 15`, so
  ``9**9**9**9`` is rejected before SymPy evaluates anything; integer literals have at most 15
  digits; exact numbers stay below :math:`2^{333}` (about 100 digits), and so do the exact
  numbers multiplied together in one product (SymPy merges ``sqrt(a)*sqrt(b)``);
* values (checked as SymPy builds them, :mod:`symgd.parse.values`): the exponents along nested
  powers multiply to at most 64 (``(x**8)**8``); powers with a symbolic exponent and ``exp``
  nest at most 3 deep (``x**x**x**x``); every constant is real and fits float64;
* ``Max``/``Min`` (checked by the builder): at most 8 arguments and 200 tree nodes inside them
  in one expression (SymPy compares the arguments pairwise).

Example:
    >>> parse_tree("w*x + b").body.op
    <ast.Add object at ...>
    >>> parse_tree("(" * 61 + "x" + ")" * 61)
    Traceback (most recent call last):
    ...
    symgd.parse.errors.ParseError: brackets nested more than 60 deep in ...
"""

from __future__ import annotations

import ast
import itertools
import keyword
import re
import warnings

from symgd.parse.errors import (
    CHARACTER_SUGGESTIONS,
    ParseError,
    describe_character,
    excerpt,
    missing_operator_suggestion,
)

MAX_TEXT_LENGTH = 10_000
MAX_NAME_LENGTH = 40
MAX_BRACKET_DEPTH = 60
MAX_UNARY_RUN = 60
MAX_NODES = 2000
MAX_DEPTH = 60
MAX_INTEGER_DIGITS = 15
MAX_EXPONENT = 64
MAX_POWER_TOWER = 3
MAX_POWER_DIGITS = 15
MAX_EXACT_BITS = 333
MAX_PRODUCT_DIGITS = 100
MAX_MINMAX_ARGUMENTS = 8
MAX_MINMAX_NODES = 200

SUM: tuple[type[ast.operator], ...] = (ast.Add, ast.Sub)
"""The ``+ -`` chain family: ``a + b - c`` is one flat sum."""
PRODUCT: tuple[type[ast.operator], ...] = (ast.Mult, ast.Div)
"""The ``* /`` chain family: ``a*b/c`` is one flat product."""

_IDENTIFIER_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SIGN_RUN = re.compile(r"[-+~]+")
# Operators and load/store contexts are markers on a node, not parts of the expression.
_MARKER_NODES = (ast.operator, ast.unaryop, ast.cmpop, ast.boolop, ast.expr_context)


def check_text(text: object) -> str:
    """Check the cheap character-level budgets shared by all parsers.

    Args:
        text: The user text.

    Returns:
        The text, unchanged.

    Raises:
        ParseError: It is not a ``str``, is too long, or has a non-ASCII character, a line
            break or a control character.

    Example:
        >>> check_text("w*x + b")
        'w*x + b'
    """
    if not isinstance(text, str):
        raise ParseError(f"expected text (str), got {type(text).__name__}")
    if len(text) > MAX_TEXT_LENGTH:
        raise ParseError(
            f"text of {len(text)} characters is too long; the limit is {MAX_TEXT_LENGTH}"
        )
    for position, char in enumerate(text):
        if not char.isascii():
            fix = CHARACTER_SUGGESTIONS.get(
                char, "use ASCII letters only (look-alike letters are not allowed)"
            )
            raise ParseError(
                f"non-ASCII character {describe_character(char)} at position {position} of "
                f"{excerpt(text)}; {fix}"
            )
        if char in "\n\r":
            raise ParseError(
                f"line break at position {position} of {excerpt(text)}; write it on one line"
            )
        if not (char.isprintable() or char == "\t"):
            raise ParseError(
                f"control character {describe_character(char)} at position {position} of "
                f"{excerpt(text)}; remove it"
            )
    return text


def parse_tree(text: str) -> ast.Expression:
    """Check the text budgets, parse with ``ast`` (which evaluates nothing), check the tree.

    Args:
        text: The user text of one expression.

    Returns:
        The ``ast`` tree of the stripped text, within the node and depth budgets.

    Raises:
        ParseError: A budget is exceeded or the text is not a Python expression.

    Example:
        >>> ast.unparse(parse_tree("  w*x + b "))
        'w * x + b'
    """
    check_text(text)
    stripped = text.strip()
    if not stripped:
        raise ParseError("empty expression; write e.g. 'w*x + b'")
    check_nesting(stripped)
    try:
        with warnings.catch_warnings():
            # Python warns on text such as '1if x else y' (SyntaxWarning): only the error speaks.
            warnings.simplefilter("ignore")
            tree = ast.parse(stripped, mode="eval")
    except SyntaxError as error:
        where = f" at column {error.offset}" if error.offset else ""
        raise ParseError(
            f"could not parse {excerpt(stripped)}: {error.msg}{where}{_keyword_hint(stripped)}"
            + _typo_hint(stripped, error.offset or 0)
        ) from None
    except (ValueError, RecursionError, MemoryError) as error:
        raise ParseError(
            f"could not parse {excerpt(stripped)}: too complex ({type(error).__name__})"
        ) from None
    _check_tree_size(stripped, tree)
    return tree


def chain_family(node: ast.AST) -> tuple[type[ast.operator], ...] | None:
    """The chain family (:data:`SUM` or :data:`PRODUCT`) of a binary node, else ``None``.

    A flat sum or product is not nesting: its left spine is walked as one level.

    Example:
        >>> chain_family(parse_tree("a - b").body) is SUM
        True
    """
    if isinstance(node, ast.BinOp):
        for family in (SUM, PRODUCT):
            if isinstance(node.op, family):
                return family
    return None


def check_nesting(text: str) -> None:
    """Bracket depth and runs of signs by a character scan, before ``ast.parse``.

    Also the first budget on LaTeX: ``{`` and ``[`` nest there as ``(`` does.

    Raises:
        ParseError: Brackets nested more than 60 deep, or more than 60 signs in a row.
    """
    depths = itertools.accumulate(+1 if c in "([{" else -1 if c in ")]}" else 0 for c in text)
    if max(depths, default=0) > MAX_BRACKET_DEPTH:
        raise ParseError(
            f"brackets nested more than {MAX_BRACKET_DEPTH} deep in {excerpt(text)}; "
            "simplify the expression or name intermediate results"
        )
    signs = _SIGN_RUN.findall("".join(text.split()))  # '- - x' is a run of two signs
    if max(map(len, signs), default=0) > MAX_UNARY_RUN:
        raise ParseError(
            f"more than {MAX_UNARY_RUN} signs in a row in {excerpt(text)}; simplify the signs"
        )


def _keyword_hint(text: str) -> str:
    """A hint when a Python keyword (often 'lambda') was used as a name."""
    for word in _IDENTIFIER_PATTERN.findall(text):
        if word == "lambda":
            return (
                "; 'lambda' is a Python keyword: write 'lamda' (SymPy's spelling, "
                "printed as \\lambda)"
            )
        if keyword.iskeyword(word):
            return f"; '{word}' is a Python keyword and cannot be a name"
    return ""


def _typo_hint(text: str, column: int) -> str:
    """A concrete fix for a syntax error: LaTeX without ``--latex``, or a missing ``*``."""
    if "\\" in text:
        return "; LaTeX input needs `--latex`"
    suggestion = missing_operator_suggestion(text, column)
    return f"; {suggestion}" if suggestion else ""


def _check_tree_size(text: str, tree: ast.Expression) -> None:
    """Node count and depth, iteratively (a deep tree must not recurse here).

    A chain such as ``a + b - c + d`` counts as one level: only real nesting is depth.
    """
    count = 0
    stack: list[tuple[ast.AST, int]] = [(tree.body, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise ParseError(
                f"expression {excerpt(text)} has more than {MAX_NODES} parts; "
                "split it into named intermediate definitions"
            )
        if depth > MAX_DEPTH:
            raise ParseError(
                f"expression {excerpt(text)} is nested more than {MAX_DEPTH} levels deep; "
                "split it into named intermediate definitions"
            )
        family = chain_family(node)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, _MARKER_NODES):
                continue
            continues_chain = (
                isinstance(node, ast.BinOp) and child is node.left and chain_family(child) == family
            )
            stack.append((child, depth if continues_chain else depth + 1))
