"""Stage 5, train: the gradient-descent runner.

One runner serves batch, stochastic and mini-batch gradient descent:

.. math:: \\theta_{t+1} = \\theta_t + u_t, \\qquad
    u_t = \\operatorname{update}(\\nabla J_{B_t}(\\theta_t))

where ``B_t`` is the whole training set (batch), one example (stochastic) or a
shuffled slice of ``batch_size`` examples (mini-batch), and the update is plain
gradient descent ``u_t = -α ∇J`` unless an optimiser from :mod:`symgd.train.optimizers`
(momentum, Adam, clipping, schedules …) is given. The runner only needs a
function ``loss_and_gradient(theta, examples)``; :func:`train` wires it to a
:class:`~symgd.compile.Compiled` objective.

Besides the loss it records the gradient norm (overall and per parameter
block) and the learning rate of every step, can hold out a validation set and
stop early, calls callbacks, and writes checkpoints that a later run resumes
bit for bit. It explains in plain words how a run went: divergence (with the
step, the last finite parameters, and a learning rate to try, estimated from
the curvature), oscillation, vanishing or exploding gradients, slow progress.

Example:
    >>> import numpy
    >>> from symgd.data import linear_data
    >>> from symgd.define.objective import linear_regression
    >>> from symgd.derive.scalar import derive
    >>> from symgd.compile.scalar import compile_objective
    >>> compiled = compile_objective(derive(linear_regression()))
    >>> data = linear_data(m=100, noise=0.0, seed=0)
    >>> result = train(compiled, data, {"w": 0.0, "b": 0.0}, learning_rate=0.5, epochs=500)
    >>> {k: round(v, 6) for k, v in result.params.items()}
    {'w': 2.0, 'b': 1.0}
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import math
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy

from symgd.compile.scalar import Compiled
from symgd.train.optimizers import (
    ChainState,
    GradientTransformation,
    RuleState,
    current_learning_rate,
    sgd,
)

__all__ = [
    "TrainResult",
    "train_network",
    "EpochInfo",
    "Callback",
    "gradient_descent",
    "train",
    "largest_curvature",
    "checkpoint_files",
    "GROWTH_LIMIT",
]

#: The loss is said to grow without bound once it exceeds ``max(|J_0|, 1)`` by this factor.
GROWTH_LIMIT = 1e6

#: A block's gradient norm is "exploding" once it exceeds its first value by this factor.
EXPLODING_FACTOR = 1e3
#: A block's gradient is "vanishing" when its norm is typically below this fraction of the
#: largest block's norm at the same step.
VANISHING_RATIO = 1e-4
#: Successive updates whose mean cosine is below this point back and forth: oscillation.
OSCILLATION_COSINE = -0.5
#: How many recent steps (and epochs) the oscillation diagnosis looks at.
OSCILLATION_WINDOW = 100

LossAndGradient = Callable[[numpy.ndarray, numpy.ndarray | slice], tuple[float, numpy.ndarray]]
Blocks = Sequence[tuple[str, slice]]


@dataclass(frozen=True)
class TrainResult:
    """What a training run returns.

    Attributes:
        theta: Final parameter vector (the last finite one if the run diverged; with early
            stopping, the one with the lowest validation loss).
        names: Parameter names, the order of ``theta``.
        loss_history: Loss on the whole training set: at the start, then after each epoch
            (and at the end of a run that stops part-way through an epoch).
        epochs: Epochs completed.
        steps: Parameter updates made.
        converged: Whether the tolerance was met.
        diverged: Whether the run stopped because the loss blew up.
        message: A plain-words summary of how the run ended.
        validation_history: Loss on the validation set, at the start and after each epoch
            (empty without a validation split).
        gradient_norm_history: Global gradient norm :math:`\\lVert g_t \\rVert` of each step.
        learning_rate_history: The learning rate each step used.
        block_gradient_norms: Per parameter block, the gradient norm of each step.
        diagnostics: Plain-words findings: oscillation, vanishing or exploding gradients,
            slow progress, the last finite parameters of a diverged run, checkpoint notes.
        stopped_early: Whether early stopping ended the run.
        best_epoch: With early stopping, the epoch whose parameters were kept.
        interrupted: Whether the run was interrupted (Ctrl-C) and stopped cleanly.
        checkpoint: The last checkpoint file written, if any.
    """

    theta: numpy.ndarray
    names: tuple[str, ...]
    loss_history: tuple[float, ...]
    epochs: int
    steps: int
    converged: bool
    diverged: bool
    message: str
    validation_history: tuple[float, ...] = ()
    gradient_norm_history: tuple[float, ...] = ()
    learning_rate_history: tuple[float, ...] = ()
    block_gradient_norms: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    diagnostics: tuple[str, ...] = ()
    stopped_early: bool = False
    best_epoch: int | None = None
    interrupted: bool = False
    checkpoint: Path | None = None

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


@dataclass(frozen=True)
class EpochInfo:
    """What a callback sees at the end of each epoch.

    Attributes:
        epoch: Epochs completed.
        step: Updates made so far.
        loss: Loss on the training set.
        validation_loss: Loss on the validation set, or ``None`` without one.
        theta: A copy of the current parameters.
        learning_rate: The learning rate of the last update.
        gradient_norm: The global gradient norm of the last update.
    """

    epoch: int
    step: int
    loss: float
    validation_loss: float | None
    theta: numpy.ndarray
    learning_rate: float
    gradient_norm: float


@dataclass(frozen=True)
class Callback:
    """Hooks into a run; a plain function given as a callback is its ``on_epoch_end``.

    Attributes:
        on_epoch_end: Called with an :class:`EpochInfo` after each epoch; returning ``True``
            stops the run.
        on_train_end: Called with the :class:`TrainResult` when the run ends.

    Example:
        >>> losses = []
        >>> keep = Callback(on_epoch_end=lambda info: losses.append(info.loss))
    """

    on_epoch_end: Callable[[EpochInfo], bool | None] | None = None
    on_train_end: Callable[[TrainResult], None] | None = None


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

    Example:
        >>> import numpy
        >>> A = numpy.diag([1.0, 4.0])
        >>> round(largest_curvature(lambda t: A @ t, numpy.zeros(2)), 6)
        4.0
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


# --- the state of a run, which is also what a checkpoint holds ---------------------------------


@dataclass
class _Run:
    theta: numpy.ndarray
    last_good: numpy.ndarray
    optimizer_state: Any
    rng_state: dict
    epoch: int = 0
    step: int = 0
    position: int = 0
    order: numpy.ndarray | None = None
    loss_history: list[float] = field(default_factory=list)
    validation_history: list[float] = field(default_factory=list)
    gradient_norms: list[float] = field(default_factory=list)
    learning_rates: list[float] = field(default_factory=list)
    block_norms: dict[str, list[float]] = field(default_factory=dict)
    update_cosines: list[float] = field(default_factory=list)
    previous_update: numpy.ndarray | None = None
    previous_update_square: float = 0.0
    best_theta: numpy.ndarray | None = None
    best_loss: float = math.inf
    best_epoch: int = 0
    epochs_without_improvement: int = 0
    ended: str = ""  # "converged" or "stopped early": a resumed run has nothing left to do
    end_message: str = ""


def gradient_descent(
    loss_and_gradient: LossAndGradient,
    theta: numpy.ndarray,
    n_examples: int,
    *,
    learning_rate: float | None = None,
    epochs: int | None = None,
    steps: int | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    tolerance: float = 0.0,
    names: tuple[str, ...] | None = None,
    progress: bool | None = None,
    optimizer: GradientTransformation | Callable[[int], GradientTransformation] | None = None,
    blocks: Blocks | None = None,
    validation_split: float = 0.0,
    early_stopping: int | None = None,
    callbacks: Sequence[Callback | Callable[[EpochInfo], bool | None]] = (),
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 1,
    resume: bool = False,
) -> TrainResult:
    """Run gradient descent over the examples ``0 … n_examples − 1``.

    Each step draws a batch :math:`B_t`, computes :math:`g_t = \\nabla J_{B_t}(\\theta_t)`
    and applies the optimiser's update; without an optimiser,
    :math:`\\theta_{t+1} = \\theta_t - \\alpha g_t`.

    Args:
        loss_and_gradient: ``(theta, examples) -> (loss, gradient)`` where
            ``examples`` is a slice or an index array selecting a mini-batch.
        theta: Starting parameters (not modified; ignored when resuming).
        n_examples: Number of examples ``m`` (training plus validation).
        learning_rate: The step size ``α > 0``; required without ``optimizer``.
        epochs: Passes over the training data. Give ``epochs`` or ``steps``.
        steps: Parameter updates to make (a run may end part-way through an epoch).
        batch_size: ``None`` or ``m`` for batch gradient descent, ``1`` for
            stochastic, anything between for mini-batch.
        seed: Seed of the shuffling and of the validation split.
        tolerance: Stop when the epoch loss changes by at most
            ``tolerance · max(1, |J|)``; ``0`` runs every epoch.
        names: Parameter names for the result.
        progress: Show a progress bar; default: only when stderr is a terminal.
        optimizer: A :class:`~symgd.optim.GradientTransformation` (e.g.
            ``symgd.optim.adam(0.01)``), or a function ``total_steps -> transformation``
            so that a schedule can span the run. Default: plain gradient descent with
            ``learning_rate`` (the same numbers as ``symgd.optim.sgd``).
        blocks: ``(name, slice)`` per parameter block (a network's ``W1``, ``b1`` …); they
            must cover ``theta`` exactly once. The optimiser sees one array per block and
            gradient norms are recorded per block. Default: one block per parameter.
        validation_split: Fraction of the examples held out (chosen with ``seed``) to
            measure the validation loss after every epoch.
        early_stopping: Patience: stop when the validation loss has not improved for this
            many epochs, and return the parameters with the lowest validation loss.
        callbacks: :class:`Callback` objects, or functions called with an :class:`EpochInfo`
            after each epoch (returning ``True`` stops the run).
        checkpoint_dir: Save parameters, optimiser state, RNG state, epoch and history here
            every ``checkpoint_every`` epochs, at the end, and on Ctrl-C.
        checkpoint_every: Epochs between checkpoints.
        resume: Continue from the newest intact checkpoint in ``checkpoint_dir`` (a damaged
            one is reported and skipped); the result equals an uninterrupted run's.

    Returns:
        A :class:`TrainResult`.

    Raises:
        ValueError: A setting is out of range, or a checkpoint does not fit this run.

    Example:
        >>> import numpy
        >>> from symgd.train.optimizers import adam
        >>> def loss_and_gradient(theta, examples):  # J = (theta - 3)^2
        ...     return float((theta[0] - 3) ** 2), 2 * (theta - 3)
        >>> result = gradient_descent(
        ...     loss_and_gradient, numpy.zeros(1), 1, optimizer=adam(0.1), steps=500
        ... )
        >>> round(result.params["theta0"], 3), result.steps
        (3.0, 500)
    """
    _check_settings(learning_rate, optimizer, epochs, steps, validation_split, early_stopping)
    if n_examples < 1:
        raise ValueError("training needs at least one example")
    if resume and checkpoint_dir is None:
        raise ValueError("resume needs checkpoint_dir, the folder the checkpoints are in")
    if not checkpoint_every >= 1:
        raise ValueError(f"checkpoint_every must be >= 1, not {checkpoint_every}")
    theta = numpy.array(theta, dtype=numpy.float64, copy=True)
    names = names or tuple(f"theta{j}" for j in range(theta.size))
    blocks = _check_blocks(blocks, names, theta.size)

    training, validation = _split(n_examples, validation_split, seed)
    n_train = n_examples if isinstance(training, slice) else training.size
    batch_size = n_train if batch_size is None else batch_size
    if not batch_size >= 1:
        raise ValueError(f"the batch size must be >= 1, not {batch_size}")
    batch_size = min(batch_size, n_train)
    steps_per_epoch = -(-n_train // batch_size)
    total_steps = steps if steps is not None else epochs * steps_per_epoch
    if optimizer is None:
        optimizer = sgd(learning_rate)
    elif not isinstance(optimizer, GradientTransformation):
        optimizer = optimizer(max(total_steps, 1))

    rng = numpy.random.default_rng(seed)
    folder = Path(checkpoint_dir) if checkpoint_dir is not None else None
    config = {
        "n_examples": n_examples,
        "batch_size": batch_size,
        "seed": seed,
        "validation_split": validation_split,
        "blocks": [[name, part.start, part.stop] for name, part in blocks],
    }
    notes: list[str] = []
    run = None
    if resume:
        run = _load_latest_checkpoint(folder, config, notes)
        if run is not None:
            _check_state_fits(run.optimizer_state, optimizer.init(_as_blocks(run.theta, blocks)))
            rng.bit_generator.state = run.rng_state
    if run is None:
        run = _Run(theta, theta.copy(), optimizer.init(_as_blocks(theta, blocks)), {})
        run.block_norms = {name: [] for name, _ in blocks}
        run.loss_history.append(float(loss_and_gradient(theta, training)[0]))
        if validation is not None:
            run.validation_history.append(float(loss_and_gradient(theta, validation)[0]))
            run.best_theta, run.best_loss = theta.copy(), run.validation_history[0]

    callbacks = [c if isinstance(c, Callback) else Callback(on_epoch_end=c) for c in callbacks]
    show = sys.stderr.isatty() if progress is None else progress
    bar = _progress(epochs if steps is None else steps, show, "epoch" if steps is None else "step")
    bar.update(run.epoch if steps is None else run.step)
    saved: list[Path] = []

    def save() -> None:
        if folder is not None:
            run.rng_state = rng.bit_generator.state
            saved.append(_save_checkpoint(folder, run, config))

    def finish(kind: str, message: str) -> TrainResult:
        bar.close()
        history = list(run.loss_history)
        theta = run.theta
        if kind == "diverged":
            theta = run.last_good
            notes.append(
                "the last finite parameters are returned: "
                + ", ".join(f"{n}={v:.6g}" for n, v in zip(names, theta, strict=True))
            )
        else:
            if kind == "stopped early" or (early_stopping and run.best_theta is not None):
                theta = run.best_theta
            if kind != "interrupted":
                save()
            if run.position:  # part-way through an epoch: record where the run ended
                history.append(float(loss_and_gradient(run.theta, training)[0]))
        if kind == "interrupted":
            save()
            message += (
                f"; checkpoint saved to {saved[-1]} (resume=True continues)"
                if saved
                else "; nothing saved (no checkpoint_dir)"
            )
        result = TrainResult(
            theta.copy(),
            names,
            tuple(history),
            run.epoch,
            run.step,
            kind == "converged",
            kind == "diverged",
            message,
            validation_history=tuple(run.validation_history),
            gradient_norm_history=tuple(run.gradient_norms),
            learning_rate_history=tuple(run.learning_rates),
            block_gradient_norms={k: tuple(v) for k, v in run.block_norms.items()},
            diagnostics=(*notes, *_diagnose(run, kind, blocks)),
            stopped_early=kind == "stopped early",
            best_epoch=run.best_epoch if early_stopping else None,
            interrupted=kind == "interrupted",
            checkpoint=saved[-1] if saved else None,
        )
        for callback in callbacks:
            if callback.on_train_end is not None:
                callback.on_train_end(result)
        return result

    def diverged(loss: float) -> TrainResult:
        rate = run.learning_rates[-1] if run.learning_rates else _rate(run.optimizer_state)
        return finish(
            "diverged",
            _divergence(loss_and_gradient, run.last_good, training, rate, run, loss),
        )

    if run.ended:
        return finish(run.ended, run.end_message)

    with _InterruptFlag() as interrupt:
        try:
            while True:
                if run.position == 0 and epochs is not None and run.epoch >= epochs:
                    return finish("finished", f"finished {run.epoch} epochs (loss {_last(run)})")
                if steps is not None and run.step >= steps:
                    return finish("finished", f"finished {run.step} steps (loss {_last(run)})")
                if run.position == 0 and batch_size < n_train:
                    order = rng.permutation(n_train)
                    run.order = order if isinstance(training, slice) else training[order]
                examples = (
                    training
                    if run.order is None
                    else run.order[run.position : run.position + batch_size]
                )
                loss, gradient = loss_and_gradient(run.theta, examples)
                if not _finite(loss, gradient):
                    return diverged(loss)
                _step(run, optimizer, blocks, gradient, batch_size)
                if interrupt.raised:
                    raise KeyboardInterrupt
                if run.position < n_train:
                    continue
                # --- end of an epoch -----------------------------------------------------
                run.epoch, run.position, run.order = run.epoch + 1, 0, None
                loss = float(loss_and_gradient(run.theta, training)[0])
                bar.update(1 if steps is None else steps_per_epoch)
                bar.set_postfix(loss=f"{loss:.4g}")
                if not math.isfinite(loss) or loss > GROWTH_LIMIT * max(
                    abs(run.loss_history[0]), 1.0
                ):
                    return diverged(loss)
                previous = run.loss_history[-1]
                run.loss_history.append(loss)
                run.last_good = run.theta
                validation_loss = None
                if validation is not None:
                    validation_loss = float(loss_and_gradient(run.theta, validation)[0])
                    run.validation_history.append(validation_loss)
                    if validation_loss < run.best_loss:
                        run.best_theta, run.best_loss = run.theta.copy(), validation_loss
                        run.best_epoch, run.epochs_without_improvement = run.epoch, 0
                    else:
                        run.epochs_without_improvement += 1
                stop = _epoch_callbacks(callbacks, run, loss, validation_loss)
                if early_stopping and run.epochs_without_improvement >= early_stopping:
                    run.ended = "stopped early"
                    run.end_message = (
                        f"stopped early after {run.epoch} epochs: the validation loss has not "
                        f"improved for {early_stopping} epochs; restored the parameters of "
                        f"epoch {run.best_epoch} (validation loss {run.best_loss:.6g})"
                    )
                    return finish(run.ended, run.end_message)
                if tolerance > 0 and abs(previous - loss) <= tolerance * max(1.0, abs(loss)):
                    run.ended = "converged"
                    run.end_message = f"converged after {run.epoch} epochs (loss {loss:.6g})"
                    return finish(run.ended, run.end_message)
                if stop:
                    return finish("stopped", f"stopped by a callback after {run.epoch} epochs")
                if run.epoch % checkpoint_every == 0:
                    save()
        except KeyboardInterrupt:
            return finish(
                "interrupted", f"interrupted in epoch {run.epoch + 1} after {run.step} steps"
            )


def _check_settings(learning_rate, optimizer, epochs, steps, validation_split, early_stopping):
    rate_needed = learning_rate is not None or optimizer is None
    if rate_needed and not (
        learning_rate is not None and learning_rate > 0 and math.isfinite(learning_rate)
    ):
        raise ValueError(f"the learning rate must be a positive number, not {learning_rate}")
    if (epochs is None) == (steps is None):
        raise ValueError("give either epochs or steps (the length of the run), not both")
    if epochs is not None and epochs < 0:
        raise ValueError(f"epochs must be >= 0, not {epochs}")
    if steps is not None and steps < 0:
        raise ValueError(f"steps must be >= 0, not {steps}")
    if not 0 <= validation_split < 1:
        raise ValueError(f"validation_split must be in [0, 1), not {validation_split}")
    if early_stopping is not None:
        if not early_stopping >= 1:
            raise ValueError(f"early_stopping (the patience) must be >= 1, not {early_stopping}")
        if validation_split == 0:
            raise ValueError("early stopping watches the validation loss: give validation_split")


def _check_blocks(blocks: Blocks | None, names: tuple[str, ...], size: int) -> list:
    if blocks is None:
        return [(name, slice(j, j + 1)) for j, name in enumerate(names)]
    covered = numpy.zeros(size, dtype=int)
    checked = []
    for name, part in blocks:
        start, stop, stride = part.indices(size)
        if stride != 1 or stop <= start:
            raise ValueError(f"block {name!r} must be a non-empty slice with step 1, not {part}")
        covered[start:stop] += 1
        checked.append((str(name), slice(start, stop)))
    if len({name for name, _ in checked}) != len(checked):
        raise ValueError("block names must be distinct")
    if not numpy.all(covered == 1):
        where = int(numpy.flatnonzero(covered != 1)[0])
        raise ValueError(
            f"the blocks must cover every parameter exactly once; index {where} is not"
        )
    return checked


def _split(n: int, fraction: float, seed: int):
    """Training and validation examples: ``(slice(0, n), None)`` without a validation split."""
    if fraction == 0:
        return slice(0, n), None
    held_out = max(1, round(fraction * n))
    if held_out >= n:
        raise ValueError(f"validation_split={fraction} leaves no training examples out of {n}")
    # Its own random stream, so that the split never shifts the shuffling.
    order = numpy.random.default_rng(numpy.random.SeedSequence(seed).spawn(1)[0]).permutation(n)
    return numpy.sort(order[held_out:]), numpy.sort(order[:held_out])


def _as_blocks(theta: numpy.ndarray, blocks: list) -> dict[str, numpy.ndarray]:
    return {name: theta[part] for name, part in blocks}


def _rate(optimizer_state: Any) -> float:
    try:
        return current_learning_rate(optimizer_state)
    except ValueError:
        return math.nan


def _step(run: _Run, optimizer, blocks: list, gradient: numpy.ndarray, batch_size: int) -> None:
    """One update; the run's state changes only at the end, so an interrupt leaves it whole."""
    grads = {name: gradient[part] for name, part in blocks}
    params = {name: run.theta[part] for name, part in blocks}
    updates, state = optimizer.update(grads, run.optimizer_state, params)
    update = numpy.empty_like(run.theta)
    for name, part in blocks:
        update[part] = updates[name]
    squares = {name: float(numpy.dot(grads[name], grads[name])) for name in grads}
    cosine = math.nan
    if run.previous_update is not None:
        scale = math.sqrt(float(numpy.dot(update, update)) * run.previous_update_square)
        cosine = float(numpy.dot(update, run.previous_update)) / scale if scale > 0 else math.nan
    run.last_good, run.theta, run.optimizer_state = run.theta, run.theta + update, state
    run.previous_update = update
    run.previous_update_square = float(numpy.dot(update, update))
    run.step += 1
    run.position += batch_size
    run.gradient_norms.append(math.sqrt(sum(squares.values())))
    run.learning_rates.append(_rate(state))
    run.update_cosines.append(cosine)
    for name, square in squares.items():
        run.block_norms[name].append(math.sqrt(square))


def _epoch_callbacks(callbacks, run: _Run, loss: float, validation_loss: float | None) -> bool:
    info = EpochInfo(
        run.epoch,
        run.step,
        loss,
        validation_loss,
        run.theta.copy(),
        run.learning_rates[-1] if run.learning_rates else math.nan,
        run.gradient_norms[-1] if run.gradient_norms else math.nan,
    )
    stop = False
    for callback in callbacks:
        if callback.on_epoch_end is not None and callback.on_epoch_end(info):
            stop = True
    return stop


def _last(run: _Run) -> str:
    return f"{run.loss_history[-1]:.6g}"


class _InterruptFlag:
    """Turn Ctrl-C into a flag checked after each step, so a run stops between two steps.

    A second Ctrl-C raises ``KeyboardInterrupt`` at once. Signals can only be caught on the
    main thread; elsewhere ``KeyboardInterrupt`` is left as it is.
    """

    def __init__(self) -> None:
        self.raised = False
        self._previous = None

    def _handle(self, signum, frame) -> None:
        if self.raised:
            raise KeyboardInterrupt
        self.raised = True

    def __enter__(self) -> _InterruptFlag:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


# --- diagnostics in plain words -----------------------------------------------------------------


def _divergence(
    loss_and_gradient: LossAndGradient,
    theta: numpy.ndarray,
    everything: slice | numpy.ndarray,
    learning_rate: float,
    run: _Run,
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
    return (
        f"diverged in epoch {run.epoch + 1} at step {run.step + 1} "
        f"(after {run.step} steps): the loss {what}; {advice}"
    )


def _diagnose(run: _Run, kind: str, blocks: list) -> list[str]:
    """Oscillation, exploding and vanishing gradients, in words."""
    findings = []
    cosines = numpy.array(run.update_cosines[-OSCILLATION_WINDOW:])
    cosines = cosines[numpy.isfinite(cosines)]
    changes = numpy.diff(run.loss_history[-OSCILLATION_WINDOW:])
    # Changes at the level of rounding are not a trend either way.
    scale = max(1.0, abs(run.loss_history[-1]))
    changes = changes[numpy.abs(changes) > 1e-12 * scale]
    flips = float(numpy.mean(changes[1:] * changes[:-1] < 0)) if changes.size >= 10 else 0.0
    if cosines.size >= 10 and cosines.mean() < OSCILLATION_COSINE:
        findings.append(
            f"oscillation: successive updates point in nearly opposite directions (mean cosine "
            f"{cosines.mean():.2f} over the last {cosines.size} steps): each step overshoots the "
            f"minimum along a steep direction; a smaller learning rate (or momentum) damps it"
        )
    elif flips >= 0.8:
        findings.append(
            f"oscillation: the training loss goes up and down ({flips:.0%} of the last "
            f"{changes.size} epoch-to-epoch changes reverse direction); a smaller learning rate "
            f"or a larger batch steadies it"
        )
    norms = {name: numpy.array(values) for name, values in run.block_norms.items()}
    for name, values in norms.items():
        finite = values[numpy.isfinite(values)]
        window = max(1, min(10, finite.size // 3))
        if finite.size < 3:
            continue
        first, last = numpy.median(finite[:window]), numpy.median(finite[-window:])
        if last > EXPLODING_FACTOR * max(first, 1e-300):
            findings.append(
                f"exploding gradients in block {name}: the gradient norm grew from "
                f"{first:.3g} to {last:.3g}; lower the learning rate or clip "
                f"the gradients (clip_by_global_norm)"
            )
    if len(norms) >= 2 and run.step >= 1:
        table = numpy.vstack(list(norms.values()))
        largest = table.max(axis=0)
        # Only steps before the run reached the rounding floor say anything about ratios.
        active = largest > max(1e-12, 1e-6 * largest[0])
        for name, row in zip(norms, table, strict=True):
            if not active.any():
                break
            ratio = float(numpy.median(row[active] / largest[active]))
            if ratio < VANISHING_RATIO:
                biggest = max(norms, key=lambda key: float(numpy.median(norms[key])))
                findings.append(
                    f"vanishing gradients in block {name}: its gradient norm is typically "
                    f"{ratio:.1e} of the largest block's ({biggest}), so its parameters barely "
                    f"change; saturated activations or a poor initialisation are the usual causes"
                )
    return findings


class _NoBar:
    def update(self, n: int) -> None: ...
    def set_postfix(self, **kwargs) -> None: ...
    def close(self) -> None: ...


def _progress(total: int, show: bool, unit: str):
    if not show:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, leave=False)


# --- checkpoints ----------------------------------------------------------------------------------

_MAGIC = b"symgd-checkpoint 1\n"
_STATE_TYPES = {"RuleState": RuleState, "ChainState": ChainState}
#: Checkpoint files kept in the folder (the newest ones); older ones are removed.
KEEP_CHECKPOINTS = 3


def checkpoint_files(directory: str | Path) -> list[Path]:
    """The checkpoint files in a folder, oldest first.

    Args:
        directory: A ``checkpoint_dir`` of :func:`gradient_descent`.

    Returns:
        Paths named ``step-<number>.ckpt``.

    Example:
        >>> checkpoint_files("/nonexistent")
        []
    """
    folder = Path(directory)
    return sorted(folder.glob("step-*.ckpt")) if folder.is_dir() else []


def _encode(value: Any, arrays: dict[str, numpy.ndarray]) -> Any:
    """A JSON-ready copy of the run state; arrays go to ``arrays`` (no pickle anywhere)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | numpy.integer):
        return int(value)
    if isinstance(value, float | numpy.floating):
        return {"float": repr(float(value))}
    if isinstance(value, numpy.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = value
        return {"array": key}
    if type(value).__name__ in _STATE_TYPES and isinstance(value, tuple):
        return {"state": type(value).__name__, "fields": [_encode(v, arrays) for v in value]}
    if isinstance(value, list) and value and all(isinstance(v, float) for v in value):
        key = f"a{len(arrays)}"
        arrays[key] = numpy.array(value, dtype=numpy.float64)
        return {"floats": key}
    if isinstance(value, list | tuple):
        return {"list" if isinstance(value, list) else "tuple": [_encode(v, arrays) for v in value]}
    if isinstance(value, dict):
        return {"dict": [[str(k), _encode(v, arrays)] for k, v in value.items()]}
    raise TypeError(f"cannot save a {type(value).__name__} in a checkpoint")


def _decode(value: Any, arrays: Mapping[str, numpy.ndarray]) -> Any:
    if not isinstance(value, dict):
        return value
    ((kind, content),) = ((k, v) for k, v in value.items() if k != "fields")
    if kind == "float":
        return float(content)
    if kind == "array":
        return numpy.array(arrays[content])
    if kind == "floats":
        return [float(v) for v in arrays[content]]
    if kind == "state":
        return _STATE_TYPES[content](*(_decode(v, arrays) for v in value["fields"]))
    if kind == "list":
        return [_decode(v, arrays) for v in content]
    if kind == "tuple":
        return tuple(_decode(v, arrays) for v in content)
    if kind == "dict":
        return {k: _decode(v, arrays) for k, v in content}
    raise ValueError(f"unknown entry {kind!r} in a checkpoint")


def _save_checkpoint(folder: Path, run: _Run, config: dict) -> Path:
    """Write atomically: to a temporary file, flushed to disk, then renamed over the target."""
    arrays: dict[str, numpy.ndarray] = {}
    state = {field.name: getattr(run, field.name) for field in dataclasses.fields(run)}
    document = {"config": config, "run": _encode(state, arrays)}
    arrays["json"] = numpy.frombuffer(json.dumps(document).encode(), dtype=numpy.uint8)
    buffer = io.BytesIO()
    numpy.savez(buffer, **arrays)
    payload = buffer.getvalue()
    header = f"sha256 {hashlib.sha256(payload).hexdigest()} {len(payload)}\n".encode()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"step-{run.step:012d}.ckpt"
    temporary = path.with_suffix(".ckpt.tmp")
    with open(temporary, "wb") as handle:
        handle.write(_MAGIC + header + payload)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    for old in checkpoint_files(folder)[:-KEEP_CHECKPOINTS]:
        old.unlink(missing_ok=True)
    return path


def _read_checkpoint(path: Path) -> dict:
    """The checkpoint's contents; ``ValueError`` naming the damage if it is not intact."""
    raw = path.read_bytes()
    if not raw.startswith(_MAGIC):
        raise ValueError("not a symgd checkpoint")
    header, _, payload = raw[len(_MAGIC) :].partition(b"\n")
    parts = header.decode("ascii", errors="replace").split()
    if len(parts) != 3 or parts[0] != "sha256" or not parts[2].isdigit():
        raise ValueError("damaged header")
    if len(payload) != int(parts[2]):
        raise ValueError(f"truncated: {len(payload)} of {parts[2]} bytes")
    if hashlib.sha256(payload).hexdigest() != parts[1]:
        raise ValueError("checksum mismatch")
    with numpy.load(io.BytesIO(payload), allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    document = json.loads(arrays.pop("json").tobytes().decode())
    return {"config": document["config"], "run": _decode(document["run"], arrays)}


def _load_latest_checkpoint(folder: Path, config: dict, notes: list[str]) -> _Run | None:
    files = checkpoint_files(folder)
    for path in reversed(files):
        try:
            contents = _read_checkpoint(path)
        except (OSError, ValueError, KeyError) as error:
            notes.append(f"checkpoint {path.name} is damaged ({error}); using an older one")
            continue
        for key, value in config.items():
            if contents["config"].get(key) != value:
                raise ValueError(
                    f"the checkpoint {path} was made with {key}={contents['config'].get(key)!r}, "
                    f"not {value!r}; resume with the same settings or use another folder"
                )
        notes.append(f"resumed from checkpoint {path.name}")
        return _Run(**contents["run"])
    if files:
        raise ValueError(f"no intact checkpoint in {folder}: {'; '.join(notes)}")
    notes.append(f"no checkpoint in {folder} yet; started from the beginning")
    return None


def _check_state_fits(saved: Any, fresh: Any) -> None:
    """The saved optimiser state must have the same structure as this optimiser's."""

    def shape(value):
        if isinstance(value, numpy.ndarray):
            return ("array", value.shape)
        if isinstance(value, dict):
            return {k: shape(v) for k, v in value.items()}
        if isinstance(value, tuple | list):
            return (type(value).__name__, tuple(shape(v) for v in value))
        return type(value).__name__ if value is not None else None

    if shape(saved) != shape(fresh):
        raise ValueError(
            "the checkpoint's optimizer state does not fit this optimizer; "
            "resume with the optimizer the run started with"
        )


def train(
    compiled: Compiled,
    data: Mapping[str, numpy.ndarray],
    init: Mapping[str, float],
    **options: Any,
) -> TrainResult:
    """Train a compiled objective on data with gradient descent.

    Args:
        compiled: From :func:`symgd.compile.compile_objective`.
        data: One array per data symbol.
        init: Starting value of every parameter.
        **options: Every keyword of :func:`gradient_descent`: ``learning_rate``,
            ``epochs`` or ``steps``, ``batch_size``, ``seed``, ``tolerance``, ``optimizer``,
            ``validation_split``, ``early_stopping``, ``callbacks``, ``checkpoint_dir``,
            ``resume``, ``progress`` … (``names`` comes from ``compiled``).

    Returns:
        A :class:`TrainResult`.

    Example:
        >>> from symgd.data import linear_data
        >>> from symgd.define.objective import linear_regression
        >>> from symgd.derive.scalar import derive
        >>> from symgd.compile.scalar import compile_objective
        >>> from symgd.train.optimizers import adam
        >>> compiled = compile_objective(derive(linear_regression()))
        >>> result = train(compiled, linear_data(m=50, noise=0.0), {"w": 0.0, "b": 0.0},
        ...                optimizer=adam(0.1), steps=2000)
        >>> {k: round(v, 4) for k, v in result.params.items()}
        {'w': 2.0, 'b': 1.0}
    """
    X = compiled.prepare(data)
    function = compiled.loss_and_gradient

    def loss_and_gradient(theta, examples):
        return function(theta, X if isinstance(examples, slice) else X[:, examples])

    return gradient_descent(
        loss_and_gradient, compiled.theta(init), X.shape[1], names=compiled.params, **options
    )


def _blas_one_thread():
    """One BLAS thread: mini-batch matrices are small, and threads fight on a busy machine."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def train_network(compiled: Any, X: numpy.ndarray, Y: numpy.ndarray, **options: Any) -> TrainResult:
    """Train a compiled network with :func:`gradient_descent`, reporting per block (W1, b1 …).

    Args:
        compiled: From :func:`symgd.network_compile.compile_network`.
        X: Training inputs, one row per example.
        Y: Training targets (``compiled.targets(labels)``).
        **options: Keyword arguments for :func:`gradient_descent` (``learning_rate``,
            ``epochs``, ``batch_size``, ``seed``, ``optimizer`` …); ``theta`` (the start;
            default ``compiled.initial_theta(init_seed)``) and ``init_seed`` (default 0).

    Returns:
        The runner's :class:`TrainResult`; ``result.theta`` holds the trained weights.
    """
    theta = options.pop("theta", None)
    init_seed = options.pop("init_seed", 0)
    if theta is None:
        theta = compiled.initial_theta(init_seed)
    names = tuple(
        f"{name}{list(map(int, numpy.unravel_index(k, shape)))}"
        for name, _, shape in compiled.blocks
        for k in range(int(numpy.prod(shape)))
    )
    options.setdefault("blocks", [(name, part) for name, part, _ in compiled.blocks])
    with _blas_one_thread():
        return gradient_descent(compiled.objective(X, Y), theta, len(X), names=names, **options)
