r"""Back-propagation through time: the Elman network's chains, a 3-step example, and why
gradients vanish or explode (and how clipping tames the explosion).

The chains are :func:`symgd.derivation.recurrent.rnn_rule`'s (checked against ``sympy.diff``
of the unrolled network before they are shown); the numbers come from the generated layer
code (:mod:`symgd.compile.sequence_code`) and the runs from :func:`symgd.training.train_network`.
"""

from __future__ import annotations

import numpy
import sympy

from symgd.compile.architecture import compile_architecture
from symgd.data import persistence_baseline, sine_dataset
from symgd.define.architecture import Layer, architecture
from symgd.derivation.recurrent import rnn_rule
from symgd.notes.builder import Builder
from symgd.notes.topics.layer_notes import (
    Panel,
    Shown,
    curves_figure,
    layer_topic,
    number_latex,
    numbered,
    run_layer,
    show_chain,
    show_definition,
    show_display,
    show_numbers,
)
from symgd.training import make_optimizer, train_network

__all__ = ["EXAMPLE", "build", "clipping_runs", "gradient_norms", "worked_example"]

#: The worked example: three scalar inputs, scalar weights, and the gradient at the last state.
EXAMPLE = {"x": [1.0, -0.5, 2.0], "u": 0.5, "w": 0.8, "b": 0.1, "g": 1.0}
#: Recurrent weight scales of the gradient-norm figure, its state size and sequence length.
_SCALES, _UNITS, _LENGTH = (0.5, 1.0, 3.0), 16, 40
#: The clipping runs: recurrent weights 1.6 times an orthogonal matrix, plain SGD.
_CLIP_SCALE, _CLIP_RATE, _CLIP_NORM, _CLIP_EPOCHS, _CLIP_BATCH = 1.6, 0.5, 1.0, 30, 32

#: The rows this note adds to the notation table: symbol, meaning.
_NOTATION = (
    (r"\boldsymbol{h}_{t},\ h_{t,p}", "state after a step, and one of its entries"),
    (r"\delta_{t,p}", "error signal of a pre-activation at a step"),
    (r"g_{p}", "gradient of the loss by the last state, from the layers above"),
)


def example_layer(steps: int = 3, units: int = 1) -> Layer:
    """An ``rnn(units)`` layer on sequences of ``steps`` scalars."""
    return architecture(f"rnn({units}),dense(1)", (steps, 1), loss="mse").layers[0]


def worked_example(example: dict = EXAMPLE) -> dict[str, numpy.ndarray]:
    """The 3-step example through the generated layer code.

    Returns:
        ``h`` (states 1 to 3), ``delta`` (steps 1 to 3), ``dU``, ``dW``, ``db`` and ``dh1``
        (the gradient reaching the first state, the Jacobian product times ``g``).

    Example:
        >>> numbers = worked_example()
        >>> numbers["h"].round(4).tolist()
        [0.537, 0.2726, 0.8663]
    """
    out = run_layer(
        example_layer(len(example["x"])),
        {
            "a0": [[[v] for v in example["x"]]],
            "U1": [[example["u"]]],
            "W1": [[example["w"]]],
            "b1": [example["b"]],
            "g1": [[example["g"]]],
        },
    )
    delta = out["delta1"][0, :, 0]
    return {
        "h": out["h1"][0, 1:, 0],
        "delta": delta,
        "dU": out["dU1"].ravel(),
        "dW": out["dW1"].ravel(),
        "db": out["db1"].ravel(),
        "dh1": delta[1:2] * example["w"],
    }


