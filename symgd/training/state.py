"""Stage 5, train: the state of a run (what a checkpoint holds) and what a run returns.

Example:
    >>> import numpy
    >>> result = TrainResult(numpy.array([2.0, 1.0]), ("w", "b"), (5.0, 0.0), 1, 1, True, False,
    ...                      "converged")
    >>> result
    TrainResult(w=2, b=1, loss=0, epochs=1, 'converged')
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy


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


@dataclass
class RunState:
    """Everything a run changes as it goes; a checkpoint saves exactly these fields.

    Attributes:
        theta: The current parameters.
        last_good: The parameters before the last update (returned if the next one diverges).
        optimizer_state: The optimiser's state.
        rng_state: The shuffling generator's state, as of the last checkpoint.
        epoch: Epochs completed.
        step: Updates made.
        position: Training examples used so far in the current epoch.
        order: The current epoch's shuffled example order (``None`` for batch descent).
        loss_history: Training loss at the start and after each epoch.
        validation_history: Validation loss at the start and after each epoch.
        gradient_norms: Global gradient norm of each step.
        learning_rates: Learning rate of each step.
        block_norms: Per block, the gradient norm of each step.
        update_cosines: Cosine between each update and the one before.
        previous_update: The last update (for the next cosine).
        previous_update_square: Its squared norm.
        best_theta: The parameters with the lowest validation loss so far.
        best_loss: That loss.
        best_epoch: Its epoch.
        epochs_without_improvement: Epochs since the validation loss last improved.
        ended: ``"converged"`` or ``"stopped early"``: a resumed run has nothing left to do.
        end_message: The message of that ending.
    """

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
    ended: str = ""
    end_message: str = ""

    def record_step(
        self, update: numpy.ndarray, optimizer_state: Any, learning_rate: float, squares: dict
    ) -> None:
        """Apply one update and record its statistics (all at once: an interrupt leaves it whole).

        Args:
            update: :math:`\\theta_{t+1} - \\theta_t`.
            optimizer_state: The optimiser's state after the update.
            learning_rate: The rate the update used.
            squares: Per block, the squared norm of the gradient.
        """
        cosine = math.nan
        square = float(numpy.dot(update, update))
        if self.previous_update is not None:
            scale = math.sqrt(square * self.previous_update_square)
            cosine = (
                float(numpy.dot(update, self.previous_update)) / scale if scale > 0 else math.nan
            )
        self.last_good, self.theta, self.optimizer_state = (
            self.theta,
            self.theta + update,
            optimizer_state,
        )
        self.previous_update, self.previous_update_square = update, square
        self.step += 1
        self.gradient_norms.append(math.sqrt(sum(squares.values())))
        self.learning_rates.append(learning_rate)
        self.update_cosines.append(cosine)
        for name, value in squares.items():
            self.block_norms[name].append(math.sqrt(value))

    @property
    def last_loss(self) -> str:
        """The last training loss, formatted for a message."""
        return f"{self.loss_history[-1]:.6g}"
