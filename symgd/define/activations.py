r"""Stage 1, define: element-wise activations as SymPy expressions of one symbol ``z``.

Each activation is a row of a table: its name, its expression :math:`\sigma(z)`, its
LaTeX name, and its derivative :math:`\sigma'(z)` derived by SymPy. Where SymPy can
write the derivative in terms of the activation's own output :math:`a = \sigma(z)`
(:math:`\sigma(1-\sigma)`, :math:`1 - a^2`) that form is kept too: a lecturer shows it,
and the compiled backward pass reuses ``a`` instead of recomputing ``σ(z)``.

A user-given activation is any expression of one symbol, parsed by :mod:`symgd.parse.expressions`.

Example:
    >>> tanh = activation("tanh")
    >>> tanh.derivative
    1 - tanh(z)**2
    >>> tanh.derivative_in_output
    1 - a**2
    >>> activation("z/(1 + exp(-z))").derivative_in_output is None
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from symgd.functions import sigmoid, softplus
from symgd.parse import ParseError, parse_expression, symbol

#: The symbol every activation is written in: the pre-activation ``z``.
PREACTIVATION = symbol("z")
#: The symbol standing for the activation's output ``a = σ(z)``.
OUTPUT = symbol("a")

_Z = PREACTIVATION


@dataclass(frozen=True)
class Activation:
    r"""An element-wise activation :math:`a = \sigma(z)` and its derivative.

    Attributes:
        name: The table name (``"tanh"``) or ``"custom"``.
        expression: :math:`\sigma(z)` in the symbol :data:`PREACTIVATION`.
        latex_name: How the function is named in LaTeX, e.g. ``\tanh``.
        derivative: :math:`\sigma'(z)`, by default ``sympy.diff(expression, z)``.
    """

    name: str
    expression: sympy.Expr
    latex_name: str
    derivative: sympy.Expr

    @property
    def derivative_in_output(self) -> sympy.Expr | None:
        r""":math:`\sigma'` in terms of the output ``a`` alone (``1 - a**2``), or ``None``.

        Example:
            >>> activation("sigmoid").derivative_in_output
            a*(1 - a)
        """
        if self.expression == _Z:
            return sympy.Integer(1) if self.derivative == 1 else None
        if self.expression.is_Atom:
            return None
        replaced = self.derivative.xreplace({self.expression: OUTPUT})
        if _Z in replaced.free_symbols:
            return None
        return sympy.factor_terms(replaced)

    @property
    def backward_form(self) -> sympy.Expr:
        """The derivative the compiled backward pass evaluates: in ``a`` where possible, else ``z``.

        Example:
            >>> activation("relu").backward_form
            Heaviside(z)
        """
        in_output = self.derivative_in_output
        return self.derivative if in_output is None else in_output

    def __call__(self, z: sympy.Expr) -> sympy.Expr:
        """``σ`` applied to an expression."""
        return self.expression.xreplace({_Z: z})

    def derivative_at(self, z: sympy.Expr) -> sympy.Expr:
        """``σ'`` at an expression."""
        return self.derivative.xreplace({_Z: z})

    def __repr__(self) -> str:
        return f"Activation({self.name}: {self.expression}, derivative {self.derivative})"


def _row(name: str, expression: sympy.Expr, latex_name: str) -> Activation:
    return Activation(name, expression, latex_name, sympy.diff(expression, _Z))


def _leaky_relu(slope: sympy.Expr) -> sympy.Expr:
    return sympy.Max(0, _Z) + slope * sympy.Min(0, _Z)


_GELU_C = sympy.sqrt(2 / sympy.pi)

# Rules as data: name -> activation. Adding one is one row plus one test row.
ACTIVATIONS: dict[str, Activation] = {
    row.name: row
    for row in (
        _row("identity", _Z, r"\operatorname{id}"),
        _row("sigmoid", sigmoid(_Z), r"\sigma"),
        _row("tanh", sympy.tanh(_Z), r"\tanh"),
        _row("relu", sympy.Max(0, _Z), r"\operatorname{ReLU}"),
        _row("leaky-relu", _leaky_relu(sympy.Rational(1, 100)), r"\operatorname{LeakyReLU}"),
        _row("softplus", softplus(_Z), r"\operatorname{softplus}"),
        _row("silu", _Z * sigmoid(_Z), r"\operatorname{SiLU}"),
        _row(
            "gelu",
            _Z / 2 * (1 + sympy.tanh(_GELU_C * (_Z + sympy.Rational(44715, 10**6) * _Z**3))),
            r"\operatorname{GELU}",
        ),
    )
}
"""The built-in activations; ``swish`` is an alias of ``silu``, ``linear`` of ``identity``."""

_ALIASES = {"swish": "silu", "linear": "identity", "leaky_relu": "leaky-relu", "none": "identity"}


def activation(spec: str | sympy.Expr | Activation, *, slope: float | None = None) -> Activation:
    """Look up a built-in activation or build one from a user expression of one symbol.

    Args:
        spec: A table name (``"tanh"``, ``"leaky-relu"`` …), an expression of one symbol
            as text (``"z/(1 + exp(-z))"``, parsed safely) or SymPy, or an :class:`Activation`.
        slope: The negative-side slope of ``leaky-relu`` (default 0.01).

    Returns:
        The :class:`Activation`, its derivative derived by SymPy.

    Raises:
        ParseError: Unknown name, unsafe text, or an expression of more than one symbol.

    Example:
        >>> activation("leaky-relu", slope=0.2).expression
        Max(0, z) + 0.2*Min(0, z)
        >>> activation("x**3").expression
        z**3
    """
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, str):
        key = _ALIASES.get(spec.strip().lower(), spec.strip().lower())
        if key == "leaky-relu" and slope is not None:
            if not (0 <= slope < 1):
                raise ParseError(f"the leaky ReLU slope must be in [0, 1), not {slope}")
            return _row("leaky-relu", _leaky_relu(sympy.Float(slope)), r"\operatorname{LeakyReLU}")
        if key in ACTIVATIONS:
            return ACTIVATIONS[key]
        if spec.strip().replace("-", "_").isidentifier() and "(" not in spec:
            names = ", ".join(sorted(ACTIVATIONS))
            # A bare word that is not in the table is almost always a typo, not the identity.
            if spec.strip() not in ("z", "x", "u", "t"):
                raise ParseError(
                    f"unknown activation {spec.strip()!r}; choose one of {names}, "
                    "or give an expression of one symbol such as 'z/(1 + exp(-z))'"
                )
        expression = parse_expression(spec, symbols={"z": _Z})
    elif isinstance(spec, sympy.Basic):
        expression = spec
    else:
        raise TypeError(f"expected a name or an expression, got {type(spec).__name__}")
    free = sorted(expression.free_symbols, key=lambda s: s.name)
    if len(free) != 1:
        raise ParseError(
            f"an activation is an expression of exactly one symbol, but {expression} has "
            f"{len(free)} ({', '.join(s.name for s in free) or 'none'}); write e.g. 'z*sigmoid(z)'"
        )
    (variable,) = free
    # Any one symbol is the pre-activation; rename it z (and make it real) for the table.
    expression = expression.xreplace({variable: _Z})
    return _row("custom", expression, r"\sigma")
