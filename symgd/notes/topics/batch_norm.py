r"""Batch normalisation: the backward pass derived in index notation and simplified to the
compact textbook form, three numbers through forward and backward, and a deep sigmoid network
that trains with it and stalls without it.

The chains are :func:`symgd.derivation.normalization.batchnorm_rule`'s (checked against
``sympy.diff`` before they are shown); the numbers come from the generated layer code
(:mod:`symgd.compile.norm_code`) and the runs from :func:`symgd.training.train_network`.
"""

from __future__ import annotations

import numpy
import sympy

from symgd.compile.architecture import compile_architecture
from symgd.compile.norm_code import EPSILON, MOMENTUM
from symgd.data import digits_dataset
from symgd.define.architecture import Layer, architecture
from symgd.derivation.normalization import batchnorm_rule
from symgd.notes.builder import Builder
from symgd.notes.topics.layer_notes import (
    Shown,
    accuracy_run,
    layer_topic,
    number_latex,
    run_layer,
    show_chain,
    show_definition,
    show_display,
    show_numbers,
    training_figure,
)
from symgd.training import make_optimizer

__all__ = ["EXAMPLE", "build", "deep_runs", "jacobian_example", "worked_example"]

#: The worked example: a batch of three numbers (one feature), scale, shift and upstream g.
EXAMPLE = {"x": [1.0, 2.0, 6.0], "gamma": 2.0, "beta": 0.5, "g": [0.5, -1.0, 2.0]}
#: The deep networks of the figure: six sigmoid layers of 32 units, with and without batchnorm.
_DEPTH, _WIDTH, _RATE, _EPOCHS, _BATCH = 6, 32, 0.5, 20, 32

#: The rows this note adds to the notation table: symbol, meaning.
_NOTATION = (
    (r"\mu,\ \sigma^{2}", "mean and variance of one feature over the mini-batch"),
    (r"\hat{x}_{i}", "normalised input of one example"),
    (r"\gamma,\ \beta", "learnt scale and shift, one of each per feature"),
    (r"g_{i}", "gradient of the loss by the layer's output, from the layers above"),
    (r"\epsilon", "a small constant against division by zero"),
)


def example_layer() -> Layer:
    """A ``batchnorm`` layer on one feature."""
    return architecture("batchnorm,dense(1)", (1,), loss="mse").layers[0]


def worked_example(example: dict = EXAMPLE) -> dict[str, numpy.ndarray]:
    """The three numbers through the generated layer code, forward and backward.

    Example:
        >>> numbers = worked_example()
        >>> round(float(numbers["mu"][0]), 4), numbers["dbeta"].tolist()
        (3.0, [1.5])
    """
    out = run_layer(
        example_layer(),
        {
            "a0": [[v] for v in example["x"]],
            "gamma1": [example["gamma"]],
            "beta1": [example["beta"]],
            "g1": [[v] for v in example["g"]],
        },
    )
    return {
        "mu": out["mu1"],
        "var": out["var1"],
        "xhat": out["xhat1"][:, 0],
        "y": out["a1"][:, 0],
        "dgamma": out["dgamma1"],
        "dbeta": out["dbeta1"],
        "dx": out["g0"][:, 0],
    }


def jacobian_example(example: dict = EXAMPLE) -> numpy.ndarray:
    r"""``∂ℓ/∂x`` by the long form, the Jacobian of :math:`\hat x` times :math:`\gamma g`.

    Example:
        >>> numpy.allclose(jacobian_example(), worked_example()["dx"])
        True
    """
    x, g = numpy.array(example["x"]), numpy.array(example["g"])
    m = len(x)
    xhat = (x - x.mean()) / numpy.sqrt(x.var() + EPSILON)
    jacobian = (numpy.eye(m) - 1 / m - numpy.outer(xhat, xhat) / m) / numpy.sqrt(x.var() + EPSILON)
    return example["gamma"] * jacobian.T @ g


def _stack(normalised: bool) -> str:
    layer = f"dense({_WIDTH}),{'batchnorm,' if normalised else ''}sigmoid"
    return ",".join([layer] * _DEPTH) + ",dense(10)"


def deep_runs() -> dict[str, tuple]:
    """Train the deep sigmoid network on digits with and without batch normalisation.

    Returns:
        Run name -> (training result, test accuracy after each epoch).
    """
    data = digits_dataset()
    runs = {}
    for name, normalised in (("without batch norm", False), ("with batch norm", True)):
        compiled = compile_architecture(architecture(_stack(normalised), (64,)))
        runs[name] = accuracy_run(
            compiled, data, make_optimizer("sgd", _RATE), epochs=_EPOCHS, batch_size=_BATCH
        )
    return runs


