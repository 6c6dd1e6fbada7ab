r"""Compile a layer stack (convolutions, pooling, RNNs, batch norm, dense) to one NumPy module.

The generated module has the interface of :class:`~symgd.compile.network.CompiledNetwork`'s, so
:func:`symgd.training.train_network` and :func:`symgd.verify.check_gradient` use it unchanged:
``_parameters(theta)`` (views of the flat vector), ``forward(theta, X, running=None)``,
``loss(theta, X, Y)`` and ``loss_and_gradient(theta, X, Y, running=None)``. ``a0 = X`` holds
the examples along axis 0; layer ``k`` computes ``a{k}``, and backward ``g{k−1} = ∂J/∂a{k−1}``
from ``g{k} = ∂J/∂a{k}`` (one code module per layer kind, :data:`LAYER_CODE`). The output
error is derived by SymPy (:func:`symgd.derivation.output_error`) as for dense networks, and
the softmax cross-entropy reads a log-softmax with the row maximum subtracted.

Example:
    >>> import numpy
    >>> from symgd.define.architecture import architecture
    >>> arch = architecture("conv(2,3),relu,maxpool(2),flatten,dense(3)", (1, 6, 6))
    >>> compiled = compile_architecture(arch)
    >>> theta = compiled.initial_theta(seed=0)
    >>> X = numpy.random.default_rng(0).random((5, 1, 6, 6))
    >>> loss, gradient = compiled.loss_and_gradient(theta, X, compiled.targets([0, 1, 2, 0, 1]))
    >>> gradient.shape == theta.shape == (arch.parameter_count,)
    True
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType

import numpy

from symgd import limits
from symgd.compile.codegen import function_source
from symgd.compile.layers import (
    array,
    elementwise,
    output_and_loss,
    parameters_function,
    without_unused_probabilities,
)
from symgd.compile.loader import generated, load_source
from symgd.compile.network import _CompiledLayers, batch_objective, predictions
from symgd.compile.printer import NetworkPrinter
from symgd.define import OUTPUT, PREACTIVATION, PROBABILITY, TARGET
from symgd.define.architecture import Architecture
from symgd.derivation import output_error

#: The module writing each layer kind's lines (``forward_lines``, ``backward_lines``).
LAYER_CODE = {
    "conv": "symgd.compile.conv_code",
    "maxpool": "symgd.compile.conv_code",
    "avgpool": "symgd.compile.conv_code",
    "flatten": "symgd.compile.conv_code",
    "dense": "symgd.compile.conv_code",
    "activation": "symgd.compile.conv_code",
    "rnn": "symgd.compile.sequence_code",
    "lstm": "symgd.compile.lstm_code",
    "batchnorm": "symgd.compile.norm_code",
}

#: Parameter blocks that weight decay (``l2``) applies to: weights and kernels.
_DECAYED = ("W", "K", "U")
_RELU_LIKE = ("relu", "leaky-relu")


@dataclass(frozen=True)
class _Output:
    """What :func:`symgd.compile.layers.output_and_loss` reads of a network (no L2 there)."""

    depth: int
    loss: object
    l2: None = None


@dataclass(frozen=True)
class CompiledArchitecture(_CompiledLayers):
    """A layer stack's forward pass, loss and gradient as one generated NumPy module.

    Attributes:
        architecture: What was compiled.
        source: The generated Python module (readable; needs only NumPy once exported).
        blocks: ``(name, slice, shape)`` of each parameter block in ``theta``.
        running: Batch-norm running averages ``{"mean3": …, "var3": …}`` (zeros and ones at
            first), updated in place by training through :meth:`objective` and read by
            :meth:`predict`.
    """

    architecture: Architecture
    source: str
    blocks: tuple[tuple[str, slice, tuple[int, ...]], ...]
    _namespace: dict = field(repr=False, compare=False, default_factory=dict)
    running: dict = field(repr=False, compare=False, default_factory=dict)

    loss_and_gradient = generated(
        "loss_and_gradient",
        "``(theta, X, Y, running=None) -> (J, ∇J)`` over the examples along axis 0.",
    )
    loss = generated("loss", "``(theta, X, Y) -> J``.")
    forward = generated(
        "forward",
        "``(theta, X, running=None) ->`` outputs: probabilities (softmax, bce) or ``a⁽ᴸ⁾``.",
    )

    @property
    def _definition(self) -> Architecture:
        return self.architecture

    @property
    def _output_units(self) -> int:
        return self.architecture.output_shape[0]

    def initial_theta(self, seed: int = 0) -> numpy.ndarray:
        r"""Seeded starting parameters.

        Kernels and dense weights are uniform on :math:`(-r, r)`: He,
        :math:`r = \sqrt{6/n_\text{in}}`, when the next activation is ReLU-like, else Glorot,
        :math:`r = \sqrt{6/(n_\text{in} + n_\text{out})}` (a kernel's fan-in is
        :math:`c k^2`, its fan-out :math:`C k^2`). An RNN's input weights ``U`` are Glorot; its
        recurrent ``W`` is uniform on :math:`\pm 1/\sqrt{n}` (PyTorch's default), small enough
        that gradients through time do not explode at the start; so is an LSTM's, whose
        forget-gate bias starts at 1 (the cell remembers at first). Other biases and ``beta``
        are 0, ``gamma`` is 1.
        """
        rng = numpy.random.default_rng(seed)
        theta = numpy.zeros(self.architecture.parameter_count)
        layers = self.architecture.layers
        where = {
            name: position for position, layer in enumerate(layers) for name, _ in layer.parameters
        }
        for name, part, shape in self.blocks:
            size = part.stop - part.start
            if name.startswith("gamma"):
                theta[part] = 1.0
            elif name.startswith("W") and layers[where[name]].kind in ("rnn", "lstm"):
                bound = 1.0 / numpy.sqrt(shape[1])
                theta[part] = rng.uniform(-bound, bound, size=size)
            elif name.startswith("b") and layers[where[name]].kind == "lstm":
                n = layers[where[name]].size
                theta[part.start + n : part.start + 2 * n] = 1.0  # gates i, f, g, o: f
            elif name.startswith(_DECAYED):
                receptive = int(numpy.prod(shape[2:]))
                fan_out, fan_in = shape[0] * receptive, shape[1] * receptive
                he = name[0] != "U" and _next_activation(layers, where[name]) in _RELU_LIKE
                bound = numpy.sqrt(6.0 / fan_in) if he else numpy.sqrt(6.0 / (fan_in + fan_out))
                theta[part] = rng.uniform(-bound, bound, size=size)
        return theta

    def predict(self, theta: numpy.ndarray, X: numpy.ndarray) -> numpy.ndarray:
        """Class labels (softmax: arg max; bce: ``p > 1/2``) or the outputs (squared error).

        Batch norm uses the running averages of training here (inference mode).
        """
        return predictions(self.architecture.loss, self.forward(theta, X, self.running or None))

    def objective(
        self, X: numpy.ndarray, Y: numpy.ndarray
    ) -> Callable[[numpy.ndarray, numpy.ndarray | slice], tuple[float, numpy.ndarray]]:
        """``(theta, examples) -> (J, ∇J)`` on a mini-batch, for the runner ``gradient_descent``.

        Each call updates the batch-norm running averages in :attr:`running`.

        Raises:
            ValueError: ``X`` is not ``(m, *input_shape)`` or ``Y`` not ``(m, outputs)``.

        Example:
            >>> from symgd.define.architecture import architecture
            >>> compiled = compile_architecture(architecture("dense(2)", (3,), loss="mse"))
            >>> compiled.objective(numpy.ones((4, 2)), numpy.ones((4, 2)))
            Traceback (most recent call last):
            ...
            ValueError: X must have shape (m, 3) (examples along axis 0), got (4, 2)
        """
        shape, outputs = self.architecture.input_shape, self.architecture.output_shape[0]

        def check_inputs(X: numpy.ndarray) -> None:
            if X.shape[1:] != shape:
                wanted = ", ".join(map(str, ("m", *shape)))
                raise ValueError(
                    f"X must have shape ({wanted}) (examples along axis 0), got {X.shape}"
                )

        running = self.running or None
        return batch_objective(self.loss_and_gradient, X, Y, outputs, check_inputs, running)

    def __repr__(self) -> str:
        count = self.architecture.parameter_count
        return f"CompiledArchitecture({self.architecture!r}, {count} parameters)"


def _next_activation(layers, position: int) -> str | None:
    """The name of the first activation after ``position``, before the next parameterised layer."""
    for layer in layers[position + 1 :]:
        if layer.kind == "activation":
            return layer.activation.name
        if layer.parameters and layer.kind != "batchnorm":
            return None
    return None


def _code(kind: str) -> ModuleType:
    """The module writing the lines of a layer kind."""
    try:
        return importlib.import_module(LAYER_CODE[kind])
    except (KeyError, ImportError):
        raise ValueError(f"layer kind {kind} is not compiled yet") from None


def compile_architecture(arch: Architecture, *, strategy: str = "auto") -> CompiledArchitecture:
    r"""Generate vectorised NumPy forward/backward code for a layer stack.

    Args:
        arch: From :func:`symgd.define.architecture.architecture`.
        strategy: How convolutions are computed: ``"einsum"`` (windows and one ``einsum``),
            ``"im2col"`` (a column matrix and one matrix product), or ``"auto"``: im2col for
            the first parameterised layer (no input gradient; measured faster there on the
            digits CNN), einsum elsewhere (its input gradient measured ~2x faster).

    Returns:
        The :class:`CompiledArchitecture`.

    Raises:
        ValueError: A layer kind without code, or an unknown ``strategy``.
        symgd.limits.TooComplex: Compiling took longer than :data:`symgd.limits.COMPILE_SECONDS`.

    Example:
        >>> from symgd.define.architecture import architecture
        >>> compiled = compile_architecture(architecture("dense(4),tanh,dense(2)", (3,)))
        >>> "g1 = g2 * (1 - a2**2)" in compiled.source
        True
    """
    if strategy not in ("auto", "einsum", "im2col"):
        raise ValueError(f"unknown convolution strategy {strategy!r}; known: auto, einsum, im2col")
    with limits.deadline(limits.COMPILE_SECONDS, "compiling the architecture to NumPy"):
        source = architecture_source(arch, strategy=strategy)
    running = {}
    for k, layer in enumerate(arch.layers, start=1):
        if layer.kind == "batchnorm":
            running[f"mean{k}"] = numpy.zeros(layer.input_shape[0])
            running[f"var{k}"] = numpy.ones(layer.input_shape[0])
    return CompiledArchitecture(arch, source, arch.blocks, load_source(source), running)


def architecture_source(arch: Architecture, *, strategy: str = "auto") -> str:
    """The generated module of :func:`compile_architecture` (its ``source``).

    Example:
        >>> from symgd.define.architecture import architecture
        >>> print(architecture_source(architecture("dense(1)", (2,), loss="mse")))
        ... # doctest: +ELLIPSIS
        import numpy
        from numpy.lib.stride_tricks import sliding_window_view
        <BLANKLINE>
        ARCHITECTURE = 'dense(1)'
        ...
    """
    printer = NetworkPrinter()
    layers, n = arch.layers, len(arch.layers)
    codes = [_code(layer.kind) for layer in layers]
    first = min((k for k, layer in enumerate(layers, 1) if layer.parameters), default=n + 1)

    def lines(k: int, name: str, *arguments) -> list[str]:
        function = getattr(codes[k - 1], name)
        chosen = strategy
        if strategy == "auto":  # im2col where no input gradient is needed, measured faster
            chosen = "im2col" if k == first else "einsum"
        options = {"strategy": chosen} if layers[k - 1].kind == "conv" else {}
        return function(layers[k - 1], k, *arguments, **options)

    training = ["a0 = X"] + [
        line for k in range(1, n + 1) for line in lines(k, "forward_lines", True)
    ]
    inference = ["a0 = X"] + [
        line for k in range(1, n + 1) for line in lines(k, "forward_lines", False)
    ]
    last, z, a = f"a{n}", f"z{n}", f"a{n}"
    softmax = [
        "# log-softmax with the row maximum subtracted: exp never overflows",
        f"shifted = {last} - {last}.max(axis=1, keepdims=True)",
        "log_p = shifted - numpy.log(numpy.exp(shifted).sum(axis=1, keepdims=True))",
        "p = numpy.exp(log_p)",
    ]
    output, prediction, loss_line = output_and_loss(
        _Output(n, arch.loss), printer, "numpy", softmax, lambda: f"# the output is {a}"
    )
    if re.search(rf"\b{z}\b", loss_line + "".join(output)):
        output = [f"{z} = {a}  # the loss reads the last layer's output as logits", *output]
    decayed = [name for name, _, _ in arch.blocks if name.startswith(_DECAYED)]
    if arch.l2 and decayed:
        squares = " + ".join(f"numpy.vdot({name}, {name})" for name in decayed)
        loss_line += f" + {arch.l2!r} / 2 * ({squares})"
    symbols = {
        PREACTIVATION: array(z),
        OUTPUT: array(a),
        PROBABILITY: array("p"),
        TARGET: array("Y"),
    }
    error = output_error(arch.loss, None)
    names = [name for name, _, _ in arch.blocks]
    backward = [
        f"# output error, derived by SymPy: dl/d{a} = {error.delta}",
        f"g{n} = ({elementwise(printer, error.delta, symbols)}) / m",
    ]
    if names:
        backward += [
            "grad = numpy.empty_like(theta)",
            f"{', '.join('d' + n for n in names)} = _parameters(grad)",
        ]
    else:
        backward.append("grad = numpy.empty_like(theta)")
    for k in range(n, first - 1, -1):
        backward += lines(k, "backward_lines", k > first)
    backward += [f"d{name} += {arch.l2!r} * {name}" for name in decayed if arch.l2]
    shape = tuple(arch.input_shape)
    header = (
        "import numpy\nfrom numpy.lib.stride_tricks import sliding_window_view\n\n"
        f"ARCHITECTURE = {arch.text!r}\nINPUT_SHAPE = {shape!r}\n"
    )
    unpack = f"{', '.join(names)} = _parameters(theta)" if names else ""
    needed = without_unused_probabilities(output, loss_line)
    functions = [
        (
            "forward(theta, X, running=None)",
            "Outputs for the examples along axis 0 of X (batch norm: running averages if given).",
            [*inference, *output],
            prediction,
        ),
        (
            "loss(theta, X, Y)",
            "J(theta): the mean loss over the examples along axis 0 of X and Y.",
            [*training, *needed, loss_line],
            "loss",
        ),
        (
            "loss_and_gradient(theta, X, Y, running=None)",
            "J(theta) and its gradient (flat) by backpropagation; updates running if given.",
            [*training, *output, loss_line, *backward],
            "loss, grad",
        ),
    ]
    parts = [header, parameters_function(arch.blocks)]
    for signature, doc, body, returns in functions:
        text = "\n".join(line.partition("#")[0] for line in body)
        head = [unpack] if unpack else []
        if re.search(r"\bm\b", text):
            head.append("m = X.shape[0]")
        if "running" not in signature and re.search(r"\brunning\b", text):
            head.append("running = None  # training statistics, running averages untouched")
        parts.append(function_source(signature, [*head, *body, f"return {returns}"], doc))
    return "\n\n".join(parts)
