"""Stage 1, define: an objective as SymPy expressions with named intermediates.

An :class:`Objective` is a per-example loss ``ℓ`` written in parameter symbols,
data symbols and named intermediates (``yhat = w*x + b``), reduced over the
``m`` examples by a mean (the default) or a sum, optionally plus an L2 penalty
``λ/2 Σ θ²`` outside the reduction:

.. math::

    J(\\theta) = \\frac{1}{m} \\sum_{i=1}^{m} \\ell(\\theta; x_i, y_i)
               + \\frac{\\lambda}{2} \\sum_j \\theta_j^2

Example:
    >>> objective = linear_regression()
    >>> objective.loss
    (y - yhat)**2/2
    >>> objective.expanded_loss
    (-b - w*x + y)**2/2
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import sympy

from symgd.parse import ParseError, parse_definition, parse_expression, parse_names, symbol

Reduction = Literal["mean", "sum"]


@dataclass(frozen=True)
class Objective:
    """A training objective: a per-example loss over parameters and data.

    Attributes:
        loss: The per-example loss ``ℓ``; may mention intermediate symbols.
        params: The parameters ``θ`` the gradient is taken with respect to.
        data: The data symbols; each takes one value per example.
        intermediates: Named intermediates ``(name, definition)`` in the order
            they are computed; a definition may use earlier intermediates.
        reduction: ``"mean"`` (``J = 1/m Σ ℓ``) or ``"sum"`` (``J = Σ ℓ``).
        l2: The L2 strength ``λ`` (a number), or ``None`` for no penalty.
    """

    loss: sympy.Expr
    params: tuple[sympy.Symbol, ...]
    data: tuple[sympy.Symbol, ...]
    intermediates: tuple[tuple[sympy.Symbol, sympy.Expr], ...] = ()
    reduction: Reduction = "mean"
    l2: float | None = None
    examples: sympy.Symbol = field(default_factory=lambda: symbol("m"))

    def __post_init__(self) -> None:
        _check_objective(self)

    @property
    def substitutions(self) -> dict[sympy.Symbol, sympy.Expr]:
        """Each intermediate symbol mapped to its definition in params and data only."""
        return resolve_definitions(self.intermediates)

    @property
    def expanded_loss(self) -> sympy.Expr:
        """The per-example loss with every intermediate substituted."""
        return self.loss.xreplace(self.substitutions)

    @property
    def l2_symbol(self) -> sympy.Symbol:
        """The symbol ``λ`` used when displaying the L2 penalty."""
        return symbol("lamda")

    def __repr__(self) -> str:
        names = ", ".join(str(p) for p in self.params)
        defs = "".join(f", {n} = {d}" for n, d in self.intermediates)
        extra = f", l2={self.l2}" if self.l2 else ""
        return (
            f"Objective(loss={self.loss}{defs}, params=({names}), "
            f"reduction={self.reduction}{extra})"
        )


def resolve_definitions(
    definitions: Iterable[tuple[sympy.Symbol, sympy.Expr]],
) -> dict[sympy.Symbol, sympy.Expr]:
    """Each named symbol mapped to its definition with the earlier names substituted.

    Args:
        definitions: ``(name, definition)`` pairs, each reading only earlier names.

    Returns:
        Each name's expression in the symbols that are not names (parameters, data).

    Example:
        >>> z, p, w, x = sympy.symbols("z p w x", real=True)
        >>> resolve_definitions([(z, w * x), (p, 2 * z)])
        {z: w*x, p: 2*w*x}
    """
    resolved: dict[sympy.Symbol, sympy.Expr] = {}
    for name, definition in definitions:
        resolved[name] = definition.xreplace(resolved)
    return resolved


def _check_objective(obj: Objective) -> None:
    """Raise a one-line ValueError when the pieces of an objective do not fit together."""
    if not obj.params:
        raise ValueError("an objective needs at least one parameter (e.g. --params w,b)")
    if obj.reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', not {obj.reduction!r}")
    if obj.l2 is not None and not (obj.l2 >= 0 and obj.l2 < float("inf")):
        raise ValueError(f"l2 must be a finite number >= 0, not {obj.l2!r}")
    names = [s.name for s in obj.params + obj.data] + [n.name for n, _ in obj.intermediates]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"symbol {repeated[0]!r} is used for more than one role")
    if obj.examples.name in names:
        raise ValueError("'m' is the number of examples; choose another name for that symbol")
    if obj.l2 and obj.l2_symbol.name in names:
        raise ValueError(
            f"{obj.l2_symbol.name!r} is the L2 strength of --l2; choose another name for that "
            "symbol, or drop --l2 and write the penalty into the loss"
        )
    known = set(obj.params) | set(obj.data)
    for name, definition in obj.intermediates:
        unknown = definition.free_symbols - known
        if unknown:
            raise ValueError(
                f"definition of {name} uses {_names(unknown)}, which is neither a parameter, "
                "a data symbol nor an earlier definition"
            )
        known.add(name)
    unknown = obj.loss.free_symbols - known
    if unknown:
        raise ValueError(
            f"the loss uses {_names(unknown)}, which is neither a parameter, a data symbol "
            "nor a definition; add it to --params, --data or --define"
        )
    expanded = obj.expanded_loss
    unused = [p.name for p in obj.params if p not in expanded.free_symbols]
    if unused and not obj.l2:
        raise ValueError(f"the loss does not depend on parameter {unused[0]!r}")


def _names(symbols: Iterable[sympy.Symbol]) -> str:
    return ", ".join(sorted(repr(s.name) for s in symbols))


def _as_expr(value: str | sympy.Expr, table: Mapping[str, sympy.Symbol]) -> sympy.Expr:
    if isinstance(value, str):
        return parse_expression(value, symbols=table)
    if isinstance(value, sympy.Basic):
        return value
    raise TypeError(f"expected a string or a SymPy expression, got {type(value).__name__}")


def _as_symbols(values: str | Sequence[str | sympy.Symbol]) -> tuple[sympy.Symbol, ...]:
    if isinstance(values, str):
        values = parse_names(values)
    symbols = []
    for value in values:
        if isinstance(value, sympy.Symbol):
            value = value.name
        symbols.append(symbol(value))
    return tuple(symbols)


def objective(
    loss: str | sympy.Expr,
    params: str | Sequence[str | sympy.Symbol],
    data: str | Sequence[str | sympy.Symbol] = (),
    *,
    define: Mapping[str, str | sympy.Expr] | Sequence[str] | None = None,
    reduction: Reduction = "mean",
    l2: float | None = None,
) -> Objective:
    """Build an :class:`Objective` from strings or SymPy expressions.

    Strings go through :mod:`symgd.parse.expressions`, the safe parser; every symbol is real.

    Args:
        loss: The per-example loss, e.g. ``"(y - yhat)**2/2"``.
        params: Parameter names, ``"w,b"`` or a sequence.
        data: Data symbol names, ``"x,y"`` or a sequence.
        define: Named intermediates in computation order, as a mapping
            ``{"yhat": "w*x + b"}`` or a sequence of ``"yhat=w*x+b"`` strings.
        reduction: ``"mean"`` or ``"sum"`` over the examples.
        l2: Strength ``λ`` of the penalty ``λ/2 Σ θ²`` added outside the reduction.

    Returns:
        The objective.

    Raises:
        ParseError: A string is not a safe expression or a valid name.
        ValueError: The pieces do not fit (unknown symbol, duplicate role …).

    Example:
        >>> objective("(y - yhat)**2/2", "w,b", "x,y", define={"yhat": "w*x + b"})
        Objective(loss=(y - yhat)**2/2, yhat = b + w*x, params=(w, b), reduction=mean)
    """
    param_symbols = _as_symbols(params)
    data_symbols = _as_symbols(data)
    table = {s.name: s for s in param_symbols + data_symbols}
    items: list[tuple[str, str | sympy.Expr]] = []
    if isinstance(define, Mapping):
        items = list(define.items())
    elif define is not None:
        for text in define:
            name, _ = parse_definition(text, symbols=table)  # validates the name
            items.append((name, text.split("=", 1)[1]))
    intermediates = []
    for name, definition in items:
        name_symbol = symbol(str(name))
        if name_symbol.name in table:
            raise ParseError(f"definition {name_symbol.name!r} reuses the name of another symbol")
        intermediates.append((name_symbol, _as_expr(definition, table)))
        table[name_symbol.name] = name_symbol
    return Objective(
        loss=_as_expr(loss, table),
        params=param_symbols,
        data=data_symbols,
        intermediates=tuple(intermediates),
        reduction=reduction,
        l2=None if l2 in (None, 0) else float(l2),
    )


def linear_regression() -> Objective:
    """The seed example: ``ŷ = w x + b``, ``J(w, b) = 1/(2m) Σ (y_i − ŷ_i)²``.

    Example:
        >>> linear_regression().params
        (w, b)
    """
    return objective("(y - yhat)**2/2", "w,b", "x,y", define={"yhat": "w*x + b"})


def logistic_regression(features: int = 1) -> Objective:
    """Logistic regression with cross-entropy, ``p = σ(z)``, ``z = Σ_j w_j x_j + b``.

    Args:
        features: Number of input features; with one the symbols are ``w, x``,
            otherwise ``w1 … wd`` and ``x1 … xd``.

    Example:
        >>> logistic_regression().expanded_loss
        -y*log(sigmoid(b + w*x)) - (1 - y)*log(1 - sigmoid(b + w*x))
    """
    if features < 1:
        raise ValueError("logistic regression needs at least one feature")
    suffixes = [""] if features == 1 else [str(j) for j in range(1, features + 1)]
    weights = [f"w{s}" for s in suffixes]
    inputs = [f"x{s}" for s in suffixes]
    z = " + ".join(f"{w}*{x}" for w, x in zip(weights, inputs, strict=True)) + " + b"
    return objective(
        "-y*log(p) - (1 - y)*log(1 - p)",
        weights + ["b"],
        inputs + ["y"],
        define={"z": z, "p": "sigmoid(z)"},
    )
