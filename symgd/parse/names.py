r"""The vocabulary of user text: function names, constants, reserved names and symbol names.

A symbol name matches ``[A-Za-z][A-Za-z0-9_]*``, has at most 40 characters and is not in
:data:`RESERVED_NAMES`; every symbol is ``sympy.Symbol(name, real=True)``. Every other name is an
ordinary real symbol, including ``e``, ``E``, ``I``, ``N``, ``S``, ``Q``, ``O``, ``beta``,
``gamma``, ``zeta`` and ``lamda``: write ``exp(1)`` for Euler's number, and ``lamda`` (SymPy's
spelling, printed as :math:`\lambda`) because ``lambda`` is a Python keyword.

The function whitelist lives here, not with the builder, because the reserved names are made
from it.

Example:
    >>> parse_names("w, b")
    ('w', 'b')
    >>> symbol("exp")
    Traceback (most recent call last):
    ...
    symgd.parse.errors.ParseError: 'exp' is the name of a function and cannot be a symbol name; ...
"""

from __future__ import annotations

import functools
import keyword
import math
import re
from collections.abc import Callable, Iterator
from typing import NamedTuple

import sympy

from symgd.functions import sigmoid, softplus
from symgd.parse.budgets import MAX_NAME_LENGTH, check_text
from symgd.parse.errors import ParseError, describe_character, excerpt


class FunctionRule(NamedTuple):
    """One row of the function whitelist: the SymPy callable and its number of arguments."""

    function: Callable[..., sympy.Expr]
    min_args: int
    max_args: int | None  # None: no upper limit of its own (the Max/Min budget still applies)


# Rules as data: name -> (SymPy callable, arity). Adding a function is one row.
FUNCTION_RULES: dict[str, FunctionRule] = {
    "exp": FunctionRule(sympy.exp, 1, 1),
    "log": FunctionRule(sympy.log, 1, 1),
    "sqrt": FunctionRule(sympy.sqrt, 1, 1),
    "abs": FunctionRule(sympy.Abs, 1, 1),
    "Abs": FunctionRule(sympy.Abs, 1, 1),
    "sin": FunctionRule(sympy.sin, 1, 1),
    "cos": FunctionRule(sympy.cos, 1, 1),
    "tan": FunctionRule(sympy.tan, 1, 1),
    "sinh": FunctionRule(sympy.sinh, 1, 1),
    "cosh": FunctionRule(sympy.cosh, 1, 1),
    "tanh": FunctionRule(sympy.tanh, 1, 1),
    "Max": FunctionRule(sympy.Max, 2, None),
    "Min": FunctionRule(sympy.Min, 2, None),
    "sign": FunctionRule(sympy.sign, 1, 1),
    "Heaviside": FunctionRule(sympy.Heaviside, 1, 1),
    # Built case by case by the parser: (value, comparison) pairs, the last (value, True).
    "Piecewise": FunctionRule(sympy.Piecewise, 1, None),
    "sigmoid": FunctionRule(sigmoid, 1, 1),
    "softplus": FunctionRule(softplus, 1, 1),
}

FUNCTIONS: dict[str, Callable[..., sympy.Expr]] = {
    name: row.function for name, row in FUNCTION_RULES.items()
}
"""The callable names user text may use, mapped to SymPy callables (arities in the table above)."""

CONSTANTS: dict[str, sympy.Expr] = {"pi": sympy.pi}
"""The named constants of user text."""

NON_FINITE_NAMES = frozenset({"nan", "NaN", "inf", "Inf", "infinity", "Infinity", "oo", "zoo"})
"""Names of non-finite values: neither values nor symbols in symgd."""

INTERNAL_NAMES: dict[str, str] = {
    # symgd.derivation.LOSS_SYMBOL, Symbol("ell", real=True): a user symbol 'ell' would be it.
    "ell": "the loss of one example (where its chain rule starts)",
}
"""Names of symbols symgd makes itself that a user symbol would be equal to, and what they are.

The other internal symbols cannot clash: the example index ``i`` is an integer symbol (a user
``i`` is a different, real symbol), ``m`` (the number of examples) is refused when an objective
is defined, ``J``, ``alpha`` and ``lamda`` only label formulas, and the placeholders of
:mod:`symgd.parse.sums` are refused there when the text uses their names.
"""

RESERVED_NAMES: frozenset[str] = frozenset(
    set(FUNCTIONS) | set(CONSTANTS) | NON_FINITE_NAMES | set(keyword.kwlist) | set(INTERNAL_NAMES)
)
"""Names that cannot be symbols: functions, ``pi``, non-finite values, keywords, internal names."""

