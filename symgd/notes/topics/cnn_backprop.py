r"""Backpropagation through a convolution: index notation, compact rules, numbers, a digit CNN.

The chains come from :func:`symgd.derivation.layer_rules.convolution_rule` (checked against
``sympy.diff`` of the written-out layer before they are shown); the worked example's numbers
are computed by the generated layer code (:mod:`symgd.compile.conv_code`), the code the
network trains with.
"""

from __future__ import annotations

import numpy
import sympy

from symgd.compile.architecture import compile_architecture
from symgd.data import digits_dataset
from symgd.define.architecture import Layer, architecture
from symgd.derivation.layer_rules import convolution_rule
from symgd.notes.builder import Builder
from symgd.notes.topics.layer_notes import (
    Shown,
    accuracy_run,
    layer_topic,
    run_layer,
    show_chain,
    show_definition,
    show_display,
    show_numbers,
    training_figure,
)
from symgd.training import make_optimizer

__all__ = ["EXAMPLE", "build", "example_layer", "flipped_numbers", "worked_example"]

#: The worked example: a 3x3 input, a 2x2 kernel, a bias and the upstream error (one channel).
EXAMPLE = {
    "x": [[1.0, 2.0, 0.0], [0.0, 1.0, 3.0], [2.0, 1.0, 1.0]],
    "K": [[1.0, -1.0], [2.0, 0.0]],
    "b": [0.5],
    "delta": [[1.0, 0.0], [-1.0, 2.0]],
}
_ARCH, _EPOCHS, _RATE, _BATCH = "conv(8,3),relu,maxpool(2),flatten,dense(10)", 25, 0.01, 64

#: The rows this note adds to the notation table: symbol, meaning.
_NOTATION = (
    (r"\mathbf{A},\ a_{c,r,s}", "the layer's input (channels, rows, columns)"),
    (r"\mathbf{K},\ K_{o,c,p,q}", "kernels: output channel, input channel, offsets"),
    (r"\star", "cross-correlation (slide, multiply, sum; no flip)"),
    (r"\ast", "full convolution (the kernel flipped, the input padded)"),
)


def example_layer() -> Layer:
    """The worked example's layer: one 2x2 kernel on a 1x3x3 image."""
    return architecture("conv(1,2),flatten,dense(1)", (1, 3, 3), loss="mse").layers[0]


def worked_example(example: dict = EXAMPLE) -> dict[str, numpy.ndarray]:
    """The example run through the generated layer code: ``z``, ``dK``, ``db`` and ``dx``.

    Example:
        >>> worked_example()["dK"].tolist()
        [[3.0, 7.0], [0.0, 2.0]]
    """
    out = run_layer(
        example_layer(),
        {
            "a0": [[example["x"]]],
            "K1": [[example["K"]]],
            "b1": example["b"],
            "g1": [[example["delta"]]],
        },
    )
    return {
        "z": out["a1"][0, 0],
        "dK": out["dK1"][0, 0],
        "db": out["db1"],
        "dx": out["g0"][0, 0],
    }


def flipped_numbers(example: dict = EXAMPLE) -> dict[str, numpy.ndarray]:
    """The same numbers by plain NumPy loops: padded δ, flipped kernel, and their products.

    ``dx`` is the cross-correlation of the padded δ with the flipped kernel; ``unflipped`` the
    same with the kernel as it is (the mistake the flip avoids).

    Example:
        >>> flipped_numbers()["dx"].tolist()
        [[1.0, -1.0, 0.0], [1.0, 3.0, -2.0], [-2.0, 4.0, 0.0]]
    """
    x, kernel, delta = (numpy.array(example[n]) for n in ("x", "K", "delta"))
    k = kernel.shape[0]
    padded = numpy.pad(delta, k - 1)
    flipped = kernel[::-1, ::-1]

    def correlate(image: numpy.ndarray, window: numpy.ndarray) -> numpy.ndarray:
        rows, cols = (image.shape[d] - window.shape[d] + 1 for d in (0, 1))
        return numpy.array(
            [
                [float(numpy.sum(image[i : i + window.shape[0], j : j + window.shape[1]] * window))
                 for j in range(cols)]
                for i in range(rows)
            ]
        )  # fmt: skip

    return {
        "z": correlate(x, kernel) + example["b"][0],
        "dK": correlate(x, delta),
        "padded": padded,
        "flipped": flipped,
        "dx": correlate(padded, flipped),
        "unflipped": correlate(padded, kernel),
    }


