r"""Stage 2, derive: back-propagation through time for the Elman (vanilla) RNN.

.. math:: z_t = U x_t + W h_{t-1} + b,\quad h_t = \tanh(z_t),\quad h_0 = 0

The output is the last state :math:`h_T`; :math:`g = \partial\ell/\partial h_T` arrives from the
layer above. With :math:`\delta_t = \partial\ell/\partial z_t`:

.. math:: \delta_T = g\odot(1-h_T^2),\quad \delta_t = (W^\top\delta_{t+1})\odot(1-h_t^2),\quad
    \frac{\partial\ell}{\partial W} = \sum_t \delta_t h_{t-1}^\top,\quad
    \frac{\partial\ell}{\partial U} = \sum_t \delta_t x_t^\top,\quad
    \frac{\partial\ell}{\partial b} = \sum_t \delta_t

and :math:`\partial h_T/\partial h_t = \prod_{k=t+1}^{T}\operatorname{diag}(1-h_k^2)\,W`, whose
norm shrinks or grows geometrically in :math:`T - t` (vanishing and exploding gradients).

Example:
    >>> verify_rule(rnn_rule()).passed
    True
"""

from __future__ import annotations

import functools

import sympy

from symgd.derivation.layer_check import Chain, CheckCase, LayerRule, verify_rule
from symgd.derivation.scalar import LOSS_SYMBOL

__all__ = ["rnn_rule", "verify_rule"]

_ELL = LOSS_SYMBOL
x, h, z, U, W, b, g, delta = (
    sympy.IndexedBase(name, real=True) for name in ("x", "h", "z", "U", "W", "b", "g", "delta")
)
t, p, q, r, s, k = sympy.symbols("t p q r s k", integer=True, positive=True)
T, n, d = sympy.symbols("T n d", integer=True, positive=True)


def _forward(step: sympy.Expr, unit: sympy.Expr) -> sympy.Expr:
    return (
        sympy.Sum(U[unit, s] * x[step, s], (s, 1, d))
        + sympy.Sum(W[unit, r] * h[step - 1, r], (r, 1, n))
        + b[unit]
    )