UNTYPESET_COMMANDS = ("\\mathscr",)
"""LaTeX commands SymPy may print for a name (``xscr`` is ``\\mathscr{x}``) that symgd's
documents do not load; the other name modifiers (``hat``, ``bar``, ``cal``, ``frak``, ``bm`` …)
compile with amsmath and amssymb."""

_NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
# ASCII digits only ('\\d' would take Arabic-Indic digits); no '_', hex, brackets or spaces.
_NUMBER_PATTERN = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")

# Why a reserved name cannot be a symbol, first match wins ('lambda' is handled on its own).
_RESERVED_REASONS: tuple[tuple[frozenset[str], str], ...] = (
    (
        frozenset(FUNCTIONS),
        "'{name}' is the name of a function and cannot be a symbol name; "
        "choose another name, e.g. '{name}_'",
    ),
    (
        frozenset(CONSTANTS),
        "'{name}' is the constant {name} and cannot be a symbol name; choose another name",
    ),
    (
        NON_FINITE_NAMES,
        "'{name}' is not allowed: symgd works with finite numbers only "
        "(and the name cannot be a symbol either); choose another name",
    ),
    (
        frozenset(INTERNAL_NAMES),
        "'{name}' is the name symgd uses for {internal} and cannot be a symbol name; "
        "choose another name, e.g. '{name}1' or 'L'",
    ),
    (
        RESERVED_NAMES,
        "'{name}' is a Python keyword and cannot be a symbol name; choose another name",
    ),
)


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a symbol name, or ``None`` when it can.

    Example:
        >>> name_problem("w") is None
        True
        >>> name_problem("1w")
        "'1w' is not a valid symbol name; use a letter followed by letters, digits or '_', ..."
    """
    if not name:
        return "empty symbol name; a name starts with a letter, e.g. 'w' or 'x_1'"
    for char in name:
        if not char.isascii():
            return (
                f"symbol name {excerpt(name)} contains the non-ASCII character "
                f"{describe_character(char)}; use ASCII letters, digits and '_' "
                "(look-alike letters are not allowed)"
            )
    if len(name) > MAX_NAME_LENGTH:
        return (
            f"symbol name {excerpt(name)} has {len(name)} characters; "
            f"the limit is {MAX_NAME_LENGTH}, choose a shorter name"
        )
    if not _NAME_PATTERN.fullmatch(name):
        return (
            f"{excerpt(name)} is not a valid symbol name; use a letter followed by letters, "
            "digits or '_', e.g. 'w' or 'x_1'"
        )
    if name == "lambda":
        return (
            "'lambda' is a Python keyword and cannot be a symbol name; write 'lamda' "
            "(SymPy's spelling, printed as \\lambda)"
        )
    for names, reason in _RESERVED_REASONS:
        if name in names:
            return reason.format(name=name, internal=INTERNAL_NAMES.get(name))
    if "__" in name:
        return (
            f"symbol name '{name}' contains '__', which SymPy prints as a superscript "
            "('x__y' is x^y) that cannot be typeset in every formula; use a single '_', "
            "e.g. 'x_y'"
        )
    command = _untypeset_command(name)
    if command is not None:
        return (
            f"symbol name '{name}' would print in LaTeX with {command}, which symgd's documents "
            "do not load (SymPy reads a name ending in 'scr' as a script letter); choose "
            "a name without that ending"
        )
    return None


@functools.lru_cache(maxsize=4096)
def _untypeset_command(name: str) -> str | None:
    """The first of :data:`UNTYPESET_COMMANDS` in SymPy's LaTeX of the name, else ``None``."""
    printed = sympy.latex(sympy.Symbol(name))
    return next((command for command in UNTYPESET_COMMANDS if command in printed), None)


def symbol(name: str) -> sympy.Symbol:
    """Make the real SymPy symbol called ``name`` after validating the name.

    All symbols symgd makes are real: SymPy differentiates them about ten times faster.

    Args:
        name: A name matching ``[A-Za-z][A-Za-z0-9_]*``, at most 40 characters, not in
            :data:`RESERVED_NAMES`.

    Returns:
        ``sympy.Symbol(name, real=True)``; the same name gives an equal symbol.

    Raises:
        ParseError: If the name is not valid.

    Example:
        >>> w = symbol("w")
        >>> w, w.is_real, w == symbol("w")
        (w, True, True)
    """
    if not isinstance(name, str):
        raise ParseError(f"a symbol name must be a string, got {type(name).__name__}")
    problem = name_problem(name)
    if problem is not None:
        raise ParseError(problem)
    return sympy.Symbol(name, real=True)


