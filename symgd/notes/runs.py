r"""The runs behind the figures: the compiled objective trained by symgd's runner.

Every run goes through :func:`symgd.training.train` or :func:`symgd.training.gradient_descent`;
a recorded run also keeps the parameters after every step (the descent paths). The
learning-rate verdicts are :func:`symgd.training.classify_runs`'.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy

from symgd.compile import Compiled
from symgd.notes.builder import Builder
from symgd.notes.code import code_section, descent_loop
from symgd.render import descent_paths, learning_rate_comparison, loss_curves
from symgd.training import TrainResult, classify_runs, gradient_descent, train

#: Steps drawn of one descent path: stochastic descent takes one per example, and thousands of
#: them fill the contour plot; the first ones show its noise.
PATH_STEPS = 200

__all__ = [
    "PATH_STEPS",
    "batch_and_mini_batch",
    "contour_loss",
    "descent_runs",
    "rates_and_code",
    "rates_figure",
    "recorded",
    "three_modes",
]


def recorded(compiled: Compiled, data, init, **options) -> tuple[TrainResult, numpy.ndarray]:
    """Train with the runner, recording the parameters after every step (for descent paths).

    Args:
        compiled: From :func:`symgd.compile.compile_objective`.
        data: One array per data symbol.
        init: Starting parameters.
        **options: Keywords of :func:`symgd.training.gradient_descent`.

    Returns:
        The runner's result and the parameters at the start and after every step, ``(k, n)``.
    """
    X = compiled.prepare(data)
    function = compiled.loss_and_gradient
    seen: list[numpy.ndarray] = []

    def loss_and_gradient(theta, examples):
        if not seen or not numpy.array_equal(seen[-1], theta):
            seen.append(numpy.array(theta, dtype=float))
        return function(theta, X if isinstance(examples, slice) else X[:, examples])

    result = gradient_descent(
        loss_and_gradient, compiled.theta(init), X.shape[1], names=compiled.params, **options
    )
    # After the last step a diverged run probes the curvature around it: not part of the path.
    return result, numpy.array(seen[: result.steps + 1])


def descent_runs(
    compiled: Compiled,
    data: Mapping[str, numpy.ndarray],
    init: Mapping[str, float],
    *,
    learning_rate: float,
    epochs: int,
    batch_size: int = 16,
    seed: int = 0,
) -> dict[str, tuple[TrainResult, numpy.ndarray]]:
    r"""Batch, stochastic and mini-batch descent with the runner, recording every step.

    .. math:: \theta^{(t+1)} = \theta^{(t)} - \alpha \nabla J_{B_t}(\theta^{(t)})

    with :math:`B_t` all examples, one example, or ``batch_size`` shuffled examples.

    Args:
        compiled: From :func:`symgd.compile.compile_objective`.
        data: One array per data symbol.
        init: Starting parameters.
        learning_rate: :math:`\alpha`.
        epochs: Passes over the data.
        batch_size: Size of the mini-batches of the third run.
        seed: Shuffling seed.

    Returns:
        Run name -> (the runner's result, parameters after every step, shape ``(k, n)``).

    Example:
        >>> from symgd.compile import compile_objective
        >>> from symgd.define import linear_regression
        >>> from symgd.derivation import derive
        >>> c = compile_objective(derive(linear_regression()))
        >>> data = {"x": numpy.array([0.0, 1.0, 2.0]), "y": numpy.array([1.0, 3.0, 5.0])}
        >>> runs = descent_runs(c, data, {"w": 0, "b": 0}, learning_rate=0.1, epochs=5)
        >>> list(runs), runs["batch"][1].shape
        (['batch', 'stochastic', 'mini-batch (16)'], (6, 2))
    """
    modes = {"batch": None, "stochastic": 1, f"mini-batch ({batch_size})": batch_size}
    return {
        mode: recorded(
            compiled,
            data,
            init,
            learning_rate=learning_rate,
            epochs=epochs,
            batch_size=size,
            seed=seed,
            progress=False,
        )
        for mode, size in modes.items()
    }


def batch_and_mini_batch(compiled: Compiled, data, init, *, rate: float, epochs: int) -> dict:
    """Loss histories of batch and mini-batch (16) descent from the same start."""
    return {
        mode: train(
            compiled,
            data,
            init,
            learning_rate=rate,
            epochs=epochs,
            batch_size=size,
            seed=0,
            progress=False,
        ).loss_history
        for mode, size in (("batch", None), ("mini-batch (16)", 16))
    }


def contour_loss(compiled: Compiled, data) -> Callable[[numpy.ndarray], float]:
    """``θ -> J(θ)`` on the data, for the contours under descent paths."""
    X = compiled.prepare(data)
    return lambda theta: float(compiled.loss_function(theta, X))


def _final(history) -> str:
    """The final loss of a run, for a caption: ``0.0469``, or where it became non-finite."""
    values = numpy.asarray(history, dtype=numpy.float64)
    if numpy.all(numpy.isfinite(values)):
        return f"{values[-1]:.3g}"
    return f"inf (at epoch {int(numpy.argmin(numpy.isfinite(values)))})"


def three_modes(b: Builder, compiled: Compiled, data, init, rate: float, epochs: int) -> None:
    """Batch, stochastic and mini-batch runs: loss curves and descent paths (2 parameters).

    A path longer than :data:`PATH_STEPS` steps (stochastic descent) is drawn for its first
    :data:`PATH_STEPS` steps, and the caption says so.
    """
    found = descent_runs(compiled, data, init, learning_rate=rate, epochs=epochs)
    runs = {mode: result.loss_history for mode, (result, _) in found.items()}
    paths = {mode: path for mode, (_, path) in found.items()}
    # The batch path again, from the loop the notes show: it must be the runner's path.
    X = compiled.prepare(data)
    loop = [compiled.theta(init)]
    for _ in range(len(paths["batch"]) - 1):
        loop.append(descent_loop(loop[-1], rate, 1, lambda t: compiled.gradient_function(t, X)))
    if not numpy.allclose(numpy.array(loop), paths["batch"], rtol=1e-12, atol=1e-12):
        raise ArithmeticError("the displayed descent loop disagrees with the runner")
    finals = "; ".join(f"{mode} {_final(history)}" for mode, history in runs.items())
    b.figure(
        "modes",
        f"Training loss of batch, stochastic and mini-batch gradient descent, {epochs} epochs at "
        f"$\\alpha = {rate:g}$. Final training loss: {finals}.",
        lambda p: loss_curves(
            runs, p, title=f"Batch, stochastic and mini-batch descent, {epochs} epochs"
        ),
    )
    if len(compiled.params) == 2:
        cut = [
            f"the {mode} path is shown for its first {PATH_STEPS} of {len(path) - 1} steps"
            for mode, path in paths.items()
            if len(path) - 1 > PATH_STEPS
        ]
        b.figure(
            "paths",
            f"Descent paths over the contours of $J$, labelled with their values of $J$ (one "
            f"point per parameter update, $\\alpha = {rate:g}$)"
            f"{'; ' if cut else ''}{', '.join(cut)}.",
            lambda p: descent_paths(
                contour_loss(compiled, data),
                paths,
                p,
                names=compiled.params,
                title=f"Paths of gradient descent from the same start, learning rate {rate:g}",
                max_steps=PATH_STEPS,
            ),
            width=1.0,
        )


def rates_figure(
    b: Builder, compiled: Compiled, data, init, rates: Sequence[float], what: str, **options
) -> None:
    """Loss histories per learning rate, drawn with the runs' measured verdicts and final losses.

    A run the runner stopped as diverged ends in ``inf``. The caption states each rate's verdict
    (:func:`symgd.training.classify_runs`) and final training loss.
    """
    histories = {}
    for rate in rates:
        result = train(compiled, data, init, learning_rate=rate, seed=0, progress=False, **options)
        histories[rate] = (*result.loss_history, *((float("inf"),) if result.diverged else ()))
    verdicts = classify_runs(histories)
    shown = "; ".join(
        f"$\\alpha = {rate:g}$: {verdicts[rate]}, final loss {_final(histories[rate])}"
        for rate in sorted(verdicts)
    )
    b.figure(
        "rates",
        f"{what}, at {len(rates)} learning rates. Measured verdicts and final training losses: "
        f"{shown}.",
        lambda p: learning_rate_comparison(
            histories, p, verdicts=verdicts, title=f"{what}, at {len(rates)} learning rates"
        ),
    )


def rates_and_code(b: Builder, compiled, data, init, rates, *, batch_size: int) -> None:
    """The learning-rate figure (40 mini-batch epochs a rate, measured verdicts), then the code."""
    what = f"Mini-batch ({batch_size}) descent, 40 epochs"
    rates_figure(b, compiled, data, init, rates, what, epochs=40, batch_size=batch_size)
    code_section(b, compiled)
