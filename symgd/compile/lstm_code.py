r"""Stage 5, compile: the generated NumPy lines of an LSTM layer, ``lstm(n)``.

Forward, for a batch of sequences ``a`` of shape ``(m, T, d)``, with the four gates stacked
``i, f, g, o`` in ``U`` ``(4n, d)``, ``W`` ``(4n, n)`` and ``b`` ``(4n,)``:

.. math:: z_t = x_t U^\top + h_{t-1} W^\top + b,\quad
    (i_t, f_t, g_t, o_t) = (\sigma, \sigma, \tanh, \sigma)(z_t),

.. math:: c_t = f_t \odot c_{t-1} + i_t \odot g_t,\quad h_t = o_t \odot \tanh c_t,\quad
    h_0 = c_0 = 0,\quad \text{output } h_T.

The input's share of every step is one matrix product before the loop; the loop runs over the
time steps only and keeps every gate, cell and ``tanh c_t`` for back-propagation through time
(:mod:`symgd.derivation.lstm`), which walks the steps from ``T`` down to 1:

.. math:: \delta^c_t = \delta^h_t \odot o_t \odot (1 - \tanh^2 c_t)
    + \delta^c_{t+1} \odot f_{t+1},\quad \delta_t = (\delta^c_t g_t i_t(1-i_t),\
    \delta^c_t c_{t-1} f_t(1-f_t),\ \delta^c_t i_t(1-g_t^2),\
    \delta^h_t \tanh(c_t) o_t(1-o_t)),\quad \delta^h_{t-1} = \delta_t W,

then sums the shared parameters' shares with one contraction each. The sigmoid is the stable
helper generated code calls everywhere (printed by :class:`~symgd.compile.printer.NetworkPrinter`
from :class:`symgd.functions.sigmoid`).

Example:
    >>> from symgd.define.architecture import architecture
    >>> layer = architecture("lstm(2),dense(1)", (3, 1), loss="mse").layers[0]
    >>> print("\n".join(forward_lines(layer, 1, training=True)[:3]))
    # lstm(2): z_t = x_t U1ᵀ + h_{t-1} W1ᵀ + b1 = [i, f, g, o] pre-activations, t = 1..3
    # c_t = f * c_{t-1} + i * g, h_t = o * tanh(c_t), h_0 = c_0 = 0; output h_3
    # the input's share of every step at once: one matrix product, (m, 3, 1) -> (m, 3, 8)
"""

from __future__ import annotations

import sympy

from symgd.compile.printer import NetworkPrinter
from symgd.compile.sequence_code import recurrent_names, shared_weight_gradients
from symgd.define.architecture import Layer
from symgd.functions import sigmoid


def _sigmoid(argument: str) -> str:
    """The stable sigmoid call of generated code, as the network printer writes it."""
    return NetworkPrinter().doprint(sigmoid(sympy.Symbol("ARGUMENT"))).replace("ARGUMENT", argument)


def _blocks(n: int) -> dict[str, str]:
    """The column slice of each gate in the stacked ``4n`` axis."""
    return {gate: f"{j * n}:{(j + 1) * n}" for j, gate in enumerate("ifgo")}


def forward_lines(layer: Layer, k: int, training: bool) -> list[str]:
    """Source lines computing ``a{k}`` (the last state, ``(m, n)``) from ``a{k-1}`` ``(m, T, d)``.

    Defines, for the backward lines: ``gates{k}`` ``(m, T, 4n)`` (the activated gates of each
    step) with a view per gate, ``i{k}``, ``f{k}``, ``cand{k}`` (the candidate g: ``g{k}``
    names a gradient) and ``o{k}``; ``c{k}`` and ``h{k}`` ``(m, T + 1, n)`` (index 0 is the
    zero start) and ``tanh_c{k}`` ``(m, T, n)``. Training and inference run the same lines.

    Args:
        layer: An ``lstm(n)`` layer.
        k: Its position in the stack (1-based): the lines read ``a{k-1}`` and write ``a{k}``.
        training: Training (``True``) or inference forward; the same lines for an LSTM.

    Returns:
        Unindented lines (the loop body indented by four spaces).

    Example:
        >>> from symgd.define.architecture import architecture
        >>> layer = architecture("lstm(3),dense(1)", (4, 2), loss="mse").layers[0]
        >>> forward_lines(layer, 1, training=False)[-1]
        'a1 = h1[:, 4]'
    """
    U, W, b = recurrent_names(layer, "lstm")
    T, d = layer.input_shape
    n = layer.size
    x, h, c, z, gates = f"a{k - 1}", f"h{k}", f"c{k}", f"z{k}", f"gates{k}"
    i, f, g, o = (f"{name}{k}" for name in ("i", "f", "cand", "o"))
    block = _blocks(n)
    now, output_gate = "[:, t - 1]", block["o"]
    return [
        f"# {layer.text}: z_t = x_t {U}ᵀ + h_{{t-1}} {W}ᵀ + {b} = [i, f, g, o] pre-activations, "
        f"t = 1..{T}",
        f"# c_t = f * c_{{t-1}} + i * g, h_t = o * tanh(c_t), h_0 = c_0 = 0; output h_{T}",
        f"# the input's share of every step at once: one matrix product, (m, {T}, {d}) -> "
        f"(m, {T}, {4 * n})",
        f"xu{k} = {x} @ {U}.T + {b}",
        "# every step's gates, cells and states are kept for back-propagation through time",
        f"{gates} = numpy.empty(({x}.shape[0], {T}, {4 * n}))",
        f"{i}, {f}, {g}, {o} = ({', '.join(f'{gates}[:, :, {block[q]}]' for q in 'ifgo')})",
        f"{h} = numpy.zeros(({x}.shape[0], {T + 1}, {n}))",
        f"{c} = numpy.zeros(({x}.shape[0], {T + 1}, {n}))",
        f"tanh_{c} = numpy.empty(({x}.shape[0], {T}, {n}))",
        f"for t in range(1, {T + 1}):",
        f"    {z} = xu{k}[:, t - 1] + {h}[:, t - 1] @ {W}.T",
        f"    # sigmoid on the gates i, f (columns 0:{2 * n}) and o, tanh on the candidate g",
        f"    {gates}[:, t - 1, :{2 * n}] = {_sigmoid(f'{z}[:, :{2 * n}]')}",
        f"    {g}{now} = numpy.tanh({z}[:, {block['g']}])",
        f"    {o}{now} = {_sigmoid(f'{z}[:, {output_gate}]')}",
        f"    {c}[:, t] = {f}{now} * {c}[:, t - 1] + {i}{now} * {g}{now}",
        f"    tanh_{c}{now} = numpy.tanh({c}[:, t])",
        f"    {h}[:, t] = {o}{now} * tanh_{c}{now}",
        f"a{k} = {h}[:, {T}]",
    ]


