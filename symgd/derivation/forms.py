r"""The displayed form of a derivative: the simplest factored form, as a lecturer writes it.

:func:`lecturer_form` chooses among equal forms of one expression (``cancel``, ``factor``,
``simplify`` …) the one with the fewest operations; among equally short ones it prefers
factored denominators whose sums start with the constant, so the derivative of the binary
cross-entropy reads :math:`\frac{p - y}{p (1 - p)}`, not :math:`\frac{y - p}{p^{2} - p}`.
"""

from __future__ import annotations

import contextlib
import math

import sympy

from symgd import limits

__all__ = ["EXPANSION_LIMIT", "SIMPLIFY_LIMIT", "expanded_terms", "lecturer_form"]

#: Above this many operations ``simplify`` is not tried: it can take minutes on nested
#: functions (a 3-deep tanh chain took 10 s), while ``cancel``/``factor`` stay fast.
SIMPLIFY_LIMIT = 40
#: Above this many terms once multiplied out, the polynomial tools (``cancel``, ``factor``,
#: ``expand``) are not tried: they multiply out ``(y - w x - b)^{31}`` (528 terms) only to
#: factor it back, which took 33 s for the 16th power.
EXPANSION_LIMIT = 32


def expanded_terms(expr: sympy.Expr, limit: int = 10**6) -> int:
    r"""About how many terms ``expand(expr)`` has (capped at ``limit``), without expanding.

    A sum has the terms of its parts, a product their product, an integer power
    :math:`(t_1 + \dots + t_k)^n` has :math:`\binom{n + k - 1}{k - 1}`; functions count as one.

    Example:
        >>> w, x, y = sympy.symbols("w x y", real=True)
        >>> expanded_terms((y - w * x) ** 3), expanded_terms(x * (y - w * x) + 1)
        (4, 3)
    """
    if expr.is_Add:
        return min(sum(expanded_terms(a, limit) for a in expr.args), limit)
    if expr.is_Mul:
        return min(math.prod(expanded_terms(a, limit) for a in expr.args), limit)
    if expr.is_Pow and expr.exp.is_Integer:
        k = expanded_terms(expr.base, limit)
        n = abs(int(expr.exp))
        return limit if n > limit else min(math.comb(n + k - 1, k - 1), limit)
    return 1


def _signs_out(expr: sympy.Expr) -> sympy.Expr:
    """Minus signs taken out of integer powers of sums: ``(y - w x)^3 = -(w x - y)^3``.

    A cheap stand-in for ``factor`` on large powers, so that ``-4x(y - wx - b)^3`` still
    reads ``4x(wx + b - y)^3``.
    """

    def flip(power: sympy.Pow) -> sympy.Expr:
        return (-1) ** power.exp * (-power.base) ** power.exp

    return expr.replace(
        lambda e: (
            e.is_Pow and e.exp.is_Integer and e.base.is_Add and e.base.could_extract_minus_sign()
        ),
        flip,
    )


def lecturer_form(expr: sympy.Expr, *, simplify: bool = True) -> sympy.Expr:
    """The simplest factored form of ``expr``, as a lecturer would write it.

    Candidates are ``expr`` itself, ``cancel`` (rational functions in the
    intermediates, e.g. ``σ'`` times ``∂ℓ/∂p``), ``factor``, ``factor_terms`` and,
    for small expressions, ``simplify``; the one with the fewest operations wins,
    preferring no leading minus sign, then factored denominators whose sums start with
    their constant (:math:`p (1 - p)`, not :math:`p^{2} - p` or :math:`p (p - 1)`). The
    polynomial tools and ``simplify`` are only a nicety: on large powers they are skipped,
    and each runs within
    :data:`symgd.limits.SIMPLIFY_SECONDS`, else the plainer candidates remain.

    Args:
        expr: The expression.
        simplify: Also try ``sympy.simplify`` (only ever on small expressions).

    Example:
        >>> x, p, y = sympy.symbols("x p y", real=True)
        >>> lecturer_form(x * p - x * y)
        x*(p - y)
        >>> lecturer_form((1 - y) / (1 - p) - y / p)
        (p - y)/(p*(1 - p))
    """
    candidates = [expr, sympy.factor_terms(expr)]
    candidates.append(_signs_out(candidates[-1]))
    if expanded_terms(expr, EXPANSION_LIMIT + 1) <= EXPANSION_LIMIT:
        candidates += limits.attempt(limits.SIMPLIFY_SECONDS, lambda: _polynomial_forms(expr), [])
        if simplify and sympy.count_ops(expr) <= SIMPLIFY_LIMIT:
            candidates += limits.attempt(limits.SIMPLIFY_SECONDS, lambda: _simplified(expr), [])
    candidates += [_constant_first(c) for c in candidates]

    def cost(candidate: sympy.Expr) -> tuple[int, int, int]:
        negative = int(candidate.could_extract_minus_sign())
        return sympy.count_ops(candidate), negative, _awkward_denominator(candidate)

    return min(candidates, key=cost)


def _flippable(factor: sympy.Expr) -> bool:
    """A sum whose constant term is negative (``p - 1``), alone or to an odd power."""
    base, exponent = factor.as_base_exp()
    return bool(base.is_Add and exponent.is_odd and base.as_coeff_Add()[0].is_negative)


def _constant_first(expr: sympy.Expr) -> sympy.Expr:
    """``(y - p) / (p (p - 1))`` as ``(p - y) / (p (1 - p))``: each sign moved to the numerator."""
    numerator, denominator = sympy.fraction(expr)
    factors = sympy.Mul.make_args(denominator)
    flipped = [f for f in factors if _flippable(f)]
    if not flipped:
        return expr
    kept = [f for f in factors if not _flippable(f)]
    turned = [(-f.as_base_exp()[0]) ** f.as_base_exp()[1] for f in flipped]
    sign = -1 if len(flipped) % 2 else 1
    return sympy.expand(sign * numerator) / sympy.Mul(*kept, *turned)


def _awkward_denominator(expr: sympy.Expr) -> int:
    """How many factors of the denominator are multiplied out (``p² − p``) or end in a constant."""
    _, denominator = sympy.fraction(expr)
    factors = sympy.Mul.make_args(denominator)
    expanded = sum(1 for f in factors if f.is_Add and sympy.factor_terms(f) != f)
    return expanded + sum(1 for f in factors if _flippable(f))


def _polynomial_forms(expr: sympy.Expr) -> list[sympy.Expr]:
    # The polynomial tools give up on some functions; the other candidates remain.
    with contextlib.suppress(sympy.PolynomialError, NotImplementedError):
        cancelled = sympy.cancel(expr)
        return [cancelled, sympy.factor_terms(cancelled), sympy.factor(cancelled)]
    return []


def _simplified(expr: sympy.Expr) -> list[sympy.Expr]:
    simplified = sympy.simplify(expr)
    found = [simplified, sympy.factor_terms(simplified)]
    with contextlib.suppress(sympy.PolynomialError, NotImplementedError):
        found.append(sympy.factor(simplified))
    return found
