"""Numerically stable forms, applied just before compilation.

SymPy's derivatives are mathematically right but overflow as floating point:
``log(1 + exp(z))`` is ``inf`` at ``z = 800``. This module holds a table of
rewrites from a textbook form to a stable one, and the NumPy implementations the
compiled code calls. The derivation keeps the textbook form for display; only the
compiled code sees the stable form.

Example:
    >>> import sympy
    >>> from symgd.functions import sigmoid
    >>> z = sympy.Symbol("z", real=True)
    >>> stabilize(sympy.log(sigmoid(z)))
    -softplus(-z)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy
import sympy

from symgd.functions import sigmoid, softplus

__all__ = ["Rewrite", "REWRITES", "stabilize", "stable_sigmoid", "NUMERIC_HELPERS"]


@dataclass(frozen=True)
class Rewrite:
    """One stabilising rewrite: where it applies and what it becomes.

    Attributes:
        name: Short name shown to users.
        applies: Whether the rewrite applies to a node.
        rewrite: The stable replacement for a node it applies to.
    """

    name: str
    applies: Callable[[sympy.Basic], bool]
    rewrite: Callable[[sympy.Basic], sympy.Basic]


def _log_of(func: type[sympy.Function]) -> Callable[[sympy.Basic], bool]:
    return lambda node: isinstance(node, sympy.log) and isinstance(node.args[0], func)


def _log_one_minus_sigmoid(node: sympy.Basic) -> bool:
    if not isinstance(node, sympy.log):
        return False
    rest = node.args[0] - 1
    return isinstance(-rest, sigmoid)


REWRITES: tuple[Rewrite, ...] = (
    Rewrite(
        "log-sigmoid: log σ(z) = −softplus(−z)",
        _log_of(sigmoid),
        lambda node: -softplus(-node.args[0].args[0]),
    ),
    Rewrite(
        "log(1 − σ(z)) = −softplus(z)",
        _log_one_minus_sigmoid,
        lambda node: -softplus((1 - node.args[0]).args[0]),
    ),
)


def stabilize(expr: sympy.Expr) -> sympy.Expr:
    """Apply every rewrite in :data:`REWRITES`, bottom-up, until none applies.

    Args:
        expr: An expression in textbook form.

    Returns:
        The same mathematics in a form whose floating-point evaluation is stable.
    """

    def visit(node: sympy.Basic) -> sympy.Basic:
        if node.args:
            node = node.func(*(visit(arg) for arg in node.args))
        for rule in REWRITES:
            if rule.applies(node):
                return visit(rule.rewrite(node))
        return node

    return visit(expr)


def stable_sigmoid(z: numpy.ndarray) -> numpy.ndarray:
    """``σ(z) = 1/(1 + e^{−z})`` without overflow for any finite ``z``.

    Example:
        >>> stable_sigmoid(numpy.array([-800.0, 0.0, 800.0]))
        array([0. , 0.5, 1. ])
    """
    e = numpy.exp(-numpy.abs(z))
    return numpy.where(z >= 0, 1.0, e) / (1.0 + e)


#: Names the generated code may call, beside ``numpy``.
NUMERIC_HELPERS: dict[str, Callable] = {"_sigmoid": stable_sigmoid}
