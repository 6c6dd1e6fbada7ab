"""Answers evaluated at random points in 50-digit arithmetic, and counterexamples.

The verdict on an answer rests on these samples: the difference between answer and derived
gradient is evaluated at seeded random points (parameters and data in :math:`[-2, 2]`, data
inside its declared domain, ``m`` from 1 to 9), then at *probes*: extreme points (values up to
:data:`EXTREME_RANGE`, so that a sigmoid is near 0 and 1) and points on both sides of every kink
of either expression (the zero sets of ``Min``/``Max``/``Abs``/``Heaviside``/``sign`` arguments
and ``Piecewise`` conditions, solved for one variable, or found by bisection). A point where the
difference is not zero is a :class:`~symgd.verify.report.Counterexample`.

Example:
    >>> values_close(mpmath.mpf(1), mpmath.mpf(1) + mpmath.mpf(10) ** -30, 1e-25)
    True
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import mpmath
import numpy
import sympy

from symgd import limits
from symgd.functions import NAMED_FUNCTIONS, expand_named_functions
from symgd.verify.reading import AnswerContext
from symgd.verify.report import Counterexample

DIGITS = 50
"""Working precision (decimal digits) of the sampled values."""
SAMPLE_POINTS = 24
"""How many random points decide a verdict."""
MIN_SAMPLE_POINTS = 8
"""Fewer valid points than this leave the verdict undecided."""
HINT_POINTS = 8
"""How many points a candidate mistake must match."""
SAMPLE_RANGE = 2.0
"""Parameters and data are drawn from [-SAMPLE_RANGE, SAMPLE_RANGE]."""
EXTREME_RANGE = 6.0
"""Extreme probes reach |value| = EXTREME_RANGE (|w x + b| up to 42: σ within 1e-18 of 0, 1)."""
EXTREME_POINTS = 24
"""How many extreme probes."""
KINK_OFFSETS = (1e-6, 1e-3, 0.05, 0.5)
"""Probes sit this far (relative) on both sides of a kink."""
MAX_KINKS = 8
"""At most this many kink expressions are probed."""
MAX_KINK_POINTS = 160
"""At most this many points beside kinks (a random subset of them)."""
NON_ANALYTIC = (
    sympy.Min,
    sympy.Max,
    sympy.Abs,
    sympy.Heaviside,
    sympy.sign,
    sympy.Piecewise,
    sympy.floor,
    sympy.ceiling,
    sympy.Mod,
    sympy.frac,
)
"""Functions whose presence makes a difference possibly zero on a region but not everywhere."""


def is_analytic(*expressions: sympy.Expr) -> bool:
    """Whether no expression holds a kink or a step (so a nonzero difference is rarely zero).

    Example:
        >>> x = sympy.Symbol("x")
        >>> is_analytic(x**2), is_analytic(sympy.Max(x, 1))
        (True, False)
    """
    return not any(e.has(*NON_ANALYTIC) for e in expressions)


def kinks(expression: sympy.Expr) -> list[sympy.Expr]:
    """Expressions whose zero sets are the kinks and breakpoints of ``expression``.

    Example:
        >>> x = sympy.Symbol("x")
        >>> kinks(sympy.Max(x, -2) + abs(x - 1))
        [-x - 2, x - 1]
    """
    found: set[sympy.Expr] = set()
    for atom in expression.atoms(*NON_ANALYTIC):
        if isinstance(atom, (sympy.Min, sympy.Max)):
            args = atom.args
            found.update(a - b for k, a in enumerate(args) for b in args[k + 1 :])
        elif isinstance(atom, sympy.Piecewise):
            for _, condition in atom.args:
                for relation in condition.atoms(sympy.core.relational.Relational):
                    found.add(relation.lhs - relation.rhs)
        elif atom.args:
            found.add(atom.args[0])
    found = {sympy.expand(k) for k in found if k.free_symbols}
    return sorted(found, key=sympy.default_sort_key)[:MAX_KINKS]


@functools.lru_cache(maxsize=256)
def _solutions(kink: sympy.Expr, variable: sympy.Symbol) -> tuple[sympy.Expr, ...]:
    """Real solutions of ``kink = 0`` for ``variable`` (none when sympy cannot say in time)."""

    def solve() -> tuple[sympy.Expr, ...]:
        if kink.has(*NON_ANALYTIC):
            return ()  # a kink inside a kink: found by bisection instead
        plain = expand_named_functions(kink)
        try:
            found = sympy.solve(plain, variable)
        except (NotImplementedError, ValueError, TypeError):
            return ()
        return tuple(s for s in found if not s.has(sympy.I))

    return limits.attempt(0.5, solve, (), "solving a kink")


def _one_hot(values: numpy.ndarray, order, domains, rng) -> None:
    """Set the columns of each one-hot group to one-hot rows, in place."""
    columns = {s: j for j, s in enumerate(order)}
    for group in {d.one_hot for d in domains if d is not None and d.one_hot}:
        indices = [columns[s] for s in group if s in columns]
        hot = rng.integers(0, len(indices), len(values))
        for k, j in enumerate(indices):
            values[:, j] = (hot == k).astype(float)


def _draw(domain, rng, count: int, spread: float) -> numpy.ndarray:
    """``count`` values inside ``domain`` (or in [-spread, spread] without one)."""
    if domain is None:
        return rng.uniform(-spread, spread, count)
    if domain.values:
        return rng.choice([float(v) for v in domain.values], count)
    low, high = domain.low, domain.high
    if math.isinf(low) and math.isinf(high):
        return rng.uniform(-spread, spread, count)
    if math.isinf(high):
        return low + rng.uniform(0, 2 * spread, count) + 1e-9
    if math.isinf(low):
        return high - rng.uniform(0, 2 * spread, count) - 1e-9
    # Inside a bounded interval, near its ends as often as in its middle.
    near = rng.uniform(0, 1, count) ** 4
    return numpy.where(
        rng.uniform(0, 1, count) < 0.5, low + near * (high - low), high - near * (high - low)
    ).clip(numpy.nextafter(low, high), numpy.nextafter(high, low))


@functools.cache
def named_functions(module: str) -> dict[str, Callable]:
    """symgd's named functions (σ, softplus) as functions of ``module`` (mpmath or numpy).

    Given to ``lambdify`` by name, so that an expression is evaluated as written: rewriting
    the whole expression to ``exp`` instead turns every ``sin`` into complex exponentials,
    which took minutes on nested functions.

    Example:
        >>> float(named_functions("mpmath")["sigmoid"](0))
        0.5
    """
    z = sympy.Dummy("z", real=True)
    return {
        name: sympy.lambdify(z, expand_named_functions(function(z)), modules=module)
        for name, function in NAMED_FUNCTIONS.items()
    }


@functools.lru_cache(maxsize=512)
def _lambdified(order: tuple[sympy.Symbol, ...], expression: sympy.Expr) -> Callable:
    """Cached: printing an expression for ``lambdify`` costs more than evaluating it."""
    modules = [named_functions("mpmath"), "mpmath"]
    return sympy.lambdify(order, expression, modules=modules)


class Evaluator:
    """Expressions in params, data and ``m`` evaluated at random points in 50 digits."""

    def __init__(self, context: AnswerContext, seed: int) -> None:
        self.context = context
        self.rng = rng = numpy.random.default_rng(seed)
        count = 3 * SAMPLE_POINTS
        self.values = rng.uniform(-SAMPLE_RANGE, SAMPLE_RANGE, (count, len(context.order)))
        self.values[:, -1] = rng.integers(1, 10, count)  # m, a number of examples
        self.domains = [context.domain(s) for s in context.order[:-1]] + [None]
        for j, domain in enumerate(self.domains[:-1]):
            if domain is not None:
                self.values[:, j] = _draw(domain, rng, count, SAMPLE_RANGE)
        _one_hot(self.values, context.order, self.domains, rng)
        self.bulk = count
        """The first ``bulk`` rows are uniform random points; later rows are probes."""

    def probe(self, expressions: tuple[sympy.Expr, ...]) -> list[int]:
        """Add extreme points and points beside the kinks of ``expressions``; their rows."""
        start = len(self.values)
        rng, width = self.rng, len(self.context.order)
        extreme = rng.uniform(-SAMPLE_RANGE, SAMPLE_RANGE, (EXTREME_POINTS, width))
        big = rng.uniform(SAMPLE_RANGE, EXTREME_RANGE, extreme.shape) * rng.choice(
            [-1, 1], extreme.shape
        )
        extreme = numpy.where(rng.uniform(0, 1, extreme.shape) < 0.5, big, extreme)
        extreme[:, -1] = rng.integers(1, 10, EXTREME_POINTS)
        for j, domain in enumerate(self.domains[:-1]):
            if domain is not None:
                extreme[:, j] = _draw(domain, rng, EXTREME_POINTS, EXTREME_RANGE)
        _one_hot(extreme, self.context.order, self.domains, rng)
        self.values = numpy.vstack([self.values, extreme])
        bases = [*range(4), *range(self.bulk, self.bulk + 4)]
        found = []
        for kink in {k for e in expressions for k in kinks(e)}:
            found.extend(self._beside(kink, bases))
        if found:
            keep = sorted(rng.permutation(len(found))[:MAX_KINK_POINTS])
            self.values = numpy.vstack([self.values, numpy.array(found)[keep]])
        return list(range(start, len(self.values)))

    def _beside(self, kink: sympy.Expr, bases: list[int]) -> list[numpy.ndarray]:
        """Points on both sides of ``kink = 0``, moving one free variable from base rows."""
        order = self.context.order
        free = [j for j, s in enumerate(order[:-1]) if s in kink.free_symbols]
        free = [j for j in free if self.domains[j] is None or not self.domains[j].values]
        points = []
        for j in free:
            variable = order[j]
            solutions = _solutions(kink, variable)
            functions = [self.function(x) for x in solutions]
            bisected = None if solutions else self.function(kink)
            for base in bases:
                row = self.values[base]
                places = (
                    [_real(f, row) for f in functions]
                    if bisected is None
                    else _bisect(bisected, row, j)
                )
                for at in places:
                    if at is None:
                        continue
                    for offset in KINK_OFFSETS:
                        for side in (-1, 1):
                            point = row.copy()
                            point[j] = at + side * offset * max(1.0, abs(at))
                            domain = self.domains[j]
                            if domain is None or domain.contains(point[j]):
                                points.append(point)
            if points:
                return points
        return points

    def function(self, expression: sympy.Expr) -> Callable:
        """``expression`` as an mpmath function of :attr:`AnswerContext.order`."""
        return _lambdified(self.context.order, expression)

    def evaluate(self, expression: sympy.Expr, rows: range | list[int]) -> list:
        """Values at the given rows of points; ``None`` where undefined or not finite.

        Raises:
            symgd.limits.TooComplex: Evaluating took longer than
                :data:`symgd.limits.EVALUATE_SECONDS` (towers like ``x**x**x**…``).
        """
        what = f"evaluating {limits.shorten(expression)} in {DIGITS}-digit arithmetic"
        with limits.deadline(limits.EVALUATE_SECONDS, what):
            return self._evaluate(expression, rows)

    def _evaluate(self, expression: sympy.Expr, rows: range | list[int]) -> list:
        function = self.function(expression)
        results = []
        with mpmath.workdps(DIGITS):
            for row in rows:
                try:
                    value = mpmath.mpmathify(function(*[mpmath.mpf(v) for v in self.values[row]]))
                except (ZeroDivisionError, ValueError, OverflowError, TypeError, MemoryError):
                    # MemoryError: mpmath's exact powers of towers like x**x**x**… at one point.
                    value = None
                if value is not None and (
                    not isinstance(value, mpmath.mpf) or not mpmath.isfinite(value)
                ):
                    value = None
                results.append(value)
        return results


def _real(function: Callable, row) -> float | None:
    """``function`` at ``row`` as a finite float, or ``None``."""
    try:
        with mpmath.workdps(DIGITS):
            value = mpmath.mpmathify(function(*[mpmath.mpf(v) for v in row]))
        if isinstance(value, mpmath.mpf) and mpmath.isfinite(value):
            return float(value)
    except (ZeroDivisionError, ValueError, OverflowError, TypeError):
        pass
    return None


def _bisect(function: Callable, row, j: int) -> list[float | None]:
    """Where ``function`` changes sign as column ``j`` of ``row`` moves over the probe range."""
    grid = numpy.linspace(-EXTREME_RANGE, EXTREME_RANGE, 49)
    point = row.copy()

    def at(v: float) -> float | None:
        point[j] = v
        return _real(function, point)

    values = [at(v) for v in grid]
    roots = []
    for a, b, fa, fb in zip(grid, grid[1:], values, values[1:]):
        if fa is None or fb is None or (fa > 0) == (fb > 0):
            continue
        for _ in range(40):
            mid = (a + b) / 2
            fm = at(mid)
            if fm is None:
                break
            a, b, fa = (mid, b, fm) if (fm > 0) == (fa > 0) else (a, mid, fa)
        roots.append((a + b) / 2)
    return roots[:4]


def comparison_tolerance(*expressions: sympy.Expr) -> float:
    """The relative tolerance for comparing sampled values of these expressions.

    Example:
        >>> comparison_tolerance(sympy.Float(0.5) * sympy.Symbol("x"))
        1e-09
    """
    # A float written by the student carries 16 digits, not 50.
    return 1e-9 if any(e.has(sympy.Float) for e in expressions) else 1e-25


def values_close(a, b, tolerance: float) -> bool:
    """Whether two sampled values agree (two undefined values agree too)."""
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= tolerance * max(1, abs(a), abs(b))


def _point(context: AnswerContext, values, kind: str) -> dict[str, Any]:
    names = [s.name for s in context.order]
    point = {n: float(v) for n, v in zip(names, values, strict=True)}
    if kind != "dataset":
        point.pop("m")
    return point


def find_counterexample(
    context: AnswerContext,
    evaluator: Evaluator,
    answer: sympy.Expr,
    target: sympy.Expr,
    kind: str,
    row: int,
) -> Counterexample:
    """Where ``answer`` and ``target`` differ at sample ``row``, as the student will see it.

    A per-example answer gets the point itself; a dataset-level one a small seeded data set of
    ``m`` examples, with both sides summed over it.
    """
    if kind != "dataset":
        a, t = (evaluator.evaluate(e, [row])[0] for e in (answer, target))
        return Counterexample(
            _point(context, evaluator.values[row], kind),
            float(a) if a is not None else math.nan,
            float(t),
            float(a - t) if a is not None else None,
        )
    # A small data set of m examples: the dataset-level values are sums of H over it.
    values = evaluator.values[row]
    m = int(values[-1])
    rng = numpy.random.default_rng(10_000 + row)
    params = len(context.params)
    columns = [_draw(d, rng, m, SAMPLE_RANGE) for d in evaluator.domains[params:-1]]
    examples = numpy.column_stack(columns) if columns else numpy.zeros((m, 0))
    _one_hot(examples, context.data, evaluator.domains[params:-1], rng)
    examples[0] = values[params:-1]  # the example where the two differ
    total_a, total_t = mpmath.mpf(0), mpmath.mpf(0)
    fa, ft = evaluator.function(answer), evaluator.function(target)
    with mpmath.workdps(DIGITS):
        for example in examples:
            arguments = [mpmath.mpf(v) for v in (*values[:params], *example, m)]
            try:
                total_a += fa(*arguments)
            except (ZeroDivisionError, ValueError, OverflowError, MemoryError):
                total_a = mpmath.nan
            total_t += ft(*arguments)
    point: dict[str, Any] = {p.name: float(v) for p, v in zip(context.params, values)}
    point.update({d.name: examples[:, j].tolist() for j, d in enumerate(context.data)})
    point["m"] = m
    return Counterexample(point, float(total_a), float(total_t), float(total_a - total_t))
