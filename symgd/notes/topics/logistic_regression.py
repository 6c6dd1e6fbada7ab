"""Logistic regression: the sigmoid's derivative in its own output cancels the cross-entropy's."""

from __future__ import annotations

import numpy

from symgd.define import logistic_regression
from symgd.notes.builder import Builder, derivation_body
from symgd.notes.code import compiled_or_code
from symgd.notes.runs import rates_and_code, three_modes

__all__ = ["build"]


def build(b: Builder) -> str:
    derivation = derivation_body(b, logistic_regression())
    sigma_prime = derivation.steps[0].local_derivatives[0][1]
    b.formulas["sigma'"] = sigma_prime
    compiled = compiled_or_code(b, derivation)
    if compiled is not None:
        rng = numpy.random.default_rng(1)
        x = rng.normal(0.0, 1.5, 300)
        y = (rng.uniform(size=x.size) < 1 / (1 + numpy.exp(-(2.0 * x - 0.5)))).astype(float)
        data, start = {"x": x, "y": y}, {"w": 0.0, "b": 0.0}
        b.section("Training")
        b.say(
            "The sigmoid's derivative appears in its own output, {0}, and cancels against the "
            "derivative of the cross-entropy. Trained on 300 seeded examples:",
            sigma_prime,
        )
        three_modes(b, compiled, data, start, rate=0.5, epochs=40)
        rates_and_code(b, compiled, data, start, (0.02, 1.0, 8.0, 60.0), batch_size=30)
    return "Logistic regression: sigmoid and cross-entropy"