def _derivation(b: Builder) -> None:
    rule = batchnorm_rule()
    normalised, by_input, by_scale, by_shift = rule.chains
    b.section("Batch normalisation")
    b.say(
        "A batch-normalisation layer centres and scales each feature over the {0} examples "
        "of a mini-batch, then lets the network choose the scale {1} and shift {2} back. For "
        "one feature, with the examples numbered from 1:",
        "m",
        r"\gamma",
        r"\beta",
    )
    for number, definition in enumerate(rule.forward):
        show_definition(b, f"batch-norm:forward-{number}", definition)
    b.say(
        "The mean and the variance depend on every example of the batch, so each output "
        "depends on each input: that coupling is what the backward pass has to follow. "
        "Every equality below was checked by SymPy against a direct differentiation of the "
        "written-out layer for batches of two and three."
    )
    b.section("The backward pass")
    b.say(
        "The normalised input {0} depends on {1} directly, through {2} and through {3}; "
        "collected, the three paths give",
        r"\hat{x}_{j}",
        "x_{i}",
        r"\mu",
        r"\sigma^{2}",
    )
    show_chain(b, "batch-norm:normalised", normalised, rule.cases)
    b.say(
        "where the last form uses {0}. With {1} from the layers above, the chain rule over "
        "every output of the batch gives the input gradient:",
        r"\hat{x}_{i} = (x_{i} - \mu) / \sqrt{\sigma^{2} + \epsilon}",
        r"g_{j} = \partial \ell / \partial y_{j}",
    )
    show_chain(b, "batch-norm:input", by_input, rule.cases)
    b.say("and the scale and the shift collect one term per example:")
    show_chain(b, "batch-norm:gamma", by_scale, rule.cases)
    show_chain(b, "batch-norm:beta", by_shift, rule.cases)
    b.section("The compact rule")
    b.say("In vectors over the batch, with {0} the vector of ones:", r"\mathbf{1}")
    show_display(
        b,
        r"\frac{\partial \ell}{\partial \boldsymbol{x}} &= \frac{\gamma}{m \sqrt{\sigma^{2} + "
        r"\epsilon}} \left(m \, \boldsymbol{g} - \left(\mathbf{1}^{\top} \boldsymbol{g}\right) "
        r"\mathbf{1} - \left(\boldsymbol{g}^{\top} \hat{\boldsymbol{x}}\right) "
        r"\hat{\boldsymbol{x}}\right), \qquad \frac{\partial \ell}{\partial \gamma} = "
        r"\boldsymbol{g}^{\top} \hat{\boldsymbol{x}}, \qquad \frac{\partial \ell}{\partial "
        r"\beta} = \mathbf{1}^{\top} \boldsymbol{g}",
    )
    b.say(
        "The upstream gradient is centred and its component along {0} is removed: moving or "
        "stretching the whole batch changes nothing after normalisation, so the input "
        "gradient sums to zero and is orthogonal to {0} (but for the tiny {4}). At inference "
        "there is no batch: the layer uses running averages kept during training, {1} "
        "(likewise for {2}, with the unbiased variance) with {3}, and is then a fixed affine map.",
        r"\hat{\boldsymbol{x}}",
        r"\mu_{\text{run}} \leftarrow (1 - \rho)\, \mu_{\text{run}} + \rho\, \mu",
        r"\sigma^{2}",
        rf"\rho = {MOMENTUM:g}",
        r"\epsilon",
    )