def loop_example(example: dict = EXAMPLE) -> dict[str, numpy.ndarray]:
    """The same numbers by a plain loop over the steps (the cross-check)."""
    x, u, w, b, g = (example[name] for name in ("x", "u", "w", "b", "g"))
    h = [0.0]
    for value in x:
        h.append(float(numpy.tanh(u * value + w * h[-1] + b)))
    delta = [0.0] * len(x)
    carry = g
    for step in range(len(x), 0, -1):
        delta[step - 1] = carry * (1 - h[step] ** 2)
        carry = delta[step - 1] * w
    return {
        "h": numpy.array(h[1:]),
        "delta": numpy.array(delta),
        "dW": numpy.array([sum(dt * hp for dt, hp in zip(delta, h[:-1], strict=True))]),
        "dU": numpy.array([sum(dt * xt for dt, xt in zip(delta, x, strict=True))]),
        "db": numpy.array([sum(delta)]),
    }


def gradient_norms(scale: float, seed: int = 0) -> numpy.ndarray:
    r""":math:`\lVert \partial h_T / \partial h_t \rVert_2` for :math:`T - t = 0, 1, …`.

    The states come from the generated forward code on a sine input, with recurrent weights
    ``scale`` times a seeded orthogonal matrix.

    Example:
        >>> norms = gradient_norms(0.5)
        >>> bool(norms[0] == 1.0 and norms[30] < 1e-6)
        True
    """
    rng = numpy.random.default_rng(seed)
    orthogonal, _ = numpy.linalg.qr(rng.standard_normal((_UNITS, _UNITS)))
    weights = scale * orthogonal
    steps = numpy.arange(_LENGTH)
    out = run_layer(
        example_layer(_LENGTH, _UNITS),
        {
            "a0": numpy.sin(0.3 * steps + 1.0).reshape(1, _LENGTH, 1),
            "U1": 0.5 * rng.standard_normal((_UNITS, 1)),
            "W1": weights,
            "b1": numpy.zeros(_UNITS),
            "g1": numpy.zeros((1, _UNITS)),
        },
    )
    states = out["h1"][0]
    product, norms = numpy.eye(_UNITS), [1.0]
    for step in range(_LENGTH, 0, -1):
        product = product @ (numpy.diag(1 - states[step] ** 2) @ weights)
        norms.append(float(numpy.linalg.norm(product, 2)))
    return numpy.array(norms)


def clipping_runs() -> dict[str, object]:
    """Train ``rnn(16),dense(1)`` on the sine sequences with and without clipping."""
    X_train, X_test, y_train, y_test = sine_dataset(400, steps=20)
    compiled = compile_architecture(architecture("rnn(16),dense(1)", (20, 1), loss="mse"))
    theta = compiled.initial_theta(0)
    orthogonal, _ = numpy.linalg.qr(numpy.random.default_rng(1).standard_normal((16, 16)))
    compiled.views(theta)["W1"][...] = _CLIP_SCALE * orthogonal
    runs = {}
    for name, clip in (("no clipping", None), (f"clipped at norm {_CLIP_NORM:g}", _CLIP_NORM)):
        result = train_network(
            compiled,
            X_train,
            compiled.targets(y_train),
            theta=theta.copy(),
            optimizer=make_optimizer("sgd", _CLIP_RATE, clip_norm=clip),
            epochs=_CLIP_EPOCHS,
            batch_size=_CLIP_BATCH,
            seed=0,
            progress=False,
        )
        prediction = compiled.predict(result.theta, X_test).ravel()
        runs[name] = (result, float(numpy.mean((prediction - y_test) ** 2)))
    return {"runs": runs, "baseline": persistence_baseline(X_test, y_test)}


