"""The seed: linear regression, its gradients, and batch / stochastic / mini-batch descent."""

from __future__ import annotations

from symgd.data import linear_data
from symgd.define import linear_regression
from symgd.notes.builder import Builder, derivation_body
from symgd.notes.code import compiled_or_code
from symgd.notes.runs import rates_and_code, three_modes

__all__ = ["build"]


def build(b: Builder) -> str:
    obj = linear_regression()
    derivation = derivation_body(b, obj)
    compiled = compiled_or_code(b, derivation)
    if compiled is not None:
        data = linear_data(200, seed=0)
        b.section("Batch, stochastic and mini-batch descent")
        b.say(
            "Batch descent uses all {0} examples per step; stochastic descent one example, "
            "mini-batch descent a shuffled slice B of them, averaging the same summand over B.",
            obj.examples,
        )
        start = {"w": 0.0, "b": 0.0}
        three_modes(b, compiled, data, start, rate=0.3, epochs=30)
        rates_and_code(b, compiled, data, start, (0.005, 0.02, 0.5, 3.0), batch_size=20)
    return "Linear regression by gradient descent"
