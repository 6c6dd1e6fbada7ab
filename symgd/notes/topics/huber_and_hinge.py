"""Robust and margin losses: Huber and the hinge, derived as cases, and a fit with outliers."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy
import sympy
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from symgd.compile import compile_objective
from symgd.define import objective
from symgd.derivation import derive
from symgd.notes.builder import Builder, derivation_body
from symgd.notes.code import code_section, compiled_or_code
from symgd.training import train

__all__ = ["HUBER", "build", "fit_slopes", "outlier_data"]

#: Huber's loss of the residual r with threshold δ (a constant, given with the data).
HUBER = "Piecewise((r**2/2, abs(r) <= delta), (delta*(abs(r) - delta/2), True))"
_HINGE = "Max(0, 1 - y*(w*x + b))"
_SLOPE, _INTERCEPT, _DELTA, _RATE, _EPOCHS = 2.0, 1.0, 1.0, 0.1, 400


def outlier_data(examples: int = 60, outliers: int = 6, seed: int = 0) -> dict[str, numpy.ndarray]:
    r"""Seeded points on a line with a few gross outliers at large :math:`x`.

    .. math:: y_i = 2 x_i + 1 + \varepsilon_i,\quad x_i \sim U(-2, 2),\quad
        \varepsilon_i \sim N(0, 0.3^2);\ \text{the } k \text{ largest } x_i \text{ get }
        y_i \leftarrow y_i - 12

    Args:
        examples: Number of examples :math:`m`.
        outliers: How many of them (those with the largest :math:`x`) are outliers.
        seed: Seed of NumPy's generator.

    Returns:
        ``{"x", "y", "delta"}`` with ``delta`` the Huber threshold 1 for every example.

    Example:
        >>> data = outlier_data()
        >>> data["x"].shape, int((data["y"] < 2 * data["x"] + 1 - 6).sum())
        ((60,), 6)
    """
    rng = numpy.random.default_rng(seed)
    x = rng.uniform(-2.0, 2.0, examples)
    y = _SLOPE * x + _INTERCEPT + 0.3 * rng.standard_normal(examples)
    y[numpy.argsort(x)[-outliers:]] -= 12.0
    return {"x": x, "y": y, "delta": numpy.full(examples, _DELTA)}


def fit_slopes(data: dict[str, numpy.ndarray]) -> dict[str, dict[str, float]]:
    """Fit the line by batch gradient descent under the squared loss and under Huber's.

    Returns:
        ``{"squared": {"w": …, "b": …}, "huber": {…}}``.

    Example:
        >>> fits = fit_slopes(outlier_data())
        >>> bool(abs(fits["huber"]["w"] - 2) < abs(fits["squared"]["w"] - 2))
        True
    """
    losses = {
        "squared": objective("(w*x + b - y)**2/2", "w,b", "x,y"),
        "huber": objective(HUBER, "w,b", "x,y,delta", define=["r = w*x + b - y"]),
    }
    fits = {}
    for name, obj in losses.items():
        compiled = compile_objective(derive(obj))
        result = train(
            compiled,
            data,
            {"w": 0.0, "b": 0.0},
            learning_rate=_RATE,
            epochs=_EPOCHS,
            progress=False,
        )
        fits[name] = {n: float(v) for n, v in zip(result.names, result.theta, strict=True)}
    return fits


def _draw(data: dict, fits: dict, path: Path) -> Path:
    """The data (outliers marked), the true line and the two fitted lines."""
    figure = Figure(figsize=(6.4, 4.4))
    with matplotlib.rc_context({"font.size": 12, "legend.fontsize": 10}):
        axes = figure.subplots()
        x, y = data["x"], data["y"]
        far = y < _SLOPE * x + _INTERCEPT - 6
        axes.scatter(x[~far], y[~far], s=14, color="0.45", label="examples")
        axes.scatter(x[far], y[far], s=30, marker="x", color="black", label="outliers")
        grid = numpy.linspace(-2, 2, 50)
        axes.plot(grid, _SLOPE * grid + _INTERCEPT, ":", color="0.2", label="true line, slope 2")
        styles = {"squared": ("tab:red", "squared loss"), "huber": ("tab:blue", "Huber loss")}
        for name, (colour, label) in styles.items():
            w, b = fits[name]["w"], fits[name]["b"]
            axes.plot(grid, w * grid + b, color=colour, lw=2, label=f"{label}, slope {w:.2f}")
        axes.set_xlabel("x")
        axes.set_ylabel("y")
        axes.set_title("Fitting a line with outliers")
        axes.legend(loc="upper left")
        figure.tight_layout()
    FigureCanvasAgg(figure).print_png(path)
    return path


def build(b: Builder) -> str:
    delta, r = sympy.Symbol("delta", real=True), sympy.Symbol("r", real=True)
    b.note(delta, "Huber threshold, the same for every example (here not an error signal)")
    b.constant_data.add(delta)
    huber = objective(HUBER, "w,b", "x,y,delta", define=["r = w*x + b - y"])
    b.section("Huber's loss")
    b.say(
        "Huber's loss is quadratic for small residuals and linear for large ones, so a few "
        "gross errors pull the fit less than under the squared loss. It has cases, and so has "
        "its derivative: {0} where {1}, {2} otherwise.",
        r,
        sympy.Abs(r) <= delta,
        delta * sympy.sign(r),
    )
    derivation = derivation_body(b, huber, kinks=False)
    b.section("Kinks and the convention used")
    b.say(
        "Where two cases meet the loss may have a kink; there every value between the "
        "one-sided derivatives is a subgradient, and any of them may be used."
    )
    b.kink_convention()
    b.say("The compiled code uses the same values.")
    hinge = objective(_HINGE, "w,b", "x,y")
    b.section("The hinge loss")
    b.say(
        "For labels {0} the hinge loss of a linear classifier is zero once the margin {1} "
        "reaches 1, and grows linearly below it (support vector machines):",
        r"y \in \{-1, +1\}",
        "y (w x + b)",
    )
    b.model(hinge, "hinge-")
    b.chain(derive(hinge), "hinge-")
    compiled = compiled_or_code(b, derivation)
    if compiled is not None:
        data = outlier_data()
        fits = fit_slopes(data)
        b.section("Huber against the squared loss, with outliers")
        w_squared, w_huber = fits["squared"]["w"], fits["huber"]["w"]
        caption = (
            f"Sixty seeded points on the line of slope {_SLOPE:g}, six of them (those with the "
            f"largest inputs) moved down by 12. Batch gradient descent, {_EPOCHS} epochs at "
            f"$\\alpha = {_RATE:g}$, from zero: the squared loss fits the slope {w_squared:.2f}, "
            f"Huber's loss with threshold $\\delta = {_DELTA:g}$ the slope {w_huber:.2f}."
        )
        b.say(
            "The same compiled gradients trained on data with outliers: the squared loss "
            "weighs each residual by itself, Huber's caps the weight at {0}.",
            delta,
        )
        b.figure("outliers", caption, lambda p: _draw(data, fits, p))
        code_section(b, compiled)
    return "Robust and margin losses: Huber and the hinge"
