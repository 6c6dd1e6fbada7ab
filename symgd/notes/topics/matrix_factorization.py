r"""Matrix factorisation for recommendation, :math:`r_{uj} \approx \boldsymbol{p}_u^\top
\boldsymbol{q}_j` with L2: users :math:`u`, items :math:`j`, latent components :math:`k`.

Not a symgd objective: each rating involves its own user's and item's rows of ``P`` and
``Q`` (gathered by index), while an objective's parameters are shared by every example.
So the per-rating loss and gradients are compiled element-wise with
:func:`symgd.compile.compile_expression` and scattered back into the rows of ``P`` and
``Q``; the runner (:func:`symgd.training.gradient_descent`) trains and holds out the
validation ratings.
"""

from __future__ import annotations

import numpy
import sympy

from symgd.compile import compile_expression
from symgd.define import objective
from symgd.notes.builder import Builder, derivation_body
from symgd.render import loss_curves
from symgd.training import gradient_descent

__all__ = ["build"]

_FACTORS = 2
_STRENGTH = 0.05


def build(b: Builder) -> str:
    p = [f"p_u{k}" for k in range(1, _FACTORS + 1)]
    q = [f"q_j{k}" for k in range(1, _FACTORS + 1)]
    rhat = " + ".join(f"{a}*{c}" for a, c in zip(p, q))
    obj = objective("(r - rhat)**2/2", p + q, "r", define={"rhat": rhat}, l2=_STRENGTH)
    b.note(r"\boldsymbol{R}", "ratings matrix, one row per user and one column per item")
    b.note(r"\boldsymbol{P}", "user factors, one row per user")
    b.note(r"\boldsymbol{Q}", "item factors, one row per item")
    b.note(r"u,\ j,\ k", "index of a user, of an item, of a latent component")
    b.note(r"\boldsymbol{p}_{u}", "latent factors of user $u$: row $u$ of $\\boldsymbol{P}$")
    b.note(r"\boldsymbol{q}_{j}", "latent factors of item $j$: row $j$ of $\\boldsymbol{Q}$")
    b.note(r"\Omega", "the observed (user, item) pairs; an example is one observed rating")
    for k in range(1, _FACTORS + 1):
        b.note(sympy.Symbol(f"p_u{k}"), f"component {k} of $\\boldsymbol{{p}}_{{u}}$, a parameter")
        b.note(sympy.Symbol(f"q_j{k}"), f"component {k} of $\\boldsymbol{{q}}_{{j}}$, a parameter")
    b.note(sympy.Symbol("r"), "the observed rating $r_{uj}$ of one example")
    b.note(sympy.Symbol("rhat"), "the predicted rating")
    b.section("One rating")
    b.say(
        "User {0} rates item {1} with {2}; the model predicts it by the inner product of "
        "the user's and the item's latent factors, {3} components each:",
        "u",
        "j",
        "r_{uj}",
        str(_FACTORS),
    )
    b.equations(
        (
            "rating",
            r"\hat{r}_{uj}",
            [
                r"\boldsymbol{p}_{u}^{\top} \boldsymbol{q}_{j}",
                r"\sum_{k=1}^{" + str(_FACTORS) + r"} p_{uk} q_{jk}",
            ],
        )
    )
    b.say(
        "Below, one example is one observed rating {0}, written {1}; its parameters are the "
        "{2} entries {3} of the two rows involved, and {4} counts the observed ratings.",
        r"(u, j) \in \Omega",
        "r",
        str(2 * _FACTORS),
        ", ".join(b.tex(sympy.Symbol(n)) for n in p + q),
        "m",
    )
    derivation = derivation_body(b, obj)
    b.section("From one rating to the matrices")
    b.say(
        "The gradient of row {0} of {1} sums the per-rating gradients over the ratings of "
        "user {0} (a scatter-add), plus the penalty; likewise row {2} of {3} over the ratings "
        "of item {2}:",
        "u",
        r"\boldsymbol{P}",
        "j",
        r"\boldsymbol{Q}",
    )
    b.equations(
        (
            "rows-p",
            r"\frac{\partial J}{\partial \boldsymbol{p}_{u}}",
            [
                r"\frac{1}{m} \sum_{j : (u, j) \in \Omega} (\hat{r}_{uj} - r_{uj}) "
                r"\boldsymbol{q}_{j} + \lambda \boldsymbol{p}_{u}"
            ],
        ),
        (
            "rows-q",
            r"\frac{\partial J}{\partial \boldsymbol{q}_{j}}",
            [
                r"\frac{1}{m} \sum_{u : (u, j) \in \Omega} (\hat{r}_{uj} - r_{uj}) "
                r"\boldsymbol{p}_{u} + \lambda \boldsymbol{q}_{j}"
            ],
        ),
    )
    if b.trains:
        _train(b, obj, derivation)
    return "Matrix factorization for recommendation"


