"""Hints for wrong answers: the first common mistake that matches the answer at sample points.

Each candidate mistake (wrong sign, a constant factor, the factor 1/m, a missing chain-rule
factor, another parameter's gradient, the regularisation term, swapped variables) is a wrong
gradient built from the derivation; the hint names the first one whose values equal the
answer's at the sample points of :mod:`symgd.verify.sampling`.

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

from symgd.verify.reading import AnswerContext
from symgd.verify.report import Hint
from symgd.verify.sampling import HINT_POINTS, Evaluator, values_close


def find_hint(
    context: AnswerContext,
    evaluator: Evaluator,
    theta: sympy.Symbol,
    kind: str,
    observed: list,
    rows: list[int],
    tolerance: float,
) -> Hint | None:
    """The first common mistake whose wrong gradient equals the answer at the sample points.

    ``observed`` holds the answer's per-example values ``H`` at the first rows.
    """
    rows = rows[:HINT_POINTS]
    subs = context.substitutions
    s, g, reg = context.parts(theta, kind)
    target = (s * g + reg).xreplace(subs)

    def matches(candidate: sympy.Expr) -> bool:
        values = evaluator.evaluate(candidate.xreplace(subs), rows)
        return all(values_close(a, b, tolerance) for a, b in zip(observed, values))

    def ratio(numerator_values, denominator: sympy.Expr) -> sympy.Expr | None:
        """A constant c, c*m or c/m with numerator = ratio * denominator at every point."""
        below = evaluator.evaluate(denominator.xreplace(subs), rows)
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

    if reg != 0:
        m = context.m
        for data_factor, reg_factor, words in (
            (m, 1, "the data term is missing the factor 1/m of the mean (the penalty is right)"),
            (1, 1 / m, f"lamda*{theta} was divided by m too: only the data term is a mean"),
            (1 / m, 1, "the data term is divided by m twice (the penalty is right)"),
            (1, m, f"the penalty term lamda*{theta} is m times too large"),
        ):
            if matches(data_factor * s * g + reg_factor * reg):
                return Hint("factor 1/m", f"one term has the wrong factor of m: {words}")
    whole = ratio(observed, target)
    if whole == -1:
        return Hint(
            "wrong sign",
            "the sign is wrong: your answer is -1 times the gradient; "
            "check the order of the residual (yhat - y, not y - yhat) and the signs",
        )
    if whole is not None and whole.has(context.m):
        extra = "missing" if whole == context.m or whole == -context.m else "extra"
        return Hint(
            "factor 1/m",
            f"your answer is {whole} times the gradient: the factor 1/m "
            f"of the mean over the m examples is {extra}",
        )
    if whole is not None:
        return _factor_hint(whole, _has_square(context))
    if reg != 0:
        if matches(s * g):
            return Hint(
                "forgotten regularisation",
                "the regularisation term is missing: "
                f"the penalty (lamda/2) {theta}**2 adds lamda*{theta} to the gradient",
            )
        rest = [
            None if a is None or b is None else a - b
            for a, b in zip(observed, evaluator.evaluate((s * g).xreplace(subs), rows))
        ]
        c = ratio(rest, reg)
        if c is not None:
            return Hint(
                "regularisation factor",
                f"the regularisation term is {c} times what it "
                f"should be: d/d{theta} (lamda/2) {theta}**2 = lamda*{theta}",
            )
        part = [
            None if a is None else a - b
            for a, b in zip(observed, evaluator.evaluate(reg.xreplace(subs), rows))
        ]
        c = ratio(part, s * g)
        if c is not None:
            return _factor_hint(c, _has_square(context))
    step = context.derivation.steps[context.params.index(theta)]
    products = [sympy.Mul(*factors) for factors in step.local_derivatives]
    for p, (path, factors) in enumerate(zip(step.paths, step.local_derivatives)):
        for k, factor in enumerate(factors):
            if factor == 1:
                continue
            others = sympy.Mul(*(f for j, f in enumerate(factors) if j != k))
            link = f"d{path[k]}/d{path[k + 1]} = {factor}"
            # The whole local derivative, or one factor of it (tanh' inside d h/d a = x (1 - h^2)).
            pieces = [(sympy.Integer(1), "")] + [
                (factor / piece, f"the factor {piece} of ")
                for piece in sympy.Mul.make_args(factor)
                if len(sympy.Mul.make_args(factor)) > 1 and not piece.is_Number
            ]
            for kept, words in pieces:
                candidate = sympy.Add(*products[:p], others * kept, *products[p + 1 :])
                if matches(s * candidate + reg):
                    return Hint(
                        "missing chain-rule factor",
                        f"a chain-rule factor is missing: {words}{link}",
                    )
    gradient = context.derivation.gradient
    for other in context.params:
        if other == theta:
            continue
        for candidate, words in (
            (s * gradient[other] + reg, f"your answer is the gradient for {other}, not {theta}"),
            (
                target + s * gradient[other],
                f"your answer has an extra term that belongs to the gradient for {other}",
            ),
        ):
            if matches(candidate):
                return Hint("another parameter", words)
    names = [*context.params, *context.data]
    expanded = g.xreplace(subs)
    for j, u in enumerate(names):
        for v in names[j + 1 :]:
            swapped = expanded.xreplace({u: v, v: u})
            if swapped != expanded and matches(s * swapped + reg):
                return Hint(
                    "swapped variables",
                    f"{u} and {v} are swapped: your answer is the gradient with them exchanged",
                )
    return None


def _has_square(context: AnswerContext) -> bool:
    """Whether the loss squares something (so a factor 2 comes from differentiating it)."""
    loss = context.derivation.objective.expanded_loss
    return any(power.exp == 2 for power in loss.atoms(sympy.Pow))


def _factor_hint(c: sympy.Expr, square: bool = True) -> Hint:
    if c == 2 and square:
        detail = (
            "an extra factor 2: the 1/2 in the loss cancels the 2 from differentiating the square"
        )
    elif c == sympy.Rational(1, 2) and square:
        detail = "a factor 2 is missing: differentiating a square brings down a 2"
    elif c == -1:
        return Hint("wrong sign", "the sign of the loss part is wrong")
    else:
        detail = "check the constant factors"
    return Hint("constant factor", f"your answer is {c} times the gradient: {detail}")
