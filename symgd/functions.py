"""Named functions of machine learning as SymPy functions.

SymPy has ``exp`` and ``log`` but no sigmoid or softplus. Writing them as
``1/(1 + exp(-z))`` works for differentiation but hides the structure a lecturer
wants to show (``σ'(z) = σ(z)(1 - σ(z))``) and the structure the compiler needs
to emit stable code. These classes keep the name, differentiate to expressions
in terms of themselves, print as ``\\sigma`` in LaTeX, and rewrite to ``exp``
for simplification and comparison.

Example:
    >>> import sympy
    >>> z = sympy.Symbol("z", real=True)
    >>> sympy.diff(sigmoid(z), z)
    (1 - sigmoid(z))*sigmoid(z)
    >>> sympy.latex(sigmoid(z))
    '\\\\sigma\\\\left(z\\\\right)'
"""

from __future__ import annotations

import sympy

__all__ = ["sigmoid", "softplus", "NAMED_FUNCTIONS", "expand_named_functions"]


class sigmoid(sympy.Function):  # noqa: N801 -- SymPy functions are lower-case by convention
    r"""The logistic sigmoid :math:`\sigma(z) = \frac{1}{1 + e^{-z}}`."""

    is_real = True

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        # sigma' = sigma (1 - sigma): the derivative in terms of the function's own output.
        value = self.func(*self.args)
        return value * (1 - value)

    @classmethod
    def eval(cls, z):
        if z.is_zero:
            return sympy.Rational(1, 2)
        return None

    def _eval_rewrite_as_exp(self, z, **kwargs):
        return 1 / (1 + sympy.exp(-z))

    def _eval_is_positive(self):
        return self.args[0].is_real or None

    def _latex(self, printer, exp=None):
        arg = printer._print(self.args[0])
        base = rf"\sigma\left({arg}\right)"
        return base if exp is None else rf"{base}^{{{exp}}}"


class softplus(sympy.Function):  # noqa: N801
    r"""Softplus :math:`\operatorname{softplus}(z) = \log(1 + e^{z})`."""

    is_real = True

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        return sigmoid(self.args[0])

    def _eval_rewrite_as_exp(self, z, **kwargs):
        return sympy.log(1 + sympy.exp(z))

    def _eval_rewrite_as_log(self, z, **kwargs):
        return sympy.log(1 + sympy.exp(z))

    def _latex(self, printer, exp=None):
        arg = printer._print(self.args[0])
        base = rf"\operatorname{{softplus}}\left({arg}\right)"
        return base if exp is None else rf"{base}^{{{exp}}}"


NAMED_FUNCTIONS: dict[str, type[sympy.Function]] = {"sigmoid": sigmoid, "softplus": softplus}


def expand_named_functions(expr: sympy.Expr) -> sympy.Expr:
    """Rewrite symgd's named functions into ``exp``/``log`` form.

    Args:
        expr: Any SymPy expression.

    Returns:
        The same mathematical expression without ``sigmoid``/``softplus``.

    Example:
        >>> z = sympy.Symbol("z")
        >>> expand_named_functions(sigmoid(z))
        1/(1 + exp(-z))
    """
    # Only σ and softplus: rewriting every function (sin, tanh …) into exponentials blows up
    # nested expressions (59 nested sin took minutes).
    return expr.rewrite([sigmoid, softplus], sympy.exp)
