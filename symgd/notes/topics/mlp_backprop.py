"""Backpropagation in a 2-2-1 sigmoid network, weight by weight, and the general δ recursion."""

from __future__ import annotations

import numpy
import sympy

from symgd.define import Objective, network, objective
from symgd.derivation import Derivation, derive, derive_network, is_zero, lecturer_form
from symgd.notes.builder import Builder
from symgd.notes.code import compiled_or_code
from symgd.notes.document import Rendered
from symgd.notes.runs import batch_and_mini_batch, rates_and_code
from symgd.parse import symbol
from symgd.render import loss_curves, network_latex, network_markdown

__all__ = ["build"]

_LAYERS = {
    "z1": "w11*x1 + w12*x2 + b1",
    "a1": "sigmoid(z1)",
    "z2": "w21*x1 + w22*x2 + b2",
    "a2": "sigmoid(z2)",
    "z3": "v1*a1 + v2*a2 + c",
    "p": "sigmoid(z3)",
}


def _general_recursion(b: Builder, obj: Objective, derivation: Derivation) -> None:
    """The layer-level δ recursion (:mod:`symgd.derivation.network`), checked on the expansion."""
    general = derive_network(network("2,2,1", activation="sigmoid", loss="bce"))
    # The expanded chain's first two links, dℓ/dp · dp/dz3, are the output error δ^(2).
    output = derivation.steps[obj.params.index(symbol("c"))]
    local = lecturer_form(sympy.Mul(*output.local_derivatives[0][:2]))
    delta = general.output_error.delta
    names = {s.name: s for s in delta.free_symbols}
    expected = delta.xreplace({names[n]: symbol(n) for n in ("p", "y") if n in names})
    if not is_zero(local - expected):
        raise ArithmeticError(f"the expanded output error {local} is not the layer rule's {delta}")
    b.formulas["delta output"] = local
    b.section("The same network in vector and matrix form")
    b.say(
        "The nine chains above are the entries of three layer rules. Name the layers: "
        "{0}, {1}, {2} and {3}; the hidden units are {4} and {5}, so {6}. The first two "
        "local derivatives of every chain multiply to the output error {7}, and the hidden "
        "chains are the entries of the recursion below: the error sent back through the "
        "weight, times the local derivative of the unit, times its input.",
        r"w_{jk} = \mathbf{W}^{(1)}_{jk}",
        r"b_{j} = b^{(1)}_{j}",
        r"v_{j} = \mathbf{W}^{(2)}_{1j}",
        r"c = b^{(2)}_{1}",
        r"a_{j} = a^{(1)}_{j}",
        r"z_{3} = z^{(2)}_{1}",
        r"\partial \ell / \partial w_{jk} = \delta^{(1)}_{j} x_{k} "
        r"= \left(\delta^{(2)} v_{j}\right) a_{j} \left(1 - a_{j}\right) x_{k}",
        local,
    )
    b.parts.append(Rendered(network_latex(general), network_markdown(general)))


def _update_rule(b: Builder) -> None:
    """One update for all nine parameters (not nine equations), and what it does per layer."""
    b.section("Update rule")
    b.say(
        "Gradient descent moves all nine parameters {0} at once against the gradient:",
        r"\theta = \left(w_{11}, w_{12}, b_{1}, w_{21}, w_{22}, b_{2}, v_{1}, v_{2}, c\right)",
    )
    b.equations(
        (
            "update",
            r"\theta^{(t+1)}",
            [r"\theta^{(t)} - \alpha \nabla_{\theta} J\left(\theta^{(t)}\right)"],
        )
    )
    b.say(
        "Layer by layer this moves {0} by {1} and {2} by {3}.",
        r"\mathbf{W}^{(l)}",
        r"-\alpha \, \partial J / \partial \mathbf{W}^{(l)}",
        r"\boldsymbol{b}^{(l)}",
        r"-\alpha \, \partial J / \partial \boldsymbol{b}^{(l)}",
    )


def build(b: Builder) -> str:
    obj = objective(
        "-y*log(p) - (1 - y)*log(1 - p)", "w11,w12,b1,w21,w22,b2,v1,v2,c", "x1,x2,y", define=_LAYERS
    )
    derivation = derive(obj)
    b.objective_notation(obj)
    b.section("Model and objective")
    b.say("The model, the loss of one example and the objective, averaged over the examples:")
    b.model(obj)
    b.section("Gradients by the chain rule")
    b.say(
        "Each line multiplies the local derivatives along the paths from the loss to the "
        "parameter; every result was checked against a direct differentiation."
    )
    b.chain(derivation)
    _general_recursion(b, obj, derivation)
    _update_rule(b)
    compiled = compiled_or_code(b, derivation)
    if compiled is not None:
        rng = numpy.random.default_rng(3)
        x = rng.uniform(-2, 2, (300, 2))
        y = ((x[:, 0] ** 2 + x[:, 1] < 1.0) ^ (rng.uniform(size=300) < 0.05)).astype(float)
        data = {"x1": x[:, 0], "x2": x[:, 1], "y": y}
        start = dict(zip(compiled.params, numpy.random.default_rng(4).normal(0, 0.5, 9)))
        runs = batch_and_mini_batch(compiled, data, start, rate=1.0, epochs=80)
        b.section("Training")
        b.say(
            "The 2-2-1 network (sigmoid units) trained on 300 seeded examples of a curved "
            "boundary with 5 % of the labels flipped:"
        )
        b.figure("modes", "Training loss of the 2-2-1 network.", lambda p: loss_curves(runs, p))
        rates_and_code(b, compiled, data, start, (0.05, 1.0, 20.0, 400.0), batch_size=16)
    return "Backpropagation in a 2-2-1 network, weight by weight"
