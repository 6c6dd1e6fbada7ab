"""Stage 5, train: what watches a run — callbacks, early stopping, the progress bar.

The runner calls these at the end of each epoch; none of them changes how a step is made.

Example:
    >>> losses = []
    >>> callbacks = Callbacks([lambda info: losses.append(info.loss)])
    >>> info = EpochInfo(1, 10, 0.5, None, None, 0.1, 2.0)
    >>> callbacks.epoch_end(info), losses
    (False, [0.5])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy
from tqdm import tqdm

from symgd.training.state import RunState, TrainResult


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

    @classmethod
    def of(cls, run: RunState, validation_loss: float | None) -> EpochInfo:
        """The information of the epoch ``run`` has just completed."""
        return cls(
            run.epoch,
            run.step,
            run.loss_history[-1],
            validation_loss,
            run.theta.copy(),
            run.learning_rates[-1] if run.learning_rates else math.nan,
            run.gradient_norms[-1] if run.gradient_norms else math.nan,
        )


@dataclass(frozen=True)
class Callback:
    """Hooks into a run; a plain function given as a callback is its ``on_epoch_end``.

    Attributes:
        on_epoch_end: Called with an :class:`EpochInfo` after each epoch; returning ``True``
            stops the run.
        on_train_end: Called with the :class:`~symgd.training.state.TrainResult` when the run ends.

    Example:
        >>> losses = []
        >>> keep = Callback(on_epoch_end=lambda info: losses.append(info.loss))
    """

    on_epoch_end: Callable[[EpochInfo], bool | None] | None = None
    on_train_end: Callable[[TrainResult], None] | None = None


class Callbacks:
    """The callbacks of one run, called in order.

    Args:
        callbacks: :class:`Callback` objects or plain ``on_epoch_end`` functions.
    """

    def __init__(self, callbacks: Sequence[Callback | Callable[[EpochInfo], bool | None]]):
        self._callbacks = [
            c if isinstance(c, Callback) else Callback(on_epoch_end=c) for c in callbacks
        ]

    def epoch_end(self, info: EpochInfo) -> bool:
        """Call every ``on_epoch_end``; ``True`` when any of them asks to stop."""
        stop = False
        for callback in self._callbacks:
            if callback.on_epoch_end is not None and callback.on_epoch_end(info):
                stop = True
        return stop

    def train_end(self, result: TrainResult) -> None:
        """Call every ``on_train_end``."""
        for callback in self._callbacks:
            if callback.on_train_end is not None:
                callback.on_train_end(result)


@dataclass(frozen=True)
class EarlyStopping:
    """Keep the parameters with the lowest validation loss; stop after ``patience`` bad epochs.

    The record lives in the :class:`~symgd.training.state.RunState` (``best_theta``, ``best_loss``,
    ``best_epoch``, ``epochs_without_improvement``), so that a checkpoint carries it.

    Attributes:
        patience: Epochs without improvement before stopping; ``None`` never stops.

    Example:
        >>> import numpy
        >>> run = RunState(numpy.zeros(1), numpy.zeros(1), None, {}, epoch=1)
        >>> watch = EarlyStopping(patience=1)
        >>> watch.observe(run, 0.5) is None, run.best_epoch
        (True, 1)
        >>> run.epoch = 2
        >>> watch.observe(run, 0.7)[:31]
        'stopped early after 2 epochs: t'
    """

    patience: int | None

    def observe(self, run: RunState, validation_loss: float) -> str | None:
        """Record an epoch's validation loss; the stop message once patience runs out."""
        if validation_loss < run.best_loss:
            run.best_theta, run.best_loss = run.theta.copy(), validation_loss
            run.best_epoch, run.epochs_without_improvement = run.epoch, 0
        else:
            run.epochs_without_improvement += 1
        if self.patience and run.epochs_without_improvement >= self.patience:
            return (
                f"stopped early after {run.epoch} epochs: the validation loss has not "
                f"improved for {self.patience} epochs; restored the parameters of "
                f"epoch {run.best_epoch} (validation loss {run.best_loss:.6g})"
            )
        return None


class Progress:
    """A progress bar over epochs (or steps, for a run of a fixed number of steps).

    Args:
        total: Epochs (or steps) of the whole run.
        unit: ``"epoch"`` or ``"step"``.
        done: Epochs (or steps) already done (a resumed run).
        per_epoch: How far one epoch moves the bar.
        show: Whether to draw it (``tqdm(disable=not show)``).
    """

    def __init__(self, total: int, unit: str, done: int, per_epoch: int, show: bool):
        self._bar = tqdm(total=total, unit=unit, leave=False, disable=not show, initial=done)
        self._per_epoch = per_epoch

    def epoch_end(self, loss: float) -> None:
        """Move the bar by one epoch and show the loss."""
        self._bar.update(self._per_epoch)
        self._bar.set_postfix(loss=f"{loss:.4g}")

    def close(self) -> None:
        """Remove the bar."""
        self._bar.close()
