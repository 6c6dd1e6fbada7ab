r"""Stage 1, define: a network as a stack of layers, written ``"conv(8,3),relu,maxpool(2),…"``.

Each layer maps one example's array to the next; examples are never mixed except by batch
normalisation, whose statistics run over the mini-batch. Shapes are per example:

========================  ===================  ==========================================
layer                     input → output       parameters
========================  ===================  ==========================================
``conv(C, k[, same])``    (c, h, w) → (C, h', w')  ``K`` (C, c, k, k), ``b`` (C,)
``maxpool(s)``            (c, h, w) → (c, h//s, w//s)  none
``avgpool(s)``            (c, h, w) → (c, h//s, w//s)  none
``flatten``               (c, h, w) → (c·h·w,)  none
``dense(n)``              (d,) → (n,)          ``W`` (n, d), ``b`` (n,)
``rnn(n)``                (T, d) → (n,)        ``U`` (n, d), ``W`` (n, n), ``b`` (n,)
``lstm(n)``               (T, d) → (n,)        ``U`` (4n, d), ``W`` (4n, n), ``b`` (4n,)
``batchnorm``             (d,) or (c, h, w)    ``gamma``, ``beta`` (d,) or (c,)
an activation name        any → same shape     none
========================  ===================  ==========================================

``valid`` convolutions give ``h' = h − k + 1``; ``same`` pads ``(k − 1)/2`` on each side (odd
``k``) so ``h' = h``. Convolutions have stride 1; pooling windows are ``s × s`` with stride
``s`` (rows and columns past the last whole window are dropped, as in PyTorch). ``rnn(n)`` is
the Elman network :math:`h_t = \tanh(U x_t + W h_{t-1} + b)`, :math:`h_0 = 0`, whose output is
the last state :math:`h_T`; ``lstm(n)`` is the LSTM cell (gates :math:`i, f, g, o` stacked in
that order in ``U``, ``W`` and ``b``; :math:`c_t = f \odot c_{t-1} + i \odot g`,
:math:`h_t = o \odot \tanh c_t`), also read at :math:`h_T`. Parameters are numbered by
parameterised layer: the first convolution's kernel is ``K1``, a dense layer after it holds
``W2``.

Example:
    >>> arch = architecture("conv(8,3),relu,maxpool(2),flatten,dense(10)", (1, 8, 8))
    >>> [layer.output_shape for layer in arch.layers]
    [(8, 6, 6), (8, 6, 6), (8, 3, 3), (72,), (10,)]
    >>> arch.parameter_count
    810
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import sympy

from symgd.define.activations import Activation, activation
from symgd.define.losses import Loss, loss
from symgd.parse import ParseError, split_outside

#: Layer kinds that hold parameters, and the names of their blocks in order.
PARAMETER_NAMES = {
    "conv": ("K", "b"),
    "dense": ("W", "b"),
    "rnn": ("U", "W", "b"),
    "lstm": ("U", "W", "b"),
    "batchnorm": ("gamma", "beta"),
}

#: Most layers, and most numbers in one array, an architecture may have (guards against typos).
_MAX_LAYERS = 64
_MAX_SIZE = 10_000_000
_LAYER = re.compile(r"^([a-z][a-z0-9-]*)(?:\(([^()]*)\))?$")


@dataclass(frozen=True)
class Layer:
    """One layer with its per-example input and output shapes.

    Attributes:
        kind: ``conv``, ``maxpool``, ``avgpool``, ``flatten``, ``dense``, ``rnn``, ``lstm``,
            ``batchnorm`` or ``activation``.
        text: The layer as written, e.g. ``"conv(8,3)"``.
        input_shape: One example's input shape.
        output_shape: One example's output shape.
        size: Output channels (conv), units (dense, rnn, lstm), window (pooling), kernel side
            (conv: in ``kernel``), else 0.
        kernel: The kernel side ``k`` of a convolution, else 0.
        padding: ``"valid"`` or ``"same"`` (convolutions), else ``""``.
        activation: The element-wise function of an activation layer.
        index: The parameterised layer's number (1, 2 …) in parameter names, else 0.
    """

    kind: str
    text: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    size: int = 0
    kernel: int = 0
    padding: str = ""
    activation: Activation | None = None
    index: int = 0

    @property
    def parameters(self) -> tuple[tuple[str, tuple[int, ...]], ...]:
        """``(name, shape)`` of each parameter block, e.g. ``("K1", (8, 1, 3, 3))`` first."""
        if self.kind == "conv":
            shapes = [(self.size, self.input_shape[0], self.kernel, self.kernel), (self.size,)]
        elif self.kind == "dense":
            shapes = [(self.size, self.input_shape[0]), (self.size,)]
        elif self.kind == "rnn":
            n = self.size
            shapes = [(n, self.input_shape[1]), (n, n), (n,)]
        elif self.kind == "lstm":  # the four gates i, f, g, o stacked in this order
            n = self.size
            shapes = [(4 * n, self.input_shape[1]), (4 * n, n), (4 * n,)]
        elif self.kind == "batchnorm":
            shapes = [(self.input_shape[0],)] * 2
        else:
            return ()
        return tuple(
            (f"{name}{self.index}", shape)
            for name, shape in zip(PARAMETER_NAMES[self.kind], shapes, strict=True)
        )


@dataclass(frozen=True)
class Architecture:
    """A stack of layers, an input shape and an output loss.

    Attributes:
        layers: The layers, input first.
        input_shape: One example's shape, e.g. ``(1, 8, 8)`` or ``(T, 1)``.
        loss: The output loss (on the last layer's output; ``bce`` and softmax cross-entropy
            take it as logits).
        l2: Weight decay ``λ`` on the weights and kernels (not biases, not ``gamma``/``beta``).
    """

    layers: tuple[Layer, ...]
    input_shape: tuple[int, ...]
    loss: Loss
    l2: float | None = None

    @property
    def output_shape(self) -> tuple[int, ...]:
        """One example's output shape (always one axis: the units the loss reads)."""
        return self.layers[-1].output_shape

    @property
    def blocks(self) -> tuple[tuple[str, slice, tuple[int, ...]], ...]:
        """``(name, slice, shape)`` of each parameter block in the flat parameter vector.

        Example:
            >>> architecture("dense(3),tanh,dense(1)", (2,)).blocks[:2]
            (('W1', slice(0, 6, None), (3, 2)), ('b1', slice(6, 9, None), (3,)))
        """
        blocks, start = [], 0
        for layer in self.layers:
            for name, shape in layer.parameters:
                size = _product(shape)
                blocks.append((name, slice(start, start + size), shape))
                start += size
        return tuple(blocks)

    @property
    def parameter_count(self) -> int:
        """The length of the flat parameter vector."""
        blocks = self.blocks
        return blocks[-1][1].stop if blocks else 0

    @property
    def text(self) -> str:
        """The architecture as written, e.g. ``"conv(8,3),relu,flatten,dense(10)"``."""
        return ",".join(layer.text for layer in self.layers)

    def __repr__(self) -> str:
        shape = "x".join(map(str, self.input_shape))
        l2 = f", l2={self.l2}" if self.l2 else ""
        return f"Architecture({self.text}, input {shape}, {self.loss.name}{l2})"


