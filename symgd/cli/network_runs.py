"""What ``net train`` does for every kind of network: scores, the gradient check, memory.

Both spellings of a network (``--layers`` with ``--activation``, and ``--arch``) train
through :func:`symgd.training.train_network`; these helpers read only what the two compiled
forms share (``forward``, ``predict``, ``targets``, ``loss``, ``gradient``, ``blocks``).
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

import numpy
from sklearn.metrics import accuracy_score, mean_squared_error

from symgd import data
from symgd.cli.options import UsageError, failed, json_text
from symgd.define import Architecture, Loss, Network
from symgd.training import make_optimizer
from symgd.verify import check_gradient

__all__ = [
    "available_memory",
    "emit_run",
    "gradient_check",
    "memory_needed",
    "network_data",
    "refuse_too_large",
    "scores",
]

#: Bytes of one float64 number.
_FLOAT64 = 8


def scores(
    compiled,
    loss: Loss,
    theta: numpy.ndarray,
    train: tuple[numpy.ndarray, numpy.ndarray],
    test: tuple[numpy.ndarray, numpy.ndarray],
) -> dict[str, float]:
    """Train and test accuracy for classifiers (every output unit for binary), else test MSE."""
    if not loss.on_logits:
        X, labels = test
        outputs, Y = compiled.forward(theta, X), compiled.targets(labels)
        if not numpy.all(numpy.isfinite(outputs)):  # a diverged run: no score, not an error
            return {"test_mse": float("nan")}
        return {"test_mse": float(mean_squared_error(Y, outputs))}
    result = {}
    for part, (X, labels) in (("train", train), ("test", test)):
        predicted = compiled.predict(theta, X)
        if loss.kind != "softmax":
            labels = compiled.targets(labels).astype(numpy.int64).reshape(predicted.shape)
        result[f"{part}_accuracy"] = float(accuracy_score(labels.ravel(), predicted.ravel()))
    return result


def gradient_check(
    compiled, X: numpy.ndarray, Y: numpy.ndarray, seed: int, *, off_kinks: bool = False
):
    """Finite differences at the seeded starting point, on the first 64 rows at most.

    With ``off_kinks`` every parameter moves by a seeded ``N(0, 0.01²)`` first: with zero
    biases, an image patch of zeros puts a ReLU exactly at its kink, where central differences
    average the two one-sided slopes and disagree with any (sub)gradient.
    """
    point = compiled.initial_theta(seed)
    if off_kinks:
        point = point + 0.01 * numpy.random.default_rng(seed).standard_normal(point.shape)
    rows = slice(0, min(64, len(X)))
    X_check, Y_check = X[rows], Y[rows]
    return check_gradient(
        lambda t: compiled.loss(t, X_check, Y_check),
        lambda t: compiled.gradient(t, X_check, Y_check),
        point,
        blocks=compiled.blocks,
        full_check_limit=300,
        seed=seed,
    )


def _units(model: Network | Architecture) -> int:
    """Numbers one example carries through the network: its input and every layer's output."""
    if isinstance(model, Network):
        return sum(model.sizes)
    return math.prod(model.input_shape) + sum(math.prod(x.output_shape) for x in model.layers)


def memory_needed(
    model: Network | Architecture, rows: int, batch_size: int | None, optimizer: str
) -> int:
    """A lower bound on the bytes that training ``model`` holds at once, all in float64.

    The parameters, their gradient and update, the optimiser's state arrays (one per
    accumulator: Adam keeps two), and for every unit the pre-activation ``z``, activation
    ``a`` and error ``δ`` of one batch, plus ``z`` and ``a`` of all ``rows`` (the epoch's loss).

    Example:
        >>> from symgd.define import network
        >>> net = network("64,32,10", activation="tanh", loss="softmax-cross-entropy")
        >>> memory_needed(net, 1437, 64, "adam")
        2696368
    """
    state = len(make_optimizer(optimizer, 1.0).init({"theta": numpy.zeros(1)}).accumulators)
    batch = min(batch_size or rows, rows)
    units = _units(model)
    return _FLOAT64 * ((3 + state) * model.parameter_count + (3 * batch + 2 * rows) * units)


def available_memory() -> int:
    """This machine's memory in bytes, or the container's limit (cgroup) when that is lower."""
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def refuse_too_large(
    model: Network | Architecture, rows: int, args: argparse.Namespace, fix: str
) -> None:
    """Refuse, before allocating, a network whose training would need over half the memory."""
    needed, memory = memory_needed(model, rows, args.batch_size, args.optimizer), available_memory()
    if needed > memory / 2:
        name = "-".join(map(str, model.sizes)) if isinstance(model, Network) else model.text
        raise UsageError(
            f"the network {name} has {model.parameter_count:,} parameters; training it needs "
            f"about {needed / 2**30:,.1f} GiB (parameters, gradients, {args.optimizer} state and "
            f"activations in float64) and this machine has {memory / 2**30:,.1f} GiB of "
            f"memory: {fix}"
        )


def network_data(args: argparse.Namespace) -> tuple[numpy.ndarray, ...]:
    """``X_train, X_test, y_train, y_test`` from ``--dataset`` or ``--csv`` and ``--target``.

    Digits come as rows of 64 pixels, sine waves as ``(m, steps, 1)`` sequences.
    """
    if args.dataset == "digits":
        return data.digits_dataset()
    if args.dataset == "sine":
        return data.sine_dataset()
    X, labels, _ = data.read_labelled_csv(args.csv, args.target)
    return data.split(X, labels)


#: The scores a run's text report prints, in this order, when the payload has them.
_SCORES = ("train_accuracy", "test_accuracy", "test_mse", "baseline_mse")


def emit_run(args: argparse.Namespace, header: str, payload: dict, result, report) -> int:
    """Print a network run (``--format json`` or text lines) and return the exit status.

    Args:
        args: The parsed options (``format``).
        header: The text report's first line, naming the network.
        payload: What describes the network and its scores; the run's loss history, epochs,
            steps, end and the gradient check (when ``report`` is given) are added.
        result: The runner's :class:`~symgd.training.state.TrainResult`.
        report: The finite-difference check, or ``None``.

    Returns:
        0, or 1 (with one line) for a diverged run or a failed check.
    """
    payload |= {
        "loss": list(result.loss_history),
        "epochs": result.epochs,
        "steps": result.steps,
        "diverged": result.diverged,
        "message": result.message,
    }
    if report is not None:
        payload["gradient_check"] = report.to_dict()
    if args.format == "json":
        print(json_text(payload))
    else:
        print(header)
        if report is not None:
            print(report.table())
        print(f"loss {result.loss_history[0]:.6g} -> {result.final_loss:.6g}; {result.message}")
        for key in _SCORES:
            if key in payload:
                print(f"{key.replace('_', ' ')}: {payload[key]:.4f}")
    if result.diverged:
        return failed(result.message)
    if report is not None and not report.passed:
        return failed("the gradient check failed")
    return 0
