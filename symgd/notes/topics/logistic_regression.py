"""Logistic regression: the sigmoid's derivative in its own output cancels the cross-entropy's."""

from __future__ import annotations

import numpy

from symgd.define import logistic_regression, tensor_objective
from symgd.derivation import derive_hessian, derive_tensor
from symgd.notes.builder import Builder, derivation_body
from symgd.notes.code import compiled_or_code
from symgd.notes.runs import rates_and_code, three_modes
from symgd.parse import symbol

__all__ = ["build"]


_CROSS_ENTROPY = "-sum(y*log(sigmoid(z)) + (1 - y)*log(1 - sigmoid(z)))/m"


def _vector_form(b: Builder) -> None:
    """All examples at once: the gradient Xᵀ(p − y)/m and the Hessian Xᵀ diag(p ⊙ (1 − p)) X/m."""
    derivation = derive_tensor(
        tensor_objective(_CROSS_ENTROPY, "w[d], b", "X[m,d], y[m]", define=["z = X@w + b"])
    )
    hessian = derive_hessian(derivation)
    b.section("In vector form")
    b.say(
        "With {0} features, the {1} examples are the rows of {2}; the sigmoid and the "
        "logarithm act element by element. The gradients and the Hessian, each checked "
        "element by element against a direct differentiation at small sizes:",
        "d",
        "m",
        r"\boldsymbol{X}",
    )
    b.matrix_form(derivation, hessian, names={"p": "sigmoid(z)"})
    b.note(r"\boldsymbol{p}", "predicted probabilities of all examples")
    b.say(
        "The scalar gradient {0}, summed over the examples, is {1}: row {2} of {3} is "
        "multiplied by the error {4} of example {2}.",
        r"\partial \ell / \partial w = (p - y) x",
        r"\boldsymbol{X}^{\top} (\boldsymbol{p} - \boldsymbol{y})",
        "i",
        r"\boldsymbol{X}",
        r"p_{i} - y_{i}",
    )
    b.say(
        "The Hessian {0} weighs example {1} by {2}, so it is positive semi-definite and {3} "
        "is convex. Newton's method steps {4} with the whole Hessian {6} over {5} (iteratively "
        "reweighted least squares) and needs a handful of steps where gradient descent needs "
        "hundreds.",
        r"\frac{1}{m} \boldsymbol{X}^{\top} \operatorname{diag}(\boldsymbol{p} \odot "
        r"(1 - \boldsymbol{p})) \boldsymbol{X}",
        "i",
        r"p_{i} (1 - p_{i}) > 0",
        "J",
        r"\boldsymbol{\theta}^{(t+1)} = \boldsymbol{\theta}^{(t)} - \boldsymbol{H}^{-1} "
        r"\nabla J(\boldsymbol{\theta}^{(t)})",
        r"\boldsymbol{\theta} = (\boldsymbol{w}, b)",
        r"\boldsymbol{H}",
    )


def build(b: Builder) -> str:
    b.note(symbol("z"), "logit (score) of one example")
    b.note(symbol("p"), "predicted probability that $y = 1$")
    derivation = derivation_body(b, logistic_regression())
    _vector_form(b)
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