def parse_shape(text: str) -> tuple[int, ...]:
    """An input shape from ``"1x8x8"``, ``"64"`` or ``"20x1"``.

    Raises:
        ParseError: An empty part or one that is not a positive integer.

    Example:
        >>> parse_shape("1x8x8")
        (1, 8, 8)
    """
    parts = text.strip().lower().split("x")
    if not all(part.strip().isdigit() and part.strip().isascii() for part in parts):
        raise ParseError(
            f"input shape {text[:40]!r} is not sizes joined by 'x'; write e.g. '1x8x8' "
            "(channels x height x width), '20x1' (steps x features) or '64'"
        )
    shape = tuple(int(part) for part in parts)
    if not all(size >= 1 for size in shape) or len(shape) > 3:
        raise ParseError(f"input shape {text[:40]!r} needs 1 to 3 positive sizes")
    return shape


def architecture(
    spec: str,
    input_shape: Sequence[int] | str,
    *,
    loss: str | Loss = "softmax-cross-entropy",
    l2: float | None = None,
    slope: float | None = None,
) -> Architecture:
    """Define a layered network from ``"conv(8,3),relu,maxpool(2),flatten,dense(10)"``.

    Args:
        spec: Layers separated by commas (see the module's table).
        input_shape: One example's shape: ``(c, h, w)`` for images, ``(T, d)`` for
            sequences, ``(d,)`` for feature vectors; or text such as ``"1x8x8"``.
        loss: ``"mse"``, ``"bce"`` (on logits) or ``"softmax-cross-entropy"``.
        l2: Weight decay ``λ`` on weights and kernels.
        slope: Slope of ``leaky-relu`` on the negative side.

    Returns:
        The :class:`Architecture`, every layer's shapes checked.

    Raises:
        ParseError: An unknown layer, a bad argument, or shapes that do not fit (a kernel
            larger than its input, ``dense`` on an image without ``flatten`` …), in one line.

    Example:
        >>> architecture("rnn(16),dense(1)", "20x1", loss="mse").output_shape
        (1,)
        >>> architecture("conv(8,9),flatten,dense(10)", (1, 8, 8))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        symgd.parse.errors.ParseError: conv(8,9) (layer 1): the 9x9 kernel is larger than ...
    """
    shape = parse_shape(input_shape) if isinstance(input_shape, str) else tuple(input_shape)
    if not shape or not all(isinstance(s, int) and s >= 1 for s in shape):
        raise ParseError(f"input shape {shape!r} needs positive integer sizes")
    items = [item.strip().lower().replace(" ", "") for item in _split(spec)]
    if not items or items == [""]:
        raise ParseError("the architecture is empty; write e.g. 'dense(32),tanh,dense(10)'")
    if len(items) > _MAX_LAYERS:
        raise ParseError(f"at most {_MAX_LAYERS} layers, got {len(items)}")
    layers, current, index = [], shape, 0
    for position, item in enumerate(items, start=1):
        layer = _layer(item, position, current, index + 1, slope)
        if layer.parameters:
            index += 1
        if _product(layer.output_shape) > _MAX_SIZE:
            raise ParseError(f"{item} (layer {position}) makes {layer.output_shape}: too large")
        layers.append(layer)
        current = layer.output_shape
    loss_ = _loss(loss)
    if len(current) != 1:
        raise ParseError(
            f"the last layer {layers[-1].text} gives a {_shape_text(current)} output; the loss "
            "needs one axis of units: end with flatten and dense(n)"
        )
    if l2 is not None and not (0 <= l2 < float("inf")):
        raise ValueError(f"l2 must be a finite number >= 0, not {l2!r}")
    return Architecture(tuple(layers), shape, loss_, None if not l2 else float(l2))