def _derivation(b: Builder) -> None:
    rule = rnn_rule()
    output, recursion, weight, input_weight, bias, by_input, jacobian = rule.chains
    b.section("An Elman network")
    b.say(
        "A recurrent layer reads a sequence {0} one step at a time and carries a state {1} "
        "from step to step, starting from {2}; the same weights {3}, {4} and {5} serve every "
        "step, and the last state {6} goes on to the layers above:",
        r"\boldsymbol{x}_{1}, \dots, \boldsymbol{x}_{T}",
        r"\boldsymbol{h}_{t}",
        r"\boldsymbol{h}_{0} = \boldsymbol{0}",
        r"\mathbf{U}",
        r"\mathbf{W}",
        r"\boldsymbol{b}",
        r"\boldsymbol{h}_{T}",
    )
    show_definition(b, "rnn-bptt:z", rule.forward[0])
    show_definition(b, "rnn-bptt:h", rule.forward[1])
    b.say(
        "with {0} input features and {1} units. Every equality below was checked by SymPy "
        "against a direct differentiation of the unrolled network at small sizes.",
        "d",
        "n",
    )
    b.section("Back-propagation through time")
    b.say(
        "Unroll the loop: the network is then a deep feed-forward network of {0} layers that "
        "share their weights. With {1} and the error signal {2}, the last step gives",
        "T",
        r"g_{p} = \partial \ell / \partial h_{T,p}",
        r"\delta_{t,p} = \partial \ell / \partial z_{t,p}",
    )
    show_chain(b, "rnn-bptt:output", output, rule.cases)
    b.say(
        "and for {0} the pre-activation {1} reaches the loss only through the next step's "
        "pre-activations:",
        "t < T",
        "z_{t,p}",
    )
    show_chain(b, "rnn-bptt:recursion", recursion, rule.cases)
    b.say(
        "A shared weight is used at every step: holding the earlier states fixed, its local "
        "derivative is an indicator times the step's input, and the steps' contributions add "
        "up:"
    )
    show_chain(b, "rnn-bptt:W", weight, rule.cases)
    show_chain(b, "rnn-bptt:U", input_weight, rule.cases)
    show_chain(b, "rnn-bptt:b", bias, rule.cases)
    b.say("Each step's input receives its share through the input weights:")
    show_chain(b, "rnn-bptt:x", by_input, rule.cases)
    b.section("The compact rules")
    b.say("In vectors, with {0} the element-wise product:", r"\odot")
    compact = (
        r"\boldsymbol{\delta}_{T} &= \boldsymbol{g} \odot \left(1 - \boldsymbol{h}_{T}^{2}"
        r"\right), \qquad \boldsymbol{\delta}_{t} = \left(\mathbf{W}^{\top} "
        r"\boldsymbol{\delta}_{t+1}\right) \odot \left(1 - \boldsymbol{h}_{t}^{2}\right), \\ "
        r"\frac{\partial \ell}{\partial \mathbf{W}} &= \sum_{t=1}^{T} \boldsymbol{\delta}_{t} "
        r"\boldsymbol{h}_{t-1}^{\top}, \qquad \frac{\partial \ell}{\partial \mathbf{U}} = "
        r"\sum_{t=1}^{T} \boldsymbol{\delta}_{t} \boldsymbol{x}_{t}^{\top}, \qquad "
        r"\frac{\partial \ell}{\partial \boldsymbol{b}} = \sum_{t=1}^{T} "
        r"\boldsymbol{\delta}_{t}, \qquad \frac{\partial \ell}{\partial \boldsymbol{x}_{t}} "
        r"= \mathbf{U}^{\top} \boldsymbol{\delta}_{t}"
    )
    show_display(b, compact)
    b.say(
        "How far back does a gradient reach? The state's Jacobian obeys a one-step "
        "recursion of the same kind:"
    )
    show_chain(b, "rnn-bptt:jacobian", jacobian, rule.cases)
    b.say(
        "and unrolled from the last step, with one factor per step between them:",
    )
    show_display(
        b,
        r"\frac{\partial \boldsymbol{h}_{T}}{\partial \boldsymbol{h}_{t}} &= "
        r"\operatorname{diag}\left(1 - \boldsymbol{h}_{T}^{2}\right) \mathbf{W} \,"
        r"\operatorname{diag}\left(1 - \boldsymbol{h}_{T-1}^{2}\right) \mathbf{W} \cdots "
        r"\operatorname{diag}\left(1 - \boldsymbol{h}_{t+1}^{2}\right) \mathbf{W}",
    )
    b.say(
        "Every entry of the diagonal factors lies in {0}, so the norm is at most {1}: with "
        "small recurrent weights the gradient from far back vanishes geometrically; with "
        "large ones it can grow geometrically, unless the states saturate.",
        "(0, 1]",
        r"\lVert \mathbf{W} \rVert^{T-t}",
    )


