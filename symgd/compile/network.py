r"""Compile a network's backprop chain into vectorised NumPy over mini-batches.

The generated module is plain, readable NumPy: one matrix product per layer forward,
two per layer backward, the element-wise pieces (the activation, its derivative
:math:`\sigma'` in terms of the output where possible, the loss and the derived output
error) printed from SymPy by the printer of :mod:`symgd.compile.printer` after the stabilising
rewrites of :mod:`symgd.compile.rewrites`. Softmax cross-entropy is a layer-level operation: the
code computes the log-softmax with the row maximum subtracted, so it never overflows.

Examples are the rows of ``X`` (``m × n0``) and ``Y`` (``m × nL``). Parameters are ONE
flat float64 vector ``theta``; each :math:`W^{(l)}` (``n_l × n_{l-1}``) and
:math:`b^{(l)}` is a view into it, in the order of :attr:`symgd.define.Network.blocks`,
so :func:`symgd.training.gradient_descent` and :func:`symgd.verify.check_gradient` work
unchanged.

Example:
    >>> import numpy
    >>> from symgd.define.network import network
    >>> compiled = compile_network(network("2,3,1", activation="tanh", loss="mse"))
    >>> theta = compiled.initial_theta(seed=0)
    >>> X, Y = numpy.ones((4, 2)), numpy.zeros((4, 1))
    >>> loss, gradient = compiled.loss_and_gradient(theta, X, Y)
    >>> gradient.shape == theta.shape == (13,)
    True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy

from symgd import limits
from symgd.compile.codegen import check_dtype
from symgd.compile.jax_backend import export_jax, load_jax, network_source_jax, require_jax
from symgd.compile.layers import array, elementwise, network_module, output_and_loss
from symgd.compile.loader import generated, load_source
from symgd.compile.printer import NetworkPrinter
from symgd.compile.standalone import standalone_module
from symgd.define import OUTPUT, PREACTIVATION, PROBABILITY, TARGET, Activation, Loss, Network
from symgd.derivation import output_error


def one_hot(labels: numpy.ndarray, classes: int) -> numpy.ndarray:
    """Integer class labels ``0 … classes−1`` as rows of a one-hot float64 matrix.

    Raises:
        ValueError: A label outside ``0 … classes−1`` or not an integer.

    Example:
        >>> one_hot(numpy.array([2, 0]), 3)
        array([[0., 0., 1.],
               [1., 0., 0.]])
    """
    labels = numpy.asarray(labels)
    as_int = labels.astype(numpy.int64)
    if labels.ndim != 1 or not numpy.array_equal(as_int, labels):
        raise ValueError("class labels must be a 1-D array of integers")
    if labels.size and (as_int.min() < 0 or as_int.max() >= classes):
        raise ValueError(
            f"class labels must lie in 0..{classes - 1}, found {as_int.min()}..{as_int.max()}; "
            "the output layer needs one unit per class"
        )
    out = numpy.zeros((labels.size, classes))
    out[numpy.arange(labels.size), as_int] = 1.0
    return out


def predictions(loss: Loss, outputs: numpy.ndarray) -> numpy.ndarray:
    """Class labels (softmax: arg max; binary: ``p > 1/2``) or the outputs (squared error).

    Args:
        loss: The network's loss.
        outputs: Its outputs, one row per example (probabilities for cross-entropy losses).

    Example:
        >>> from symgd.define import loss
        >>> predictions(loss("bce"), numpy.array([[0.2], [0.7]]))
        array([0, 1])
    """
    if loss.kind == "softmax":
        return numpy.argmax(outputs, axis=1)
    if loss.on_logits:
        labels = (outputs > 0.5).astype(numpy.int64)
        return labels[:, 0] if labels.shape[1] == 1 else labels
    return outputs


def batch_objective(
    function: Callable,
    X: numpy.ndarray,
    Y: numpy.ndarray,
    outputs: int,
    check_inputs: Callable[[numpy.ndarray], None],
    *extra: object,
) -> Callable[[numpy.ndarray, numpy.ndarray | slice], tuple[float, numpy.ndarray]]:
    """``(theta, examples) -> function(theta, X[examples], Y[examples], *extra)``.

    Args:
        function: A generated ``loss_and_gradient``.
        X: The examples along axis 0 (converted to contiguous float64 once).
        Y: Their targets, one row per example, ``outputs`` columns.
        outputs: The number of output units.
        check_inputs: Raises ``ValueError`` for an ``X`` of the wrong shape.
        extra: Further arguments of ``function`` (batch norm's running averages).

    Raises:
        ValueError: From ``check_inputs``, or ``Y`` not ``(m, outputs)``.

    Example:
        >>> batch_objective(print, numpy.ones((2, 3)), numpy.ones((2, 2)), 1, len)
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: Y must have shape (2, 1) (one row per example, ...), got (2, 2)
    """
    X = numpy.ascontiguousarray(X, dtype=numpy.float64)
    Y = numpy.ascontiguousarray(Y, dtype=numpy.float64)
    check_inputs(X)
    if Y.shape != (X.shape[0], outputs):
        raise ValueError(
            f"Y must have shape ({X.shape[0]}, {outputs}) (one row per example, one column "
            f"per output unit), got {Y.shape}"
        )

    def loss_and_gradient(theta, examples):
        return function(theta, X[examples], Y[examples], *extra)

    return loss_and_gradient


class _CompiledLayers:
    """What a compiled network and a compiled layer stack do alike, given ``source``,
    ``blocks``, ``loss_and_gradient`` and the two hooks :attr:`_definition` (what was compiled,
    with its ``loss``) and :attr:`_output_units`."""

    source: str
    blocks: tuple[tuple[str, slice, tuple[int, ...]], ...]
    loss_and_gradient: Callable

    @property
    def _definition(self) -> Network | Any:
        raise NotImplementedError

    @property
    def _output_units(self) -> int:
        raise NotImplementedError

    def gradient(self, theta: numpy.ndarray, X: numpy.ndarray, Y: numpy.ndarray) -> numpy.ndarray:
        """``∇J`` as a flat vector."""
        return self.loss_and_gradient(theta, X, Y)[1]

    def views(self, theta: numpy.ndarray) -> dict[str, numpy.ndarray]:
        """``{"W1": …, "b1": …}``: views into ``theta`` (writing to them changes ``theta``)."""
        return {name: theta[part].reshape(shape) for name, part, shape in self.blocks}

    def targets(self, labels: numpy.ndarray) -> numpy.ndarray:
        """``Y`` from labels: one-hot for softmax, a column for one-output networks."""
        labels = numpy.asarray(labels)
        if self._definition.loss.kind == "softmax":
            return one_hot(labels, self._output_units)
        Y = numpy.asarray(labels, dtype=numpy.float64)
        return Y.reshape(-1, 1) if Y.ndim == 1 else Y

    def export(self, path: str | Path | None = None) -> str:
        """The generated code as a standalone module that needs only NumPy.

        Args:
            path: Where to write it (optional).

        Returns:
            The module source.
        """
        return standalone_module(self.source, repr(self._definition), path)


@dataclass(frozen=True)
class CompiledNetwork(_CompiledLayers):
    """A network's forward pass, loss and gradient as generated NumPy code.

    Attributes:
        network: What was compiled.
        source: The generated Python module (readable; needs only NumPy once exported).
        blocks: ``(name, slice, shape)`` of each ``W⁽ˡ⁾``/``b⁽ˡ⁾`` in ``theta``.
    """

    network: Network
    source: str
    blocks: tuple[tuple[str, slice, tuple[int, ...]], ...]
    _namespace: dict = field(repr=False, compare=False, default_factory=dict)

    loss_and_gradient = generated(
        "loss_and_gradient",
        "``(theta, X, Y) -> (J, ∇J)`` over the examples in the rows of ``X`` and ``Y``.",
    )
    loss = generated("loss", "``(theta, X, Y) -> J``.")
    forward = generated(
        "forward", "``(theta, X) ->`` outputs: probabilities (cross-entropy losses) or ``a⁽ᴸ⁾``."
    )

    @property
    def _definition(self) -> Network:
        return self.network

    @property
    def _output_units(self) -> int:
        return self.network.sizes[-1]

    def initial_theta(self, seed: int = 0) -> numpy.ndarray:
        r"""Seeded starting parameters: Glorot-uniform weights (He for ReLU-like), zero biases.

        .. math:: W^{(l)}_{ij} \sim U(-r, r), \quad r = \sqrt{6 / (n_{l-1} + n_l)}
        """
        rng = numpy.random.default_rng(seed)
        theta = numpy.zeros(self.network.parameter_count)
        relu_like = self.network.activation.name in ("relu", "leaky-relu")
        for name, part, shape in self.blocks:
            if name.startswith("W"):
                fan_out, fan_in = shape
                bound = (
                    numpy.sqrt(6.0 / fan_in) if relu_like else numpy.sqrt(6.0 / (fan_in + fan_out))
                )
                theta[part] = rng.uniform(-bound, bound, size=fan_out * fan_in)
        return theta

    def predict(self, theta: numpy.ndarray, X: numpy.ndarray) -> numpy.ndarray:
        """Class labels (softmax: arg max; binary: ``p > 1/2``) or the outputs (squared error)."""
        return predictions(self.network.loss, self.forward(theta, X))

    def objective(
        self, X: numpy.ndarray, Y: numpy.ndarray
    ) -> Callable[[numpy.ndarray, numpy.ndarray | slice], tuple[float, numpy.ndarray]]:
        """``(theta, examples) -> (J, ∇J)`` on a mini-batch, for the runner ``gradient_descent``.

        Example:
            >>> from symgd.define.network import network
            >>> compiled = compile_network(network("2,2,1"))
            >>> X, Y = numpy.eye(2), numpy.ones((2, 1))
            >>> function = compiled.objective(X, Y)
            >>> theta = compiled.initial_theta()
            >>> numpy.allclose(function(theta, slice(0, 2))[1], compiled.gradient(theta, X, Y))
            True
        """
        sizes = self.network.sizes

        def check_inputs(X: numpy.ndarray) -> None:
            if X.ndim != 2 or X.shape[1] != sizes[0]:
                raise ValueError(f"X must have {sizes[0]} columns (the input size), got {X.shape}")

        return batch_objective(self.loss_and_gradient, X, Y, sizes[-1], check_inputs)

    def __repr__(self) -> str:
        return f"CompiledNetwork({self.network!r}, {self.network.parameter_count} parameters)"


@dataclass(frozen=True)
class JaxCompiledNetwork(CompiledNetwork):
    """:class:`CompiledNetwork` as jitted JAX, computing in ``dtype``; training it runs each
    epoch as one ``lax.scan`` (:func:`symgd.training.jax_engine.train_network_jax`)."""

    dtype: type = numpy.float64
    backend: str = "jax"

    def objective(self, X: numpy.ndarray, Y: numpy.ndarray):
        """``(theta, examples) -> (J, ∇J)`` on a mini-batch, computed in ``dtype``."""
        function, dtype = super().objective(X, Y), self.dtype

        def loss_and_gradient(theta, examples):
            loss, gradient = function(numpy.asarray(theta, dtype=dtype), examples)
            return float(loss), numpy.asarray(gradient, dtype=numpy.float64)

        return loss_and_gradient

    def export(self, path: str | Path | None = None) -> str:
        """The generated code as a standalone module that needs only JAX."""
        return export_jax(self.source, repr(self.network), path)

    def __repr__(self) -> str:
        count, name = self.network.parameter_count, self.dtype.__name__
        return f"JaxCompiledNetwork({self.network!r}, {count} parameters, {name})"


def compile_network(
    net: Network, *, backend: str = "numpy", dtype: type = numpy.float64
) -> CompiledNetwork:
    r"""Generate vectorised NumPy forward/backward code for a network.

    .. math:: \delta^{(l)} = \left(\delta^{(l+1)} W^{(l+1)}\right) \odot \sigma'(z^{(l)}),
        \quad \nabla_{W^{(l)}} J = \delta^{(l)\top} a^{(l-1)}

    (rows are examples, so the matrix products are transposed against the column form;
    :math:`1/m` is folded into :math:`\delta^{(L)}`.)

    Args:
        net: From :func:`symgd.define.network`.
        backend: ``"numpy"``, or ``"jax"`` for jitted ``jax.numpy`` code with the same
            interface (:func:`symgd.compile.jax_backend.compile_network_jax`).
        dtype: The JAX code's type, ``numpy.float64`` or ``numpy.float32`` (NumPy: float64).

    Returns:
        The :class:`CompiledNetwork`.

    Raises:
        ValueError: An unknown ``backend``, JAX not installed for ``"jax"``, or float32 asked
            of the NumPy backend.
        symgd.limits.TooComplex: Compiling took longer than :data:`symgd.limits.COMPILE_SECONDS`.

    Example:
        >>> from symgd.define.network import network
        >>> compiled = compile_network(network("64,32,10", loss="softmax-cross-entropy"))
        >>> "delta1 = (delta2 @ W2) * (1 - a1**2)" in compiled.source
        True
    """
    if backend == "jax":
        require_jax(check_dtype(dtype))  # before compiling: a missing JAX fails at once
        with limits.deadline(limits.COMPILE_SECONDS, "compiling the network to JAX"):
            source = network_source_jax(net)
        namespace = load_jax(source, ("forward", "loss", "loss_and_gradient"))
        return JaxCompiledNetwork(net, source, net.blocks, namespace, dtype)
    if backend != "numpy":
        raise ValueError(f"unknown backend {backend!r}; known: numpy, jax")
    if dtype is not numpy.float64:
        raise ValueError("the NumPy network code computes in float64; float32 needs backend='jax'")
    with limits.deadline(limits.COMPILE_SECONDS, "compiling the network to NumPy"):
        return _compile_network(net)


def _compile_network(net: Network) -> CompiledNetwork:
    printer = NetworkPrinter()
    L = net.depth
    names = [name for name, _, _ in net.blocks]

    def act_line(layer: int, sigma: Activation) -> str:
        z, a = f"z{layer}", f"a{layer}"
        if sigma.expression == PREACTIVATION:
            return f"{a} = {z}"
        return f"{a} = {elementwise(printer, sigma.expression, {PREACTIVATION: array(z)})}"

    forward = []
    previous = "X"
    for layer in range(1, L + 1):
        forward.append(f"z{layer} = {previous} @ W{layer}.T")
        forward.append(f"z{layer} += b{layer}")
        if layer < L:
            forward.append(act_line(layer, net.activation))
            previous = f"a{layer}"
    zL, aL = f"z{L}", f"a{L}"
    symbols = {
        PREACTIVATION: array(zL),
        OUTPUT: array(aL),
        PROBABILITY: array("p"),
        TARGET: array("Y"),
    }
    error = output_error(net.loss, net.output_activation)
    softmax = [
        "# log-softmax with the row maximum subtracted: exp never overflows",
        f"shifted = {zL} - {zL}.max(axis=1, keepdims=True)",
        "log_p = shifted - numpy.log(numpy.exp(shifted).sum(axis=1, keepdims=True))",
        "p = numpy.exp(log_p)",
    ]
    output, prediction, loss_line = output_and_loss(
        net, printer, "numpy", softmax, lambda: act_line(L, net.output_activation)
    )
    delta = elementwise(printer, error.delta, symbols)
    backward = [
        f"# output error, derived by SymPy: delta{L} = {error.delta}",
        f"delta{L} = ({delta}) / m",
        "grad = numpy.empty_like(theta)",
        f"{', '.join('g' + n for n in names)} = _parameters(grad)",
    ]
    hidden_local = net.activation.backward_form
    for layer in range(L, 0, -1):
        below = "X" if layer == 1 else f"a{layer - 1}"
        backward.append(f"numpy.dot(delta{layer}.T, {below}, out=gW{layer})")
        backward.append(f"numpy.sum(delta{layer}, axis=0, out=gb{layer})")
        if net.l2:
            backward.append(f"gW{layer} += {net.l2!r} * W{layer}")
        if layer > 1:
            h = layer - 1
            local = elementwise(
                printer, hidden_local, {PREACTIVATION: array(f"z{h}"), OUTPUT: array(f"a{h}")}
            )
            backward.append(f"# sigma'(z{h}) = {hidden_local}")
            backward.append(f"delta{h} = (delta{layer} @ W{layer}) * ({local})")

    imports = "import numpy\n" + (
        "import functools\n" if "functools." in "".join(forward + output + backward) else ""
    )
    header = imports + f"\nSIZES = {net.sizes!r}\n"
    source = network_module(header, net.blocks, forward, output, prediction, loss_line, backward)
    return CompiledNetwork(net, source, net.blocks, load_source(source))
