r"""Generated NumPy lines of the image and feed-forward layers of an architecture.

Each function returns Python source lines (no indentation) for one layer of
:func:`symgd.compile.architecture.compile_architecture`: ``a{k}`` from ``a{k−1}`` forward,
and backward, given ``g{k} = ∂J/∂a{k}``, the parameter gradients (``dK1``, ``db1`` …, filled
in place) and ``g{k−1}``. Examples run along axis 0; there are no loops over examples or pixels.

* **conv** (stride 1, ``valid`` or ``same``):
  :math:`z_{o,i,j} = \sum_{c,p,q} K_{o,c,p,q}\, a_{c,i+p,j+q} + b_o` through
  ``sliding_window_view`` and one ``einsum`` (BLAS underneath), or ``strategy="im2col"``: a
  column matrix and one matrix product (measured faster when no input gradient is needed,
  the einsum input gradient about twice as fast as im2col's). Backward:
  :math:`\partial J/\partial K` is the cross-correlation of the input with δ, and
  :math:`\partial J/\partial a` the full convolution of δ (padded by :math:`k-1`) with the
  flipped kernel.
* **maxpool(s)**: the largest value of each ``s × s`` window (stride ``s``; rows and columns
  past the last whole window dropped). δ goes to the *first* maximum of each window in
  row-major order: with ties, the first one gets all of it (``argmax``'s rule).
* **avgpool(s)**: the mean of each window; δ is spread evenly, :math:`\delta / s^2`.
* **flatten**, **dense** (:math:`a W^\top + b`), and element-wise **activation** layers, whose
  function and derivative are printed from SymPy as in :mod:`symgd.compile.network`.

Example:
    >>> from symgd.define.architecture import architecture
    >>> conv = architecture("conv(2,3),flatten,dense(1)", (1, 4, 4), loss="mse").layers[0]
    >>> print("\n".join(forward_lines(conv, 1, True)[1:]))
    windows1 = sliding_window_view(a0, (3, 3), axis=(2, 3))
    a1 = numpy.einsum("ncijpq,ocpq->noij", windows1, K1, optimize=["einsum_path", (0, 1)])
    a1 += b1[:, None, None]
"""

from __future__ import annotations

from symgd.compile.layers import array, elementwise
from symgd.compile.printer import NetworkPrinter
from symgd.define import OUTPUT, PREACTIVATION
from symgd.define.architecture import Layer

#: Convolution strategies: windows and ``einsum`` (the default), or im2col and a matrix product.
STRATEGIES = ("einsum", "im2col")

#: ``einsum``'s contraction order for two operands, given so that it calls BLAS without
#: searching for a path on every call (a third of the time of a small convolution).
_PAIR = 'optimize=["einsum_path", (0, 1)]'


def forward_lines(layer: Layer, k: int, training: bool, *, strategy: str = "einsum") -> list[str]:
    """Source lines computing ``a{k}`` from ``a{k-1}`` (``training`` changes nothing here).

    Args:
        layer: A conv, maxpool, avgpool, flatten, dense or activation layer.
        k: Its 1-based position in the architecture.
        training: Whether this is the training forward pass (the same lines either way).
        strategy: ``"einsum"`` or ``"im2col"`` (convolutions only).

    Returns:
        The lines; the first is a comment naming the layer.

    Raises:
        ValueError: A layer kind this module does not compile, or an unknown strategy.

    Example:
        >>> from symgd.define.architecture import architecture
        >>> layer = architecture("dense(3)", (2,), loss="mse").layers[0]
        >>> forward_lines(layer, 1, True)[1:]
        ['a1 = a0 @ W1.T', 'a1 += b1']
    """
    _check(layer, strategy)
    return [f"# {layer.text}: {_describe(layer)}", *_LINES[layer.kind][0](layer, k, strategy)]


