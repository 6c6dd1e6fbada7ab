r"""Stage 1, define: output losses of a network.

Each loss is a row of a table. Element-wise losses are a per-unit expression
:math:`\ell_k(u_k, y_k)` of the output unit (the activation ``a`` or, "on logits", the
pre-activation ``z``) and its target ``y``, summed over the output units. Softmax
cross-entropy couples the units and is written over a whole output layer.

Their output error is derived in :mod:`symgd.derivation.output_error`.

Example:
    >>> loss("bce").on_logits
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import sympy

from symgd.define.activations import OUTPUT, PREACTIVATION
from symgd.functions import sigmoid
from symgd.parse import ParseError, symbol

#: The target of one output unit.
TARGET = symbol("y")
#: The predicted probability of one output unit (``σ(z)`` or ``softmax(z)_k``).
PROBABILITY = symbol("p")

_Z, _A, _Y, _P = PREACTIVATION, OUTPUT, TARGET, PROBABILITY


@dataclass(frozen=True)
class Loss:
    r"""An output loss.

    Attributes:
        name: The table name.
        title: Plain words for documents.
        kind: ``"elementwise"`` (a sum over output units of ``unit``) or ``"softmax"``.
        on_logits: Whether ``ℓ`` is a function of :math:`z^{(L)}` (the output activation
            is then part of the loss) rather than of :math:`a^{(L)}`.
        unit: The per-unit loss in ``a`` (or ``z`` on logits) and ``y`` (element-wise only).
        prediction: The prediction of one unit in ``z`` on logits (``σ(z)``), else ``None``.
    """

    name: str
    title: str
    kind: Literal["elementwise", "softmax"]
    on_logits: bool
    unit: sympy.Expr | None = None
    prediction: sympy.Expr | None = None

    def scalar(self, outputs: Sequence[sympy.Expr], targets: Sequence[sympy.Expr]) -> sympy.Expr:
        """The per-example loss ``ℓ`` of concrete output expressions and targets.

        Args:
            outputs: ``a_k`` (or ``z_k`` on logits), one per output unit.
            targets: ``y_k``, one per output unit.

        Example:
            >>> a1, y1 = symbol("a1"), symbol("y1")
            >>> loss("mse").scalar([a1], [y1])
            (a1 - y1)**2/2
        """
        if len(outputs) != len(targets):
            raise ValueError(f"{len(outputs)} outputs but {len(targets)} targets")
        if self.kind == "softmax":
            # -Σ y_k log(e^{z_k} / Σ_j e^{z_j}) with the logarithm of the quotient expanded.
            log_total = sympy.log(sympy.Add(*(sympy.exp(u) for u in outputs)))
            return sympy.Add(*(y * (log_total - u) for u, y in zip(outputs, targets)))
        variable = _Z if self.on_logits else _A
        return sympy.Add(
            *(self.unit.xreplace({variable: u, _Y: y}) for u, y in zip(outputs, targets))
        )

    def constraint(self, targets: Sequence[sympy.Expr]) -> dict[sympy.Expr, sympy.Expr]:
        """Substitution encoding what the targets satisfy: one-hot targets sum to one.

        Example:
            >>> loss("softmax-cross-entropy").constraint([symbol("y1"), symbol("y2")])
            {y2: 1 - y1}
        """
        if self.kind != "softmax" or not targets:
            return {}
        return {targets[-1]: 1 - sympy.Add(*targets[:-1])}

    def __repr__(self) -> str:
        return f"Loss({self.name})"


# Rules as data: adding a loss is one row plus one test row.
LOSSES: dict[str, Loss] = {
    row.name: row
    for row in (
        Loss("mse", "squared error", "elementwise", False, (_A - _Y) ** 2 / 2),
        Loss(
            "bce",
            "binary cross-entropy on logits",
            "elementwise",
            True,
            -_Y * sympy.log(sigmoid(_Z)) - (1 - _Y) * sympy.log(1 - sigmoid(_Z)),
            sigmoid(_Z),
        ),
        Loss("softmax-cross-entropy", "softmax cross-entropy", "softmax", True),
    )
}
"""The built-in output losses."""

_ALIASES = {
    "squared-error": "mse",
    "squared_error": "mse",
    "binary-cross-entropy": "bce",
    "binary_cross_entropy": "bce",
    "cross-entropy": "softmax-cross-entropy",
    "softmax-ce": "softmax-cross-entropy",
    "softmax_cross_entropy": "softmax-cross-entropy",
}


def loss(name: str | Loss) -> Loss:
    """Look up an output loss by name (``mse``, ``bce``, ``softmax-cross-entropy``).

    Raises:
        ParseError: The name is not in the table.

    Example:
        >>> loss("squared-error").title
        'squared error'
    """
    if isinstance(name, Loss):
        return name
    key = _ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in LOSSES:
        raise ParseError(
            f"unknown loss {name!r}; choose one of {', '.join(sorted(LOSSES))} "
            f"(aliases: {', '.join(sorted(_ALIASES))})"
        )
    return LOSSES[key]
