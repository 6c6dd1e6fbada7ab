"""Softmax regression over three classes: the error signal ``δ_k = p_k − y_k``."""

from __future__ import annotations

import numpy
import sympy

from symgd.define import objective, tensor_objective
from symgd.derivation import LOSS_SYMBOL, derive, derive_tensor, is_zero, lecturer_form
from symgd.notes.builder import ALPHA, Builder
from symgd.notes.code import compiled_or_code
from symgd.notes.runs import batch_and_mini_batch, rates_and_code
from symgd.parse import symbol
from symgd.render import loss_curves

__all__ = ["CLASSES", "build"]

CLASSES = 3
_FEATURES = ("x1", "x2")


def _delta(k: int) -> sympy.Symbol:
    return sympy.Symbol(f"delta_{k + 1}", real=True)


def _error_signals(b: Builder, head, labels: list[sympy.Symbol]) -> list[sympy.Expr]:
    """``∂ℓ/∂z_k`` for each logit, simplified with one-hot labels to ``p_k − y_k``."""
    derivation = derive(head)
    deltas = []
    for k, step in enumerate(derivation.steps):
        p = head.intermediates[k + 1][0]
        # One-hot labels: eliminate a label other than y_k, then see what is left besides p_k.
        other = labels[-1] if k != CLASSES - 1 else labels[0]
        one_hot = {other: 1 - sympy.Add(*(y for y in labels if y != other))}
        remainder = step.result.xreplace(one_hot) - head.substitutions[p]
        remainder = lecturer_form(sympy.simplify(remainder))
        if not remainder.free_symbols <= set(labels):
            raise ArithmeticError(f"the error signal of {step.param} does not simplify")
        deltas.append(p + remainder)
        rhs = [b.chain_of_partials(step), b.tex(deltas[-1]), b.tex(_delta(k))]
        b.equations((f"delta-{k + 1}", b.partial(LOSS_SYMBOL, step.param), rhs))
        b.formulas[f"delta{k + 1}"] = deltas[-1]
    b.derivations.append(derivation)
    return deltas


def _general(name: str) -> sympy.Symbol:
    """A symbol of the general form of the weight gradients, e.g. ``w_kj`` (:math:`w_{kj}`)."""
    return sympy.Symbol(name, real=True)


def _weight_gradients(b: Builder, head, deltas, labels, normaliser: str) -> object:
    """Every weight's gradient is its class's error signal times the input it multiplies.

    All nine are derived and checked against the full derivation; the note shows the one
    general form, :math:`\\partial \\ell / \\partial w_{kj} = \\delta_k x_j`, not nine lines.
    """
    params, define = [], {}
    for k in range(1, CLASSES + 1):
        row = [f"w{k}{j}" for j in range(1, len(_FEATURES) + 1)]
        params += row + [f"b{k}"]
        define[f"z{k}"] = " + ".join(f"{w}*{x}" for w, x in zip(row, _FEATURES)) + f" + b{k}"
    scores = " - ".join(f"y{k}*z{k}" for k in range(1, CLASSES + 1))
    full = objective(
        f"log({normaliser}) - {scores}",
        params,
        [*_FEATURES, *(y.name for y in labels)],
        define=define,
    )
    derivation = derive(full)
    b.derivations.append(derivation)
    for step in derivation.steps:
        k = next(i for i, (_, d) in enumerate(full.intermediates) if step.param in d.free_symbols)
        z, definition = full.intermediates[k]
        local = sympy.diff(definition, step.param)
        claimed = deltas[k].xreplace(head.substitutions).xreplace(full.substitutions) * local
        # The derivation engine's result (one-hot labels) must equal delta_k * dz_k/dw.
        one_hot = {labels[-1]: 1 - sympy.Add(*labels[:-1])}
        if not is_zero((step.result - claimed).xreplace(one_hot)):
            raise ArithmeticError(f"gradient of {step.param} is not delta_k times its input")
        b.formulas[f"dl/d{step.param.name}"] = step.result
        b.formulas[f"shown dl/d{step.param.name}"] = _delta(k) * local
    z_k, w_kj, b_k = _general("z_k"), _general("w_kj"), _general("b_k")
    x_j, delta_k = _general("x_j"), _general("delta_k")
    b.equations(
        (
            "grad-w",
            b.partial(LOSS_SYMBOL, w_kj),
            [f"{b.partial(LOSS_SYMBOL, z_k)} {b.partial(z_k, w_kj)}", b.tex(delta_k * x_j)],
        ),
        (
            "grad-b",
            b.partial(LOSS_SYMBOL, b_k),
            [f"{b.partial(LOSS_SYMBOL, z_k)} {b.partial(z_k, b_k)}", b.tex(delta_k)],
        ),
    )
    b.say(
        "for every class {0} and feature {1}: all {2} weight and {3} bias gradients were "
        "derived one by one and each checked to equal this form.",
        r"k = 1, \dots, " + str(CLASSES),
        r"j = 1, \dots, " + str(len(_FEATURES)),
        str(CLASSES * len(_FEATURES)),
        str(CLASSES),
    )
    return derivation


