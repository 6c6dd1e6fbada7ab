r"""Safe parsing of user text into SymPy expressions: the only entry point for user text.

``sympy.sympify`` and ``sympy.parse_expr`` call ``eval``, so text such as
``__import__('os').system(...)`` runs through them. This module never calls ``eval``,
``exec``, ``compile``, ``sympify`` or ``parse_expr`` on user text. It parses with
``ast.parse(text, mode="eval")``, walks the tree against a whitelist and builds SymPy
objects directly.

The accepted language:

* numbers: integer literals of at most 15 digits and finite float literals;
* symbol names matching ``[A-Za-z][A-Za-z0-9_]*``, at most 40 characters, not in
  :data:`RESERVED_NAMES`; every symbol is ``sympy.Symbol(name, real=True)``;
* ``+ - * / **`` (binary), unary ``-`` and ``+``, parentheses;
* calls of the functions in :data:`FUNCTIONS`, by position, with the right number of arguments;
* the constant ``pi``.

Every other name is an ordinary real symbol, including ``e``, ``E``, ``I``, ``N``, ``S``, ``Q``,
``O``, ``beta``, ``gamma``, ``zeta`` and ``lamda``: write ``exp(1)`` for Euler's number, and
``lamda`` (SymPy's spelling, printed as :math:`\lambda`) because ``lambda`` is a Python keyword.

Budgets, checked before any expensive work (each rejection is a :class:`ParseError`):

* text: at most 10 000 characters, ASCII only (Python folds Unicode look-alikes such as
  fullwidth ``ｅｘｐ`` into ``exp``), one line, bracket nesting at most 60 by a character scan;
* tree: at most 2000 nodes and depth 60 (a chain ``a + b - c`` or ``a*b/c`` is one level);
* numbers: ``a ** n`` with a numeric exponent needs :math:`|n| \le 64`; with a numeric base
  as well, :math:`|n \log_{10} |a|| \le 15`, so ``9**9**9**9`` is rejected before SymPy
  evaluates anything; exact numbers stay below :math:`2^{333}` (about 100 digits), and so do
  the exact numbers multiplied together in one product (SymPy merges ``sqrt(a)*sqrt(b)``);
* ``Max``/``Min``: at most 8 arguments and 200 tree nodes inside them in one expression
  (SymPy compares the arguments pairwise).

Example:
    >>> parse_expression("-y*log(p) - (1 - y)*log(1 - p)")
    -y*log(p) - (1 - y)*log(1 - p)
    >>> parse_expression("x.__class__")
    Traceback (most recent call last):
    ...
    symgd.parse.expressions.ParseError: attribute access '.__class__' is not allowed ...
"""

from __future__ import annotations

import ast
import keyword
import math
import re
from collections.abc import Callable, Mapping
from typing import NamedTuple

import sympy

from symgd.functions import sigmoid, softplus

__all__ = [
    "FUNCTIONS",
    "RESERVED_NAMES",
    "ParseError",
    "parse_assignments",
    "parse_definition",
    "parse_expression",
    "parse_name",
    "parse_names",
    "symbol",
]

_MAX_TEXT_LENGTH = 10_000
_MAX_NAME_LENGTH = 40
_MAX_BRACKET_DEPTH = 60
_MAX_UNARY_RUN = 60
_MAX_NODES = 2000
_MAX_DEPTH = 60
_MAX_INTEGER_DIGITS = 15
_MAX_EXPONENT = 64
_MAX_POWER_DIGITS = 15
_MAX_EXACT_BITS = 333
_MAX_PRODUCT_DIGITS = 100
_MAX_MINMAX_ARGUMENTS = 8
_MAX_MINMAX_NODES = 200
_EXCERPT_LENGTH = 40

_NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_IDENTIFIER_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ParseError(ValueError):
    """Rejected user text; the message is one line, names what was rejected and how to fix it.

    Example:
        >>> parse_expression("x^2")
        Traceback (most recent call last):
        ...
        symgd.parse.expressions.ParseError: operator '^' is not allowed in 'x^2'; ...
    """

    def __init__(self, message: str) -> None:
        # One line whatever the caller passed: the CLI prints it as is.
        super().__init__(" ".join(message.splitlines()))