def _example(b: Builder) -> None:
    shown, loops = worked_example(), loop_example()
    for name in ("h", "delta", "dW", "dU", "db"):
        if not numpy.allclose(shown[name], loops[name]):
            raise ArithmeticError(f"the layer code's {name} differs from the plain loop")
    b.section("A worked example: three steps of one unit")
    b.say(
        "One unit and one input feature, so every quantity is a number: {0}, {1}, {2}, the "
        "inputs below and {3} from above. Forward, then the error signals from the last "
        "step back:",
        f"u = {EXAMPLE['u']:g}",
        f"w = {EXAMPLE['w']:g}",
        f"b = {EXAMPLE['b']:g}",
        f"g = {EXAMPLE['g']:g}",
    )
    row = r"\begin{{pmatrix}} {0}_{{1}} & {0}_{{2}} & {0}_{{3}} \end{{pmatrix}}"
    show_numbers(
        b,
        [
            Shown("x", row.format("x"), numpy.array([EXAMPLE["x"]])),
            Shown("h", row.format("h"), shown["h"][None, :]),
            Shown("delta", row.format(r"\delta"), shown["delta"][None, :]),
        ],
        digits=4,
    )
    b.say(
        "so {0}, {1} and {2}. The shared weights collect one term per step:",
        r"\delta_{3} = g \left(1 - h_{3}^{2}\right)",
        r"\delta_{2} = w \delta_{3} \left(1 - h_{2}^{2}\right)",
        r"\delta_{1} = w \delta_{2} \left(1 - h_{1}^{2}\right)",
    )
    show_numbers(
        b,
        [
            Shown(
                "dW",
                r"\frac{\partial \ell}{\partial w}",
                shown["dW"],
                r"\delta_{1} h_{0} + \delta_{2} h_{1} + \delta_{3} h_{2}",
            ),
            Shown(
                "dU",
                r"\frac{\partial \ell}{\partial u}",
                shown["dU"],
                r"\delta_{1} x_{1} + \delta_{2} x_{2} + \delta_{3} x_{3}",
            ),
            Shown(
                "db",
                r"\frac{\partial \ell}{\partial b}",
                shown["db"],
                r"\delta_{1} + "
                r"\delta_{2} + \delta_{3}",
            ),  # fmt: skip
            Shown(
                "dh1",
                r"\frac{\partial \ell}{\partial h_{1}}",
                shown["dh1"],
                r"g \left(1 - h_{3}^{2}\right) w \left(1 - h_{2}^{2}\right) w",
            ),
        ],
        digits=4,
    )
    b.say(
        "The numbers were computed by the generated layer code listed at the end and again "
        "by a plain loop. The gradient reaching {0} carries the factor {1} once per step it "
        "travels.",
        "h_{1}",
        "w",
    )


