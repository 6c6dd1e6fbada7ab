"""Backpropagation in a 2-2-1 sigmoid network, weight by weight, and the general δ recursion."""

from __future__ import annotations

import numpy
import sympy

from symgd.define import Objective, network, objective
from symgd.derivation import Derivation, derive_network, is_zero, lecturer_form
from symgd.notes.builder import Builder, derivation_body
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
    b.section("The general delta recursion")
    b.say(
        "The same network by layers: the output error and the activation derivative are "
        "derived by SymPy, the dense-layer rules in index notation (symgd.derivation.network). The "
        "expanded chains above are its entries: the first two local derivatives of every "
        "chain multiply to the output error {0}.",
        local,
    )
    b.parts.append(Rendered(network_latex(general), network_markdown(general)))


def build(b: Builder) -> str:
    obj = objective(
        "-y*log(p) - (1 - y)*log(1 - p)", "w11,w12,b1,w21,w22,b2,v1,v2,c", "x1,x2,y", define=_LAYERS
    )
    derivation = derivation_body(b, obj)
    _general_recursion(b, obj, derivation)
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