def _split(spec: str) -> list[str]:
    """The comma-separated items of ``spec``, keeping commas inside parentheses."""
    if not isinstance(spec, str):
        raise ParseError(f"the architecture must be text, got {type(spec).__name__}")
    return split_outside(spec, "()", "conv(8,3),relu")


def _shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def _product(shape: Sequence[int]) -> int:
    out = 1
    for size in shape:
        out *= size
    return out


def _integers(arguments: list[str], where: str, names: str) -> list[int]:
    out = []
    for argument in arguments:
        if not argument.isdigit() or not argument.isascii() or int(argument) < 1:
            raise ParseError(f"{where}: {names} must be positive integers, got {argument!r}")
        out.append(int(argument))
    return out


def _layer(
    item: str, position: int, shape: tuple[int, ...], index: int, slope: float | None
) -> Layer:
    """One layer from its text, given its input shape; one-line errors name the layer."""
    where = f"{item} (layer {position})"
    match = _LAYER.match(item)
    if not match:
        raise ParseError(f"{where}: write a layer as name or name(arguments), e.g. dense(10)")
    kind, arguments = match.group(1), match.group(2)
    arguments = [] if arguments is None or arguments == "" else arguments.split(",")
    if kind in ("conv", "dense", "rnn", "lstm", "maxpool", "avgpool"):
        return _sized_layer(kind, item, where, arguments, shape, index)
    if arguments:
        raise ParseError(f"{where}: {kind} takes no arguments")
    if kind == "flatten":
        if len(shape) == 1:
            raise ParseError(f"{where}: the input is already flat ({shape[0]} numbers)")
        return Layer("flatten", item, shape, (_product(shape),))
    if kind == "batchnorm":
        if len(shape) not in (1, 3):
            raise ParseError(f"{where}: batchnorm needs features (d) or images (c x h x w)")
        return Layer("batchnorm", item, shape, shape, index=index)
    try:
        function = activation(kind, slope=slope)
    except ParseError:
        raise ParseError(
            f"{where}: unknown layer {kind!r}; layers: conv(C,k[,same]), maxpool(s), "
            "avgpool(s), flatten, dense(n), rnn(n), lstm(n), batchnorm, or an activation such "
            "as relu, tanh, sigmoid, leaky-relu"
        ) from None
    if function.derivative.has(sympy.DiracDelta):
        raise ParseError(f"{where}: a step function has no useful derivative for training")
    return Layer("activation", item, shape, shape, activation=function)


