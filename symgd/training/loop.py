"""Stage 5, train: the loop of one gradient-descent run, shared by every engine.

:func:`symgd.training.runner.gradient_descent` runs it on in-memory data; the Dask engine
(:mod:`symgd.training.dask_engine`) runs a subclass that draws its batches partition by
partition. The loop draws a batch, asks for the loss and gradient, lets the optimiser (or
Newton's method) update θ, and at the end of an epoch measures, watches, checkpoints and
diagnoses.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

import numpy

from symgd.training.callbacks import Callbacks, EarlyStopping, EpochInfo, Progress
from symgd.training.checkpoints import Checkpoints, check_state_fits
from symgd.training.config import Plan, TrainConfig
from symgd.training.diagnostics import (
    divergence,
    first_bad_example,
    gradient_findings,
    loss_diverges,
    oscillation,
)
from symgd.training.newton import Newton, newton_stalled
from symgd.training.state import RunState, TrainResult
from symgd.training.transforms import current_learning_rate

LossAndGradient = Callable[[numpy.ndarray, numpy.ndarray | slice], tuple[float, numpy.ndarray]]


class Runner:
    """One run: the loop, and what happens at the end of an epoch and of the run."""

    def __init__(self, loss_and_gradient: LossAndGradient, config: TrainConfig, plan: Plan):
        self.loss_and_gradient, self.config, self.plan = loss_and_gradient, config, plan
        self.rng = numpy.random.default_rng(config.seed)
        self.checkpoints = Checkpoints(config.checkpoint_dir, plan.fingerprint(config))
        self.checkpoints.check_writable()  # a folder that cannot be written fails now, not later
        self.callbacks = Callbacks(config.callbacks)
        self.early_stopping = EarlyStopping(config.early_stopping)
        self.notes: list[str] = []
        self._memo: tuple | None = None  # the last evaluation on the whole training set

    def run(self, theta: numpy.ndarray) -> TrainResult:
        self.state = run = self._start(theta)
        self.start = theta if run.step == 0 else None  # where the curvature is estimated too
        self.progress = self._progress()
        if run.ended:
            return self._finish(run.ended, run.end_message)
        # Overflow on the way to a blow-up is diagnosed below, in words: no NumPy warning lines.
        with (
            _InterruptFlag() as interrupt,
            numpy.errstate(over="ignore", invalid="ignore", divide="ignore"),
        ):
            try:
                while (length_reached := self._length_reached()) is None:
                    batch = self._next_batch()
                    loss, gradient = self._evaluate(run.theta, batch)
                    if not (math.isfinite(loss) and numpy.all(numpy.isfinite(gradient))):
                        return self._diverged(loss)
                    self._step(gradient, loss, batch)
                    if interrupt.raised:
                        raise KeyboardInterrupt
                    if run.position >= self.plan.n_train and (ended := self._end_epoch()):
                        return ended
                return self._finish("finished", length_reached)
            except KeyboardInterrupt:
                where = f"in epoch {run.epoch + 1} after {run.step} steps"
                return self._finish("interrupted", f"interrupted {where}")

    def _start(self, theta: numpy.ndarray) -> RunState:
        """A fresh run, or the one the newest checkpoint holds."""
        blocks, optimizer = self.plan.blocks, self.plan.optimizer
        if self.config.resume and (run := self.checkpoints.latest(self.notes)) is not None:
            check_state_fits(run.optimizer_state, optimizer.init(_as_blocks(run.theta, blocks)))
            self.rng.bit_generator.state = run.rng_state
            return run
        run = RunState(theta, theta.copy(), optimizer.init(_as_blocks(theta, blocks)), {})
        run.block_norms = {name: [] for name, _ in blocks}
        run.loss_history.append(self._loss(theta, self.plan.training))
        if self.plan.validation is not None:
            run.validation_history.append(self._loss(theta, self.plan.validation))
            run.best_theta, run.best_loss = theta.copy(), run.validation_history[0]
        return run

    def _progress(self) -> Progress:
        config, run, by_steps = self.config, self.state, self.config.steps is not None
        return Progress(
            config.steps if by_steps else config.epochs,
            "step" if by_steps else "epoch",
            run.step if by_steps else run.epoch,
            self.plan.steps_per_epoch if by_steps else 1,
            sys.stderr.isatty() if config.progress is None else config.progress,
        )

    def _loss(self, theta: numpy.ndarray, examples: slice | numpy.ndarray) -> float:
        return float(self._evaluate(theta, examples)[0])

    def _evaluate(self, theta: numpy.ndarray, examples: slice | numpy.ndarray) -> tuple:
        """``loss_and_gradient``, once per point on the whole training set: a full-batch step
        starts where the epoch's loss was just measured, so that pass is not made twice."""
        memo = self._memo
        if memo is not None and memo[0] is examples and numpy.array_equal(memo[1], theta):
            return memo[2]
        value = self.loss_and_gradient(theta, examples)
        if examples is self.plan.training:
            self._memo = (examples, theta.copy(), value)
        return value

    def _length_reached(self) -> str | None:
        run, config = self.state, self.config
        if run.position == 0 and config.epochs is not None and run.epoch >= config.epochs:
            return f"finished {run.epoch} epochs (loss {run.last_loss})"
        if config.steps is not None and run.step >= config.steps:
            return f"finished {run.step} steps (loss {run.last_loss})"
        return None

    def _next_batch(self) -> slice | numpy.ndarray:
        run, plan = self.state, self.plan
        if run.position == 0 and plan.batch_size < plan.n_train:
            order = self.rng.permutation(plan.n_train)
            run.order = order if isinstance(plan.training, slice) else plan.training[order]
        if run.order is None:
            return plan.training
        return run.order[run.position : run.position + plan.batch_size]

    def _step(self, gradient: numpy.ndarray, loss: float, batch: slice | numpy.ndarray) -> None:
        run, blocks, optimizer = self.state, self.plan.blocks, self.plan.optimizer
        grads = {name: gradient[part] for name, part in blocks}
        if isinstance(optimizer, Newton):  # one block: the Hessian couples every parameter
            updates, state = optimizer.update(
                {"theta": gradient}, run.optimizer_state, {"theta": run.theta},
                hessian=self.config.hessian(run.theta, batch), value=loss,
                value_fn=lambda params: self._loss(params["theta"], batch),
            )  # fmt: skip
            update = updates["theta"]
        else:
            params = {name: run.theta[part] for name, part in blocks}
            updates, state = optimizer.update(grads, run.optimizer_state, params)
            update = numpy.empty_like(run.theta)
            for name, part in blocks:
                update[part] = updates[name]
        squares = {name: float(numpy.dot(grads[name], grads[name])) for name in grads}
        run.record_step(update, state, _rate(state), squares)
        run.position += self.plan.batch_size

    def _end_epoch(self) -> TrainResult | None:
        """Measure, watch and save after an epoch; the result when the run ends here."""
        run, plan, config = self.state, self.plan, self.config
        run.epoch, run.position, run.order = run.epoch + 1, 0, None
        loss = self._loss(run.theta, plan.training)
        self.progress.epoch_end(loss)
        run.loss_history.append(loss)
        if what := loss_diverges(run.loss_history):
            if not math.isfinite(loss):
                run.loss_history.pop()  # the history holds finite losses only
            return self._diverged(loss, what)
        previous = run.loss_history[-2]
        run.last_good = run.theta
        validation_loss = stopped_early = None
        if plan.validation is not None:
            validation_loss = self._loss(run.theta, plan.validation)
            run.validation_history.append(validation_loss)
            stopped_early = self.early_stopping.observe(run, validation_loss)
        stop = self.callbacks.epoch_end(EpochInfo.of(run, validation_loss))
        if stopped_early:
            run.ended, run.end_message = "stopped early", stopped_early
            return self._finish(run.ended, run.end_message)
        epoch_rates = run.learning_rates[-plan.steps_per_epoch :]
        stalled = newton_stalled(plan.optimizer, epoch_rates, run.gradient_norms[-1])
        if stalled or (
            config.tolerance > 0 and abs(previous - loss) <= config.tolerance * max(1.0, abs(loss))
        ):
            run.ended = "converged"
            run.end_message = f"converged after {run.epoch} epochs (loss {loss:.6g}{stalled})"
            return self._finish(run.ended, run.end_message)
        if stop:
            return self._finish("stopped", f"stopped by a callback after {run.epoch} epochs")
        if run.epoch % config.checkpoint_every == 0:
            self.checkpoints.save(run, self.rng)
        return None

    def _diverged(self, loss: float, what: str | None = None) -> TrainResult:
        run, training = self.state, self.plan.training
        rate = run.learning_rates[-1] if run.learning_rates else _rate(run.optimizer_state)
        gradient = lambda t: self.loss_and_gradient(t, training)[1]  # noqa: E731
        message = divergence(
            gradient, run.last_good, rate, loss, epoch=run.epoch, step=run.step, what=what,
            start=self.start,
        )  # fmt: skip
        return self._finish("diverged", message)

    def _finish(self, kind: str, message: str) -> TrainResult:
        run, notes, names = self.state, self.notes, self.plan.names
        self.progress.close()
        history, theta = list(run.loss_history), run.theta
        if kind == "diverged":
            theta = run.last_good
            values = ", ".join(f"{n}={v:.6g}" for n, v in zip(names, theta, strict=True))
            notes.append(f"the last finite parameters are returned: {values}")
        else:
            if kind == "stopped early" or (
                self.config.early_stopping and run.best_theta is not None
            ):
                theta = run.best_theta
            if kind != "interrupted":
                self.checkpoints.save(run, self.rng)
            if run.position:  # part-way through an epoch: record where the run ended
                history.append(self._loss(run.theta, self.plan.training))
        if kind == "interrupted":
            checkpoints = self.checkpoints
            if checkpoints.save(run, self.rng):
                message += f"; checkpoint saved to {checkpoints.last} (resume=True continues)"
            else:
                message += f"; {checkpoints.failure or 'nothing saved (no checkpoint_dir)'}"
        findings = [oscillation(run.loss_history, run.update_cosines)]
        findings += gradient_findings(run.block_norms)
        result = TrainResult(
            theta.copy(), names, tuple(history), run.epoch, run.step, kind == "converged",
            kind == "diverged", message,
            validation_history=tuple(run.validation_history),
            gradient_norm_history=tuple(run.gradient_norms),
            learning_rate_history=tuple(run.learning_rates),
            block_gradient_norms={k: tuple(v) for k, v in run.block_norms.items()},
            diagnostics=(
                *notes, *self.checkpoints.failures, *(finding for finding in findings if finding)
            ),
            stopped_early=kind == "stopped early",
            best_epoch=run.best_epoch if self.config.early_stopping else None,
            interrupted=kind == "interrupted",
            checkpoint=self.checkpoints.last,
        )  # fmt: skip
        self.callbacks.train_end(result)
        return result


