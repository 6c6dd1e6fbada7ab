r"""Stage 2, derive: back-propagation through time for the LSTM cell.

.. math:: z_t = U x_t + W h_{t-1} + b = (z^i_t, z^f_t, z^g_t, z^o_t),\quad
    i_t = \sigma(z^i_t),\ f_t = \sigma(z^f_t),\ g_t = \tanh(z^g_t),\ o_t = \sigma(z^o_t),

.. math:: c_t = f_t \odot c_{t-1} + i_t \odot g_t,\quad h_t = o_t \odot \tanh(c_t),\quad
    h_0 = c_0 = 0.

The output is the last state :math:`h_T`; :math:`\bar g = \partial\ell/\partial h_T` arrives
from the layer above. With the error signals :math:`\delta^h_t = \partial\ell/\partial h_t`,
:math:`\delta^c_t = \partial\ell/\partial c_t` and :math:`\delta_t = \partial\ell/\partial z_t`
(the four gates' blocks stacked as in ``U``, ``W`` and ``b``):

.. math:: \delta^c_t = \delta^h_t \odot o_t \odot (1 - \tanh^2 c_t)
    + \delta^c_{t+1} \odot f_{t+1},\qquad \delta^h_{t-1} = W^\top \delta_t,

.. math:: \delta^i_t = \delta^c_t \odot g_t \odot i_t (1 - i_t),\
    \delta^f_t = \delta^c_t \odot c_{t-1} \odot f_t (1 - f_t),\
    \delta^g_t = \delta^c_t \odot i_t \odot (1 - g_t^2),\
    \delta^o_t = \delta^h_t \odot \tanh(c_t) \odot o_t (1 - o_t),

and the shared parameters sum every step's share: :math:`\partial\ell/\partial W = \sum_t
\delta_t h_{t-1}^\top`, :math:`\partial\ell/\partial U = \sum_t \delta_t x_t^\top`,
:math:`\partial\ell/\partial b = \sum_t \delta_t`. The forget gate's carry
:math:`\delta^c_{t+1} \odot f_{t+1}` is the path along which the error reaches early steps
without a factor of :math:`W` at every step.

Example:
    >>> verify_rule(lstm_rule()).passed
    True
"""

from __future__ import annotations

import functools

import sympy

from symgd.derivation.layer_check import Chain, CheckCase, Evaluator, LayerRule, verify_rule
from symgd.derivation.scalar import LOSS_SYMBOL
from symgd.functions import sigmoid

__all__ = ["lstm_rule", "verify_rule"]

_ELL = LOSS_SYMBOL
x, z, U, W, b, c, h = (
    sympy.IndexedBase(name, real=True) for name in ("x", "z", "U", "W", "b", "c", "h")
)
gate_i, gate_f, gate_g, gate_o = (sympy.IndexedBase(name, real=True) for name in "ifgo")
upstream = sympy.IndexedBase("gbar", real=True)
delta, delta_h, delta_c = (
    sympy.IndexedBase(name, real=True) for name in ("delta", "delta_h", "delta_c")
)
t, p, q, r, s, k = sympy.symbols("t p q r s k", integer=True, positive=True)
T, n, d = sympy.symbols("T n d", integer=True, positive=True)


def _forward(step: sympy.Expr, row: sympy.Expr) -> sympy.Expr:
    """Row ``row`` (1 to 4n) of the stacked pre-activation :math:`z_t = U x_t + W h_{t-1} + b`."""
    return (
        sympy.Sum(U[row, s] * x[step, s], (s, 1, d))
        + sympy.Sum(W[row, r] * h[step - 1, r], (r, 1, n))
        + b[row]
    )


#: Each gate's array, its block of rows in z (a multiple of n), and its function.
_GATES = (
    (gate_i, 0, sigmoid),
    (gate_f, 1, sigmoid),
    (gate_g, 2, sympy.tanh),
    (gate_o, 3, sigmoid),
)


#: Arrays indexed by the time step first: an entry at step t depends on no later step's.
_STEPPED = frozenset({x, z, c, h, *(gate for gate, _, _ in _GATES)})


