"""The seed: linear regression, its gradients, and batch / stochastic / mini-batch descent."""

from __future__ import annotations

from symgd.data import linear_data
from symgd.define import linear_regression, tensor_objective
from symgd.derivation import derive_tensor
from symgd.notes.builder import Builder, derivation_body
from symgd.notes.code import compiled_or_code
from symgd.notes.runs import rates_and_code, three_modes
from symgd.parse import symbol

__all__ = ["build"]


def _vector_form(b: Builder) -> None:
    """The same model for d features at once: X w + b, and its gradient Xᵀ(ŷ − y)/m."""
    derivation = derive_tensor(
        tensor_objective(
            "norm(yhat - y)**2/(2*m)", "w[d], b", "X[m,d], y[m]", define=["yhat = X@w + b"]
        )
    )
    b.section("In vector form")
    b.say(
        "With {0} features, the {1} examples are the rows of a matrix {2} and their targets "
        "the entries of {3}; one matrix product predicts every example, and the objective is "
        "the same mean of squared errors. Every line was checked element by element against "
        "a direct differentiation at small sizes:",
        "d",
        "m",
        r"\boldsymbol{X}",
        r"\boldsymbol{y}",
    )
    b.matrix_form(derivation)
    b.say(
        "Row {0} of {1} is the example {2}, so {3}: the scalar gradient of one example, summed "
        "over the examples. With one feature ({4}) these are the gradients of the scalar form "
        "above; {5} is the sum of the residuals.",
        "i",
        r"\boldsymbol{X}",
        r"\boldsymbol{x}_{i}^{\top}",
        r"\boldsymbol{X}^{\top} (\boldsymbol{\hat{y}} - \boldsymbol{y}) = "
        r"\sum_{i=1}^{m} (\hat{y}_{i} - y_{i}) \boldsymbol{x}_{i}",
        "d = 1",
        r"\mathbf{1}^{\top} (\boldsymbol{\hat{y}} - \boldsymbol{y})",
    )


def build(b: Builder) -> str:
    obj = linear_regression()
    b.note(symbol("yhat"), "prediction for one example")
    derivation = derivation_body(b, obj)
    _vector_form(b)
    compiled = compiled_or_code(b, derivation)
    if compiled is not None:
        data = linear_data(200, seed=0)
        b.section("Batch, stochastic and mini-batch descent")
        b.say(
            "Batch descent uses all {0} examples per step; stochastic descent one example, "
            "mini-batch descent a shuffled slice {1} of them, averaging the same summand over "
            "{1}: {2}.",
            obj.examples,
            r"\mathcal{B}",
            r"\boldsymbol{\theta}^{(t+1)} = \boldsymbol{\theta}^{(t)} - \frac{\alpha}{\lvert "
            r"\mathcal{B} \rvert} \sum_{i \in \mathcal{B}} "
            r"\nabla \ell_{i}(\boldsymbol{\theta}^{(t)})",
        )
        start = {"w": 0.0, "b": 0.0}
        three_modes(b, compiled, data, start, rate=0.3, epochs=30)
        rates_and_code(b, compiled, data, start, (0.005, 0.5, 1.8, 3.0), batch_size=20)
    return "Linear regression by gradient descent"