def backward_lines(
    layer: Layer, k: int, needs_input_gradient: bool, *, strategy: str = "einsum"
) -> list[str]:
    """Source lines filling the layer's parameter gradients and, if asked, ``g{k-1}``.

    Args:
        layer: A conv, maxpool, avgpool, flatten, dense or activation layer.
        k: Its 1-based position in the architecture.
        needs_input_gradient: Whether to compute ``g{k-1} = ∂J/∂a{k-1}``.
        strategy: ``"einsum"`` or ``"im2col"``, as given to :func:`forward_lines`.

    Returns:
        The lines (a comment first; none for a layer with nothing to compute).

    Raises:
        ValueError: A layer kind this module does not compile, or an unknown strategy.

    Example:
        The activation's derivative, printed from SymPy in terms of its output:

        >>> from symgd.define.architecture import architecture
        >>> tanh = architecture("dense(3),tanh", (2,), loss="mse").layers[1]
        >>> backward_lines(tanh, 2, True)
        ["# tanh backward: σ'= 1 - a**2", 'g1 = g2 * (1 - a2**2)']
        >>> backward_lines(tanh, 2, False)  # no parameters, no input gradient asked
        []
    """
    _check(layer, strategy)
    if not (needs_input_gradient or layer.parameters):
        return []
    return _LINES[layer.kind][1](layer, k, needs_input_gradient, strategy)


def _check(layer: Layer, strategy: str) -> None:
    if layer.kind not in _LINES:
        raise ValueError(f"layer kind {layer.kind!r} is not compiled by symgd.compile.conv_code")
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown convolution strategy {strategy!r}; known: einsum, im2col")


def _describe(layer: Layer) -> str:
    """One comment's worth of what the layer computes, with its shapes."""
    shapes = f"(m, {_dims(layer.input_shape)}) -> (m, {_dims(layer.output_shape)})"
    if layer.kind == "conv":
        return (
            f"z = K{layer.index} * a + b{layer.index} (cross-correlation, stride 1, "
            f"{layer.padding} padding), {shapes}"
        )
    s = layer.size
    return {
        "maxpool": (
            f"the largest of each {s}x{s} window (stride {s}), {shapes}; "
            "ties: the first maximum in row-major order"
        ),
        "avgpool": f"the mean of each {s}x{s} window (stride {s}), {shapes}",
        "flatten": f"each example's array as one row, {shapes}",
        "dense": f"z = a W{layer.index}^T + b{layer.index}, {shapes}",
        "activation": f"element-wise {getattr(layer.activation, 'expression', '')}",
    }[layer.kind]


def _dims(shape: tuple[int, ...]) -> str:
    return ", ".join(map(str, shape))


def _padded(source: str, name: str, shape: tuple[int, ...], pad: int) -> list[str]:
    """Lines making ``name``: ``source`` (m, c, h, w) with ``pad`` zeros around each image."""
    c, h, w = shape
    return [
        f"{name} = numpy.zeros(({source}.shape[0], {c}, {h + 2 * pad}, {w + 2 * pad}))",
        f"{name}[:, :, {pad}:{pad + h}, {pad}:{pad + w}] = {source}",
    ]


def _conv_forward(layer: Layer, k: int, strategy: str) -> list[str]:
    c, h, w = layer.input_shape
    C, H, W = layer.output_shape
    K, b, q = f"K{layer.index}", f"b{layer.index}", layer.kernel
    pad = (q - 1) // 2 if layer.padding == "same" else 0
    lines, source = [], f"a{k - 1}"
    if pad:
        lines = _padded(source, f"padded{k}", (c, h, w), pad)
        source = f"padded{k}"
    windows = f"sliding_window_view({source}, ({q}, {q}), axis=(2, 3))"
    if strategy == "im2col":
        lines += [
            f"columns{k} = {windows}.transpose(0, 2, 3, 1, 4, 5).reshape(-1, {c * q * q})",
            f"a{k} = (columns{k} @ {K}.reshape({C}, -1).T).reshape(-1, {H}, {W}, {C})",
            f"a{k} = a{k}.transpose(0, 3, 1, 2)",
        ]
    else:
        lines += [
            f"windows{k} = {windows}",
            f'a{k} = numpy.einsum("ncijpq,ocpq->noij", windows{k}, {K}, {_PAIR})',
        ]
    return [*lines, f"a{k} += {b}[:, None, None]"]


