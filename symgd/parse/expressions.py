r"""Safe parsing of user text into SymPy expressions: the only entry point for user text.

``sympy.sympify`` and ``sympy.parse_expr`` call ``eval``, so text such as
``__import__('os').system(...)`` runs through them. The parse package never calls ``eval``,
``exec``, ``compile``, ``sympify`` or ``parse_expr`` on user text. It parses with
``ast.parse(text, mode="eval")`` after the budgets of :mod:`symgd.parse.budgets`, walks the tree
against a whitelist (:mod:`symgd.parse.builder`) and builds SymPy objects directly.

The accepted language:

* numbers: integer literals of at most 15 digits and finite float literals;
* symbol names matching ``[A-Za-z][A-Za-z0-9_]*``, at most 40 characters, not in
  :data:`~symgd.parse.names.RESERVED_NAMES`; every symbol is ``sympy.Symbol(name, real=True)``
  (:mod:`symgd.parse.names` says which names are taken);
* ``+ - * / **`` (binary), unary ``-`` and ``+``, parentheses;
* calls of the functions in :data:`~symgd.parse.names.FUNCTIONS`, by position, with the right
  number of arguments;
* the constant ``pi``.

Example:
    >>> parse_expression("-y*log(p) - (1 - y)*log(1 - p)")
    -y*log(p) - (1 - y)*log(1 - p)
    >>> parse_expression("x.__class__")
    Traceback (most recent call last):
    ...
    symgd.parse.errors.ParseError: attribute access '.__class__' is not allowed ...
"""

from __future__ import annotations

from collections.abc import Mapping

import sympy

from symgd.parse.budgets import check_text, parse_tree
from symgd.parse.builder import ALLOWED_SUMMARY, ExpressionBuilder
from symgd.parse.errors import ParseError, excerpt
from symgd.parse.names import parse_name
from symgd.parse.values import NON_FINITE


def build_text(text: str, builder: ExpressionBuilder) -> sympy.Expr:
    """Parse ``text`` within the budgets and build it with ``builder``; every failure is one line.

    Raises:
        ParseError: The text is refused, too complex, or SymPy cannot build it.

    Example:
        >>> build_text("2*x", ExpressionBuilder("2*x", {}))
        2*x
    """
    tree = parse_tree(text)
    try:
        return builder.build(tree.body)
    except ParseError:
        raise
    except (RecursionError, MemoryError) as error:
        raise ParseError(
            f"expression {excerpt(text)} is too complex ({type(error).__name__})"
        ) from None
    except Exception as error:  # SymPy's ValueError/TypeError/...: user text must never escape
        raise ParseError(
            f"SymPy could not build {excerpt(text)}: {type(error).__name__}: {error}"
        ) from None


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
        >>> from symgd.parse import symbol
        >>> parse_expression("sigmoid(w*x + b)").free_symbols == {symbol("w"), symbol("x"),
        ...     symbol("b")}
        True
    """
    expression = build_text(text, ExpressionBuilder(text, symbols or {}))
    if not isinstance(expression, sympy.Expr):
        raise ParseError(f"{excerpt(text)} is not a scalar expression; {ALLOWED_SUMMARY}")
    if expression.has(*NON_FINITE):
        raise ParseError(
            f"{excerpt(text)} evaluates to an undefined or infinite value; "
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
    check_text(text)
    name_text, equals, expression_text = text.partition("=")
    if not equals:
        raise ParseError(
            f"no '=' in definition {excerpt(text)}; write 'name = expression', e.g. 'z = w*x + b'"
        )
    if expression_text.startswith("="):
        raise ParseError(
            f"'==' in definition {excerpt(text)}; write a single '=', e.g. 'z = w*x + b'"
        )
    if not name_text.strip():
        raise ParseError(
            f"no name before '=' in definition {excerpt(text)}; write 'name = expression'"
        )
    name = parse_name(name_text)
    expression = parse_expression(expression_text, symbols=symbols)
    if any(str(free) == name for free in expression.free_symbols):
        raise ParseError(
            f"'{name}' is defined in terms of itself in {excerpt(text)}; use a new name"
        )
    return name, expression