class _Function(NamedTuple):
    function: Callable[..., sympy.Expr]
    min_args: int
    max_args: int | None  # None: no upper limit of its own (the Max/Min budget still applies)


# Rules as data: name -> (SymPy callable, arity). Adding a function is one row.
_FUNCTION_TABLE: dict[str, _Function] = {
    "exp": _Function(sympy.exp, 1, 1),
    "log": _Function(sympy.log, 1, 1),
    "sqrt": _Function(sympy.sqrt, 1, 1),
    "abs": _Function(sympy.Abs, 1, 1),
    "Abs": _Function(sympy.Abs, 1, 1),
    "sin": _Function(sympy.sin, 1, 1),
    "cos": _Function(sympy.cos, 1, 1),
    "tan": _Function(sympy.tan, 1, 1),
    "sinh": _Function(sympy.sinh, 1, 1),
    "cosh": _Function(sympy.cosh, 1, 1),
    "tanh": _Function(sympy.tanh, 1, 1),
    "Max": _Function(sympy.Max, 2, None),
    "Min": _Function(sympy.Min, 2, None),
    "sign": _Function(sympy.sign, 1, 1),
    "Heaviside": _Function(sympy.Heaviside, 1, 1),
    "sigmoid": _Function(sigmoid, 1, 1),
    "softplus": _Function(softplus, 1, 1),
}

FUNCTIONS: dict[str, Callable[..., sympy.Expr]] = {
    name: row.function for name, row in _FUNCTION_TABLE.items()
}
"""The callable names user text may use, mapped to SymPy callables (arities in the table above)."""

_CONSTANTS: dict[str, sympy.Expr] = {"pi": sympy.pi}
_NON_FINITE_NAMES = frozenset({"nan", "NaN", "inf", "Inf", "infinity", "Infinity", "oo", "zoo"})

RESERVED_NAMES: frozenset[str] = frozenset(
    set(FUNCTIONS) | set(_CONSTANTS) | _NON_FINITE_NAMES | set(keyword.kwlist)
)
"""Names that cannot be symbols: function names, ``pi``, non-finite values, Python keywords."""

_ALLOWED_SUMMARY = (
    "symgd expressions use numbers, symbol names, + - * / **, parentheses, pi and the functions "
    + ", ".join(sorted(FUNCTIONS))
)

_SUM: tuple[type[ast.operator], ...] = (ast.Add, ast.Sub)
_PRODUCT: tuple[type[ast.operator], ...] = (ast.Mult, ast.Div)
_CHAIN_FAMILIES = (_SUM, _PRODUCT)

_REJECTED_OPERATORS: dict[type[ast.AST], tuple[str, str]] = {
    ast.BitXor: ("^", "write '**' for powers"),
    ast.Mod: ("%", "the remainder is not differentiable; rewrite without it"),
    ast.FloorDiv: ("//", "write '/' for division"),
    ast.MatMult: ("@", "symgd expressions are scalar; write '*'"),
    ast.BitOr: ("|", "bitwise operators are not supported"),
    ast.BitAnd: ("&", "bitwise operators are not supported"),
    ast.LShift: ("<<", "bitwise operators are not supported"),
    ast.RShift: (">>", "bitwise operators are not supported"),
    ast.Invert: ("~", "bitwise operators are not supported; write '-' to negate"),
    ast.Not: ("not", "boolean operators are not supported"),
}