def _conv_backward(layer: Layer, k: int, needs_input_gradient: bool, strategy: str) -> list[str]:
    c, h, w = layer.input_shape
    C, H, W = layer.output_shape
    g, g_in, n, q = f"g{k}", f"g{k - 1}", layer.index, layer.kernel
    lines = [
        f"# {layer.text} backward: dK = a * δ (cross-correlation of the input with δ), db = Σ δ",
        f"numpy.sum({g}, axis=(0, 2, 3), out=db{n})",
    ]
    if strategy == "im2col":
        lines += [
            f"rows{k} = {g}.transpose(0, 2, 3, 1).reshape(-1, {C})",
            f"numpy.dot(rows{k}.T, columns{k}, out=dK{n}.reshape({C}, -1))",
        ]
    else:
        lines.append(f'dK{n}[...] = numpy.einsum("noij,ncijpq->ocpq", {g}, windows{k}, {_PAIR})')
    if not needs_input_gradient:
        return lines
    pad = (q - 1) // 2 if layer.padding == "same" else 0
    spread, source = q - 1 - pad, g
    if spread:
        lines += _padded(g, f"spread{k}", (C, H, W), spread)
        source = f"spread{k}"
    windows = f"sliding_window_view({source}, ({q}, {q}), axis=(2, 3))"
    flipped = f"K{n}[:, :, ::-1, ::-1]"
    lines.append(f"# δ_in: the full convolution of δ (padded by {spread}) with the flipped kernel")
    if strategy == "im2col":
        return lines + [
            f"flipped{k} = {flipped}.transpose(1, 0, 2, 3).reshape({c}, -1)",
            f"{g_in} = {windows}.transpose(0, 2, 3, 1, 4, 5).reshape(-1, {C * q * q})",
            f"{g_in} = ({g_in} @ flipped{k}.T).reshape(-1, {h}, {w}, {c}).transpose(0, 3, 1, 2)",
        ]
    return lines + [
        f"back{k} = {windows}",
        f"flipped{k} = {flipped}",
        f'{g_in} = numpy.einsum("noijpq,ocpq->ncij", back{k}, flipped{k}, {_PAIR})',
    ]


def _pool_forward(layer: Layer, k: int, strategy: str) -> list[str]:
    c, h, w = layer.input_shape
    s, (_, H, W) = layer.size, layer.output_shape
    a, a_in = f"a{k}", f"a{k - 1}"
    crop = f"{a_in}[:, :, :{H * s}, :{W * s}]" if (H * s, W * s) != (h, w) else a_in
    blocks = f"{crop}.reshape(-1, {c}, {H}, {s}, {W}, {s})"
    if layer.kind == "avgpool":
        return [f"{a} = {blocks}.mean(axis=(3, 5))"]
    return [
        f"windows{k} = {blocks}.transpose(0, 1, 2, 4, 3, 5)",
        f"windows{k} = windows{k}.reshape(-1, {c}, {H}, {W}, {s * s})",
        f"first{k} = windows{k}.argmax(axis=4)",
        f"{a} = numpy.take_along_axis(windows{k}, first{k}[..., None], axis=4)[..., 0]",
    ]


