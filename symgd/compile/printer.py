"""The NumPy printers of generated code: SymPy expressions as stable NumPy source.

:class:`Printer` prints symgd's named functions as calls of the stable helpers of
:mod:`symgd.compile.numeric` (``_sigmoid``, ``numpy.logaddexp`` …), constants as plain
Python floats (so float32 arrays stay float32) and piecewise functions so that each branch
is evaluated only where it is selected. :class:`NetworkPrinter` adds what layer code needs
(nothing today: one ``H(0)`` for both). Both scalar objectives (:mod:`symgd.compile.scalar`) and
networks (:mod:`symgd.compile.network`) print through them.

Example:
    >>> import sympy
    >>> from symgd.functions import sigmoid
    >>> z = sympy.Symbol("z", real=True)
    >>> Printer().doprint(sigmoid(z) * sigmoid(-z))
    '_sigmoid_derivative(z)'
    >>> Printer(stable=False).doprint(sympy.log(1 + sympy.exp(z)))
    'numpy.log(numpy.exp(z) + 1)'
"""

from __future__ import annotations

import keyword

import sympy
from sympy.printing.numpy import NumPyPrinter

from symgd.compile.numeric import HEAVISIDE_AT_ZERO, NUMERIC_HELPERS
from symgd.functions import sigmoid

#: Names the generated code uses for itself; a user symbol so named gets a trailing ``_``.
_TAKEN = frozenset({"numpy", "functools", "theta", "X", "m", "r", "grad", "loss", *NUMERIC_HELPERS})


#: Functions that cannot fail on any real input: a piecewise branch built only from these
#: is evaluated everywhere with ``numpy.where``; any other branch only where it is selected.
_TOTAL = (
    sympy.Add,
    sympy.Mul,
    sympy.Abs,
    sympy.sign,
    sympy.Heaviside,
    sympy.Max,
    sympy.Min,
    sympy.tanh,
    sympy.Tuple,
)


def is_total(expr: sympy.Basic) -> bool:
    """Whether evaluating ``expr`` can never warn, overflow or give nan for finite inputs.

    Example:
        >>> z = sympy.Symbol("z", real=True)
        >>> is_total(sympy.Max(0, z) * sympy.tanh(z)), is_total(sympy.log(z))
        (True, False)
    """
    if expr.is_Atom or isinstance(expr, sympy.logic.boolalg.Boolean):
        return all(is_total(a) for a in expr.args) if expr.args else True
    if isinstance(expr, sympy.Pow):
        return bool(expr.exp.is_Integer and expr.exp >= 0 and is_total(expr.base))
    names = {type(expr).__name__}
    if isinstance(expr, _TOTAL) or names & {"sigmoid", "softplus", "sech"}:
        return all(is_total(a) for a in expr.args)
    return False