def _gate_chain(block: int, through: sympy.IndexedBase, result, rule, matrix) -> Chain:
    r"""The error of a gate's pre-activation (rows ``block n + p``), reaching ℓ via ``through``."""
    row = block * n + p
    error = {c: delta_c, h: delta_h}[through]
    middle = error[t, p] * sympy.Derivative(through[t, p], z[t, row])
    return Chain(
        (sympy.Derivative(_ELL, z[t, row]), middle, result),
        ((t, 1, T), (p, 1, n)),
        rule,
        matrix,
    )


def _chains() -> tuple[Chain, ...]:
    tanh_c = sympy.tanh(c[t, p])
    last = Chain(
        (
            sympy.Derivative(_ELL, c[T, p]),
            upstream[p] * sympy.Derivative(h[T, p], c[T, p]),
            upstream[p] * gate_o[T, p] * (1 - sympy.tanh(c[T, p]) ** 2),
        ),
        ((p, 1, n),),
        r"the cell error at the last step: $\bar g = \delta^h_T$ through $h_T = o_T \odot "
        r"\tanh c_T$",
        r"\boldsymbol{\delta}^{c}_{T} = \bar{\mathbf{g}} \odot \mathbf{o}_{T} \odot \left(1 - "
        r"\tanh^{2} \mathbf{c}_{T}\right)",
    )
    hidden = Chain(
        (
            sympy.Derivative(_ELL, h[t, q]),
            sympy.Sum(
                delta[t + 1, r] * sympy.Derivative(z[t + 1, r], h[t, q]),
                (r, 1, 4 * n),
            ),
            sympy.Sum(delta[t + 1, r] * W[r, q], (r, 1, 4 * n)),
        ),
        ((t, 1, T - 1), (q, 1, n)),
        r"$h_t$ reaches the loss only through the next step's four gates: $W^{\top}$ times "
        r"$\delta_{t+1}$",
        r"\boldsymbol{\delta}^{h}_{t} = \mathbf{W}^{\top} \boldsymbol{\delta}_{t+1}",
        "t < T",
    )
    cell = Chain(
        (
            sympy.Derivative(_ELL, c[t, p]),
            delta_h[t, p] * sympy.Derivative(h[t, p], c[t, p])
            + delta_c[t + 1, p] * gate_f[t + 1, p],
            delta_h[t, p] * gate_o[t, p] * (1 - tanh_c**2) + delta_c[t + 1, p] * gate_f[t + 1, p],
        ),
        ((t, 1, T - 1), (p, 1, n)),
        r"the cell error has two paths: through $h_t$, and on to $c_{t+1}$ through the forget "
        r"gate, $\partial c_{t+1}/\partial c_t = f_{t+1}$ (holding $h_t$)",
        r"\boldsymbol{\delta}^{c}_{t} = \boldsymbol{\delta}^{h}_{t} \odot \mathbf{o}_{t} \odot "
        r"\left(1 - \tanh^{2} \mathbf{c}_{t}\right) + \boldsymbol{\delta}^{c}_{t+1} \odot "
        r"\mathbf{f}_{t+1}",
        "t < T",
    )
    i_, f_, g_, o_ = (gate[t, p] for gate, _, _ in _GATES)
    gates = (
        _gate_chain(
            0,
            c,
            delta_c[t, p] * g_ * i_ * (1 - i_),
            r"the input gate: $\delta^c_t$ times the candidate $g_t$ times $\sigma'$",
            r"\boldsymbol{\delta}^{i}_{t} = \boldsymbol{\delta}^{c}_{t} \odot \mathbf{g}_{t} "
            r"\odot \mathbf{i}_{t} \odot \left(1 - \mathbf{i}_{t}\right)",
        ),
        _gate_chain(
            1,
            c,
            delta_c[t, p] * c[t - 1, p] * f_ * (1 - f_),
            r"the forget gate: $\delta^c_t$ times the previous cell $c_{t-1}$ times $\sigma'$",
            r"\boldsymbol{\delta}^{f}_{t} = \boldsymbol{\delta}^{c}_{t} \odot \mathbf{c}_{t-1} "
            r"\odot \mathbf{f}_{t} \odot \left(1 - \mathbf{f}_{t}\right)",
        ),
        _gate_chain(
            2,
            c,
            delta_c[t, p] * i_ * (1 - g_**2),
            r"the candidate: $\delta^c_t$ times the input gate $i_t$ times $\tanh'$",
            r"\boldsymbol{\delta}^{g}_{t} = \boldsymbol{\delta}^{c}_{t} \odot \mathbf{i}_{t} "
            r"\odot \left(1 - \mathbf{g}_{t}^{2}\right)",
        ),
        _gate_chain(
            3,
            h,
            delta_h[t, p] * sympy.tanh(c[t, p]) * o_ * (1 - o_),
            r"the output gate: $\delta^h_t$ times $\tanh c_t$ times $\sigma'$",
            r"\boldsymbol{\delta}^{o}_{t} = \boldsymbol{\delta}^{h}_{t} \odot \tanh \mathbf{c}_{t}"
            r" \odot \mathbf{o}_{t} \odot \left(1 - \mathbf{o}_{t}\right)",
        ),
    )
    outputs = ((t, 1, T), (k, 1, 4 * n))

    def parameter(variable, result, rule, matrix):
        local = sympy.diff(_forward(t, k), variable)
        return Chain(
            (sympy.Derivative(_ELL, variable), sympy.Sum(delta[t, k] * local, *outputs), result),
            tuple(
                (index, 1, 4 * n if number == 0 else (d if variable.base == U else n))
                for number, index in enumerate(variable.indices)
            ),
            rule,
            matrix,
        )

    by_w = parameter(
        W[p, q],
        sympy.Sum(delta[t, p] * h[t - 1, q], (t, 1, T)),
        r"a sum over time of the gate errors $\delta_t$ times the previous state $h_{t-1}$",
        r"\frac{\partial \ell}{\partial \mathbf{W}} = \sum_{t=1}^{T} \boldsymbol{\delta}_{t}"
        r" \mathbf{h}_{t-1}^{\top}",
    )
    by_u = parameter(
        U[p, q],
        sympy.Sum(delta[t, p] * x[t, q], (t, 1, T)),
        r"a sum over time of the gate errors $\delta_t$ times the input $x_t$",
        r"\frac{\partial \ell}{\partial \mathbf{U}} = \sum_{t=1}^{T} \boldsymbol{\delta}_{t}"
        r" \mathbf{x}_{t}^{\top}",
    )
    by_b = parameter(
        b[p],
        sympy.Sum(delta[t, p], (t, 1, T)),
        r"the sum of the gate errors $\delta_t$ over time",
        r"\frac{\partial \ell}{\partial \mathbf{b}} = \sum_{t=1}^{T} \boldsymbol{\delta}_{t}",
    )
    by_input = Chain(
        (
            sympy.Derivative(_ELL, x[t, q]),
            sympy.Sum(
                delta[t, k] * sympy.diff(_forward(t, k) - b[k], x[t, q]), (k, 1, 4 * n)
            ).replace(
                lambda e: isinstance(e, sympy.Sum) and e.function == 0, lambda e: sympy.Integer(0)
            ),
            sympy.Sum(delta[t, r] * U[r, q], (r, 1, 4 * n)),
        ),
        ((t, 1, T), (q, 1, d)),
        r"$U^{\top}$ times the gate errors $\delta_t$ at each step",
        r"\frac{\partial \ell}{\partial \mathbf{x}_{t}} = \mathbf{U}^{\top}"
        r" \boldsymbol{\delta}_{t}",
    )
    return (last, hidden, cell, *gates, by_w, by_u, by_b, by_input)