def _train(b: Builder, obj, derivation) -> None:
    symbols = [*obj.params, *obj.data]
    loss = compile_expression(obj.expanded_loss, symbols)
    gradients = [compile_expression(step.result, symbols) for step in derivation.steps]
    rng = numpy.random.default_rng(5)
    users, items, k = 14, 12, _FACTORS
    U_true, V_true = rng.normal(0, 1, (users, k)), rng.normal(0, 1, (items, k))
    observed = numpy.argwhere(rng.uniform(size=(users, items)) < 0.6)
    ratings = numpy.einsum("ij,ij->i", U_true[observed[:, 0]], V_true[observed[:, 1]])
    ratings = ratings + 0.1 * rng.standard_normal(ratings.size)
    rows = numpy.arange(ratings.size)

    def loss_and_gradient(theta, examples):
        """J on the selected ratings and its gradient: per-rating gradients scattered to rows."""
        U, V = theta[: users * k].reshape(users, k), theta[users * k :].reshape(items, k)
        chosen = rows[examples]
        i, j = observed[chosen, 0], observed[chosen, 1]
        args = [*U[i].T, *V[j].T, ratings[chosen]]
        value = numpy.mean(loss(*args)) + _STRENGTH / 2 * (theta @ theta)
        gU, gV = numpy.zeros_like(U), numpy.zeros_like(V)
        numpy.add.at(gU, i, numpy.stack([g(*args) for g in gradients[:k]], axis=1))
        numpy.add.at(gV, j, numpy.stack([g(*args) for g in gradients[k:]], axis=1))
        grad = numpy.concatenate([gU.ravel(), gV.ravel()]) / chosen.size + _STRENGTH * theta
        return value, grad

    theta0 = numpy.random.default_rng(6).normal(0, 0.3, (users + items) * k)
    runs, validation = {}, {}
    for mode, size in (("batch", None), ("mini-batch (16)", 16)):
        result = gradient_descent(
            loss_and_gradient,
            theta0,
            ratings.size,
            learning_rate=1.0,
            epochs=150,
            batch_size=size,
            seed=0,
            validation_split=0.2,
            progress=False,
        )
        runs[mode], validation[mode] = result.loss_history, result.validation_history
    b.section("Training on a synthetic ratings matrix")
    b.say(
        "A seeded ratings matrix of {0} users by {1} items, of rank {2} plus noise, about 60 % "
        "observed; a fifth of the observed ratings is held out for validation.",
        str(users),
        str(items),
        str(k),
    )
    b.figure(
        "modes",
        "Training (solid) and held-out (dashed) loss of the factorisation, 150 epochs at "
        f"$\\alpha = 1$ with $\\lambda = {_STRENGTH:g}$. Final training and held-out loss: "
        + "; ".join(f"{mode} {runs[mode][-1]:.3g} and {validation[mode][-1]:.3g}" for mode in runs)
        + ".",
        lambda p: loss_curves(runs, p, validation=validation),
    )