class Printer(NumPyPrinter):
    """NumPy printer that calls symgd's stable helpers for its named functions.

    Args:
        stable: Print the stable forms (``False`` prints the textbook formulas, to show
            why naive code overflows).
        heaviside_at_zero: The value of ``H(0)`` where the expression leaves it at
            SymPy's default ``½`` (the derivative of ``Max(0, z)`` at 0); symgd's one
            convention is :data:`~symgd.compile.numeric.HEAVISIDE_AT_ZERO` (0).
    """

    def __init__(self, *, stable: bool = True, heaviside_at_zero: float = HEAVISIDE_AT_ZERO):
        super().__init__({"fully_qualified_modules": True, "allow_unknown_functions": False})
        self.stable = stable
        self.heaviside_at_zero = float(heaviside_at_zero)

    def _as_ordered_terms(self, expr: sympy.Expr, order=None) -> list[sympy.Expr]:
        # Lone symbols after computed terms: ``w*x + b - y``, not ``b + w*x - y``. NumPy then
        # adds into the first term's temporary array in place (temporary elision) instead of
        # allocating a new array for ``b + (w*x)``. Numbers keep their place: ``1 - a**2``.
        def bare(term: sympy.Expr) -> bool:
            return term.is_Symbol or (term.could_extract_minus_sign() and (-term).is_Symbol)

        return sorted(super()._as_ordered_terms(expr, order=order), key=bare)

    def _print_Symbol(self, expr: sympy.Symbol) -> str:
        # A user symbol may be called like a Python keyword or a name the generated code uses.
        name = super()._print_Symbol(expr)
        return f"{name}_" if name in _TAKEN or keyword.iskeyword(name) else name

    def _print_Float(self, expr: sympy.Float) -> str:
        # A plain Python float keeps float32 arrays float32 and round-trips every bit.
        return repr(float(expr))

    def _print_NumberSymbol(self, expr: sympy.Expr) -> str:
        return repr(float(expr))

    def _print_Pow(self, expr: sympy.Pow, rational: bool = False) -> str:
        if expr.is_number and not expr.is_Rational:
            return repr(float(expr))  # sqrt(2/pi): a Python float, not a float64 scalar
        return super()._print_Pow(expr, rational=rational)

    def _print_sigmoid(self, expr: sympy.Expr) -> str:
        arg = self._print(expr.args[0])
        return f"_sigmoid({arg})" if self.stable else f"1 / (1 + numpy.exp(-({arg})))"

    def _print_softplus(self, expr: sympy.Expr) -> str:
        arg = self._print(expr.args[0])
        return f"numpy.logaddexp(0, {arg})" if self.stable else f"numpy.log(1 + numpy.exp({arg}))"

    def _print_Mul(self, expr: sympy.Mul) -> str:
        # σ(u) σ(−u) = σ'(u): one exponential instead of two sigmoids.
        if self.stable:
            for factor in expr.args:
                if isinstance(factor, sigmoid) and sigmoid(-factor.args[0]) in expr.args:
                    pair = (factor, sigmoid(-factor.args[0]))
                    rest = [f for f in expr.args if f not in pair]
                    derivative = f"_sigmoid_derivative({self._print(factor.args[0])})"
                    if not rest:
                        return derivative
                    return f"{derivative} * ({self._print(sympy.Mul(*rest))})"
        return super()._print_Mul(expr)

    def _print_sech(self, expr: sympy.Expr) -> str:
        return f"_sech({self._print(expr.args[0])})"

    def _print_logsumexp(self, expr: sympy.Expr) -> str:
        return "_logsumexp(" + ", ".join(self._print(a) for a in expr.args) + ")"

    def _print_log_softmax(self, expr: sympy.Expr) -> str:
        top, bottom = (
            "(" + "".join(self._print(a) + ", " for a in part) + ")" for part in expr.args
        )
        return f"_log_softmax({top}, {bottom})"

    def _print_Heaviside(self, expr: sympy.Expr) -> str:
        # H(0) is a convention, not a matter of stability: the naive code uses it too.
        at_zero = self.heaviside_at_zero if len(expr.pargs) == 1 else float(expr.args[1])
        return f"numpy.heaviside({self._print(expr.args[0])}, {at_zero!r})"

    def _print_Max(self, expr: sympy.Expr) -> str:
        return self._pairwise("numpy.maximum", expr.args)

    def _print_Min(self, expr: sympy.Expr) -> str:
        return self._pairwise("numpy.minimum", expr.args)

    def _pairwise(self, function: str, args: tuple) -> str:
        # Nested calls, not functools.reduce: the listing runs with only numpy imported.
        text = self._print(args[0])
        for arg in args[1:]:
            text = f"{function}({text}, {self._print(arg)})"
        return text

    def _print_Piecewise(self, expr: sympy.Piecewise) -> str:
        if not self.stable:
            return super()._print_Piecewise(expr)
        if all(is_total(e) and is_total(c) for e, c in expr.args):
            code = "numpy.nan"
            for value, condition in reversed(expr.args):
                code = f"numpy.where({self._print(condition)}, {self._print(value)}, {code})"
            return code
        # Evaluate each branch only where it is selected: no log of negatives, no warnings.
        arguments = sorted(expr.free_symbols, key=lambda s: s.name)
        names = ", ".join(self._print(a) for a in arguments)
        conditions = "".join(self._print(c) + ", " for _, c in expr.args)
        branches = "".join(f"lambda {names}: {self._print(e)}, " for e, _ in expr.args)
        return f"_piecewise(({conditions}), ({branches}), ({names},))"


class NetworkPrinter(Printer):
    """The printer of layer code: :class:`Printer`, with the same ``H(0)``
    (:data:`~symgd.compile.numeric.HEAVISIDE_AT_ZERO`), so ReLU'(0) = 0 in networks as in
    scalar objectives."""