_REJECTED_CONSTRUCTS: dict[type[ast.AST], tuple[str, str]] = {
    ast.Lambda: (
        "lambda expression",
        "to name a symbol after the Greek letter write 'lamda' (printed as \\lambda)",
    ),
    ast.ListComp: ("list comprehension", _ALLOWED_SUMMARY),
    ast.SetComp: ("set comprehension", _ALLOWED_SUMMARY),
    ast.DictComp: ("dict comprehension", _ALLOWED_SUMMARY),
    ast.GeneratorExp: ("generator expression", _ALLOWED_SUMMARY),
    ast.BoolOp: ("boolean operator 'and'/'or'", "use Max/Min or Heaviside for piecewise logic"),
    ast.Compare: ("comparison", "use Heaviside(a - b) for a step at a = b"),
    ast.IfExp: ("conditional expression 'a if c else b'", "use Heaviside or Max/Min instead"),
    ast.Starred: ("starred argument '*'", "pass arguments one by one"),
    ast.JoinedStr: ("f-string", _ALLOWED_SUMMARY),
    ast.FormattedValue: ("f-string", _ALLOWED_SUMMARY),
    ast.Tuple: ("tuple (a comma outside a function call)", "write one expression"),
    ast.List: ("list '[...]'", "write one expression; brackets are not parentheses"),
    ast.Set: ("set '{...}'", "write one expression; braces are not parentheses"),
    ast.Dict: ("dict '{...}'", "write one expression; braces are not parentheses"),
    ast.NamedExpr: ("assignment expression ':='", "write 'name = expression' as a definition"),
    ast.Subscript: ("indexing '[...]'", "use one symbol per value, e.g. 'x_0' or 'x0'"),
    ast.Slice: ("slice", "use one symbol per value, e.g. 'x_0' or 'x0'"),
    ast.Await: ("'await'", _ALLOWED_SUMMARY),
    ast.Yield: ("'yield'", _ALLOWED_SUMMARY),
    ast.YieldFrom: ("'yield from'", _ALLOWED_SUMMARY),
}


def _excerpt(text: str) -> str:
    """Quote ``text`` for a one-line message, truncated to about 40 characters."""
    if len(text) > _EXCERPT_LENGTH:
        text = text[: _EXCERPT_LENGTH - 3] + "..."
    return ascii(text)


def _character(char: str) -> str:
    return f"{char!r} (U+{ord(char):04X})"