def _vector_form(b: Builder) -> None:
    """All classes and examples at once: the gradient (P − Y)ᵀX/m of the weight matrix."""
    derivation = derive_tensor(
        tensor_objective(
            "(sum(logsumexp(Z)) - sum(Y*Z))/m",
            "W[k,d], b[k]",
            "X[m,d], Y[m,k]",
            define=["Z = X@W.T + b"],
        )
    )
    b.section("In vector form")
    b.say(
        "With {0} classes and {1} features: row {2} of {3} holds the weights of class {2}, "
        "the rows of {4} the examples and the rows of {5} their one-hot labels, so {6} holds "
        "the logits of every example and class; logsumexp and softmax act on each row. For a "
        "one-hot label the cross-entropy of one example is {7}. Every line was checked "
        "element by element against a direct differentiation at small sizes:",
        "k",
        "d",
        "k",
        r"\boldsymbol{W}",
        r"\boldsymbol{X}",
        r"\boldsymbol{Y}",
        r"\boldsymbol{Z}",
        r"-\sum_{k} y_{k} \log p_{k} = \operatorname{logsumexp}(\boldsymbol{z}) - "
        r"\boldsymbol{y}^{\top} \boldsymbol{z}",
    )
    b.matrix_form(derivation, names={"P": "softmax(Z)"})
    b.note(r"\boldsymbol{P}", "softmax probabilities, one row per example")
    b.say(
        "Row {0} of {1} holds the error signals {2} of example {0}, so entry {3} of {4} is "
        "the weight gradient {5} of the scalar form, summed over the examples and divided "
        "by {6}.",
        "i",
        r"\boldsymbol{P} - \boldsymbol{Y}",
        r"\delta_{k} = p_{k} - y_{k}",
        "(k, j)",
        r"\frac{1}{m} (\boldsymbol{P} - \boldsymbol{Y})^{\top} \boldsymbol{X}",
        r"\delta_{k} x_{j}",
        "m",
    )


def build(b: Builder) -> str:
    classes = range(1, CLASSES + 1)
    names = [f"y{k}" for k in classes]
    labels = [symbol(n) for n in names]
    normaliser = " + ".join(f"exp(z{k})" for k in classes)
    define = {"S": normaliser, **{f"p{k}": f"exp(z{k})/S" for k in classes}}
    loss = " - ".join(f"y{k}*log(p{k})" for k in classes)
    head = objective("-" + loss, [f"z{k}" for k in classes], names, define=define)
    k, j = r"$k$", r"$j$"
    b.note(_general("z_k"), f"logit (score) of class {k}, for $k = 1, 2, 3$")
    b.note(_general("p_k"), f"softmax probability of class {k}")
    b.note(_general("y_k"), f"1 if the example is of class {k}, else 0 (one-hot label)")
    b.note(symbol("S"), "the softmax normaliser")
    b.note(
        _general("delta_k"), f"error signal of class {k}: the derivative of the loss by its logit"
    )
    b.note(
        _general("w_kj"),
        f"weight of class {k} on feature {j}: entry $(k, j)$ of $\\boldsymbol{{W}}$",
    )
    b.note(_general("b_k"), f"bias of class {k}: entry {k} of $\\boldsymbol{{b}}$")
    b.note(_general("x_j"), f"feature {j} of one example, for $j = 1, 2$")
    b.note(LOSS_SYMBOL, "loss of one example")
    b.note(sympy.Symbol("J"), "objective: the loss averaged over the examples")
    b.note(sympy.Symbol("m"), "number of examples")
    b.note(ALPHA, "learning rate")
    b.section("Softmax and cross-entropy")
    b.say(
        "With one-hot labels (exactly one {0} equals 1), the softmax cross-entropy of one "
        "example, its logits {1} taken as given for now:",
        _general("y_k"),
        r"z_{1}, z_{2}, z_{3}",
    )
    b.model(head, "head-")
    b.section("The error signal")
    b.say(
        "The derivative of the loss by each logit, through the normaliser {0} and every "
        "probability; with the one-hot constraint it simplifies to the error signal:",
        symbol("S"),
    )
    deltas = _error_signals(b, head, labels)
    b.section("Gradients of the weights")
    b.say(
        "Class {0} has the logit {1}, linear in its weights, so every weight gradient is the "
        "error signal of its class times the input it multiplies:",
        _general("k"),
        r"z_{k} = w_{k1} x_{1} + w_{k2} x_{2} + b_{k}",
    )
    derivation = _weight_gradients(b, head, deltas, labels, normaliser)
    _vector_form(b)
    compiled = compiled_or_code(b, derivation)
    if compiled is not None:
        rng = numpy.random.default_rng(2)
        centres = numpy.array([[0.0, 1.5], [-1.4, -0.8], [1.4, -0.8]])
        label = numpy.repeat(numpy.arange(CLASSES), 80)
        points = centres[label] + 0.7 * rng.standard_normal((label.size, 2))
        data = {"x1": points[:, 0], "x2": points[:, 1]}
        data.update({f"y{k + 1}": (label == k).astype(float) for k in range(CLASSES)})
        start = dict.fromkeys(compiled.params, 0.0)
        runs = batch_and_mini_batch(compiled, data, start, rate=0.5, epochs=60)
        b.section("Training")
        b.say("Trained on 240 seeded examples from three Gaussian classes:")
        finals = "; ".join(f"{mode} {history[-1]:.3g}" for mode, history in runs.items())
        caption = (
            "Training loss of softmax regression, batch and mini-batch descent, 60 epochs at "
            f"$\\alpha = 0.5$ from zero weights. Final training loss: {finals}."
        )
        b.figure("modes", caption, lambda p: loss_curves(runs, p))
        rates_and_code(b, compiled, data, start, (0.01, 0.5, 8.0, 80.0), batch_size=16)
    return "Softmax regression and its error signal"