def _derivation(b: Builder) -> None:
    rule = convolution_rule("valid")
    kernel_chain, bias_chain, input_chain = rule.chains
    b.section("A convolutional layer in index notation")
    b.say(
        "A convolutional layer slides each kernel {0} over the {1} input channels of {2} and "
        "adds a bias; output channel {3} at position {4} is ",
        r"\mathbf{K}_{o,c}",
        "C",
        r"\mathbf{A}",
        "o",
        "(i, j)",
    )
    show_definition(b, "cnn-backprop:forward", rule.forward[0])
    b.say(
        "with stride 1 and no padding, so an input of {0} by {1} gives {2} by {3} outputs. "
        "Indices are offsets counted from 0, and any entry of {4} or {5} outside its range is "
        "0. The error signal {6} arrives from the layers above; every equality below was "
        "checked by SymPy against a direct differentiation of the written-out layer (two "
        "channels in and out, a 4 by 4 input, kernels of side 2 and 3).",
        "H",
        "W",
        "H' = H - k + 1",
        "W' = W - k + 1",
        "a",
        r"\delta",
        r"\delta_{o,i,j} = \partial \ell / \partial z_{o,i,j}",
    )
    b.section("Gradients by the chain rule")
    b.say(
        "The kernel entry {0} is used at every output position of channel {1}, so its "
        "gradient sums over all of them; the local derivative is an indicator, and the sum "
        "over the kernel's own offsets collapses:",
        "K_{o,c,p,q}",
        "o",
    )
    show_chain(b, "cnn-backprop:kernel", kernel_chain, rule.cases)
    b.say(
        "This is the cross-correlation of the input channel with the error signal, {0}. The "
        "bias is added at every position:",
        kernel_chain.matrix_form,
    )
    show_chain(b, "cnn-backprop:bias", bias_chain, rule.cases)
    b.say(
        "An input entry {0} reaches every output whose window covers it, through every "
        "output channel:",
        "a_{c,r,s}",
    )
    show_chain(b, "cnn-backprop:input", input_chain, rule.cases)
    b.section("The compact rules")
    b.say(
        "In whole arrays, with {0} the cross-correlation and {1} the full convolution (the "
        "kernel turned by 180 degrees, the error signal padded with {2} zeros on each side):",
        r"\star",
        r"\ast",
        "k - 1",
    )
    compact = (
        r"\frac{\partial \ell}{\partial \mathbf{K}_{o,c}} &= \mathbf{A}_{c} \star "
        r"\boldsymbol{\delta}_{o}, \qquad \frac{\partial \ell}{\partial b_{o}} = \sum_{i,j} "
        r"\delta_{o,i,j}, \\ \frac{\partial \ell}{\partial \mathbf{A}_{c}} &= \sum_{o} "
        r"\boldsymbol{\delta}_{o} \ast \mathbf{K}_{o,c} = \sum_{o} "
        r"\operatorname{pad}_{k-1}\!\left(\boldsymbol{\delta}_{o}\right) \star "
        r"\operatorname{rot}_{180}\!\left(\mathbf{K}_{o,c}\right)"
    )
    show_display(b, compact)
    b.say(
        "The forward pass is a cross-correlation of the input with the kernel; the backward "
        "pass to the input is a cross-correlation too, of the padded error signal with the "
        "flipped kernel, because input entry {0} met kernel entry {1} at output {2}.",
        "a_{r,s}",
        "K_{p,q}",
        "z_{r-p,s-q}",
    )