def _name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a symbol name, or ``None`` when it can."""
    if not name:
        return "empty symbol name; a name starts with a letter, e.g. 'w' or 'x_1'"
    for char in name:
        if not char.isascii():
            return (
                f"symbol name {_excerpt(name)} contains the non-ASCII character "
                f"{_character(char)}; use ASCII letters, digits and '_' "
                "(look-alike letters are not allowed)"
            )
    if len(name) > _MAX_NAME_LENGTH:
        return (
            f"symbol name {_excerpt(name)} has {len(name)} characters; "
            f"the limit is {_MAX_NAME_LENGTH}, choose a shorter name"
        )
    if not _NAME_PATTERN.fullmatch(name):
        return (
            f"{_excerpt(name)} is not a valid symbol name; use a letter followed by letters, "
            "digits or '_', e.g. 'w' or 'x_1'"
        )
    if name == "lambda":
        return (
            "'lambda' is a Python keyword and cannot be a symbol name; write 'lamda' "
            "(SymPy's spelling, printed as \\lambda)"
        )
    if name in FUNCTIONS:
        return (
            f"'{name}' is the name of a function and cannot be a symbol name; "
            f"choose another name, e.g. '{name}_'"
        )
    if name in _CONSTANTS:
        return f"'{name}' is the constant {name} and cannot be a symbol name; choose another name"
    if name in _NON_FINITE_NAMES:
        return (
            f"'{name}' is not allowed: symgd works with finite numbers only "
            "(and the name cannot be a symbol either); choose another name"
        )
    if name in RESERVED_NAMES:
        return f"'{name}' is a Python keyword and cannot be a symbol name; choose another name"
    return None


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
    problem = _name_problem(name)
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
    name = _check_text(text).strip()
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
    _check_text(text)
    if not text.strip():
        raise ParseError("no names given; write names separated by commas, e.g. 'w, b'")
    names: list[str] = []
    for position, item in enumerate(text.split(","), start=1):
        if not item.strip():
            raise ParseError(
                f"empty name at item {position} of {_excerpt(text)}; "
                "remove the extra comma, e.g. 'w, b'"
            )
        name = parse_name(item)
        if name in names:
            raise ParseError(f"duplicate name '{name}' in {_excerpt(text)}; list each name once")
        names.append(name)
    return tuple(names)


def parse_expression(text: str, *, symbols: Mapping[str, sympy.Symbol] | None = None) -> sympy.Expr:
    """Parse user text into a SymPy expression, safely and within budgets.

    Args:
        text: An expression such as ``"(y - (w*x + b))**2/2"``.
        symbols: Symbols to use for the names they contain; any other name becomes
            ``symbol(name)``.

    Returns:
        The SymPy expression.

    Raises:
        ParseError: If the text is not in the accepted language or exceeds a budget.

    Example:
        >>> parse_expression("(y - (w*x + b))**2/2")
        (-b - w*x + y)**2/2
        >>> parse_expression("sigmoid(w*x + b)").free_symbols == {symbol("w"), symbol("x"),
        ...     symbol("b")}
        True
    """
    tree = _parse_tree(text)
    builder = _Builder(text, symbols or {})
    try:
        expression = builder.build(tree.body)
    except ParseError:
        raise
    except (RecursionError, MemoryError) as error:
        raise ParseError(
            f"expression {_excerpt(text)} is too complex ({type(error).__name__})"
        ) from None
    except Exception as error:  # SymPy's ValueError/TypeError/...: user text must never escape
        raise ParseError(
            f"SymPy could not build {_excerpt(text)}: {type(error).__name__}: {error}"
        ) from None
    if not isinstance(expression, sympy.Expr):
        raise ParseError(f"{_excerpt(text)} is not a scalar expression; {_ALLOWED_SUMMARY}")
    if expression.has(*_NON_FINITE):
        raise ParseError(
            f"{_excerpt(text)} evaluates to an undefined or infinite value; "
            "check for division by zero or log(0)"
        )
    return expression


def parse_definition(
    text: str, *, symbols: Mapping[str, sympy.Symbol] | None = None
) -> tuple[str, sympy.Expr]:
    """Parse a definition ``name = expression``.

    Args:
        text: A definition such as ``"yhat = w*x + b"``.
        symbols: Passed on to :func:`parse_expression`.

    Returns:
        The defined name and its expression.

    Raises:
        ParseError: If there is no single ``=``, the name is invalid, the expression is
            rejected, or the name appears on its own right-hand side.

    Example:
        >>> parse_definition("yhat = w*x + b")
        ('yhat', b + w*x)
    """
    _check_text(text)
    name_text, equals, expression_text = text.partition("=")
    if not equals:
        raise ParseError(
            f"no '=' in definition {_excerpt(text)}; write 'name = expression', e.g. 'z = w*x + b'"
        )
    if expression_text.startswith("="):
        raise ParseError(
            f"'==' in definition {_excerpt(text)}; write a single '=', e.g. 'z = w*x + b'"
        )
    if not name_text.strip():
        raise ParseError(
            f"no name before '=' in definition {_excerpt(text)}; write 'name = expression'"
        )
    name = parse_name(name_text)
    expression = parse_expression(expression_text, symbols=symbols)
    if any(str(free) == name for free in expression.free_symbols):
        raise ParseError(
            f"'{name}' is defined in terms of itself in {_excerpt(text)}; use a new name"
        )
    return name, expression


def parse_assignments(text: str) -> dict[str, float]:
    """Parse numeric values for symbols, e.g. initial parameters.

    Each value is a finite number literal, optionally negated; nothing else is evaluated.

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
    _check_text(text)
    if not text.strip():
        raise ParseError("no assignments given; write name=value items, e.g. 'w=0, b=-1.5e-3'")
    values: dict[str, float] = {}
    for position, item in enumerate(text.split(","), start=1):
        if not item.strip():
            raise ParseError(
                f"empty item {position} in {_excerpt(text)}; remove the extra comma, "
                "e.g. 'w=0, b=1'"
            )
        name_text, equals, value_text = item.partition("=")
        if not equals:
            raise ParseError(f"no '=' in {_excerpt(item.strip())}; write name=value, e.g. 'w=0.5'")
        if not name_text.strip():
            raise ParseError(
                f"no name before '=' in {_excerpt(item.strip())}; write name=value, e.g. 'w=0.5'"
            )
        name = parse_name(name_text)
        if name in values:
            raise ParseError(f"duplicate value for '{name}' in {_excerpt(text)}; give it once")
        values[name] = _parse_number(name, value_text)
    return values


