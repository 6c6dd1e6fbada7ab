"""L2 (ridge, weight decay) and L1 (lasso) penalties, and a λ sweep that shows their use."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy
import sympy
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from symgd.compile import compile_tensor
from symgd.define import objective, tensor_objective
from symgd.derivation import Derivation, MatrixDerivation, derive, derive_hessian, derive_tensor
from symgd.notes.builder import ALPHA, Builder
from symgd.notes.document import PartialDerivative
from symgd.training import train_tensor

__all__ = ["DEGREE", "LAMBDAS", "build", "polynomial_data", "ridge_sweep"]

_STRENGTH = 0.1
#: Degree of the polynomial features x, x², …, x⁹ of the λ sweep.
DEGREE = 9
#: The λ grid of the sweep (half decades), besides λ = 0.
LAMBDAS = tuple(float(v) for v in numpy.logspace(-8, 1, 19))
_NOISE, _TRAINING, _HELD_OUT, _SEED, _SEEDS = 0.3, 20, 200, 4, 8


def polynomial_data(examples: int, seed: int) -> dict[str, numpy.ndarray]:
    r"""Seeded noisy samples of :math:`\sin(\pi x)` with polynomial features.

    .. math:: y_i = \sin(\pi x_i) + \varepsilon_i,\quad x_i \sim U(-1, 1),\quad
        \varepsilon_i \sim N(0, 0.3^2),\quad \boldsymbol{X}_{ik} = x_i^k,\ k = 1, \dots, 9

    Args:
        examples: Number of examples :math:`m`.
        seed: Seed of NumPy's generator.

    Returns:
        ``{"x": (m,), "X": (m, 9), "y": (m,)}``.

    Example:
        >>> data = polynomial_data(20, seed=4)
        >>> data["X"].shape, bool(numpy.allclose(data["X"][:, 2], data["x"] ** 3))
        ((20, 9), True)
    """
    rng = numpy.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, examples)
    y = numpy.sin(numpy.pi * x) + _NOISE * rng.standard_normal(examples)
    return {"x": x, "X": x[:, None] ** numpy.arange(1, DEGREE + 1), "y": y}


def ridge_sweep(
    derivation: MatrixDerivation, training: dict, held_out: dict, lambdas=(0.0, *LAMBDAS)
) -> dict[float, tuple[float, float, dict]]:
    r"""Fit ridge regression at every λ with Newton's method; the unpenalised loss on both sets.

    The fit minimises :math:`\tfrac{1}{2m}\lVert \boldsymbol{X}\boldsymbol{w} + b -
    \boldsymbol{y}\rVert^2 + \tfrac{\lambda}{2}\boldsymbol{w}^\top\boldsymbol{w}` (a quadratic:
    Newton lands on the minimum in one step; three are taken) and each fit is checked against
    the normal equations :math:`(\boldsymbol{A}^\top\boldsymbol{A}/m + \lambda D)\theta =
    \boldsymbol{A}^\top\boldsymbol{y}/m`, :math:`\boldsymbol{A} = [\boldsymbol{X}\ \mathbf{1}]`,
    :math:`D = \operatorname{diag}(1, \dots, 1, 0)` (the bias is not penalised).

    Args:
        derivation: The ridge objective in vector form, with data ``X``, ``y``, ``lamda``.
        training: ``X`` and ``y`` to fit on.
        held_out: ``X`` and ``y`` to validate on.
        lambdas: The strengths :math:`\lambda` to fit.

    Returns:
        λ -> (training :math:`J_0`, held-out :math:`J_0`, fitted parameters), where
        :math:`J_0` is the objective without the penalty.

    Raises:
        ArithmeticError: A fit disagrees with the normal equations.

    Example:
        >>> derivation = derive_tensor(tensor_objective("norm(X@w + b - y)**2/(2*m) + "
        ...     "lamda/2*w@w", "w[d], b", "X[m,d], y[m], lamda"))
        >>> found = ridge_sweep(derivation, polynomial_data(20, 4), polynomial_data(200, 5),
        ...                     (0.0, 1e-3))
        >>> bool(found[1e-3][1] < found[0.0][1]), bool(found[0.0][0] < found[1e-3][0])
        (True, True)
    """
    compiled = compile_tensor(derivation, hessian=True)
    A = numpy.column_stack([training["X"], numpy.ones(len(training["y"]))])
    penalised = numpy.diag([1.0] * training["X"].shape[1] + [0.0])
    found = {}
    for strength in lambdas:
        data = {"X": training["X"], "y": training["y"], "lamda": strength}
        fit = train_tensor(compiled, data, optimizer="newton", steps=3, progress=False)
        theta = numpy.append(fit.params["w"], fit.params["b"])
        m = len(training["y"])
        exact = numpy.linalg.solve(A.T @ A / m + strength * penalised, A.T @ training["y"] / m)
        if not numpy.allclose(theta, exact, rtol=1e-6, atol=1e-6 * numpy.abs(exact).max()):
            raise ArithmeticError(f"the Newton fit at lambda = {strength:g} is not the minimum")
        losses = [
            compiled.loss(fit.params, {"X": s["X"], "y": s["y"], "lamda": 0.0})
            for s in (training, held_out)
        ]
        found[strength] = (*losses, fit.params)
    return found


def _best(found: dict) -> float:
    return min((s for s in found if s > 0), key=lambda s: found[s][1])


def _draw_sweep(found: dict, training: dict, path: Path) -> Path:
    """Left: J_0 against λ (λ = 0 as dotted lines); right: the data and two fits."""
    best = _best(found)
    grid = numpy.array([s for s in found if s > 0])
    figure = Figure(figsize=(9.0, 4.2))
    with matplotlib.rc_context({"font.size": 13, "legend.fontsize": 11}):
        left, right = figure.subplots(1, 2)
        for k, (name, colour) in enumerate((("training", "C0"), ("held-out", "C1"))):
            values = [found[s][k] for s in grid]
            left.plot(grid, values, "o-", color=colour, markersize=3, label=f"{name}, λ > 0")
            left.axhline(found[0.0][k], color=colour, linestyle=":", label=f"{name}, λ = 0")
        left.plot([best], [found[best][1]], "k*", markersize=12, label=f"best λ = {best:.2g}")
        left.set(xscale="log", yscale="log", xlabel="λ", ylabel="J₀ (no penalty)")
        left.set_title("Error against the L2 strength")
        left.set_ylim(top=3.0 * max(v[1] for v in found.values()))
        left.legend(loc="upper center", ncol=2, columnspacing=0.8, handlelength=1.5)
        left.grid(True, which="major", alpha=0.3)
        x = numpy.linspace(-1.0, 1.0, 400)
        X = x[:, None] ** numpy.arange(1, DEGREE + 1)
        right.plot(training["x"], training["y"], "ko", markersize=4, label="20 examples")
        right.plot(x, numpy.sin(numpy.pi * x), color="0.6", label="sin(πx)")
        for strength, colour in ((0.0, "C3"), (best, "C2")):
            params = found[strength][2]
            right.plot(x, X @ params["w"] + params["b"], color=colour, label=f"λ = {strength:.2g}")
        right.set(ylim=(-2.0, 2.0), xlabel="x", ylabel="y")
        right.set_title("Degree-9 fits")
        right.legend(loc="lower right")
        figure.tight_layout()
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=100)
    return path


def _effect(b: Builder, derivation: MatrixDerivation) -> None:
    """Ridge on 20 examples with degree-9 features: validation loss against λ, measured."""
    training = polynomial_data(_TRAINING, _SEED)
    held_out = polynomial_data(_HELD_OUT, _SEED + 1000)
    found = ridge_sweep(derivation, training, held_out)
    best = _best(found)
    plain, chosen = found[0.0][1], found[best][1]
    b.formulas["best lambda"] = sympy.Float(best)
    b.formulas["held-out J0 at best lambda"] = sympy.Float(chosen)
    b.formulas["held-out J0 at lambda 0"] = sympy.Float(plain)
    ratios = []
    for seed in range(_SEEDS):
        again = ridge_sweep(
            derivation, polynomial_data(_TRAINING, seed), polynomial_data(_HELD_OUT, seed + 1000)
        )
        ratios.append(again[0.0][1] / again[_best(again)][1])
    b.section("Effect on a small, flexible model")
    b.say(
        "Twenty seeded noisy examples of {0}, with {1} and {2}, fitted with the "
        "nine features {3} (ridge regression in the vector form above; Newton's method, "
        "checked against the normal equations) at {4} and at 19 values of {5} from {6} to 10. "
        "The squared error {7} without the penalty is measured on the 20 training examples and "
        "on 200 held-out examples from the same source.",
        r"y = \sin(\pi x) + \varepsilon",
        r"\varepsilon \sim N(0, 0.3^2)",
        r"x \in [-1, 1]",
        "x, x^2, \\dots, x^9",
        r"\lambda = 0",
        r"\lambda",
        "10^{-8}",
        "J_0",
    )
    every = "every time" if min(ratios) > 1 else "not every time"
    b.say(
        "Without the penalty the polynomial follows the noise: it has the lowest training error, "
        "and its held-out error is {0} times that of the best {1}. Too large a {1} flattens the "
        f"fit and both errors grow. Over {_SEEDS} seeded draws of the 20 examples the best {{1}} "
        f"beat {{2}} {every} (held-out error at {{2}} divided by the best one: from "
        f"{min(ratios):.2f} to {max(ratios):.0f}, median {numpy.median(ratios):.1f}).",
        f"{plain / chosen:.1f}",
        r"\lambda",
        r"\lambda = 0",
    )
    b.figure(
        "effect",
        f"Ridge regression with degree-9 features on 20 training examples (seed {_SEED}). "
        f"Best $\\lambda = {best:.2g}$: held-out $J_0 = {chosen:.4f}$, against {plain:.4f} at "
        f"$\\lambda = 0$ (training $J_0$: {found[best][0]:.4f} and {found[0.0][0]:.4f}; the "
        f"noise alone gives {_NOISE**2 / 2:.3f}). Right: the fits at $\\lambda = 0$ and at the "
        "best $\\lambda$.",
        lambda p: _draw_sweep(found, training, p),
        width=1.0,
    )


def _decay_update(b: Builder, derivation: Derivation, key: str) -> None:
    """``w^{(t+1)} = (1 − αλ) w^{(t)} − α ∂J_0/∂w`` (collected in ``w``); ``b`` as usual."""
    lamda = sympy.Symbol("lamda", real=True)
    theta = sympy.Symbol("thetabold^(t)", real=True)
    lines = []
    for p in derivation.objective.params:
        now = b.at_step(p, "t")
        data_term = PartialDerivative(sympy.Symbol("J_0", real=True), p, theta)
        penalty = lamda * now if p.name == "w" else 0
        update = sympy.collect(sympy.expand(now - ALPHA * (data_term + penalty)), now)
        b.formulas[f"{key}decay {p.name}"] = update
        lines.append((f"{key}decay-{p.name}", b.tex(b.at_step(p, "t+1")), [b.tex(update)]))
    b.equations(*lines)
    b.note(sympy.Symbol("J_0"), "the objective without the penalty")


def _vector_form(b: Builder) -> MatrixDerivation:
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
        "Ridge regression with {0} features, the examples in the rows of {1}. As in the "
        "scalar form above, the penalty is on the weights only, not on the bias {2}. Checked "
        "element by element against a direct differentiation at small sizes:",
        "d",
        r"\boldsymbol{X}",
        "b",
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
    return derivation


def build(b: Builder) -> str:
    yhat = {"yhat": "w*x + b"}
    strength = {"lamda": str(_STRENGTH)}
    ridge = objective("(y - yhat)**2/2 + lamda/2*w**2", "w,b", "x,y", define={**yhat, **strength})
    lasso = objective("(y - yhat)**2/2 + lamda*abs(w)", "w,b", "x,y", define={**yhat, **strength})
    b.note(sympy.Symbol("lamda"), "strength of the penalty")
    b.objective_notation(ridge)
    b.section("L2 penalty (ridge, weight decay)")
    b.say(
        "The squared-error loss plus the L2 penalty on the weight, added to every example's "
        "loss (so also to their mean). The bias {0} is not penalised: it only shifts the "
        "predictions, and pulling it towards 0 would make the fit depend on where {1} is "
        "measured from. Penalise it only when asked (the L2 option of custom notes, "
        "which adds half the sum of all squared parameters, does penalise it).",
        "b",
        "y",
    )
    ridge_derivation = derive(ridge)
    b.model(ridge, "l2-")
    b.chain(ridge_derivation, "l2-")
    b.say("Collecting the weight in the update shows the decay factor; the bias moves as usual:")
    _decay_update(b, ridge_derivation, "l2-")
    vector = _vector_form(b)
    b.section("L1 penalty (lasso)")
    b.say("An L1 term on the weight, added to every example's loss (so also to their mean):")
    lasso_derivation = derive(lasso)
    b.model(lasso, "l1-")
    b.chain(lasso_derivation, "l1-")
    b.say(
        "The absolute value has no derivative at {0}. There the gradient uses {1}, so the "
        "penalty contributes 0: a subgradient, since every value in {2} is a subgradient of "
        "{3} at {0}. NumPy's sign and SymPy's agree.",
        "w = 0",
        r"\operatorname{sign}(0) = 0",
        r"[-\lambda, \lambda]",
        r"\lambda \lvert w \rvert",
    )
    b.update_rules(lasso_derivation, "l1-")
    if b.trains:
        _effect(b, vector)
    return "Regularization: L2 and L1 penalties"
