"""Stage 5, train: the gradient-descent runner.

One runner serves batch, stochastic and mini-batch gradient descent:

.. math:: \\theta_{t+1} = \\theta_t - \\alpha \\, \\nabla J_{B_t}(\\theta_t)

where ``B_t`` is the whole data set (batch), one example (stochastic) or a
shuffled slice of ``batch_size`` examples (mini-batch). The runner only needs a
function ``loss_and_gradient(theta, examples)``; :func:`train` wires it to a
:class:`~symgd.compile.Compiled` objective.

A run whose loss becomes ``nan``/``inf`` or grows without bound stops with a
message that says so, suggests a smaller learning rate (estimated from the
curvature where possible), and returns the last finite parameters.

Example:
    >>> import numpy
    >>> from symgd.model import linear_regression
    >>> from symgd.derive import derive
    >>> from symgd.compile import compile_objective
    >>> compiled = compile_objective(derive(linear_regression()))
    >>> data = linear_data(m=100, noise=0.0, seed=0)
    >>> result = train(compiled, data, {"w": 0.0, "b": 0.0}, learning_rate=0.5, epochs=500)
    >>> {k: round(v, 6) for k, v in result.params.items()}
    {'w': 2.0, 'b': 1.0}
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy

from symgd.compile import Compiled

__all__ = [
    "TrainResult",
    "gradient_descent",
    "train",
    "linear_data",
    "largest_curvature",
    "GROWTH_LIMIT",
]

#: The loss is said to grow without bound once it exceeds its start by this factor.
GROWTH_LIMIT = 1e6

LossAndGradient = Callable[[numpy.ndarray, numpy.ndarray | slice], tuple[float, numpy.ndarray]]


@dataclass(frozen=True)
class TrainResult:
    """What a training run returns.

    Attributes:
        theta: Final parameter vector (the last finite one if the run diverged).
        names: Parameter names, the order of ``theta``.
        loss_history: Loss on the whole training set: at the start, then after each epoch.
        epochs: Epochs completed.
        steps: Parameter updates made.
        converged: Whether the tolerance was met.
        diverged: Whether the run stopped because the loss blew up.
        message: A plain-words summary of how the run ended.
    """

    theta: numpy.ndarray
    names: tuple[str, ...]
    loss_history: tuple[float, ...]
    epochs: int
    steps: int
    converged: bool
    diverged: bool
    message: str

    @property
    def params(self) -> dict[str, float]:
        """Final parameters by name."""
        return {n: float(v) for n, v in zip(self.names, self.theta, strict=True)}

    @property
    def final_loss(self) -> float:
        """The last loss recorded."""
        return self.loss_history[-1]

    def __repr__(self) -> str:
        values = ", ".join(f"{n}={v:.6g}" for n, v in self.params.items())
        loss = f"loss={self.final_loss:.6g}"
        return f"TrainResult({values}, {loss}, epochs={self.epochs}, {self.message!r})"


def _finite(loss: float, gradient: numpy.ndarray) -> bool:
    return math.isfinite(loss) and bool(numpy.all(numpy.isfinite(gradient)))


def largest_curvature(
    gradient: Callable[[numpy.ndarray], numpy.ndarray],
    theta: numpy.ndarray,
    *,
    iterations: int = 30,
    seed: int = 0,
) -> float:
    """Estimate the largest Hessian eigenvalue ``L`` by power iteration.

    Hessian-vector products come from differences of the gradient,
    ``H v ≈ (∇J(θ + ε v) − ∇J(θ − ε v)) / 2ε``. Batch gradient descent on a
    quadratic is stable exactly when ``α < 2 / L``.

    Args:
        gradient: ``∇J`` on the full training set.
        theta: Where to estimate the curvature.
        iterations: Power-iteration steps.
        seed: Seed of the starting vector.

    Returns:
        The estimate of ``L`` (``nan`` when it cannot be estimated).
    """
    rng = numpy.random.default_rng(seed)
    v = rng.standard_normal(theta.shape)
    v /= numpy.linalg.norm(v)
    eps = 1e-4 * max(1.0, float(numpy.linalg.norm(theta)))
    estimate = float("nan")
    for _ in range(iterations):
        hv = (gradient(theta + eps * v) - gradient(theta - eps * v)) / (2 * eps)
        norm = float(numpy.linalg.norm(hv))
        if not math.isfinite(norm) or norm == 0:
            return estimate
        estimate = float(v @ hv)
        v = hv / norm
    return abs(estimate)


def gradient_descent(
    loss_and_gradient: LossAndGradient,
    theta: numpy.ndarray,
    n_examples: int,
    *,
    learning_rate: float,
    epochs: int,
    batch_size: int | None = None,
    seed: int = 0,
    tolerance: float = 0.0,
    names: tuple[str, ...] | None = None,
    progress: bool | None = None,
) -> TrainResult:
    """Run gradient descent over the examples ``0 … n_examples − 1``.

    Args:
        loss_and_gradient: ``(theta, examples) -> (loss, gradient)`` where
            ``examples`` is a slice or an index array selecting a mini-batch.
        theta: Starting parameters (not modified).
        n_examples: Number of training examples ``m``.
        learning_rate: The step size ``α > 0``.
        epochs: Passes over the data.
        batch_size: ``None`` or ``m`` for batch gradient descent, ``1`` for
            stochastic, anything between for mini-batch.
        seed: Seed of the shuffling (stochastic and mini-batch modes).
        tolerance: Stop when the epoch loss changes by at most
            ``tolerance · max(1, |J|)``; ``0`` runs every epoch.
        names: Parameter names for the result.
        progress: Show a progress bar; default: only when stderr is a terminal.

    Returns:
        A :class:`TrainResult`.

    Raises:
        ValueError: A setting is out of range.
    """
    if not (learning_rate > 0 and math.isfinite(learning_rate)):
        raise ValueError(f"the learning rate must be a positive number, not {learning_rate}")
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, not {epochs}")
    if n_examples < 1:
        raise ValueError("training needs at least one example")
    batch_size = n_examples if batch_size is None else batch_size
    if not batch_size >= 1:
        raise ValueError(f"the batch size must be >= 1, not {batch_size}")
    batch_size = min(batch_size, n_examples)
    theta = numpy.array(theta, dtype=numpy.float64, copy=True)
    names = names or tuple(f"theta{j}" for j in range(theta.size))
    everything = slice(0, n_examples)
    rng = numpy.random.default_rng(seed)

    loss, _ = loss_and_gradient(theta, everything)
    history = [float(loss)]
    last_good = theta.copy()
    steps = 0
    show = sys.stderr.isatty() if progress is None else progress
    bar = _progress(epochs, show)

    def stop(epoch: int, converged: bool, diverged: bool, message: str) -> TrainResult:
        bar.close()
        return TrainResult(
            last_good if diverged else theta,
            names,
            tuple(history),
            epoch,
            steps,
            converged,
            diverged,
            message,
        )

    for epoch in range(1, epochs + 1):
        order = rng.permutation(n_examples) if batch_size < n_examples else None
        for start in range(0, n_examples, batch_size):
            examples = everything if order is None else order[start : start + batch_size]
            loss, gradient = loss_and_gradient(theta, examples)
            if not _finite(loss, gradient):
                return stop(
                    epoch - 1,
                    False,
                    True,
                    _divergence(
                        loss_and_gradient, last_good, everything, learning_rate, epoch, steps, loss
                    ),
                )
            last_good = theta
            theta = theta - learning_rate * gradient
            steps += 1
        loss, _ = loss_and_gradient(theta, everything)
        loss = float(loss)
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4g}")
        if not math.isfinite(loss) or loss > GROWTH_LIMIT * max(history[0], 1e-12):
            return stop(
                epoch,
                False,
                True,
                _divergence(
                    loss_and_gradient, last_good, everything, learning_rate, epoch, steps, loss
                ),
            )
        previous = history[-1]
        history.append(loss)
        last_good = theta
        if tolerance > 0 and abs(previous - loss) <= tolerance * max(1.0, abs(loss)):
            return stop(epoch, True, False, f"converged after {epoch} epochs (loss {loss:.6g})")
    return stop(epochs, False, False, f"finished {epochs} epochs (loss {history[-1]:.6g})")


def _divergence(
    loss_and_gradient: LossAndGradient,
    theta: numpy.ndarray,
    everything: slice,
    learning_rate: float,
    epoch: int,
    steps: int,
    loss: float,
) -> str:
    """The plain-words diagnosis of a run that blew up, with a suggested rate."""
    what = "became nan/inf" if not math.isfinite(loss) else f"grew to {loss:.3g}"
    curvature = largest_curvature(lambda t: loss_and_gradient(t, everything)[1], theta)
    if math.isfinite(curvature) and curvature > 0 and 2 / curvature < learning_rate:
        advice = (
            f"learning rate {learning_rate:g} is above the stable range for this problem "
            f"(2/L = {2 / curvature:.3g}, L the largest curvature); try <= {1 / curvature:.3g}"
        )
    else:
        advice = f"the learning rate {learning_rate:g} is too large; try {learning_rate / 10:g}"
    return f"diverged in epoch {epoch} after {steps} steps: the loss {what}; {advice}"


class _NoBar:
    def update(self, n: int) -> None: ...
    def set_postfix(self, **kwargs) -> None: ...
    def close(self) -> None: ...


def _progress(total: int, show: bool):
    if not show:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="epoch", leave=False)


def train(
    compiled: Compiled,
    data: Mapping[str, numpy.ndarray],
    init: Mapping[str, float],
    *,
    learning_rate: float,
    epochs: int,
    batch_size: int | None = None,
    seed: int = 0,
    tolerance: float = 0.0,
    progress: bool | None = None,
) -> TrainResult:
    """Train a compiled objective on data with gradient descent.

    Args:
        compiled: From :func:`symgd.compile.compile_objective`.
        data: One array per data symbol.
        init: Starting value of every parameter.
        learning_rate: Step size ``α``.
        epochs: Passes over the data.
        batch_size: ``None`` (batch), ``1`` (stochastic) or a mini-batch size.
        seed: Shuffling seed.
        tolerance: Relative change of the epoch loss at which to stop.
        progress: Show a progress bar (default: only on a terminal).

    Returns:
        A :class:`TrainResult`.
    """
    X = compiled.prepare(data)
    function = compiled.loss_and_gradient_function

    def loss_and_gradient(theta, examples):
        return function(theta, X if isinstance(examples, slice) else X[:, examples])

    return gradient_descent(
        loss_and_gradient,
        compiled.theta(init),
        X.shape[1],
        learning_rate=learning_rate,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        tolerance=tolerance,
        names=compiled.params,
        progress=progress,
    )


def linear_data(
    m: int = 200, *, w: float = 2.0, b: float = 1.0, noise: float = 0.3, seed: int = 0
) -> dict[str, numpy.ndarray]:
    """Seeded synthetic data for the seed example: ``y = w x + b + noise``.

    Args:
        m: Number of examples.
        w: True slope.
        b: True intercept.
        noise: Standard deviation of Gaussian noise on ``y``.
        seed: Random seed.

    Returns:
        ``{"x": …, "y": …}`` with ``x`` uniform on ``[−1, 1]``.
    """
    rng = numpy.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, m)
    return {"x": x, "y": w * x + b + noise * rng.standard_normal(m)}
