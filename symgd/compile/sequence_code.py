r"""Stage 5, compile: the generated NumPy lines of an Elman recurrent layer, ``rnn(n)``.

Forward, for a batch of sequences ``a`` of shape ``(m, T, d)``:

.. math:: h_t = \tanh(x_t U^\top + h_{t-1} W^\top + b), \qquad h_0 = 0, \qquad
    \text{output } h_T \in \mathbb{R}^{m \times n}.

Every state is kept (``h{k}`` of shape ``(m, T + 1, n)``, ``h{k}[:, 0] = 0``) for
back-propagation through time. The backward pass walks the steps from ``T`` down to 1 with
the error of the pre-activation at step ``t``

.. math:: \delta_T = \frac{\partial J}{\partial h_T} \odot (1 - h_T^2), \qquad
    \delta_{t} = (\delta_{t+1} W) \odot (1 - h_t^2),

and, since ``U``, ``W`` and ``b`` are shared by every step, sums the steps' contributions:
:math:`\partial J/\partial U = \sum_t \delta_t^\top x_t`,
:math:`\partial J/\partial W = \sum_t \delta_t^\top h_{t-1}`,
:math:`\partial J/\partial b = \sum_t \mathbf{1}^\top \delta_t` and
:math:`\partial J/\partial x_t = \delta_t U` (one matrix product each, after the loop).
Only the recursion loops, over time steps; never over examples.

The lines follow the interface of the layer code modules (see
:mod:`symgd.compile.norm_code`): ``a{k-1}`` in, ``a{k}`` out, ``g{k}`` the upstream gradient,
parameter gradients written into the preallocated views ``dU{i}``, ``dW{i}``, ``db{i}``.

Example:
    >>> from symgd.define.architecture import architecture
    >>> layer = architecture("rnn(4),dense(1)", (5, 1), loss="mse").layers[0]
    >>> print("\n".join(forward_lines(layer, 1, training=True)))
    # rnn(4): h_t = tanh(x_t U1ᵀ + h_{t-1} W1ᵀ + b1), h_0 = 0, for t = 1..5; output h_5
    # the input's share of every step at once: one matrix product, (m, 5, 1) -> (m, 5, 4)
    xu1 = a0 @ U1.T + b1
    h1 = numpy.zeros((a0.shape[0], 6, 4))
    for t in range(1, 6):
        h1[:, t] = numpy.tanh(xu1[:, t - 1] + h1[:, t - 1] @ W1.T)
    a1 = h1[:, 5]
"""

from __future__ import annotations

from symgd.define.architecture import Layer


def recurrent_names(layer: Layer, kind: str = "rnn") -> tuple[str, str, str]:
    """A recurrent layer's parameter names ``U{i}``, ``W{i}``, ``b{i}``.

    Raises:
        ValueError: ``layer`` is not of ``kind``.
    """
    if layer.kind != kind:
        raise ValueError(f"{kind} code handles {kind} layers, not {layer.kind} ({layer.text})")
    U, W, b = (name for name, _ in layer.parameters)
    return U, W, b


def shared_weight_gradients(layer: Layer, k: int, needs_input_gradient: bool) -> list[str]:
    """The gradients of weights every step shares, from the steps' errors ``delta{k}``.

    ``delta{k}`` is ``(m, T, ·)``: the error of each step's pre-activation, after a loop back
    through time; each shared weight's gradient is one contraction over examples and steps.

    Example:
        >>> from symgd.define.architecture import architecture
        >>> layer = architecture("rnn(4),dense(1)", (5, 1), loss="mse").layers[0]
        >>> shared_weight_gradients(layer, 1, True)[-1]
        'g0 = delta1 @ U1'
    """
    U, W, b = (name for name, _ in layer.parameters)
    x, h, delta = f"a{k - 1}", f"h{k}", f"delta{k}"
    lines = [
        f"# {U}, {W}, {b} are shared by every step: sum each step's contribution",
        f"d{U}[...] = numpy.tensordot({delta}, {x}, axes=([0, 1], [0, 1]))",
        f"d{W}[...] = numpy.tensordot({delta}, {h}[:, :-1], axes=([0, 1], [0, 1]))",
        f"d{b}[...] = {delta}.sum(axis=(0, 1))",
    ]
    if needs_input_gradient:
        lines += [
            "# each step's input gradient: dJ/dx_t = delta_t U",
            f"g{k - 1} = {delta} @ {U}",
        ]
    return lines


