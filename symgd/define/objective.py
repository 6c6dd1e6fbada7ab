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

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import sympy

from symgd.parse import ParseError, parse_definition, parse_expression, parse_names, symbol

Reduction = Literal["mean", "sum"]


@dataclass(frozen=True)
class Domain:
    """Where a data symbol's values lie: a finite set, or an interval.

    Attributes:
        values: The finite set of values (exact), or empty for an interval.
        low, high: The interval's ends (``-inf``/``inf`` for none).
        closed_low, closed_high: Whether an end belongs to the interval.

    Example:
        >>> read_domain("0,1").contains(1), read_domain("(0,1)").contains(1)
        (True, False)
    """

    values: tuple[sympy.Rational, ...] = ()
    low: float = -math.inf
    high: float = math.inf
    closed_low: bool = False
    closed_high: bool = False
    one_hot: tuple[sympy.Symbol, ...] = ()
    """The symbols of a one-hot group (exactly one of them is 1), or empty."""

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies in the domain."""
        if self.values:
            return any(float(value) == float(v) for v in self.values)
        above = value >= self.low if self.closed_low else value > self.low
        below = value <= self.high if self.closed_high else value < self.high
        return above and below

    def __str__(self) -> str:
        if self.values:
            return "{" + ", ".join(str(v) for v in self.values) + "}"
        left, right = "[" if self.closed_low else "(", "]" if self.closed_high else ")"
        return f"{left}{self.low:g}, {self.high:g}{right}"


def _number(text: str) -> float:
    text = text.strip().lower().replace("oo", "inf")
    try:
        return float(text)
    except ValueError:
        raise ParseError(f"{text!r} is not a number in a domain") from None


def read_domain(spec: str | Domain | Iterable[float]) -> Domain:
    """A :class:`Domain` from ``"0,1"`` or ``"{0,1}"`` (a set), ``"(0,1)"`` or ``"[0,inf)"``.

    Raises:
        ParseError: The text is not a set of numbers or an interval.

    Example:
        >>> str(read_domain({1, 0})), str(read_domain("[0, inf)"))
        ('{0, 1}', '[0, inf)')
    """
    if isinstance(spec, Domain):
        return spec
    if not isinstance(spec, str):
        items = [str(v) for v in spec]
    else:
        text = spec.strip()
        if text[:1] in "([" and text[-1:] in ")]" and text.count(",") == 1:
            low, high = (_number(t) for t in text[1:-1].split(","))
            if not low < high:
                raise ParseError(f"domain {spec!r}: the interval is empty")
            return Domain(
                (),
                low,
                high,
                text[0] == "[" and low > -math.inf,
                text[-1] == "]" and high < math.inf,
            )
        items = text.strip("{}").split(",")
    try:
        values = sorted({sympy.Rational(v.strip()) for v in items if v.strip()})
    except (TypeError, ValueError):
        raise ParseError(
            f"domain {spec!r}: write a set like 0,1 or an interval like (0,1)"
        ) from None
    if not values:
        raise ParseError(f"domain {spec!r} is empty")
    return Domain(tuple(values))


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
    domains: tuple[tuple[sympy.Symbol, Domain], ...] = ()

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

    def domain(self, data_symbol: sympy.Symbol) -> Domain | None:
        """The declared (or inferred) domain of a data symbol, or ``None`` for all reals."""
        return dict(self.domains).get(data_symbol)

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
    for name, _ in obj.domains:
        if name not in obj.data:
            raise ValueError(f"{name.name!r} has a domain but is not a data symbol (--data)")
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
    domains: Mapping[str, str | Domain | Iterable[float]] | None = None,
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
        domains: Data symbol to its values, ``{"y": {0, 1}}``, ``{"x": "[0, inf)"}`` (see
            :func:`read_domain`), or ``{"y1,y2,y3": "one-hot"}``; targets of a binary
            cross-entropy loss are inferred to be in {0, 1}.

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
    built = Objective(
        loss=_as_expr(loss, table),
        params=param_symbols,
        data=data_symbols,
        intermediates=tuple(intermediates),
        reduction=reduction,
        l2=None if l2 in (None, 0) else float(l2),
    )
    inferred: dict[str, str | Domain] = {
        y.name: Domain((sympy.Integer(0), sympy.Integer(1))) for y in _binary(built)
    }
    group = _categorical(built)
    if group and not any(y.name in (domains or {}) for y in group):
        inferred[",".join(y.name for y in group)] = "one-hot"
    return with_domains(built, {**inferred, **(domains or {})})


def with_domains(
    objective_: Objective, domains: Mapping[str, str | Domain | Iterable[float]] | Sequence[str]
) -> Objective:
    """``objective_`` with domains on data symbols, from a mapping or ``"y=0,1"`` strings.

    Example:
        >>> str(with_domains(linear_regression(), ["x=(0,1)"]).domain(symbol("x")))
        '(0, 1)'
    """
    if not isinstance(domains, Mapping):
        pairs = [text.partition("=") for text in domains]
        for name, equals, _ in pairs:
            if not equals:
                raise ParseError(f"domain {name!r}: write NAME=SET or NAME=INTERVAL, e.g. y=0,1")
        domains = {name.strip(): spec for name, _, spec in pairs}
    merged = dict(objective_.domains)
    for name, spec in domains.items():
        if isinstance(spec, str) and spec.strip().lower() in ("one-hot", "onehot"):
            group = tuple(symbol(n.strip()) for n in name.split(",") if n.strip())
            binary = (sympy.Integer(0), sympy.Integer(1))
            merged.update({s: Domain(binary, one_hot=group) for s in group})
            continue
        merged[symbol(name)] = read_domain(spec)
    return dataclasses.replace(objective_, domains=tuple(merged.items()))


def _categorical(objective_: Objective) -> tuple[sympy.Symbol, ...]:
    """The targets of a categorical cross-entropy ``-Σ_k y_k log(p_k)`` (one-hot rows)."""
    terms = sympy.Add.make_args(objective_.loss)
    targets = []
    for term in terms:
        factors = sympy.Mul.make_args(-term)
        data = [f for f in factors if f in objective_.data]
        logs = [f for f in factors if isinstance(f, sympy.log)]
        if len(factors) != 2 or len(data) != 1 or len(logs) != 1:
            return ()
        targets.append(data[0])
    return tuple(targets) if len(targets) >= 2 and len(set(targets)) == len(targets) else ()


def _binary(objective_: Objective) -> list[sympy.Symbol]:
    """Data symbols that are the target of a binary cross-entropy term (so in {0, 1})."""
    found = []
    for y in objective_.data:
        a = sympy.Wild("a")
        pattern = -y * sympy.log(a) - (1 - y) * sympy.log(1 - a)
        loss = objective_.loss
        if loss.match(pattern) or sympy.expand(loss).match(sympy.expand(pattern)):
            found.append(y)
    return found


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
        domains={"y": {0, 1}},
    )
