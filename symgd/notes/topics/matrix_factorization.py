r"""Matrix factorisation for recommendation, :math:`r_{ij} \approx u_i^T v_j` with L2.

Not a symgd objective: each rating involves its own user's and item's rows of ``U`` and
``V`` (gathered by index), while an objective's parameters are shared by every example.
So the per-rating loss and gradients are compiled element-wise with
:func:`symgd.compile.compile_expression` and scattered back into the rows of ``U`` and
``V``; the runner (:func:`symgd.training.gradient_descent`) trains and holds out the
validation ratings.
"""

from __future__ import annotations

import numpy
import sympy

from symgd.compile import compile_expression
from symgd.define import objective
from symgd.notes.builder import Builder, derivation_body
from symgd.render import loss_curves
from symgd.render.printing import latex_printer
from symgd.training import gradient_descent

__all__ = ["build"]

_FACTORS = 2
_STRENGTH = 0.05


def build(b: Builder) -> str:
    u = [f"u{j}" for j in range(1, _FACTORS + 1)]
    v = [f"v{j}" for j in range(1, _FACTORS + 1)]
    rhat = " + ".join(f"{a}*{c}" for a, c in zip(u, v))
    obj = objective("(r - rhat)**2/2", u + v, "r", define={"rhat": rhat}, l2=_STRENGTH)
    b.note(sympy.Symbol("ubold_i"), "latent factors of user i, a row of U")
    b.note(sympy.Symbol("vbold_j"), "latent factors of item j, a row of V")
    matrix = latex_printer(mat_symbol_style="bold")  # matrices: upright bold capitals
    for name, meaning in (
        ("R", "ratings matrix, observed on a set O"),
        ("U", "user factors, one row per user"),
        ("V", "item factors, one row per item"),
    ):
        b.note(matrix.doprint(sympy.MatrixSymbol(name, 1, 1)), meaning)
    derivation = derivation_body(b, obj)
    b.section("From one rating to the matrices")
    b.say(
        "Each observed rating r = R_ij involves only user i's factors and item j's "
        "factors: the parameters above are the entries of those two rows, and m counts the "
        "observed ratings. The gradient of a row of U sums the per-rating gradients over "
        "that user's ratings (a scatter-add), plus the penalty; likewise for V."
    )
    u_i = sympy.MatrixSymbol("ubold_i", _FACTORS, 1)
    v_j = sympy.MatrixSymbol("vbold_j", _FACTORS, 1)
    b.equations(("rating", b.tex(sympy.Symbol("rhat_ij")), [b.tex(u_i.T * v_j)]))
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
        f"A seeded {users} x {items} ratings matrix of rank {k} plus noise, about 60 % observed; "
        "a fifth of the observed ratings is held out for validation."
    )
    b.figure(
        "modes",
        "Training (solid) and held-out (dashed) loss of the factorisation.",
        lambda p: loss_curves(runs, p, validation=validation),
    )
