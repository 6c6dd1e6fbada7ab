r"""Stage 1, define: output losses of a network, and the output error they imply.

Each loss is a row of a table. Element-wise losses are a per-unit expression
:math:`\ell_k(u_k, y_k)` of the output unit (the activation ``a`` or, "on logits", the
pre-activation ``z``) and its target ``y``, summed over the output units. Softmax
cross-entropy couples the units and is written over a whole output layer.

The output error :math:`\delta^{(L)} = \partial \ell / \partial z^{(L)}` is derived by
SymPy for the network's own loss and output activation, never typed in:

* squared error: :math:`(a - y) \odot \sigma'(z)`, i.e. ``a - y`` for a linear output;
* binary cross-entropy on logits: :math:`\sigma(z) - y = p - y`;
* softmax cross-entropy: :math:`p - y` once the one-hot targets sum to one.

Example:
    >>> output_error(loss("softmax-cross-entropy")).delta
    p - y
    >>> output_error(loss("bce")).delta
    p - y
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import sympy

from symgd.activations import OUTPUT, PREACTIVATION, Activation, activation
from symgd.derive import lecturer_form
from symgd.functions import sigmoid
from symgd.parse import ParseError, symbol

__all__ = ["Loss", "LOSSES", "OutputError", "loss", "output_error", "TARGET", "PROBABILITY"]

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


@dataclass(frozen=True)
class OutputError:
    r"""The output error :math:`\delta = \partial\ell/\partial z` of one output unit, derived.

    Attributes:
        loss: The loss.
        output_activation: The output activation (``None`` on logits: part of the loss).
        steps: ``(description, expression)`` pairs from the first derivative to the result.
        delta: The simplified δ of one unit in ``z``, ``a``, ``p`` and ``y``.
    """

    loss: Loss
    output_activation: Activation | None
    steps: tuple[tuple[str, sympy.Expr], ...]
    delta: sympy.Expr

    def at(self, z: sympy.Expr, a: sympy.Expr, p: sympy.Expr, y: sympy.Expr) -> sympy.Expr:
        """δ of one concrete unit: its pre-activation, output, probability and target."""
        return self.delta.xreplace({_Z: z, _A: a, _P: p, _Y: y})

    def __repr__(self) -> str:
        return f"OutputError({self.loss.name}: delta = {self.delta})"


_SOFTMAX_UNITS = 3  # a representative output layer for the softmax derivation


def output_error(
    loss_: Loss | str, output_activation: Activation | str | None = None
) -> OutputError:
    r"""Derive the output error :math:`\delta^{(L)}_k = \partial \ell / \partial z^{(L)}_k`.

    .. math:: \delta^{(L)}_k = \frac{\partial \ell}{\partial a_k}\,\sigma'(z_k)
        \quad\text{or, on logits,}\quad \frac{\partial \ell}{\partial z_k}

    Args:
        loss_: The loss (or its name).
        output_activation: The output activation for losses on ``a`` (default identity).

    Returns:
        The :class:`OutputError` with each step.

    Raises:
        ArithmeticError: The simplified δ disagrees with ``sympy.diff`` (a bug in symgd).

    Example:
        >>> output_error("mse", "sigmoid").delta
        a*(1 - a)*(a - y)
    """
    loss_ = loss(loss_)
    if loss_.kind == "softmax":
        return _softmax_error(loss_)
    if loss_.on_logits:
        raw = sympy.diff(loss_.unit, _Z)
        named = raw.xreplace({loss_.prediction: _P})
        delta = lecturer_form(named)
        check = sympy.simplify((delta - raw.xreplace({})).xreplace({_P: loss_.prediction}))
        if check != 0:
            raise ArithmeticError(f"output error {delta} disagrees with sympy.diff: {raw}")
        steps = (
            (r"\frac{\partial \ell}{\partial z}", raw),
            (r"\frac{\partial \ell}{\partial z}", delta),
        )
        return OutputError(loss_, None, steps, delta)
    act = activation(output_activation or "identity")
    by_output = sympy.diff(loss_.unit, _A)
    local = act.backward_form
    delta = lecturer_form(by_output * local)
    steps = (
        (r"\frac{\partial \ell}{\partial a}", by_output),
        (r"\frac{\partial a}{\partial z}", local),
        (r"\frac{\partial \ell}{\partial a}\,\frac{\partial a}{\partial z}", delta),
    )
    return OutputError(loss_, act, steps, delta)


def _softmax_error(loss_: Loss) -> OutputError:
    """δ of softmax cross-entropy from ``sympy.diff`` over a representative output layer."""
    zs = [symbol(f"z{k}") for k in range(1, _SOFTMAX_UNITS + 1)]
    ys = [symbol(f"y{k}") for k in range(1, _SOFTMAX_UNITS + 1)]
    ell = loss_.scalar(zs, ys)
    templates = []
    first = None
    for k, (z, y) in enumerate(zip(zs, ys, strict=True)):
        raw = sympy.diff(ell, z)
        # Eliminate another unit's target with Σ_k y_k = 1, so y_k stays in the result.
        order = [t for t in ys if t != y] + [y]
        constrained = sympy.simplify(raw.xreplace(loss_.constraint(order[::-1])))
        # Name the softmax output p_k: e^{z_k} = p_k Σ_{j≠k} e^{z_j} / (1 − p_k).
        others = sympy.Add(*(sympy.exp(other) for j, other in enumerate(zs) if j != k))
        delta = lecturer_form(
            sympy.simplify(constrained.subs(sympy.exp(z), _P * others / (1 - _P)))
        )
        if delta.free_symbols & set(zs):
            raise ArithmeticError(f"softmax output error did not simplify: {delta}")
        templates.append(delta.xreplace({y: _Y}))
        if first is None:
            first = (raw, constrained)
    if any(t != templates[0] for t in templates):
        raise ArithmeticError(f"softmax output error differs between units: {templates}")
    steps = (
        (r"\frac{\partial \ell}{\partial z_1}", first[0]),
        (r"\frac{\partial \ell}{\partial z_1}\Big|_{\sum_k y_k = 1}", first[1]),
        (r"\delta_k", templates[0]),
    )
    return OutputError(loss_, None, steps, templates[0])
