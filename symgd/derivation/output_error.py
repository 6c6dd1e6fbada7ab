r"""Stage 2, derive: the output error of a network's loss, derived by SymPy, never typed in.

The output error :math:`\delta^{(L)} = \partial \ell / \partial z^{(L)}` of the network's
own loss and output activation:

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

from dataclasses import dataclass

import sympy

from symgd import limits
from symgd.define import (
    OUTPUT,
    PREACTIVATION,
    PROBABILITY,
    TARGET,
    Activation,
    Loss,
    activation,
    loss,
)
from symgd.derivation.scalar import lecturer_form
from symgd.parse import symbol

_Z, _A, _Y, _P = PREACTIVATION, OUTPUT, TARGET, PROBABILITY


@dataclass(frozen=True)
class OutputError:
    r"""The output error :math:`\delta = \partial\ell/\partial z` of one output unit, derived.

    The steps are one chain of equalities for one representative unit:
    :math:`\partial\ell/\partial z = s_1 = s_2 = \dots`, each step equal to the one before
    once ``given`` is substituted (``a = σ(z)``, ``p = σ(z)``, one-hot targets summing to one).

    Attributes:
        loss: The loss.
        output_activation: The output activation (``None`` on logits: part of the loss).
        steps: ``(description, expression)`` pairs, a chain from the first derivative to δ.
        delta: The simplified δ of one unit in ``z``, ``a``, ``p`` and ``y``.
        factors: :math:`\partial\ell/\partial a` and :math:`\partial a/\partial z` for a loss
            on the output ``a`` (their product is the first step), else empty.
        given: ``(symbol, expression)`` substitutions the steps assume, applied in order.
        unit: ``(symbol of delta, symbol of the steps)`` pairs: the representative unit the
            steps are written for (softmax: ``z -> z1``, ``p -> p1``, ``y -> y1``), else empty.
        layer: Softmax only: ``(z_k, y_k)`` of each unit of the representative layer.
    """

    loss: Loss
    output_activation: Activation | None
    steps: tuple[tuple[str, sympy.Expr], ...]
    delta: sympy.Expr
    factors: tuple[sympy.Expr, ...] = ()
    given: tuple[tuple[sympy.Symbol, sympy.Expr], ...] = ()
    unit: tuple[tuple[sympy.Symbol, sympy.Symbol], ...] = ()
    layer: tuple[tuple[sympy.Symbol, sympy.Symbol], ...] = ()

    @property
    def loss_in_z(self) -> sympy.Expr:
        """``ℓ`` in the pre-activation ``z`` (softmax: in the representative layer's ``z_k``).

        Example:
            >>> output_error("mse", "tanh").loss_in_z
            (-y + tanh(z))**2/2
        """
        if self.layer:
            return self.loss.scalar(*zip(*self.layer, strict=True))
        if self.loss.on_logits:
            return self.loss.unit
        return self.loss.unit.xreplace({_A: self.output_activation.expression})

    def at(self, z: sympy.Expr, a: sympy.Expr, p: sympy.Expr, y: sympy.Expr) -> sympy.Expr:
        """δ of one concrete unit: its pre-activation, output, probability and target."""
        return self.delta.xreplace({_Z: z, _A: a, _P: p, _Y: y})

    def __repr__(self) -> str:
        return f"OutputError({self.loss.name}: delta = {self.delta})"


_SOFTMAX_UNITS = 3  # a representative output layer for the softmax derivation


def output_error(
    loss_: Loss | str,
    output_activation: Activation | str | None = None,
    *,
    units: int = _SOFTMAX_UNITS,
) -> OutputError:
    r"""Derive the output error :math:`\delta^{(L)}_k = \partial \ell / \partial z^{(L)}_k`.

    .. math:: \delta^{(L)}_k = \frac{\partial \ell}{\partial a_k}\,\sigma'(z_k)
        \quad\text{or, on logits,}\quad \frac{\partial \ell}{\partial z_k}

    Args:
        loss_: The loss (or its name).
        output_activation: The output activation for losses on ``a`` (default identity).
        units: Output units of the representative layer softmax is derived over (at least 2).

    Returns:
        The :class:`OutputError` with each step.

    Raises:
        ArithmeticError: The simplified δ disagrees with ``sympy.diff`` (a bug in symgd).
        symgd.limits.TooComplex: The derivation ran past :data:`symgd.limits.NETWORK_SECONDS`.

    Example:
        >>> output_error("mse", "sigmoid").delta
        a*(1 - a)*(a - y)
    """
    loss_ = loss(loss_)
    with limits.deadline(limits.NETWORK_SECONDS, f"deriving the output error of {loss_.name}"):
        return _output_error(loss_, output_activation, max(units, 2))


def _output_error(
    loss_: Loss, output_activation: Activation | str | None, units: int
) -> OutputError:
    if loss_.kind == "softmax":
        return _softmax_error(loss_, units)
    if loss_.on_logits:
        raw = sympy.diff(loss_.unit, _Z)
        named = raw.xreplace({loss_.prediction: _P})
        delta = lecturer_form(named)
        check = sympy.simplify((delta - raw.xreplace({})).xreplace({_P: loss_.prediction}))
        if check != 0:
            raise ArithmeticError(f"output error {delta} disagrees with sympy.diff: {raw}")
        steps = (
            (r"\frac{\partial \ell}{\partial z}", raw),
            (r"p = \sigma(z)", delta),
        )
        return OutputError(loss_, None, steps, delta, given=((_P, loss_.prediction),))
    act = activation(output_activation or "identity")
    by_output = sympy.diff(loss_.unit, _A)
    local = act.backward_form
    delta = lecturer_form(by_output * local)
    steps = (
        (r"\frac{\partial \ell}{\partial a}\,\frac{\partial a}{\partial z}", by_output * local),
        ("simplified", delta),
    )
    given = ((_A, act.expression),) if _A in local.free_symbols else ()
    return OutputError(loss_, act, steps, delta, (by_output, local), given)


def _softmax_error(loss_: Loss, units: int) -> OutputError:
    """δ of softmax cross-entropy from ``sympy.diff`` over a representative output layer."""
    zs = [symbol(f"z{k}") for k in range(1, units + 1)]
    ys = [symbol(f"y{k}") for k in range(1, units + 1)]
    ell = loss_.scalar(zs, ys)
    templates = []
    first = None
    for k, (z, y) in enumerate(zip(zs, ys, strict=True)):
        raw = sympy.diff(ell, z)
        # Eliminate another unit's target with Σ_k y_k = 1, so y_k stays in the result.
        order = [t for t in ys if t != y] + [y]
        constraint = loss_.constraint(order[::-1])
        constrained = sympy.simplify(raw.xreplace(constraint))
        # Name the softmax output p_k: e^{z_k} = p_k Σ_{j≠k} e^{z_j} / (1 − p_k).
        others = sympy.Add(*(sympy.exp(other) for j, other in enumerate(zs) if j != k))
        delta = lecturer_form(
            sympy.simplify(constrained.subs(sympy.exp(z), _P * others / (1 - _P)))
        )
        if delta.free_symbols & set(zs):
            raise ArithmeticError(f"softmax output error did not simplify: {delta}")
        templates.append(delta.xreplace({y: _Y}))
        if first is None:
            first = (raw, constrained, delta, constraint)
    if any(t != templates[0] for t in templates):
        raise ArithmeticError(f"softmax output error differs between units: {templates}")
    raw, constrained, delta, constraint = first
    steps = (
        (r"\frac{\partial \ell}{\partial z_1}", raw),
        (r"\sum_k y_k = 1", constrained),
        (r"p_1 = e^{z_1} / \sum_j e^{z_j}", delta),
    )
    p1 = symbol("p1")
    given = (
        *constraint.items(),
        (_P, sympy.exp(zs[0]) / sympy.Add(*(sympy.exp(z) for z in zs))),
    )
    # The steps are written in p (not p1) by the elimination above; name unit 1 explicitly.
    steps = tuple((text, expr.xreplace({_P: p1})) for text, expr in steps)
    given = tuple((p1 if s == _P else s, e) for s, e in given)
    unit = ((_Z, zs[0]), (_P, p1), (_Y, ys[0]))
    layer = tuple(zip(zs, ys, strict=True))
    return OutputError(loss_, None, steps, templates[0], given=given, unit=unit, layer=layer)