def _example(b: Builder) -> None:
    shown = worked_example()
    loops = flipped_numbers()
    for name in ("z", "dK", "dx"):
        if not numpy.allclose(shown[name], loops[name]):
            raise ArithmeticError(f"the layer code's {name} differs from the plain loops")
    b.section("A worked example with numbers")
    b.say(
        "One channel, a 3 by 3 input, a 2 by 2 kernel and bias {0}; the forward pass gives "
        "the 2 by 2 output, and an error signal arrives from above:",
        f"b = {EXAMPLE['b'][0]:g}",
    )
    show_numbers(
        b,
        [
            Shown("x", r"\mathbf{A}", numpy.array(EXAMPLE["x"])),
            Shown("K", r"\mathbf{K}", numpy.array(EXAMPLE["K"])),
            Shown("z", r"\mathbf{Z}", shown["z"], r"\mathbf{A} \star \mathbf{K} + b"),
            Shown("delta", r"\boldsymbol{\delta}", numpy.array(EXAMPLE["delta"])),
        ],
    )
    b.say(
        "The kernel's gradient slides the error signal over the input; the input's gradient "
        "slides the flipped kernel over the padded error signal:"
    )
    show_numbers(
        b,
        [
            Shown(
                "dK",
                r"\frac{\partial \ell}{\partial \mathbf{K}}",
                shown["dK"],
                r"\mathbf{A} \star \boldsymbol{\delta}",
            ),
            Shown(
                "db", r"\frac{\partial \ell}{\partial b}", shown["db"], r"\sum_{i,j} \delta_{i,j}"
            ),
            Shown("padded", r"\operatorname{pad}_{1}(\boldsymbol{\delta})", loops["padded"]),
            Shown("flipped", r"\operatorname{rot}_{180}(\mathbf{K})", loops["flipped"]),
            Shown(
                "dx",
                r"\frac{\partial \ell}{\partial \mathbf{A}}",
                shown["dx"],
                r"\operatorname{pad}_{1}(\boldsymbol{\delta}) \star \operatorname{rot}_{180}"
                r"(\mathbf{K})",
            ),
        ],
    )
    b.say(
        "Each number was computed by the generated layer code listed at the end, and again "
        "by plain loops. Sliding the kernel without turning it gives other numbers, which are "
        "not the gradient:"
    )
    show_numbers(
        b,
        [
            Shown(
                "unflipped",
                r"\operatorname{pad}_{1}(\boldsymbol{\delta}) \star \mathbf{K}",
                loops["unflipped"],
            )
        ],
    )


def _training(b: Builder) -> None:
    X_train, X_test, y_train, y_test = digits_dataset()
    images = (X_train.reshape(-1, 1, 8, 8), X_test.reshape(-1, 1, 8, 8), y_train, y_test)
    compiled = compile_architecture(architecture(_ARCH, (1, 8, 8)))
    result, accuracy = accuracy_run(
        compiled, images, make_optimizer("adam", _RATE), epochs=_EPOCHS, batch_size=_BATCH
    )
    b.section("Training a small convolutional network on digits")
    b.say(
        "The layer above, with 8 kernels of side 3, a ReLU, 2 by 2 max pooling and a dense "
        "softmax layer, trained on the 1437 training images of scikit-learn's 8 by 8 digits "
        "(the same generated code, with the rules above, as the listing below):"
    )
    b.formulas["run test accuracy"] = sympy.Float(accuracy[-1])
    caption = (
        f"A convolutional network (8 kernels of side 3, ReLU, 2 by 2 max pooling, dense "
        f"softmax over 10 classes) trained by Adam at learning rate {_RATE:g} in mini-batches "
        f"of {_BATCH} for {_EPOCHS} epochs. Training loss from {result.loss_history[0]:.3f} "
        f"to {result.loss_history[-1]:.3f}; test accuracy on the 360 held-out images after "
        f"the last epoch {100 * accuracy[-1]:.1f} percent (best {100 * max(accuracy):.1f} "
        "percent)."
    )
    b.figure(
        "training",
        caption,
        lambda path: training_figure(
            {"training set": result.loss_history}, {"360 test images": accuracy}, path
        ),
        width=0.95,
    )


def build(b: Builder) -> str:
    return layer_topic(
        b,
        title="Backpropagation through a convolutional layer",
        notation=_NOTATION,
        sections=(_derivation, _example),
        figures=_training,
        layer=example_layer(),
        code_caption="The convolutional layer in NumPy",
        code_intro=(
            "The generated NumPy code of the worked example's layer, forward then backward, as "
            "the compiled network runs it (inputs along axis 0, then channel, row, column; the "
            "error signal from above is {0}, the one sent back {1}, the kernel's gradient {2}):"
        ),
        code_terms=(r"\texttt{g1}", r"\texttt{g0}", r"\texttt{dK1}"),
    )
