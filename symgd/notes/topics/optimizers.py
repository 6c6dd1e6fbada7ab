"""Momentum, Nesterov, AdaGrad, RMSProp, Adam and AdamW: update rules and runs.

The rules are printed from the SymPy definitions that symgd compiles.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy
import sympy

from symgd.compile import compile_objective
from symgd.define import linear_regression
from symgd.derivation import derive
from symgd.notes.builder import ALPHA, Builder
from symgd.notes.runs import contour_loss, recorded
from symgd.render import descent_paths, loss_curves
from symgd.training import (
    GradientTransformation,
    adagrad,
    adam,
    adamw,
    momentum,
    nesterov,
    rmsprop,
    update_rule_lines,
)

__all__ = ["OPTIMIZERS", "build"]

_WEIGHT_DECAY = 0.01
#: Each optimiser of the note, from its learning rate.
OPTIMIZERS: dict[str, Callable[[float], GradientTransformation]] = {
    "momentum": lambda rate: momentum(rate, beta=0.9),
    "Nesterov": lambda rate: nesterov(rate, beta=0.9),
    "AdaGrad": lambda rate: adagrad(rate),
    "RMSProp": lambda rate: rmsprop(rate, decay=0.9),
    "Adam": lambda rate: adam(rate),
    "AdamW": lambda rate: adamw(rate, weight_decay=_WEIGHT_DECAY),
}
_RATES = {
    "momentum": 0.05,
    "Nesterov": 0.05,
    "RMSProp": 0.05,
    "Adam": 0.1,
    "AdaGrad": 1.0,
    "AdamW": 0.1,
}
_NOTATION = (
    (r"g^{(t)}", "gradient at step $t$, one entry per parameter"),
    (r"\theta^{(t)}", "a parameter at step $t$ (the rules act on every entry alike)"),
    (ALPHA, "learning rate"),
    (r"v^{(t)}", "velocity (momentum, Nesterov) or running mean of squared gradients"),
    (r"m^{(t)}", "running mean of the gradients (Adam)"),
    (
        r"\hat{m}^{(t)},\ \hat{v}^{(t)}",
        r"bias-corrected means (Adam): $m^{(t)}$ and $v^{(t)}$ divided by "
        r"$1 - \beta_{1}^{t}$ and $1 - \beta_{2}^{t}$",
    ),
    (sympy.Symbol("beta"), "momentum coefficient"),
    (r"G^{(t)}", "running sum of squared gradients (AdaGrad)"),
    (sympy.Symbol("rho"), "decay of the running mean (RMSProp)"),
    (r"\beta_{1},\ \beta_{2}", "decays of the two running means (Adam)"),
    (sympy.Symbol("lamda"), "decoupled weight decay (AdamW), applied to every parameter"),
    (sympy.Symbol("epsilon"), "a small number keeping the denominator away from zero"),
)

#: ``theta_t``, ``v_t-1``, ``theta_t+1``: a value at a step, shown as ``\theta^{(t)}``.
#: What a reader needs beside an optimiser's rule (shown after its name).
_REMARKS = {
    "AdaGrad": " (the sum of squares only grows, so every element's step keeps shrinking)",
    "AdamW": (
        " (Adam with decoupled weight decay: the decay is added to Adam's step, not to the "
        "gradient as an L2 penalty would be, so it is not divided by the square root; here "
        "{0})"
    ),
}


def _listed(names) -> str:
    """``a, b and c``."""
    names = list(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _runs(b: Builder, transforms: dict[str, GradientTransformation]) -> None:
    """150 full-batch steps of each optimiser through the runner, on long, narrow contours."""
    compiled = compile_objective(derive(linear_regression()))
    rng = numpy.random.default_rng(9)
    x = rng.uniform(1.0, 3.0, 100)  # far from zero: long, narrow contours in (w, b)
    data = {"x": x, "y": 2.0 * x + 1.0 + 0.2 * rng.standard_normal(x.size)}
    paths, runs = {}, {}
    for name, transform in transforms.items():
        result, paths[name] = recorded(
            compiled, data, {"w": -1.0, "b": 4.0}, optimizer=transform, epochs=150, progress=False
        )
        runs[name] = result.loss_history
    b.section("The optimisers on an ill-conditioned problem")
    b.say(
        "Linear regression with inputs between 1 and 3, so that {0} and {1} are strongly "
        "coupled (long, narrow contours); 150 full-batch steps of each optimiser from the "
        "same start, {2}:",
        "w",
        "b",
        r"(w, b) = (-1, 4)",
    )
    b.figure(
        "paths",
        "Paths of "
        + _listed(transforms)
        + " over the contours of $J$, at the learning rates "
        + ", ".join(f"$\\alpha = {_RATES[name]:g}$ ({name})" for name in transforms)
        + ".",
        lambda p: descent_paths(
            contour_loss(compiled, data), paths, p, names=("w", "b"), columns=2
        ),
        width=0.85,
    )
    finals = "; ".join(f"{name} {history[-1]:.3g}" for name, history in runs.items())
    b.figure(
        "curves",
        f"Training loss $J$ per step of each optimiser. After 150 steps: {finals}.",
        lambda p: loss_curves(runs, p),
    )


def build(b: Builder) -> str:
    for shown, meaning in _NOTATION:
        b.note(shown, meaning)
    b.section("Update rules")
    b.say(
        "Each optimiser's update, printed from the same SymPy equations that symgd compiles "
        "into its NumPy update. Every rule acts on each parameter alike, entry by entry; "
        "plain gradient descent is {0}:",
        r"\theta^{(t+1)} = \theta^{(t)} - \alpha g^{(t)}",
    )
    transforms = {name: make(_RATES[name]) for name, make in OPTIMIZERS.items()}
    for name, transform in transforms.items():
        shown = name[0].upper() + name[1:]
        b.say(f"{shown}{_REMARKS.get(name, '')}:", rf"\lambda = {_WEIGHT_DECAY:g}")
        rows = [
            (f"{name.lower()}-{n}", lhs, [rhs])
            for n, (lhs, rhs) in enumerate(update_rule_lines(transform))
        ]
        b.equations(*rows)
        b.formulas[name] = sympy.Tuple(*transform.equations)
    if b.trains:
        _runs(b, transforms)
    return "Optimizers: " + _listed(transforms)