_NON_FINITE = (sympy.nan, sympy.zoo, sympy.oo, -sympy.oo)


def _parse_number(name: str, text: str) -> float:
    """A finite number literal, optionally negated, as a float."""
    stripped = text.strip()
    hint = f"the value of '{name}' must be a finite number such as 0.5 or -1e-3, got "
    if not stripped:
        raise ParseError(f"no value after '{name}='; write e.g. '{name}=0.5'")
    try:
        node = ast.parse(stripped, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise ParseError(hint + _excerpt(stripped)) from None
    negate = isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)
    if negate:
        node = node.operand
    if not (
        isinstance(node, ast.Constant)
        and type(node.value) in (int, float)  # bool is an int subclass: rejected here
    ):
        raise ParseError(hint + _excerpt(stripped))
    try:
        value = float(node.value)
    except OverflowError:
        raise ParseError(hint + _excerpt(stripped)) from None
    if not math.isfinite(value):
        raise ParseError(hint + _excerpt(stripped))
    return -value if negate else value


def _check_text(text: object) -> str:
    """Cheap character-level budgets shared by all parsers."""
    if not isinstance(text, str):
        raise ParseError(f"expected text (str), got {type(text).__name__}")
    if len(text) > _MAX_TEXT_LENGTH:
        raise ParseError(
            f"text of {len(text)} characters is too long; the limit is {_MAX_TEXT_LENGTH}"
        )
    for position, char in enumerate(text):
        if not char.isascii():
            raise ParseError(
                f"non-ASCII character {_character(char)} at position {position} of "
                f"{_excerpt(text)}; use ASCII letters only (look-alike letters are not allowed)"
            )
        if char in "\n\r":
            raise ParseError(
                f"line break at position {position} of {_excerpt(text)}; write it on one line"
            )
        if not (char.isprintable() or char == "\t"):
            raise ParseError(
                f"control character {_character(char)} at position {position} of "
                f"{_excerpt(text)}; remove it"
            )
    return text


def _check_nesting(text: str) -> None:
    """Bracket depth and unary-operator runs by a character scan, before ``ast.parse``."""
    depth = 0
    for char in text:
        if char in "([{":
            depth += 1
            if depth > _MAX_BRACKET_DEPTH:
                raise ParseError(
                    f"brackets nested more than {_MAX_BRACKET_DEPTH} deep in {_excerpt(text)}; "
                    "simplify the expression or name intermediate results"
                )
        elif char in ")]}":
            depth -= 1
    run = 0
    for char in text:
        if char in "+-~":
            run += 1
            if run > _MAX_UNARY_RUN:
                raise ParseError(
                    f"more than {_MAX_UNARY_RUN} signs in a row in {_excerpt(text)}; "
                    "simplify the signs"
                )
        elif not char.isspace():
            run = 0


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


def _parse_tree(text: str) -> ast.Expression:
    """Check the text budgets, parse with ``ast`` and check the tree budgets."""
    _check_text(text)
    stripped = text.strip()
    if not stripped:
        raise ParseError("empty expression; write e.g. 'w*x + b'")
    _check_nesting(stripped)
    try:
        tree = ast.parse(stripped, mode="eval")
    except SyntaxError as error:
        where = f" at column {error.offset}" if error.offset else ""
        raise ParseError(
            f"could not parse {_excerpt(stripped)}: {error.msg}{where}{_keyword_hint(stripped)}"
        ) from None
    except (ValueError, RecursionError, MemoryError) as error:
        raise ParseError(
            f"could not parse {_excerpt(stripped)}: too complex ({type(error).__name__})"
        ) from None
    _check_tree_size(stripped, tree)
    return tree