def _figures(b: Builder) -> None:
    norms = {scale: gradient_norms(scale) for scale in _SCALES}
    far = 30
    b.section("Vanishing and exploding gradients")
    measured = "; ".join(f"{scale:g} Q gives {norms[scale][far]:.2g}" for scale in _SCALES)
    b.figure(
        "norms",
        f"Norm of the Jacobian of the last state by an earlier state, against the number of "
        f"steps between them, for a recurrent layer of {_UNITS} tanh units reading {_LENGTH} "
        f"steps of a sine wave. Recurrent weights a seeded orthogonal matrix Q scaled by "
        f"{', '.join(f'{s:g}' for s in _SCALES)}. Measured after {far} steps back: {measured}.",
        lambda path: curves_figure(
            [
                Panel(
                    "Gradient through time",
                    "steps back, $T - t$",
                    r"$\Vert \partial h_T / \partial h_t \Vert_2$",
                    numbered(
                        {rf"$\mathbf{{W}} = {s:g}\,\mathbf{{Q}}$": n for s, n in norms.items()}
                    ),
                    log=True,
                )
            ],
            path,
        ),
        width=0.6,
    )
    b.say(
        "The figure follows the product of Jacobians above on the states of a real forward "
        "pass. Small recurrent weights forget: after a few dozen steps nothing of the "
        "gradient is left, so the early inputs cannot be learnt. Large weights amplify it, "
        "and a single step of gradient descent can then throw the weights far away."
    )
    found = clipping_runs()
    runs, baseline = found["runs"], found["baseline"]
    b.section("Gradient clipping")
    b.say(
        "Clipping by the global norm rescales the gradient {0} to {1} whenever {2}, keeping "
        "its direction:",
        r"\boldsymbol{g}",
        r"c \, \boldsymbol{g} / \lVert \boldsymbol{g} \rVert",
        r"\lVert \boldsymbol{g} \rVert > c",
    )
    parts = []
    for name, (result, test_mse) in runs.items():
        if result.diverged:
            parts.append(f"{name.capitalize()}, the loss overflowed after {result.steps} updates")
        else:
            parts.append(
                f"{name.capitalize()}, final training loss {result.loss_history[-1]:.3g}, "
                f"test mean squared error {test_mse:.3g}"
            )
        b.formulas[f"run {name} test mse"] = sympy.Float(test_mse)
    caption = (
        "A recurrent layer of 16 tanh units and a dense output unit, trained on 320 seeded "
        "noisy sine sequences of 20 steps to predict the next value, by plain gradient "
        f"descent at learning rate {_CLIP_RATE:g} "
        f"in mini-batches of {_CLIP_BATCH} for {_CLIP_EPOCHS} epochs, from recurrent weights "
        f"{_CLIP_SCALE:g} times an orthogonal matrix. {'. '.join(parts)}. Predicting the last "
        f"value (persistence) scores {baseline:.3g} on the 80 test sequences."
    )

    def draw(path):
        losses = {name: result.loss_history for name, (result, _) in runs.items()}
        gradients = {name: result.gradient_norm_history for name, (result, _) in runs.items()}
        return curves_figure(
            [
                Panel("Training loss", "epoch", "mean squared error", numbered(losses), log=True),
                Panel(
                    "Gradient norm before clipping",
                    "update",
                    "norm",
                    numbered(gradients, first=1),
                    log=True,
                ),
            ],
            path,
        )

    b.figure("clipping", caption, draw, width=0.95)
    clipped = runs[f"clipped at norm {_CLIP_NORM:g}"][1]
    b.say(
        "From the same large recurrent weights, plain gradient descent meets a gradient of "
        "norm {0} within its first updates and the loss overflows; clipped at norm {1}, the "
        "same run trains, and its test mean squared error {2} is {3} times below the "
        "persistence forecast's {4}.",
        number_latex(max(runs["no clipping"][0].gradient_norm_history)),
        f"{_CLIP_NORM:g}",
        f"{clipped:.3g}",
        f"{baseline / clipped:.1f}",
        f"{baseline:.3g}",
    )


def build(b: Builder) -> str:
    return layer_topic(
        b,
        title="Back-propagation through time in a recurrent network",
        notation=_NOTATION,
        sections=(_derivation, _example),
        figures=_figures,
        layer=example_layer(),
        code_caption="The recurrent layer in NumPy",
        code_intro=(
            "The generated NumPy code of the recurrent layer, forward then backward through "
            "time, as the compiled network runs it (examples along axis 0, then steps, then "
            "units; {0} holds every state, {1} every step's error signal):"
        ),
        code_terms=(r"\texttt{h1}", r"\texttt{delta1}"),
    )
