"""Answers evaluated at random points in 50-digit arithmetic, and counterexamples.

The verdict on an answer rests on these samples: the difference between answer and derived
gradient is evaluated at seeded random points (parameters and data in :math:`[-2, 2]`, ``m``
from 1 to 9); a point where it is not zero is a :class:`~symgd.verify.report.Counterexample`.

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


class Evaluator:
    """Expressions in params, data and ``m`` evaluated at random points in 50 digits."""

    def __init__(self, context: AnswerContext, seed: int) -> None:
        self.context = context
        rng = numpy.random.default_rng(seed)
        count = 3 * SAMPLE_POINTS
        self.values = rng.uniform(-SAMPLE_RANGE, SAMPLE_RANGE, (count, len(context.order)))
        self.values[:, -1] = rng.integers(1, 10, count)  # m, a number of examples

    def function(self, expression: sympy.Expr) -> Callable:
        """``expression`` as an mpmath function of :attr:`AnswerContext.order`."""
        modules = [named_functions("mpmath"), "mpmath"]
        return sympy.lambdify(self.context.order, expression, modules=modules)

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
        )
    # A small data set of m examples: the dataset-level values are sums of H over it.
    values = evaluator.values[row]
    m = int(values[-1])
    rng = numpy.random.default_rng(10_000 + row)
    params = len(context.params)
    examples = rng.uniform(-SAMPLE_RANGE, SAMPLE_RANGE, (m, len(context.data)))
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
    return Counterexample(point, float(total_a), float(total_t))
