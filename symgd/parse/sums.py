r"""Sums over the examples in SymPy syntax: ``Sum(body, i)`` and ``Sum(body, (i, 1, m))``.

Such a sum becomes ``sympy.Sum`` over the index :math:`i = 1 \dots m` with each data symbol in
the body written ``x[i]`` (an ``Indexed`` symbol), the same form as
:meth:`symgd.derivation.Derivation.dataset_gradient`. Each body and the rest of the text go through
:func:`symgd.parse.expressions.parse_expression`, the safe parser with its budgets; the sums
themselves are found in the ``ast`` tree, never evaluated.

Example:
    >>> parse_with_sums("Sum((w*x_i + b - y_i)*x_i, i)/m", data=["x", "y"])
    Sum((b + w*x[i] - y[i])*x[i], (i, 1, m))/m
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping

import sympy

from symgd.parse.budgets import parse_tree
from symgd.parse.errors import ParseError, excerpt
from symgd.parse.expressions import parse_expression
from symgd.parse.names import symbol

EXAMPLE_INDEX = sympy.Symbol("i", integer=True, positive=True)
"""The example index :math:`i` of sums over examples (the symbol ``Derivation.index`` uses)."""

_PLACEHOLDER = "symgdsum"
"""Each sum stands in the outer text as a symbol ``symgdsum0``, ``symgdsum1``, … while parsed."""


def parse_with_sums(
    text: str,
    *,
    symbols: Mapping[str, sympy.Symbol] | None = None,
    data: Iterable[str] = (),
) -> sympy.Expr:
    """Parse SymPy syntax that may contain sums over the examples, ``Sum(body, i)``.

    ``Sum(body, i)`` and ``Sum(body, (i, 1, m))`` are sums over the examples; in the body a data
    symbol ``x`` or ``x_i`` is the example's value ``x[i]``. Outside a sum ``x_i`` is ``x``.
    Each body and the rest of the text go through :func:`symgd.parse.parse_expression`.

    Args:
        text: e.g. ``"Sum((w*x_i + b - y_i)*x_i, (i, 1, m))/m"``.
        symbols: Symbols to use for the names they contain.
        data: Data symbol names.

    Returns:
        The expression, with ``sympy.Sum`` over :data:`EXAMPLE_INDEX` from 1 to ``m``.

    Raises:
        ParseError: Unsafe or unsupported text, or a sum that is not over the examples.

    Example:
        >>> parse_with_sums("Sum(w*x_i - y_i, (i, 1, m))/m", data=["x", "y"])
        Sum(w*x[i] - y[i], (i, 1, m))/m
    """
    tree = parse_tree(text)  # budgets first; ast.parse evaluates nothing
    data = tuple(data)
    symbols = dict(symbols or {})
    stripped = text.strip()
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Sum"
    ]
    if not calls:
        return _unsubscript(parse_expression(stripped, symbols=symbols), data, None, frozenset())
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    clash = sorted(names & {f"{_PLACEHOLDER}{number}" for number in range(len(calls))})
    if clash:
        raise ParseError(
            f"'{clash[0]}' is the name symgd uses for a sum while reading {excerpt(stripped)}; "
            "choose another name"
        )
    replaced = stripped
    bodies: dict[sympy.Symbol, sympy.Expr] = {}
    # Right to left, so earlier offsets stay valid; nested sums are refused.
    for number, call in enumerate(sorted(calls, key=lambda c: -c.col_offset)):
        if any(other is not call and _inside(other, call) for other in calls):
            raise ParseError(f"nested sums in {excerpt(stripped)}; write one sum over the examples")
        index = _sum_index(call, stripped)
        body = ast.get_source_segment(stripped, call.args[0])
        expression = parse_expression(body, symbols=symbols)
        if _symbol_named(expression, index) is not None:
            raise ParseError(
                f"the index {index} itself appears in the body of a sum in {excerpt(stripped)}"
            )
        placeholder = symbol(f"{_PLACEHOLDER}{number}")
        bodies[placeholder] = _unsubscript(expression, data, index, frozenset(symbols))
        start, end = call.col_offset, call.end_col_offset
        replaced = replaced[:start] + f"{_PLACEHOLDER}{number}" + replaced[end:]
    outer = _unsubscript(parse_expression(replaced, symbols=symbols), data, None, frozenset())
    m = symbol("m")
    return outer.xreplace(
        {
            placeholder: sympy.Sum(body, (EXAMPLE_INDEX, 1, m))
            for placeholder, body in bodies.items()
        }
    )


def _inside(inner: ast.AST, outer: ast.AST) -> bool:
    return any(node is inner for node in ast.walk(outer))


def _sum_index(call: ast.Call, text: str) -> str:
    problem = f"write Sum(body, i) or Sum(body, (i, 1, m)) in {excerpt(text)}"
    if len(call.args) != 2 or call.keywords:
        raise ParseError(f"a sum takes a body and an index; {problem}")
    limits = call.args[1]
    if isinstance(limits, ast.Name):
        return limits.id
    if (
        isinstance(limits, ast.Tuple)
        and len(limits.elts) == 3
        and isinstance(limits.elts[0], ast.Name)
        and isinstance(limits.elts[1], ast.Constant)
        and limits.elts[1].value == 1
        and type(limits.elts[1].value) is int
        and isinstance(limits.elts[2], ast.Name)
        and limits.elts[2].id == "m"
    ):
        return limits.elts[0].id
    raise ParseError(f"sums run over the examples i = 1 to m; {problem}")


def _symbol_named(expression: sympy.Expr, name: str) -> sympy.Symbol | None:
    return next((s for s in expression.free_symbols if s.name == name), None)


def _unsubscript(
    expression: sympy.Expr, data: tuple[str, ...], index: str | None, known: frozenset[str]
) -> sympy.Expr:
    """``x_i`` (and, inside a sum, ``x``) for a data symbol ``x`` -> ``x[i]`` or ``x``.

    Inside a sum, ``yhat_i`` for a known symbol that is not data (an intermediate) is ``yhat``.
    """
    mapping: dict[sympy.Basic, sympy.Basic] = {}
    for free in expression.free_symbols:
        base, _, subscript = free.name.rpartition("_")
        if index is not None:
            if subscript == index and base in known and base not in data:
                mapping[free] = symbol(base)
            elif subscript == index and base and (base in data or not data):
                mapping[free] = sympy.IndexedBase(base, real=True)[EXAMPLE_INDEX]
            elif free.name in data:
                mapping[free] = sympy.IndexedBase(free.name, real=True)[EXAMPLE_INDEX]
        elif subscript == "i" and base in data:
            mapping[free] = symbol(base)
    return expression.xreplace(mapping)