# Operators and load/store contexts are markers on a node, not parts of the expression.
_MARKER_NODES = (ast.operator, ast.unaryop, ast.cmpop, ast.boolop, ast.expr_context)


def _family(node: ast.AST) -> tuple[type[ast.operator], ...] | None:
    """The chain family of a ``+ -`` or ``* /`` node (a flat sum is not nesting)."""
    if isinstance(node, ast.BinOp):
        for family in _CHAIN_FAMILIES:
            if isinstance(node.op, family):
                return family
    return None


def _check_tree_size(text: str, tree: ast.Expression) -> None:
    """Node count and depth, iteratively (a deep tree must not recurse here).

    A chain such as ``a + b - c + d`` counts as one level: only real nesting is depth.
    """
    count = 0
    stack: list[tuple[ast.AST, int]] = [(tree.body, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > _MAX_NODES:
            raise ParseError(
                f"expression {_excerpt(text)} has more than {_MAX_NODES} parts; "
                "split it into named intermediate definitions"
            )
        if depth > _MAX_DEPTH:
            raise ParseError(
                f"expression {_excerpt(text)} is nested more than {_MAX_DEPTH} levels deep; "
                "split it into named intermediate definitions"
            )
        family = _family(node)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, _MARKER_NODES):
                continue
            continues_chain = (
                isinstance(node, ast.BinOp) and child is node.left and _family(child) == family
            )
            stack.append((child, depth if continues_chain else depth + 1))


class _Builder:
    """Build SymPy objects from a budget-checked tree, rejecting anything off the whitelist."""

    def __init__(self, text: str, symbols: Mapping[str, sympy.Symbol]) -> None:
        self.text = text
        self.symbols = symbols
        self.minmax_arguments = 0
        self.minmax_nodes = 0

    def reject(self, what: str, hint: str) -> ParseError:
        return ParseError(f"{what} is not allowed in {_excerpt(self.text)}; {hint}")

    def build(self, node: ast.AST) -> sympy.Expr:
        if isinstance(node, ast.BinOp):
            value = self.binary(node)
        elif isinstance(node, ast.UnaryOp):
            value = self.unary(node)
        elif isinstance(node, ast.Call):
            value = self.call(node)
        elif isinstance(node, ast.Name):
            value = self.name(node.id)
        elif isinstance(node, ast.Constant):
            value = self.constant(node.value)
        elif isinstance(node, ast.Attribute):
            raise self.reject(f"attribute access '.{node.attr}'", _ALLOWED_SUMMARY)
        elif type(node) in _REJECTED_CONSTRUCTS:
            what, hint = _REJECTED_CONSTRUCTS[type(node)]
            raise self.reject(what, hint)
        else:
            raise self.reject(f"the construct {type(node).__name__}", _ALLOWED_SUMMARY)
        self.check_value(value)
        return value

    def check_value(self, value: sympy.Expr) -> None:
        if value in _NON_FINITE:
            raise ParseError(
                f"{_excerpt(self.text)} evaluates to {value}, an undefined or infinite value; "
                "check for division by zero or log(0)"
            )
        if isinstance(value, sympy.Rational) and (
            max(abs(value.p).bit_length(), value.q.bit_length()) > _MAX_EXACT_BITS
        ):
            raise ParseError(
                f"a number in {_excerpt(self.text)} has more than about 100 digits; "
                "rescale the expression"
            )
        if isinstance(value, sympy.Float) and not math.isfinite(float(value)):
            raise ParseError(
                f"a number in {_excerpt(self.text)} is too large for float64; "
                "rescale the expression"
            )

    def binary(self, node: ast.BinOp) -> sympy.Expr:
        if isinstance(node.op, ast.Pow):
            base = self.build(node.left)
            exponent = self.build(node.right)
            self.check_power(base, exponent)
            return base**exponent
        family = _family(node)
        if family is None:
            symbol_text, hint = _REJECTED_OPERATORS.get(
                type(node.op), (type(node.op).__name__, _ALLOWED_SUMMARY)
            )
            raise self.reject(f"operator '{symbol_text}'", hint)
        # Walk the left spine of a chain iteratively: a sum of 1000 terms is flat, not deep.
        chain: list[tuple[ast.operator, ast.AST]] = []
        head: ast.AST = node
        while isinstance(head, ast.BinOp) and _family(head) == family:
            chain.append((head.op, head.right))
            head = head.left
        parts = [self.build(head)]
        for operator, operand in reversed(chain):
            value = self.build(operand)
            if isinstance(operator, ast.Sub):
                value = -value
            elif isinstance(operator, ast.Div):
                if value.is_Number and value == 0:
                    raise ParseError(
                        f"division by zero in {_excerpt(self.text)}; the denominator is 0"
                    )
                value = sympy.Pow(value, -1)
            parts.append(value)
        if family is _PRODUCT:
            # SymPy merges roots of numbers (sqrt(a)*sqrt(b) = sqrt(a*b)) and factors the result.
            digits = sum(_numeric_digits(part) for part in parts)
            if digits > _MAX_PRODUCT_DIGITS:
                raise ParseError(
                    f"the numbers in a product in {_excerpt(self.text)} have about "
                    f"{digits:.0f} digits together; the limit is {_MAX_PRODUCT_DIGITS}, "
                    "rescale the expression"
                )
        # Same result as a + b - c (SymPy's Sub is Add(a, -b), its Div is Mul(a, Pow(b, -1))).
        return sympy.Add(*parts) if family is _SUM else sympy.Mul(*parts)

    def check_power(self, base: sympy.Expr, exponent: sympy.Expr) -> None:
        # Checked before SymPy evaluates the power: 9**9**9**9 must never be computed.
        if not exponent.is_Number:
            return
        if abs(exponent) > _MAX_EXPONENT:
            raise ParseError(
                f"exponent {_short_number(exponent)} in {_excerpt(self.text)} is too large; "
                f"the limit is {_MAX_EXPONENT} in absolute value"
            )
        if base.is_Number:
            if base == 0 or abs(base) == 1:
                return
            digits = abs(float(exponent) * math.log10(abs(float(base))))
        else:
            # sqrt(n)**63 is n**31*sqrt(n): SymPy computes the integer part.
            digits = abs(float(exponent)) * _numeric_digits(base)
        if digits > _MAX_POWER_DIGITS:
            raise ParseError(
                f"power {_short_number(base)}**{_short_number(exponent)} in "
                f"{_excerpt(self.text)} has about {digits:.0f} digits; "
                f"the limit is {_MAX_POWER_DIGITS}, rescale the expression"
            )

    def unary(self, node: ast.UnaryOp) -> sympy.Expr:
        if isinstance(node.op, ast.USub):
            return -self.build(node.operand)
        if isinstance(node.op, ast.UAdd):
            return self.build(node.operand)
        symbol_text, hint = _REJECTED_OPERATORS.get(
            type(node.op), (type(node.op).__name__, _ALLOWED_SUMMARY)
        )
        raise self.reject(f"operator '{symbol_text}'", hint)

    def call(self, node: ast.Call) -> sympy.Expr:
        if not isinstance(node.func, ast.Name):
            if isinstance(node.func, ast.Attribute):
                raise self.reject(f"attribute access '.{node.func.attr}'", _ALLOWED_SUMMARY)
            raise self.reject("calling something other than a function name", _ALLOWED_SUMMARY)
        name = node.func.id
        row = _FUNCTION_TABLE.get(name)
        if row is None:
            raise ParseError(
                f"unknown function '{_excerpt(name)[1:-1]}' in {_excerpt(self.text)}; "
                f"allowed: {', '.join(sorted(FUNCTIONS))}"
            )
        if node.keywords:
            keyword_name = node.keywords[0].arg
            shown = f"'{keyword_name}='" if keyword_name else "'**'"
            raise self.reject(
                f"keyword argument {shown} in {name}(...)", "pass arguments by position"
            )
        for argument in node.args:
            if isinstance(argument, ast.Starred):
                raise self.reject(
                    f"starred argument '*' in {name}(...)", "pass arguments one by one"
                )
        count = len(node.args)
        if count < row.min_args or (row.max_args is not None and count > row.max_args):
            expected = (
                f"{row.min_args}" if row.max_args == row.min_args else f"at least {row.min_args}"
            )
            plural = "" if expected == "1" else "s"
            raise ParseError(
                f"{name} takes {expected} argument{plural}, got {count} in {_excerpt(self.text)}"
            )
        if row.function in (sympy.Max, sympy.Min):
            self.check_minmax_budget(node)
        arguments = [self.build(argument) for argument in node.args]
        return row.function(*arguments)

    def check_minmax_budget(self, node: ast.Call) -> None:
        # SymPy compares Max/Min arguments pairwise, at a cost growing with their size.
        self.minmax_arguments += len(node.args)
        self.minmax_nodes += sum(1 for argument in node.args for _ in ast.walk(argument))
        if self.minmax_arguments > _MAX_MINMAX_ARGUMENTS:
            raise ParseError(
                f"more than {_MAX_MINMAX_ARGUMENTS} Max/Min arguments in {_excerpt(self.text)}; "
                "split the expression into named intermediate definitions"
            )
        if self.minmax_nodes > _MAX_MINMAX_NODES:
            raise ParseError(
                f"Max/Min arguments in {_excerpt(self.text)} have more than "
                f"{_MAX_MINMAX_NODES} parts; define them as intermediates, e.g. "
                "'z = w*x + b' then 'Max(0, z)'"
            )

    def name(self, name: str) -> sympy.Expr:
        if name in _CONSTANTS:
            return _CONSTANTS[name]
        if name in FUNCTIONS:
            raise ParseError(
                f"'{name}' is a function, used without arguments in {_excerpt(self.text)}; "
                f"call it as {name}(...)"
            )
        problem = _name_problem(name)
        if problem is not None:
            raise ParseError(f"{problem} (in {_excerpt(self.text)})")
        if name in self.symbols:
            return self.symbols[name]
        return sympy.Symbol(name, real=True)

    def constant(self, value: object) -> sympy.Expr:
        if type(value) is int:
            if abs(value) >= 10**_MAX_INTEGER_DIGITS:
                raise ParseError(
                    f"integer literal with more than {_MAX_INTEGER_DIGITS} digits in "
                    f"{_excerpt(self.text)}; write it as a float, e.g. 1.5e20"
                )
            return sympy.Integer(value)
        if type(value) is float:
            if not math.isfinite(value):
                raise ParseError(
                    f"float literal in {_excerpt(self.text)} is not finite (too large for "
                    "float64); rescale the expression"
                )
            return sympy.Float(value)
        described = {
            bool: f"boolean {value}",
            str: "string literal",
            bytes: "bytes literal",
            complex: f"complex number {value!r}",
            type(None): "None",
            type(...): "'...' (Ellipsis)",
        }.get(type(value), f"constant of type {type(value).__name__}")
        raise self.reject(described, "symgd numbers are real: write an int or a float")


def _numeric_digits(expr: sympy.Expr) -> float:
    """About how many digits the exact numbers among the factors of ``expr`` have."""
    total = 0.0
    for factor in sympy.Mul.make_args(expr):
        if factor.is_Rational:
            total += _rational_digits(factor)
        elif factor.is_Pow and factor.base.is_Rational and factor.exp.is_Rational:
            total += abs(float(factor.exp)) * _rational_digits(factor.base)
    return total


def _rational_digits(value: sympy.Rational) -> float:
    return (math.log10(abs(value.p)) if value.p else 0.0) + math.log10(value.q)


def _short_number(value: sympy.Expr) -> str:
    text = str(value)
    return text if len(text) <= 20 else text[:17] + "..."
