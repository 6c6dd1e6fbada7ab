r"""Stage 1, define: a layered network of dense layers.

A network is a stack of dense layers with an element-wise activation,

.. math::

    z^{(l)} = W^{(l)} a^{(l-1)} + b^{(l)}, \qquad a^{(l)} = \sigma(z^{(l)}),
    \qquad a^{(0)} = x,

and an output loss (:mod:`symgd.define.losses`). Its backprop chain is derived in
:mod:`symgd.derivation.network`.

Example:
    >>> network("64,32,10", activation="relu", loss="softmax-cross-entropy").parameter_count
    2410
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sympy

from symgd.define.activations import Activation, activation
from symgd.define.losses import Loss, loss
from symgd.parse import ParseError

#: Most units per layer and layers a network spec may have (a guard against typos).
_MAX_UNITS = 100_000
_MAX_LAYERS = 64


def parse_layers(spec: str | Sequence[int]) -> tuple[int, ...]:
    """Layer sizes from ``"64,32,10"`` or a sequence: input, hidden…, output.

    Raises:
        ParseError: Fewer than two sizes, or a size that is not a positive integer.

    Example:
        >>> parse_layers("2, 3, 1")
        (2, 3, 1)
    """
    if isinstance(spec, str):
        items = [item.strip() for item in spec.split(",")]
        sizes = []
        for position, item in enumerate(items, start=1):
            if not item.isdigit() or not item.isascii():
                raise ParseError(
                    f"layer size {item!r} at item {position} of {spec[:40]!r} is not a positive "
                    "integer; write sizes separated by commas, e.g. '64,32,10'"
                )
            sizes.append(int(item))
    else:
        sizes = list(spec)
        if not all(isinstance(s, int) and not isinstance(s, bool) for s in sizes):
            raise ParseError(f"layer sizes must be integers, got {sizes!r}")
    if len(sizes) < 2:
        raise ParseError(
            f"a network needs at least an input and an output size, got {sizes!r}; e.g. '2,3,1'"
        )
    if len(sizes) > _MAX_LAYERS:
        raise ParseError(f"at most {_MAX_LAYERS} layers, got {len(sizes)}")
    for size in sizes:
        if not 1 <= size <= _MAX_UNITS:
            raise ParseError(f"layer size {size} is out of range; each layer has 1 to {_MAX_UNITS}")
    return tuple(sizes)


@dataclass(frozen=True)
class Network:
    """A layered network: sizes, activations, output loss, optional L2 weight decay.

    Attributes:
        sizes: Units per layer, input first: ``(n0, n1, …, nL)``.
        activation: The hidden layers' activation.
        loss: The output loss.
        output_activation: The output layer's activation for losses on ``a`` (squared
            error); ``None`` for losses on logits, which include their own output function.
        l2: The weight-decay strength ``λ`` on the weights (not the biases), or ``None``.
    """

    sizes: tuple[int, ...]
    activation: Activation
    loss: Loss
    output_activation: Activation | None = None
    l2: float | None = None

    @property
    def depth(self) -> int:
        """The number of dense layers ``L``."""
        return len(self.sizes) - 1

    @property
    def blocks(self) -> tuple[tuple[str, slice, tuple[int, ...]], ...]:
        """``(name, slice, shape)`` of each ``W⁽ˡ⁾`` and ``b⁽ˡ⁾`` in the flat parameter vector.

        Example:
            >>> network("2,3,1").blocks[:2]
            (('W1', slice(0, 6, None), (3, 2)), ('b1', slice(6, 9, None), (3,)))
        """
        blocks, start = [], 0
        for layer in range(1, len(self.sizes)):
            rows, columns = self.sizes[layer], self.sizes[layer - 1]
            blocks.append((f"W{layer}", slice(start, start + rows * columns), (rows, columns)))
            start += rows * columns
            blocks.append((f"b{layer}", slice(start, start + rows), (rows,)))
            start += rows
        return tuple(blocks)

    @property
    def parameter_count(self) -> int:
        """The length of the flat parameter vector."""
        return self.blocks[-1][1].stop

    def __repr__(self) -> str:
        out = f", output {self.output_activation.name}" if self.output_activation else ""
        l2 = f", l2={self.l2}" if self.l2 else ""
        sizes = "-".join(map(str, self.sizes))
        return f"Network({sizes}, {self.activation.name}{out}, {self.loss.name}{l2})"


def network(
    layers: str | Sequence[int],
    *,
    activation: str | sympy.Expr | Activation = "tanh",
    loss: str | Loss = "mse",
    output_activation: str | sympy.Expr | Activation | None = None,
    slope: float | None = None,
    l2: float | None = None,
) -> Network:
    """Define a network from layer sizes, an activation and an output loss.

    Args:
        layers: ``"2,3,1"`` or ``(2, 3, 1)``: input size, hidden sizes, output size.
        activation: Hidden activation: a table name or an expression of one symbol.
        loss: ``"mse"``, ``"bce"`` (on logits) or ``"softmax-cross-entropy"``.
        output_activation: Output activation for ``mse`` (default ``identity``).
        slope: Slope of ``leaky-relu`` on the negative side.
        l2: Weight decay ``λ``: adds ``λ/2 Σ_l ‖W⁽ˡ⁾‖²`` to the objective.

    Returns:
        The :class:`Network`.

    Raises:
        ParseError: A bad layer spec, activation or loss name.
        ValueError: ``l2`` negative, or an output activation given for a loss on logits.

    Example:
        >>> network("64,32,10", activation="relu", loss="softmax-cross-entropy")
        Network(64-32-10, relu, softmax-cross-entropy)
    """
    sizes = parse_layers(layers)
    hidden = _activation(activation, slope)
    loss_ = _loss(loss)
    if loss_.on_logits:
        if output_activation is not None:
            raise ValueError(
                f"the {loss_.name} loss works on the logits z and includes its own output "
                "function; drop the output activation"
            )
        out = None
    else:
        out = _activation(output_activation or "identity", slope)
    if l2 is not None and not (0 <= l2 < float("inf")):
        raise ValueError(f"l2 must be a finite number >= 0, not {l2!r}")
    return Network(sizes, hidden, loss_, out, None if not l2 else float(l2))


def _activation(spec, slope) -> Activation:
    return activation(spec, slope=slope)


def _loss(spec) -> Loss:
    return loss(spec)