def _pool_backward(layer: Layer, k: int, needs_input_gradient: bool, strategy: str) -> list[str]:
    c, h, w = layer.input_shape
    s, (_, H, W) = layer.size, layer.output_shape
    g, g_in = f"g{k}", f"g{k - 1}"
    target = g_in
    lines = []
    if layer.kind == "maxpool":
        lines = [
            f"# {layer.text} backward: δ to the first maximum of each window (row-major order)",
            f"routed{k} = numpy.zeros(({g}.shape[0], {c}, {H}, {W}, {s * s}))",
            f"numpy.put_along_axis(routed{k}, first{k}[..., None], {g}[..., None], axis=4)",
            f"routed{k} = routed{k}.reshape(-1, {c}, {H}, {W}, {s}, {s})",
            f"routed{k} = routed{k}.transpose(0, 1, 2, 4, 3, 5)",
        ]
        value = f"routed{k}.reshape(-1, {c}, {H * s}, {W * s})"
    else:
        lines = [f"# {layer.text} backward: δ / {s * s} spread evenly over each window"]
        shape = f"({g}.shape[0], {c}, {H}, {s}, {W}, {s})"
        spread = f"numpy.broadcast_to({g}[:, :, :, None, :, None] / {s * s}, {shape})"
        value = f"{spread}.reshape(-1, {c}, {H * s}, {W * s})"
    if (H * s, W * s) == (h, w):
        return [*lines, f"{target} = {value}"]
    return [
        *lines,
        "# rows and columns past the last whole window get no gradient",
        f"{g_in} = numpy.zeros(({g}.shape[0], {c}, {h}, {w}))",
        f"{g_in}[:, :, :{H * s}, :{W * s}] = {value}",
    ]


def _flatten_forward(layer: Layer, k: int, strategy: str) -> list[str]:
    return [f"a{k} = a{k - 1}.reshape(a{k - 1}.shape[0], -1)"]


def _flatten_backward(layer: Layer, k: int, needs_input_gradient: bool, strategy: str) -> list[str]:
    shape = ", ".join(map(str, layer.input_shape))
    return [f"# {layer.text} backward: back to images", f"g{k - 1} = g{k}.reshape(-1, {shape})"]


def _dense_forward(layer: Layer, k: int, strategy: str) -> list[str]:
    return [f"a{k} = a{k - 1} @ W{layer.index}.T", f"a{k} += b{layer.index}"]


def _dense_backward(layer: Layer, k: int, needs_input_gradient: bool, strategy: str) -> list[str]:
    g, n = f"g{k}", layer.index
    lines = [
        f"# {layer.text} backward: dW = δᵀ a, db = Σ δ, δ_in = δ W",
        f"numpy.dot({g}.T, a{k - 1}, out=dW{n})",
        f"numpy.sum({g}, axis=0, out=db{n})",
    ]
    return lines + ([f"g{k - 1} = {g} @ W{n}"] if needs_input_gradient else [])


def _activation_forward(layer: Layer, k: int, strategy: str) -> list[str]:
    sigma, a_in = layer.activation, f"a{k - 1}"
    if sigma.expression == PREACTIVATION:
        return [f"a{k} = {a_in}"]
    return [
        f"a{k} = {elementwise(NetworkPrinter(), sigma.expression, {PREACTIVATION: array(a_in)})}"
    ]


def _activation_backward(
    layer: Layer, k: int, needs_input_gradient: bool, strategy: str
) -> list[str]:
    sigma, g, g_in = layer.activation, f"g{k}", f"g{k - 1}"
    if sigma.expression == PREACTIVATION:
        return [f"# {layer.text} backward: the identity", f"{g_in} = {g}"]
    local = elementwise(
        NetworkPrinter(),
        sigma.backward_form,
        {PREACTIVATION: array(f"a{k - 1}"), OUTPUT: array(f"a{k}")},
    )
    return [f"# {layer.text} backward: σ'= {sigma.backward_form}", f"{g_in} = {g} * ({local})"]


#: Each layer kind's ``(forward, backward)`` line writers; the forward lines follow a comment
#: naming the layer, the backward ones are asked for only where there is something to compute.
_LINES = {
    "conv": (_conv_forward, _conv_backward),
    "maxpool": (_pool_forward, _pool_backward),
    "avgpool": (_pool_forward, _pool_backward),
    "flatten": (_flatten_forward, _flatten_backward),
    "dense": (_dense_forward, _dense_backward),
    "activation": (_activation_forward, _activation_backward),
}