def _as_blocks(theta: numpy.ndarray, blocks: tuple) -> dict[str, numpy.ndarray]:
    return {name: theta[part] for name, part in blocks}


def _rate(optimizer_state: Any) -> float:
    try:
        return current_learning_rate(optimizer_state)
    except ValueError:
        return math.nan


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


def check_domain(
    loss_and_gradient: LossAndGradient, theta: numpy.ndarray, m: int, row: Callable[[int], str]
) -> None:
    """Refuse a loss that is not a finite real number on the data, naming the first bad row."""
    found = first_bad_example(loss_and_gradient, theta, m)
    if found is None:
        return
    index, value = found
    if numpy.iscomplexobj(value) and numpy.imag(value) != 0:
        shown = f"complex ({complex(value):.6g})"
    elif math.isfinite(numpy.real(value)):
        shown = f"{numpy.real(value):.6g} but its gradient is not finite"
    else:
        shown = f"{numpy.real(value)}"
    if index < 0:
        raise ValueError(
            f"the loss at the starting values is {shown} on the whole data though finite on each "
            f"row: the sum overflows; scale the data down"
        )
    raise ValueError(
        f"the loss is not a finite real number on the data: at {row(index)} it is {shown} at "
        f"the starting values; the formula leaves its domain there (e.g. the square root or "
        f"logarithm of a negative number): fix that row, the starting values or the loss"
    )
