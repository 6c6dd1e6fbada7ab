r"""Budgets on the values SymPy builds: real numbers that fit float64, bounded powers.

The text budgets of :mod:`symgd.parse.budgets` bound what the user wrote; SymPy then merges
what the text kept apart. ``((((x+1)**64)**64)**64)**64`` becomes ``(x+1)**16777216`` (derive
ran out of memory), ``1e-300*1e-300`` becomes ``1.0e-600`` (0 in float64; SymPy's ``factor``
spent minutes on its 600-digit exact form), and ``sqrt(-1)`` becomes ``I``. So the builder
checks every value it makes, bottom up:

* every number fits float64: not ``inf`` and not ``0`` unless it is 0;
* every constant is real and, evaluated, fits float64. Bottom up, a constant is evaluated only
  when each constant inside it already fits float64, so mpmath never meets ``exp(exp(1e300))``;
* the exponents along nested powers multiply to at most
  :data:`~symgd.parse.budgets.MAX_EXPONENT` in absolute value (``(x**8)**8`` is ``x**64``);
* powers with a symbolic exponent and ``exp`` nest at most
  :data:`~symgd.parse.budgets.MAX_POWER_TOWER` deep (``x**x**x`` is 2 deep).

Example:
    >>> x = sympy.Symbol("x", real=True)
    >>> ValueBudget("(x**8)**8").check((x**8) ** 8, lambda: "(x**8)**8")
    >>> ValueBudget("(x**8)**9").check((x**8) ** 9, lambda: "(x**8)**9")
    Traceback (most recent call last):
    ...
    symgd.parse.errors.ParseError: nested powers in '(x**8)**9' multiply to the exponent 72 ...
"""

from __future__ import annotations

import math
from collections.abc import Callable

import sympy

from symgd.parse.budgets import MAX_EXACT_BITS, MAX_EXPONENT, MAX_POWER_TOWER
from symgd.parse.errors import ParseError, excerpt

NON_FINITE = (sympy.nan, sympy.zoo, sympy.oo, -sympy.oo)
"""The SymPy values an expression must never be or contain."""

_Shape = tuple[float, int]
"""Of an expression: the largest product of exponents along nested powers, the tower height."""


class ValueBudget:
    """Checks each value the builder makes, remembering the sub-expressions already checked.

    Args:
        text: The user text (quoted in messages).
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.shapes: dict[sympy.Basic, _Shape] = {}

    def check(self, value: sympy.Basic, source: Callable[[], str]) -> None:
        """Refuse ``value`` when it breaks a value budget; ``source()`` is the text it came from.

        Raises:
            ParseError: A number or constant that is not real or does not fit float64, or
                powers nested beyond the budgets.
        """
        exponent, height = self.shape(value, source)
        if exponent > MAX_EXPONENT:
            raise ParseError(
                f"nested powers in {excerpt(self.text)} multiply to the exponent {exponent:g} "
                f"(SymPy merges (a**m)**n into a**(m*n)); the limit is {MAX_EXPONENT} for the "
                "product of nested exponents, rescale or simplify the expression"
            )
        if height > MAX_POWER_TOWER:
            raise ParseError(
                f"powers with symbolic exponents and exp are nested {height} deep in "
                f"{excerpt(self.text)} (a tower such as x**x**x**x); the limit is "
                f"{MAX_POWER_TOWER}, simplify the expression"
            )

    def shape(self, expr: sympy.Basic, source: Callable[[], str]) -> _Shape:
        """The exponent product and tower height of ``expr``, checking its constants."""
        known = self.shapes.get(expr)
        if known is not None:
            return known
        if expr.is_number:
            self.check_constant(expr, source)
            shape: _Shape = (1.0, 0)
        elif expr.is_Atom:
            shape = (1.0, 0)
        elif expr.is_Pow and expr.exp.is_Number:
            exponent, height = self.shape(expr.base, source)
            shape = (abs(float(expr.exp)) * exponent, height)
        else:
            parts = [self.shape(argument, source) for argument in expr.args]
            exponent = max((part[0] for part in parts), default=1.0)
            height = max((part[1] for part in parts), default=0)
            # A symbolic exponent or exp raises the tower: x**x**x is 2 deep.
            raised = expr.is_Pow or isinstance(expr, sympy.exp)
            shape = (exponent, height + 1 if raised else height)
        self.shapes[expr] = shape
        return shape

    def check_constant(self, value: sympy.Expr, source: Callable[[], str]) -> None:
        """A constant must be a real number that float64 holds (neither ``inf`` nor a lost 0)."""
        if value in NON_FINITE:
            raise ParseError(
                f"{excerpt(self.text)} evaluates to {value}, an undefined or infinite value; "
                "check for division by zero or log(0)"
            )
        if value.is_Rational:
            if max(abs(value.p).bit_length(), value.q.bit_length()) > MAX_EXACT_BITS:
                raise ParseError(
                    f"a number in {excerpt(self.text)} has more than about 100 digits; "
                    "rescale the expression"
                )
            return
        if value.is_Float:
            self.check_float(value, value)
            return
        # A numeric evaluation first: SymPy's assumptions (value.is_real) cost more on tan(tan(1)).
        real, imaginary = value.evalf(15).as_real_imag()
        if imaginary.is_Number and imaginary != 0:
            raise self.not_real(value, source)
        if real.is_Number and imaginary.is_Number:
            self.check_float(real, value)
        elif value.is_real is False:
            raise self.not_real(value, source)

    def check_float(self, number: sympy.Expr, shown: sympy.Expr) -> None:
        converted = float(number)
        if math.isinf(converted) or math.isnan(converted):
            problem = "too large for float64 (it would be inf)"
        elif converted == 0.0 and not number.is_zero:
            problem = "too small for float64 (it would be 0)"
        else:
            return
        raise ParseError(
            f"the number {_short(shown)} in {excerpt(self.text)} is {problem}; "
            "rescale the expression"
        )

    def not_real(self, value: sympy.Expr, source: Callable[[], str]) -> ParseError:
        return ParseError(
            f"{_short(source())} is not a real number (SymPy evaluates it to {_short(value)}) in "
            f"{excerpt(self.text)}; symgd works with real numbers only"
        )


def _short(value: object) -> str:
    text = str(sympy.Float(value, 4) if isinstance(value, sympy.Float) else value)
    return text if len(text) <= 40 else text[:37] + "..."
