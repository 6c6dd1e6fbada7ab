"""What every training command reports about a run: its JSON fields, its text lines, its exit.

Example:
    >>> from symgd.training import gradient_descent
    >>> result = gradient_descent(lambda t, rows: (float(t @ t), 2 * t), [1.0], 1, steps=3,
    ...                           learning_rate=0.25)
    >>> run_json(result)["final_loss"]
    0.015625
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from symgd.cli.options import failed
from symgd.training import TrainResult


def run_json(result: TrainResult) -> dict:
    """The fields of a run that every ``--format json`` holds (``params`` are the command's)."""
    return {
        "loss": list(result.loss_history),
        "final_loss": result.final_loss,
        "validation_loss": list(result.validation_history),
        "epochs": result.epochs,
        "steps": result.steps,
        "converged": result.converged,
        "diverged": result.diverged,
        "stopped_early": result.stopped_early,
        "interrupted": result.interrupted,
        "message": result.message,
        "diagnostics": list(result.diagnostics),
        "checkpoint": str(result.checkpoint) if result.checkpoint else None,
    }


def print_run(result: TrainResult, parameter_lines: Iterable[str], plot: str | None) -> None:
    """The text report: the parameters, the loss from start to end, notes, the plot written."""
    for line in parameter_lines:
        print(line)
    print(f"loss {result.loss_history[0]:.6g} -> {result.final_loss:.6g}; {result.message}")
    for line in result.diagnostics:
        print(f"note: {line}")
    if plot:
        print(f"wrote {plot}")


def run_exit(result: TrainResult) -> int:
    """130 when interrupted (the message on stderr), 1 when diverged, else 0."""
    if result.interrupted:
        print(f"symgd: {result.message}", file=sys.stderr)
        return 130
    return failed(result.message) if result.diverged else 0
