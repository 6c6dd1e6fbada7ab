"""L2 (ridge, weight decay) and L1 (lasso) penalties, and their effect on training."""

from __future__ import annotations

import sympy

from symgd.compile import compile_objective
from symgd.data import linear_data
from symgd.define import linear_regression, objective, tensor_objective
from symgd.derivation import Derivation, derive, derive_hessian, derive_tensor
from symgd.notes.builder import ALPHA, Builder
from symgd.notes.document import PartialDerivative
from symgd.notes.runs import recorded
from symgd.render import loss_curves

__all__ = ["build"]

_STRENGTH = 0.1


def _decay_update(b: Builder, derivation: Derivation, strength: sympy.Symbol, key: str) -> None:
    """``θ^{(t+1)} = (1 − αλ) θ^{(t)} − α ∂J_0/∂θ`` from collecting the update in ``θ``."""
    lines = []
    for p in derivation.objective.params:
        now = b.at_step(p, "t")
        data_term = PartialDerivative(sympy.Symbol("J_0", real=True), p)
        update = sympy.collect(sympy.expand(now - ALPHA * (data_term + strength * now)), now)
        b.formulas[f"{key}decay {p.name}"] = update
        lines.append((f"{key}decay-{p.name}", b.tex(b.at_step(p, "t+1")), [b.tex(update)]))
    b.equations(*lines)
    b.note(sympy.Symbol("J_0"), "the objective without the penalty")


def _effect(b: Builder, penalised: dict[str, Derivation]) -> None:
    """Train without and with each penalty on few examples; check on held-out ones."""
    plain = compile_objective(derive(linear_regression()))
    data, held = linear_data(12, seed=7, noise=0.5), linear_data(200, seed=8, noise=0.5)
    X = plain.prepare(held)
    runs, validation = {}, {}
    for name, derivation in penalised.items():
        compiled = compile_objective(derivation) if derivation is not None else plain
        result, path = recorded(
            compiled, data, {"w": 0.0, "b": 0.0}, learning_rate=0.3, epochs=60, progress=False
        )
        runs[name] = result.loss_history
        validation[name] = [float(plain.loss_function(theta, X)) for theta in path]
        b.formulas[f"{name} final w"] = sympy.Float(result.params["w"])
    b.section("Effect on training")
    b.say(
        "Fitted on 12 noisy seeded examples, checked on 200 held-out ones (dashed: the "
        "unpenalised squared error on the held-out examples):"
    )
    b.figure(
        "effect",
        "Training objective (solid) and held-out squared error (dashed) with no penalty, "
        "L2 and L1.",
        lambda p: loss_curves(runs, p, validation=validation),
    )


def _vector_form(b: Builder) -> None:
    """Ridge regression for d features: the gradient gains λw, the Hessian λI."""
    derivation = derive_tensor(
        tensor_objective(
            "norm(yhat - y)**2/(2*m) + lamda/2*w@w",
            "w[d], b",
            "X[m,d], y[m], lamda",
            define=["yhat = X@w + b"],
        )
    )
    b.section("In vector form")
    b.say(
        "Ridge regression with {0} features, the examples in the rows of {1}. As usual the "
        "penalty is on the weights only; the scalar form above penalised {2} as well, which "
        "adds {3} to its gradient. Checked element by element against a direct "
        "differentiation at small sizes:",
        "d",
        r"\boldsymbol{X}",
        "b",
        r"\lambda b",
    )
    b.matrix_form(derivation, derive_hessian(derivation))
    b.say(
        "The penalty adds {0} to the gradient, the decay term of the scalar form, and {1} to "
        "the Hessian: for {2} the Hessian is positive definite, so the penalised objective "
        "has exactly one minimum even when the columns of {3} are linearly dependent.",
        r"\lambda \boldsymbol{w}",
        r"\lambda I",
        r"\lambda > 0",
        r"\boldsymbol{X}",
    )


def build(b: Builder) -> str:
    yhat = {"yhat": "w*x + b"}
    ridge = objective("(y - yhat)**2/2", "w,b", "x,y", define=yhat, l2=_STRENGTH)
    lasso = objective(
        "(y - yhat)**2/2 + lamda*abs(w)", "w,b", "x,y", define={**yhat, "lamda": str(_STRENGTH)}
    )
    b.objective_notation(ridge)
    b.section("L2 penalty (ridge, weight decay)")
    b.say("The squared-error objective plus the L2 penalty on the parameters:")
    ridge_derivation = derive(ridge)
    b.model(ridge, "l2-")
    b.chain(ridge_derivation, "l2-")
    b.say("Collecting the parameter in the update shows the decay factor:")
    _decay_update(b, ridge_derivation, ridge.l2_symbol, "l2-")
    _vector_form(b)
    b.section("L1 penalty (lasso)")
    b.say("An L1 term on the weight, added to every example's loss (so also to their mean):")
    lasso_derivation = derive(lasso)
    b.model(lasso, "l1-")
    b.chain(lasso_derivation, "l1-")
    b.update_rules(lasso_derivation, "l1-")
    if b.trains:
        _effect(b, {"none": None, "L2": ridge_derivation, "L1": lasso_derivation})
    return "Regularization: L2 and L1 penalties"