def parse_name(text: str) -> str:
    """Validate one symbol name from user text.

    Args:
        text: The name, surrounding whitespace allowed.

    Returns:
        The name without surrounding whitespace.

    Raises:
        ParseError: If the text is not a valid symbol name.

    Example:
        >>> parse_name("  yhat ")
        'yhat'
    """
    name = check_text(text).strip()
    symbol(name)
    return name


def parse_names(text: str) -> tuple[str, ...]:
    """Parse a comma-separated list of distinct symbol names.

    Args:
        text: Names separated by commas, e.g. ``"w, b"``.

    Returns:
        The names in order.

    Raises:
        ParseError: If an item is empty or not a valid name, or a name repeats.

    Example:
        >>> parse_names("w, b")
        ('w', 'b')
    """
    names: list[str] = []
    items = _comma_items(
        text,
        nothing="no names given; write names separated by commas, e.g. 'w, b'",
        empty="empty name at item {position} of {text}; remove the extra comma, e.g. 'w, b'",
    )
    for item in items:
        name = parse_name(item)
        if name in names:
            raise ParseError(f"duplicate name '{name}' in {excerpt(text)}; list each name once")
        names.append(name)
    return tuple(names)


def parse_assignments(text: str) -> dict[str, float]:
    """Parse numeric values for symbols, e.g. initial parameters.

    Each value is a plain decimal number with its sign attached (``-1``, ``+2.5``, ``1e-3``,
    ``.5``); hexadecimal, ``_`` between digits, brackets and spaces after the sign are refused,
    and nothing is evaluated.

    Args:
        text: Comma-separated ``name=value`` items, e.g. ``"w=0, b=-1.5e-3"``.

    Returns:
        The values by name, as floats, in the order given.

    Raises:
        ParseError: If an item is empty, a name is invalid or repeated, or a value is not a
            finite number.

    Example:
        >>> parse_assignments("w=0, b=-1.5e-3")
        {'w': 0.0, 'b': -0.0015}
    """
    values: dict[str, float] = {}
    items = _comma_items(
        text,
        nothing="no assignments given; write name=value items, e.g. 'w=0, b=-1.5e-3'",
        empty="empty item {position} in {text}; remove the extra comma, e.g. 'w=0, b=1'",
    )
    for item in items:
        name_text, equals, value_text = item.partition("=")
        if not equals:
            raise ParseError(f"no '=' in {excerpt(item.strip())}; write name=value, e.g. 'w=0.5'")
        if not name_text.strip():
            raise ParseError(
                f"no name before '=' in {excerpt(item.strip())}; write name=value, e.g. 'w=0.5'"
            )
        name = parse_name(name_text)
        if name in values:
            raise ParseError(f"duplicate value for '{name}' in {excerpt(text)}; give it once")
        values[name] = _parse_number(name, value_text)
    return values


def _comma_items(text: str, *, nothing: str, empty: str) -> Iterator[str]:
    """The comma-separated items of ``text`` in order, refusing no items and empty ones.

    ``nothing`` is the message for blank text; ``empty`` a template with ``{position}`` and
    ``{text}``. Lazy, so an earlier bad item is reported before a later empty one.
    """
    check_text(text)
    if not text.strip():
        raise ParseError(nothing)
    for position, item in enumerate(text.split(","), start=1):
        if not item.strip():
            raise ParseError(empty.format(position=position, text=excerpt(text)))
        yield item


def _parse_number(name: str, text: str) -> float:
    """A plain decimal number such as ``-1``, ``+2.5``, ``1e-3`` or ``.5``, as a finite float."""
    stripped = text.strip()
    if not stripped:
        raise ParseError(f"no value after '{name}='; write e.g. '{name}=0.5'")
    if not _NUMBER_PATTERN.fullmatch(stripped):
        raise ParseError(
            f"the value of '{name}' must be a finite number such as 0.5, -1, +2.5, 1e-3 or .5 "
            f"(decimal digits, the sign attached), got {excerpt(stripped)}"
        )
    value = float(stripped)
    mantissa = stripped.lower().partition("e")[0]
    if not math.isfinite(value) or (value == 0.0 and any(c in "123456789" for c in mantissa)):
        size = "large" if value else "small"
        raise ParseError(
            f"the value of '{name}' must be a finite number such as 0.5 or -1e-3, "
            f"got {excerpt(stripped)}, which is too {size} for float64"
        )
    return value
