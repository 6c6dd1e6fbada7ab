"""The pieces of a network's generated module that the NumPy and JAX backends share.

Both backends write the same module: ``_parameters(theta)`` (the blocks of the flat vector),
then ``forward``, ``loss`` and ``loss_and_gradient`` over the same forward lines; they differ
only in the element-wise printer, the output and the backward lines.

Example:
    >>> print(parameters_function([("W1", slice(0, 6), (3, 2)), ("b1", slice(6, 9), (3,))]))
    def _parameters(theta):
        \"\"\"Views of the flat vector theta: W1, b1 (no copies).\"\"\"
        W1 = theta[0:6].reshape(3, 2)
        b1 = theta[6:9]
        return W1, b1
    <BLANKLINE>
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import sympy

from symgd.compile.codegen import function_source
from symgd.compile.printer import Printer
from symgd.compile.rewrites import stabilize


def array(name: str) -> sympy.Symbol:
    """The real symbol standing for the generated code's array ``name``."""
    return sympy.Symbol(name, real=True)


def elementwise(printer: Printer, expr: sympy.Expr, names: dict) -> str:
    """``expr`` with its symbols renamed to the code's arrays, in stable printed form."""
    return printer.doprint(stabilize(expr.xreplace(names)))


def without_unused_probabilities(lines: list[str], uses: str) -> list[str]:
    """``lines`` without the probabilities ``p = …`` when ``uses`` does not read ``p``."""
    if re.search(r"\bp\b", uses):
        return lines
    return [line for line in lines if not line.startswith("p = ")]


def parameters_function(blocks: Sequence[tuple[str, slice, tuple[int, ...]]]) -> str:
    """``_parameters(theta)``: the blocks of the flat vector as views (no copies)."""
    names = ", ".join(name for name, _, _ in blocks)
    views = [
        f"{name} = theta[{part.start}:{part.stop}]" + (f".reshape{shape}" if len(shape) > 1 else "")
        for name, part, shape in blocks
    ]
    return function_source(
        "_parameters(theta)",
        [*views, f"return {names}"],
        f"Views of the flat vector theta: {names} (no copies).",
    )


def network_module(
    header: str,
    blocks: Sequence[tuple[str, slice, tuple[int, ...]]],
    forward: list[str],
    output: list[str],
    prediction: str,
    loss_line: str,
    backward: list[str],
) -> str:
    """The whole generated module of a network: header, parameters and the three functions."""
    unpack = ", ".join(name for name, _, _ in blocks)

    def function(signature: str, doc: str, body: list[str], returns: str) -> str:
        lines = [f"{unpack} = _parameters(theta)", *body, f"return {returns}"]
        return function_source(signature, lines, doc)

    needed = without_unused_probabilities(output, loss_line)
    return "\n\n".join(
        [
            header,
            parameters_function(blocks),
            function(
                "forward(theta, X)",
                "Network outputs for the examples in the rows of X.",
                forward + output,
                prediction,
            ),
            function(
                "loss(theta, X, Y)",
                "J(theta): the mean loss over the rows of X and Y.",
                ["m = X.shape[0]", *forward, *needed, loss_line],
                "loss",
            ),
            function(
                "loss_and_gradient(theta, X, Y)",
                "J(theta) and its gradient (flat, like theta) by backpropagation.",
                ["m = X.shape[0]", *forward, *output, loss_line, *backward],
                "loss, grad",
            ),
        ]
    )


def output_and_loss(
    net, printer: Printer, module: str, softmax: list[str], output_activation: Callable[[], str]
) -> tuple[list[str], str, str]:
    """The output lines, the name of the prediction and the loss line of a network's code.

    Args:
        net: The :class:`~symgd.define.Network`.
        printer: The backend's element-wise printer.
        module: ``"numpy"`` or ``"jnp"``: whose ``sum`` and ``vdot`` the loss calls.
        softmax: The backend's stable lines for ``log_p`` and ``p`` (softmax output).
        output_activation: Makes the line computing the output activation ``aL`` (called only
            for a loss on the activation's output).
    """
    from symgd.define import OUTPUT, PREACTIVATION, PROBABILITY, TARGET  # noqa: PLC0415

    L = net.depth
    symbols = {
        PREACTIVATION: array(f"z{L}"),
        OUTPUT: array(f"a{L}"),
        PROBABILITY: array("p"),
        TARGET: array("Y"),
    }
    if net.loss.kind == "softmax":
        output, prediction, loss_line = softmax, "p", f"loss = -{module}.sum(Y * log_p) / m"
    else:
        loss_line = f"loss = {module}.sum({elementwise(printer, net.loss.unit, symbols)}) / m"
        if net.loss.on_logits:
            output = [f"p = {elementwise(printer, net.loss.prediction, symbols)}"]
            prediction = "p"
        else:
            output, prediction = [output_activation()], f"a{L}"
    if net.l2:
        squares = " + ".join(f"{module}.vdot(W{layer}, W{layer})" for layer in range(1, L + 1))
        loss_line += f" + {net.l2!r} / 2 * ({squares})"
    return output, prediction, loss_line
