"""Hints for wrong answers: the first row of the mistake table that reproduces the answer.

The rows of :data:`symgd.verify.mistakes.MISTAKES` (wrong sign, a factor 1/m on each term, a
constant factor, the regularisation term, a missing chain-rule factor, σ' added, a missing term,
a wrong power, swapped y and prediction, another parameter's gradient, swapped variables) turn
the correct derivation into mistaken gradients; the hint names the first whose values equal the
answer's at a few sample points of :mod:`symgd.verify.sampling`, within the verdict's tolerance.
No row reproduces the answer: no hint.

Example:
    >>> from symgd.verify import check_answer
    >>> from symgd.derivation import derive
    >>> from symgd.define import linear_regression
    >>> check_answer(derive(linear_regression()), "b", "2*(w*x + b - y)").hint.mistake
    'constant factor'
"""

from __future__ import annotations

import mpmath
import sympy

from symgd.verify.mistakes import MISTAKES, View
from symgd.verify.reading import AnswerContext
from symgd.verify.report import Hint
from symgd.verify.sampling import HINT_POINTS, Evaluator, values_close

COMMON_CONSTANTS = (2, sympy.Rational(1, 2), 4, sympy.Rational(1, 4))
"""Constant factors tried besides the measured ratio of answer to gradient."""


class _Fields(dict):
    def __missing__(self, key: str) -> str:
        return ""


def find_hint(
    context: AnswerContext,
    evaluator: Evaluator,
    theta: sympy.Symbol,
    kind: str,
    observed: list,
    rows: list[int],
    tolerance: float,
) -> Hint | None:
    """The first mistake of the table whose mistaken gradient equals the answer at the points.

    ``observed`` holds the answer's per-example values ``H`` at the first rows.
    """
    rows = rows[:HINT_POINTS]
    observed = observed[: len(rows)]
    subs = context.substitutions
    s, g, reg = context.parts(theta, kind)
    target = (s * g + reg).xreplace(subs)
    # Cheap rejection at the first point before evaluating a candidate at all of them.
    order = sorted(range(len(rows)), key=lambda k: observed[k] is None)

    def matches(candidate: sympy.Expr) -> bool:
        expression = candidate.xreplace(subs)
        if expression.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
            return False
        for k in order[:1]:
            value = evaluator.evaluate(expression, [rows[k]])[0]
            if not values_close(observed[k], value, tolerance):
                return False
        values = evaluator.evaluate(expression, rows)
        return all(values_close(a, b, tolerance) for a, b in zip(observed, values))

    constants = [sympy.Integer(c) if isinstance(c, int) else c for c in COMMON_CONSTANTS]
    measured = _ratio(context, evaluator, rows, observed, target, tolerance)
    if measured is not None and measured not in constants:
        constants.append(measured)
    view = View(context, theta, s, g, reg, constants, _has_square(context))
    for mistake in MISTAKES:
        for candidate, fields in mistake.transform(view):
            if matches(candidate):
                message = mistake.hint.format_map(_Fields(theta=theta, **fields))
                return Hint(mistake.name, message)
    return None


def _ratio(context, evaluator, rows, numerator_values, denominator, tolerance):
    """A constant c, c*m or c/m with numerator = ratio * denominator at every point."""
    below = evaluator.evaluate(denominator, rows)
    ms = [evaluator.values[r][-1] for r in rows]
    pairs = [
        (a / b, m)
        for a, b, m in zip(numerator_values, below, ms)
        if a is not None and b is not None and abs(b) > 1e-12
    ]
    if len(pairs) < 3:
        return None
    for power in (0, 1, -1):
        scaled = [r / mpmath.mpf(m) ** power for r, m in pairs]
        if all(values_close(v, scaled[0], max(tolerance, 1e-20)) for v in scaled):
            c = sympy.nsimplify(float(scaled[0]), rational=True, tolerance=1e-12)
            if c != 1 or power:
                return c * context.m**power
    return None


def _has_square(context: AnswerContext) -> bool:
    """Whether the loss squares something (so a factor 2 comes from differentiating it)."""
    loss = context.derivation.objective.expanded_loss
    return any(power.exp == 2 for power in loss.atoms(sympy.Pow))