def _example(b: Builder) -> None:
    shown = worked_example()
    long_form = jacobian_example()
    if not numpy.allclose(shown["dx"], long_form, rtol=1e-10, atol=1e-12):
        raise ArithmeticError("the compact rule of the layer code differs from the long form")
    scale = numpy.linalg.norm(shown["dx"]) * numpy.linalg.norm(shown["xhat"])
    if abs(shown["dx"].sum()) > 1e-9 or abs(shown["dx"] @ shown["xhat"]) > 1e-4 * scale:
        raise ArithmeticError("the input gradient is not centred and orthogonal to x-hat")
    b.section("A worked example: a batch of three numbers")
    b.say(
        "One feature, a batch of three, {0} and {1}, and {2} (so {3} hardly matters):",
        rf"\gamma = {EXAMPLE['gamma']:g}",
        rf"\beta = {EXAMPLE['beta']:g}",
        rf"\epsilon = {number_latex(EPSILON)}",
        r"\epsilon",
    )
    show_numbers(
        b,
        [
            Shown("x", r"\boldsymbol{x}^{\top}", numpy.array([EXAMPLE["x"]])),
            Shown("mu", r"\mu", shown["mu"]),
            Shown("var", r"\sigma^{2}", shown["var"]),
            Shown("xhat", r"\hat{\boldsymbol{x}}^{\top}", shown["xhat"][None, :]),
            Shown(
                "y",
                r"\boldsymbol{y}^{\top}",
                shown["y"][None, :],
                r"\left(\gamma \hat{\boldsymbol{x}} + \beta\right)^{\top}",
            ),
            Shown("g", r"\boldsymbol{g}^{\top}", numpy.array([EXAMPLE["g"]])),
        ],
        digits=4,
    )
    b.say("Backward, by the compact rule:")
    show_numbers(
        b,
        [
            Shown(
                "dgamma",
                r"\frac{\partial \ell}{\partial \gamma}",
                shown["dgamma"],
                r"\boldsymbol{g}^{\top} \hat{\boldsymbol{x}}",
            ),
            Shown(
                "dbeta",
                r"\frac{\partial \ell}{\partial \beta}",
                shown["dbeta"],
                r"\mathbf{1}^{\top} \boldsymbol{g}",
            ),
            Shown(
                "dx",
                r"\left(\frac{\partial \ell}{\partial \boldsymbol{x}}\right)^{\top}",
                shown["dx"][None, :],
            ),
        ],
        digits=4,
    )
    b.say(
        "The numbers were computed by the generated layer code listed at the end; the input "
        "gradient was computed again from the long form (the Jacobian of {0} above, times "
        "{1}), and its entries sum to zero.",
        r"\hat{x}",
        r"\gamma \boldsymbol{g}",
    )


def _figure(b: Builder) -> None:
    runs = deep_runs()
    b.section("A deep sigmoid network, with and without batch normalisation")
    b.say(
        "Each sigmoid passes back at most a quarter of the gradient, so through {0} layers the "
        "error signal of the first layers is tiny and plain gradient descent stalls. "
        "Normalising each layer's pre-activations keeps them where the sigmoid is steep:",
        str(_DEPTH),
    )
    measured = "; ".join(
        f"{name}, training loss {result.loss_history[0]:.3g} to {result.loss_history[-1]:.3g} "
        f"and test accuracy {100 * accuracy[-1]:.1f} percent"
        for name, (result, accuracy) in runs.items()
    )
    for name, (_, accuracy) in runs.items():
        b.formulas[f"run {name} test accuracy"] = sympy.Float(accuracy[-1])
    caption = (
        f"{_DEPTH} dense layers of {_WIDTH} sigmoid units and a softmax output, trained on the "
        f"1437 training digits by plain gradient descent at learning rate {_RATE:g} in "
        f"mini-batches of {_BATCH} for {_EPOCHS} epochs from the same seeded start. Measured: "
        f"{measured} (chance is 10 percent)."
    )

    def draw(path):
        return training_figure(
            {name: result.loss_history for name, (result, _) in runs.items()},
            {name: accuracy for name, (_, accuracy) in runs.items()},
            path,
            accuracy_label="accuracy on 360 test digits",
        )

    b.figure("deep", caption, draw, width=0.95)
    _, (normalised, accuracy) = runs.values()
    b.say(
        "Without normalisation the training loss stays near {0}, the loss of a uniform guess "
        "over ten classes; with it the same network, rate and start reach {1} and a test "
        "accuracy of {2} percent.",
        rf"\ln 10 \approx {numpy.log(10):.2f}",
        f"{normalised.loss_history[-1]:.3g}",
        f"{100 * accuracy[-1]:.1f}",
    )


def build(b: Builder) -> str:
    return layer_topic(
        b,
        title="Batch normalisation: forward, backward and why it helps",
        notation=_NOTATION,
        sections=(_derivation, _example),
        figures=_figure,
        layer=example_layer(),
        code_caption="The batch-normalisation layer in NumPy",
        code_intro=(
            "The generated NumPy code of the layer, forward (training statistics, running "
            "averages updated when given) then backward in the compact form, as the compiled "
            "network runs it (examples along axis 0; {0} is the upstream gradient, {1} the "
            "one sent back):"
        ),
        code_terms=(r"\texttt{g1}", r"\texttt{g0}"),
    )