def forward_lines(layer: Layer, k: int, training: bool) -> list[str]:
    """Source lines computing ``a{k}`` (the last state, ``(m, n)``) from ``a{k-1}`` ``(m, T, d)``.

    Defines ``xu{k}`` (the input's share of each step's pre-activation) and ``h{k}`` (every
    state, ``h{k}[:, 0] = 0``), which the backward lines read. The recurrence is the same in
    training and inference, so ``training`` changes nothing.

    Args:
        layer: An ``rnn(n)`` layer.
        k: Its position in the stack (1-based): the lines read ``a{k-1}`` and write ``a{k}``.
        training: Training (``True``) or inference forward; the same lines for an RNN.

    Returns:
        Unindented lines (the loop body indented by four spaces).

    Example:
        >>> from symgd.define.architecture import architecture
        >>> layer = architecture("rnn(3),dense(1)", (4, 2), loss="mse").layers[0]
        >>> forward_lines(layer, 1, training=False)[-1]
        'a1 = h1[:, 4]'
    """
    U, W, b = recurrent_names(layer)
    T, d = layer.input_shape
    n = layer.size
    x, h = f"a{k - 1}", f"h{k}"
    return [
        f"# {layer.text}: h_t = tanh(x_t {U}ᵀ + h_{{t-1}} {W}ᵀ + {b}), h_0 = 0, for t = 1..{T}; "
        f"output h_{T}",
        f"# the input's share of every step at once: one matrix product, (m, {T}, {d}) -> "
        f"(m, {T}, {n})",
        f"xu{k} = {x} @ {U}.T + {b}",
        f"{h} = numpy.zeros(({x}.shape[0], {T + 1}, {n}))",
        f"for t in range(1, {T + 1}):",
        f"    {h}[:, t] = numpy.tanh(xu{k}[:, t - 1] + {h}[:, t - 1] @ {W}.T)",
        f"a{k} = {h}[:, {T}]",
    ]


def backward_lines(layer: Layer, k: int, needs_input_gradient: bool) -> list[str]:
    r"""Back-propagation through time: fill ``dU{i}``, ``dW{i}``, ``db{i}`` (and ``g{k-1}``).

    The loop runs over the time steps only, from ``T`` down to 1, computing
    :math:`\delta_t = \partial J / \partial h_t \odot (1 - h_t^2)` into ``delta{k}``
    ``(m, T, n)`` and carrying :math:`\partial J/\partial h_{t-1} = \delta_t W` back one step;
    the shared weights' gradients are then one tensor contraction each over examples and steps.

    Args:
        layer: An ``rnn(n)`` layer.
        k: Its position in the stack; ``g{k}`` (``(m, n)``, the gradient of ``h_T``) is given.
        needs_input_gradient: Also compute ``g{k-1} = ∂J/∂a{k-1}`` ``(m, T, d)``.

    Returns:
        Unindented lines (loop bodies indented by four spaces).

    Example:
        >>> from symgd.define.architecture import architecture
        >>> layer = architecture("rnn(4),dense(1)", (5, 1), loss="mse").layers[0]
        >>> print("\n".join(backward_lines(layer, 1, needs_input_gradient=False)))
        # rnn(4) backward through time: delta_t = dJ/dh_t * (1 - h_t^2), dJ/dh_{t-1} = delta_t W1
        delta1 = numpy.empty((g1.shape[0], 5, 4))
        carry1 = g1
        for t in range(5, 0, -1):
            delta1[:, t - 1] = carry1 * (1.0 - h1[:, t] ** 2)
            carry1 = delta1[:, t - 1] @ W1
        # U1, W1, b1 are shared by every step: sum each step's contribution
        dU1[...] = numpy.tensordot(delta1, a0, axes=([0, 1], [0, 1]))
        dW1[...] = numpy.tensordot(delta1, h1[:, :-1], axes=([0, 1], [0, 1]))
        db1[...] = delta1.sum(axis=(0, 1))
    """
    U, W, b = recurrent_names(layer)
    T = layer.input_shape[0]
    n = layer.size
    h, delta, carry = f"h{k}", f"delta{k}", f"carry{k}"
    lines = [
        f"# {layer.text} backward through time: delta_t = dJ/dh_t * (1 - h_t^2), "
        f"dJ/dh_{{t-1}} = delta_t {W}",
        f"{delta} = numpy.empty((g{k}.shape[0], {T}, {n}))",
        f"{carry} = g{k}",
        f"for t in range({T}, 0, -1):",
        f"    {delta}[:, t - 1] = {carry} * (1.0 - {h}[:, t] ** 2)",
        f"    {carry} = {delta}[:, t - 1] @ {W}",
    ]
    return lines + shared_weight_gradients(layer, k, needs_input_gradient)