def _case(steps: int, units: int, inputs: int = 1) -> CheckCase:
    """The written-out LSTM at ``steps`` steps and ``units`` units, in numeric mode.

    Differentiating by an entry at step ``t`` (a cut) leaves every earlier step's entries as
    they were, so those are read from one evaluation without the cut (the layer is causal):
    the same numbers, computed once.
    """
    rows = 4 * units
    uncut: dict[int | None, Evaluator] = {}

    def causal(base, definition):
        def entry(e, step, *index):
            if not e.cut:
                return definition(e, step, *index)
            ((key, u),) = e.cut.items()  # the checks differentiate by one entry at a time
            if e.seed not in uncut:
                uncut[e.seed] = Evaluator(e.case, seed=e.seed)
            if key[0] in _STEPPED and step < key[1][0]:  # an earlier step: not a function of u
                return uncut[e.seed].entry(base, (step, *index))
            return definition(e, step, *index)

        return entry

    def gate(function, block):
        def entry(e, step, unit):
            return function(e.entry(z, (step, block * units + unit)))

        return entry

    def cell(e, step, unit):
        if step == 0:
            return 0
        forget = e.entry(gate_f, (step, unit)) * e.entry(c, (step - 1, unit))
        return forget + e.entry(gate_i, (step, unit)) * e.entry(gate_g, (step, unit))

    def state(e, step, unit):
        if step == 0:
            return 0
        return e.entry(gate_o, (step, unit)) * sympy.tanh(e.entry(c, (step, unit)))

    def error(array):
        return lambda e, step, unit: e.meaning(
            sympy.Derivative(_ELL, array[t, p]), {t: step, p: unit}
        )

    forward_z = _forward(t, p)
    return CheckCase(
        f"T = {steps}, {inputs} input, {units} units",
        {T: steps, n: units, d: inputs},
        {
            x: (steps + 1, inputs + 1),
            U: (rows + 1, inputs + 1),
            W: (rows + 1, units + 1),
            b: (rows + 1,),
            upstream: (units + 1,),
        },
        {
            z: causal(z, lambda e, step, row: e.meaning(forward_z, {t: step, p: row})),
            **{array: causal(array, gate(function, block)) for array, block, function in _GATES},
            c: causal(c, cell),
            h: causal(h, state),
            delta: error(z),
            delta_h: error(h),
            delta_c: error(c),
            _ELL: lambda e: sympy.Add(
                *(e.entry(upstream, (u,)) * e.entry(h, (steps, u)) for u in range(1, units + 1))
            ),
        },
        numeric=True,
    )