def backward_lines(layer: Layer, k: int, needs_input_gradient: bool) -> list[str]:
    r"""Back-propagation through time: fill ``dU{i}``, ``dW{i}``, ``db{i}`` (and ``g{k-1}``).

    The loop runs over the time steps only, from ``T`` down to 1: the cell error
    :math:`\delta^c_t` (with the forget gate's carry from step ``t + 1``), the four gates'
    errors into ``delta{k}`` ``(m, T, 4n)``, and :math:`\delta^h_{t-1} = \delta_t W` carried
    back one step; the shared weights' gradients are then one tensor contraction each over
    examples and steps.

    Args:
        layer: An ``lstm(n)`` layer.
        k: Its position in the stack; ``g{k}`` (``(m, n)``, the gradient of ``h_T``) is given.
        needs_input_gradient: Also compute ``g{k-1} = ∂J/∂a{k-1}`` ``(m, T, d)``.

    Returns:
        Unindented lines (loop bodies indented by four spaces).

    Example:
        >>> from symgd.define.architecture import architecture
        >>> layer = architecture("lstm(4),dense(1)", (5, 1), loss="mse").layers[0]
        >>> backward_lines(layer, 1, needs_input_gradient=False)[-1]
        'db1[...] = delta1.sum(axis=(0, 1))'
    """
    U, W, b = recurrent_names(layer, "lstm")
    T = layer.input_shape[0]
    n = layer.size
    c, delta = f"c{k}", f"delta{k}"
    dh, dc, carry = f"dh{k}", f"dc{k}", f"carry{k}"
    i, f, g, o = (f"{name}{k}" for name in ("i", "f", "cand", "o"))
    block = _blocks(n)
    now, tanh_c = "[:, t - 1]", f"tanh_{c}[:, t - 1]"
    lines = [
        f"# {layer.text} backward through time: dh = dJ/dh_t, dc = dJ/dc_t, delta_t = dJ/dz_t "
        f"(gates i, f, g, o)",
        f"{delta} = numpy.empty((g{k}.shape[0], {T}, {4 * n}))",
        f"{dh} = g{k}",
        f"{carry} = numpy.zeros_like(g{k})  # dJ/dc_(t+1) * f_(t+1): none after the last step",
        f"for t in range({T}, 0, -1):",
        "    # the cell error: through h_t = o * tanh(c_t), and on to c_(t+1) via the forget gate",
        f"    {dc} = {dh} * {o}{now} * (1.0 - {tanh_c} ** 2) + {carry}",
        "    # each gate's error: dJ/dc_t (or dJ/dh_t for o) times its local derivative",
        f"    {delta}[:, t - 1, {block['i']}] = {dc} * {g}{now} * {i}{now} * (1.0 - {i}{now})",
        f"    {delta}[:, t - 1, {block['f']}] = {dc} * {c}[:, t - 1] * {f}{now} * (1.0 - {f}{now})",
        f"    {delta}[:, t - 1, {block['g']}] = {dc} * {i}{now} * (1.0 - {g}{now} ** 2)",
        f"    {delta}[:, t - 1, {block['o']}] = {dh} * {tanh_c} * {o}{now} * (1.0 - {o}{now})",
        "    # one step back: dJ/dh_(t-1) through all four gates, dJ/dc_t through f_t",
        f"    {dh} = {delta}[:, t - 1] @ {W}",
        f"    {carry} = {dc} * {f}{now}",
    ]
    return lines + shared_weight_gradients(layer, k, needs_input_gradient)