@functools.cache
def rnn_rule() -> LayerRule:
    """Derive back-propagation through time and check it at ``T = 3``, 1 input, 2 units.

    Returns:
        The rule: output error, recursion, parameter and input gradients, and the Jacobian
        :math:`\\partial h_T/\\partial h_t` as a product.

    Example:
        >>> rnn_rule().chains[2].sides[-1]
        Sum(delta[t, p]*h[t - 1, q], (t, 1, T))
    """
    tanh_local = 1 - h[t, p] ** 2
    units = (r, 1, n)
    steps = (t, 1, T)
    last = Chain(
        (
            sympy.Derivative(_ELL, z[T, p]),
            sympy.Sum(g[r] * sympy.Derivative(h[T, r], z[T, p]), units),
            g[p] * (1 - h[T, p] ** 2),
        ),
        ((p, 1, n),),
        r"the output error: $g$ times $\tanh'$ at the last step",
        r"\boldsymbol{\delta}_{T} = \mathbf{g} \odot \left(1 - \mathbf{h}_{T}^{2}\right)",
    )
    recursion = Chain(
        (
            sympy.Derivative(_ELL, z[t, p]),
            sympy.Sum(
                sympy.Derivative(_ELL, z[t + 1, r]) * sympy.Derivative(z[t + 1, r], z[t, p]), units
            ),
            sympy.Sum(delta[t + 1, r] * W[r, p], units) * tanh_local,
        ),
        ((t, 1, T - 1), (p, 1, n)),
        r"the error flows back one step through $W^{\top}$ and $\tanh'$",
        r"\boldsymbol{\delta}_{t} = \left(\mathbf{W}^{\top} \boldsymbol{\delta}_{t+1}\right)"
        r" \odot \left(1 - \mathbf{h}_{t}^{2}\right)",
        "t < T",
    )
    outputs = ((t, 1, T), (k, 1, n))

    def parameter(variable, result, rule, matrix):
        local = sympy.diff(_forward(t, k), variable)
        return Chain(
            (
                sympy.Derivative(_ELL, variable),
                sympy.Sum(delta[t, k] * local, *outputs),
                result,
            ),
            tuple(
                (index, 1, n if k == 0 or variable.base != U else d)
                for k, index in enumerate(variable.indices)
            ),
            rule,
            matrix,
        )

    by_w = parameter(
        W[p, q],
        sympy.Sum(delta[t, p] * h[t - 1, q], steps),
        r"a sum over time of $\delta_t$ times the previous state $h_{t-1}$",
        r"\frac{\partial \ell}{\partial \mathbf{W}} = \sum_{t=1}^{T} \boldsymbol{\delta}_{t}"
        r" \mathbf{h}_{t-1}^{\top}",
    )
    by_u = parameter(
        U[p, q],
        sympy.Sum(delta[t, p] * x[t, q], steps),
        r"a sum over time of $\delta_t$ times the input $x_t$",
        r"\frac{\partial \ell}{\partial \mathbf{U}} = \sum_{t=1}^{T} \boldsymbol{\delta}_{t}"
        r" \mathbf{x}_{t}^{\top}",
    )
    by_b = parameter(
        b[p],
        sympy.Sum(delta[t, p], steps),
        r"the sum of $\delta_t$ over time",
        r"\frac{\partial \ell}{\partial \mathbf{b}} = \sum_{t=1}^{T} \boldsymbol{\delta}_{t}",
    )
    by_input = Chain(
        (
            sympy.Derivative(_ELL, x[t, q]),
            sympy.Sum(delta[t, k] * sympy.diff(_forward(t, k) - b[k], x[t, q]), (k, 1, n)).replace(
                lambda e: isinstance(e, sympy.Sum) and e.function == 0, lambda e: sympy.Integer(0)
            ),
            sympy.Sum(delta[t, r] * U[r, q], units),
        ),
        ((t, 1, T), (q, 1, d)),
        r"$U^{\top}$ times $\delta_t$ at each step",
        r"\frac{\partial \ell}{\partial \mathbf{x}_{t}} = \mathbf{U}^{\top}"
        r" \boldsymbol{\delta}_{t}",
    )
    jacobian = Chain(
        (
            sympy.Derivative(h[T, p], h[t, q]),
            sympy.Sum(
                sympy.Derivative(h[T, p], h[t + 1, r]) * sympy.Derivative(h[t + 1, r], h[t, q]),
                units,
            ),
            sympy.Sum(
                sympy.Derivative(h[T, p], h[t + 1, r]) * (1 - h[t + 1, r] ** 2) * W[r, q], units
            ),
        ),
        ((t, 1, T - 1), (p, 1, n), (q, 1, n)),
        r"one step of the product: the Jacobian over $T - t$ steps is a product of $T - t$ "
        "factors",
        r"\frac{\partial \mathbf{h}_{T}}{\partial \mathbf{h}_{t}} = \prod_{k=t+1}^{T}"
        r" \operatorname{diag}\left(1 - \mathbf{h}_{k}^{2}\right) \mathbf{W}",
        "t < T",
    )
    steps_n, inputs_n, units_n = 3, 1, 2
    sizes = {T: steps_n, n: units_n, d: inputs_n}
    forward_z = _forward(t, p)

    def state(e, step, unit):
        return 0 if step == 0 else sympy.tanh(e.entry(z, (step, unit)))

    case = CheckCase(
        f"T = {steps_n}, {inputs_n} inputs, {units_n} units",
        sizes,
        {
            x: (steps_n + 1, inputs_n + 1),
            U: (units_n + 1, inputs_n + 1),
            W: (units_n + 1, units_n + 1),
            b: (units_n + 1,),
            g: (units_n + 1,),
        },
        {
            z: lambda e, step, unit: e.meaning(forward_z, {t: step, p: unit}),
            h: state,
            delta: lambda e, step, unit: e.meaning(
                sympy.Derivative(_ELL, z[t, p]), {t: step, p: unit}
            ),
            _ELL: lambda e: sympy.Add(
                *(e.entry(g, (u,)) * e.entry(h, (steps_n, u)) for u in range(1, units_n + 1))
            ),
        },
        numeric=True,
    )
    notes = (
        r"The input $x$ is $T \times d$ (steps from 1), the states $h_t$ have $n$ units and "
        r"$h_0 = 0$; the output is the last state $h_T$, and $g = \partial\ell/\partial h_T$ "
        "arrives from the layer above.",
        r"$\delta_t = \partial\ell/\partial z_t$; the parameter gradients sum the direct "
        r"dependence of every $z_t$.",
    )
    return LayerRule(
        "rnn",
        "Elman recurrent layer (tanh), back-propagation through time",
        (sympy.Eq(z[t, p], forward_z), sympy.Eq(h[t, p], sympy.tanh(z[t, p]))),
        (last, recursion, by_w, by_u, by_b, by_input, jacobian),
        notes,
        (case,),
    )