def _sized_layer(
    kind: str, item: str, where: str, arguments: list[str], shape: tuple[int, ...], index: int
) -> Layer:
    padding = "valid"
    if kind == "conv" and len(arguments) == 3 and arguments[2] in ("valid", "same"):
        padding = arguments.pop()
    expected = {"conv": 2, "dense": 1, "rnn": 1, "lstm": 1, "maxpool": 1, "avgpool": 1}[kind]
    if len(arguments) != expected:
        usage = {
            "conv": "conv(C,k) or conv(C,k,same): C output channels, a k x k kernel",
            "dense": "dense(n): n units",
            "rnn": "rnn(n): n hidden units",
            "lstm": "lstm(n): n hidden units",
            "maxpool": "maxpool(s): s x s windows",
            "avgpool": "avgpool(s): s x s windows",
        }[kind]
        raise ParseError(f"{where}: write {usage}")
    numbers = _integers(arguments, where, "sizes")
    if kind == "dense":
        if len(shape) != 1:
            raise ParseError(
                f"{where}: dense needs a flat input but gets {_shape_text(shape)}; put flatten "
                "before it"
            )
        return Layer("dense", item, shape, (numbers[0],), size=numbers[0], index=index)
    if kind in ("rnn", "lstm"):
        if len(shape) != 2:
            raise ParseError(
                f"{where}: {kind} needs a sequence input (steps x features, e.g. --input 20x1), "
                f"got {_shape_text(shape)}"
            )
        return Layer(kind, item, shape, (numbers[0],), size=numbers[0], index=index)
    if len(shape) != 3:
        raise ParseError(
            f"{where}: {kind} needs an image input (channels x height x width, e.g. --input "
            f"1x8x8), got {_shape_text(shape)}"
        )
    channels, height, width = shape
    if kind == "conv":
        out, k = numbers
        if padding == "same":
            if k % 2 == 0:
                raise ParseError(f"{where}: padding 'same' needs an odd kernel size, got {k}")
            size = (out, height, width)
        else:
            if k > min(height, width):
                raise ParseError(
                    f"{where}: the {k}x{k} kernel is larger than its {height}x{width} input; use "
                    f"a kernel of at most {min(height, width)} or padding 'same'"
                )
            size = (out, height - k + 1, width - k + 1)
        return Layer("conv", item, shape, size, out, k, padding, index=index)
    s = numbers[0]
    if s > min(height, width):
        raise ParseError(f"{where}: the {s}x{s} window is larger than its {height}x{width} input")
    return Layer(kind, item, shape, (channels, height // s, width // s), size=s)


def _loss(spec: str | Loss) -> Loss:
    return loss(spec)