@functools.cache
def lstm_rule() -> LayerRule:
    r"""Derive back-propagation through time for the LSTM and check it at ``T = 2``, 2 units.

    Returns:
        The rule: the cell error at the last step, the hidden and cell recursions, the four
        gate errors, and the parameter and input gradients.

    Example:
        >>> lstm_rule().chains[2].sides[-1]
        (1 - tanh(c[t, p])**2)*delta_h[t, p]*o[t, p] + delta_c[t + 1, p]*f[t + 1, p]
    """
    i_, f_, g_, o_ = (gate[t, p] for gate, _, _ in _GATES)
    forward = (
        sympy.Eq(z[t, k], _forward(t, k)),
        *(sympy.Eq(gate[t, p], function(z[t, block * n + p])) for gate, block, function in _GATES),
        sympy.Eq(c[t, p], f_ * c[t - 1, p] + i_ * g_),
        sympy.Eq(h[t, p], o_ * sympy.tanh(c[t, p])),
    )
    notes = (
        r"The input $x$ is $T \times d$ (steps from 1), the states $h_t$ and cells $c_t$ have "
        r"$n$ units and $h_0 = c_0 = 0$; the output is the last state $h_T$, and "
        r"$\bar g = \partial\ell/\partial h_T$ arrives from the layer above.",
        r"$z_t$ stacks the pre-activations of the gates $i, f, g, o$ in rows $1..n$, "
        r"$n+1..2n$, $2n+1..3n$, $3n+1..4n$ (row $k$ runs over all $4n$).",
        r"Error signals: $\delta^h_t = \partial\ell/\partial h_t$, "
        r"$\delta^c_t = \partial\ell/\partial c_t$ and $\delta_t = \partial\ell/\partial z_t$, "
        r"whose four blocks are the gate errors $\delta^i_t, \delta^f_t, \delta^g_t, \delta^o_t$; "
        r"$\mathbb{1}[\cdot]$ is 1 where its condition holds, else 0.",
    )
    return LayerRule(
        "lstm",
        "LSTM layer (gates i, f, g, o), back-propagation through time",
        forward,
        _chains(),
        notes,
        (_case(2, 2),),
    )
