"""Stage 5, train: the options of a run, validated once, and the plan they make for a problem.

:class:`TrainConfig` is what a user chooses (learning rate, length, batch size, optimiser …);
:class:`Plan` is what those choices mean for one problem (``m`` examples, ``theta``'s size):
the parameter blocks, the validation split, the batch size and the number of steps.

Example:
    >>> config = TrainConfig(learning_rate=0.1, epochs=3, batch_size=4)
    >>> plan = Plan.make(config, size=2, n_examples=10)
    >>> plan.steps_per_epoch, plan.total_steps, plan.names
    (3, 9, ('theta0', 'theta1'))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy

from symgd.training.callbacks import Callback, EpochInfo
from symgd.training.newton import Newton
from symgd.training.optimizers import OPTIMIZERS, make_optimizer, sgd
from symgd.training.transforms import GradientTransformation

Blocks = Sequence[tuple[str, slice]]
OptimizerOption = GradientTransformation | Callable[[int], GradientTransformation] | str
Hessian = Callable[[numpy.ndarray, slice | numpy.ndarray], numpy.ndarray]


@dataclass(frozen=True)
class TrainConfig:
    """The options of a run; every keyword of :func:`~symgd.training.runner.gradient_descent`.

    Attributes:
        learning_rate: The step size ``α > 0``; required without ``optimizer`` or with an
            optimiser's name (Newton's line search needs none).
        epochs: Passes over the training data. Give ``epochs`` or ``steps``.
        steps: Parameter updates to make (a run may end part-way through an epoch).
        batch_size: ``None`` or ``m`` for batch gradient descent, ``1`` for
            stochastic, anything between for mini-batch.
        seed: Seed of the shuffling and of the validation split.
        tolerance: Stop when the epoch loss changes by at most
            ``tolerance · max(1, |J|)``; ``0`` runs every epoch.
        names: Parameter names for the result (default ``theta0``, ``theta1`` …).
        progress: Show a progress bar; default: only when stderr is a terminal.
        optimizer: A :class:`~symgd.training.transforms.GradientTransformation` (e.g.
            ``symgd.training.adam(0.01)``), or a function ``total_steps -> transformation``
            so that a schedule can span the run, or a name for
            :func:`~symgd.training.optimizers.make_optimizer` (``"adam"``, ``"newton"`` …).
            Default: plain gradient descent with ``learning_rate`` (the same numbers as
            ``symgd.training.sgd``).
        blocks: ``(name, slice)`` per parameter block (a network's ``W1``, ``b1`` …); they
            must cover ``theta`` exactly once. The optimiser sees one array per block and
            gradient norms are recorded per block. Default: one block per parameter.
        validation_split: Fraction of the examples held out (chosen with ``seed``) to
            measure the validation loss after every epoch.
        early_stopping: Patience: stop when the validation loss has not improved for this
            many epochs, and return the parameters with the lowest validation loss.
        callbacks: :class:`~symgd.training.callbacks.Callback` objects, or functions called with an
            :class:`~symgd.training.callbacks.EpochInfo` after each epoch (``True`` stops the run).
        checkpoint_dir: Save parameters, optimiser state, RNG state, epoch and history here
            every ``checkpoint_every`` epochs, at the end, and on Ctrl-C.
        checkpoint_every: Epochs between checkpoints.
        resume: Continue from the newest intact checkpoint in ``checkpoint_dir`` (a damaged
            one is reported and skipped); the result equals an uninterrupted run's.
        hessian: ``(theta, examples) -> H``, the ``n × n`` Hessian of the same batch loss as
            ``loss_and_gradient`` (``n = theta.size``); Newton's method
            (:func:`~symgd.training.newton.newton`) needs it, other optimisers ignore it.

    Raises:
        ValueError: A setting is out of range (checked when the config is made).

    Example:
        >>> TrainConfig(learning_rate=0.1)
        Traceback (most recent call last):
        ...
        ValueError: give either epochs or steps (the length of the run), not both
    """

    learning_rate: float | None = None
    epochs: int | None = None
    steps: int | None = None
    batch_size: int | None = None
    seed: int = 0
    tolerance: float = 0.0
    names: tuple[str, ...] | None = None
    progress: bool | None = None
    optimizer: OptimizerOption | None = None
    blocks: Blocks | None = None
    validation_split: float = 0.0
    early_stopping: int | None = None
    callbacks: Sequence[Callback | Callable[[EpochInfo], bool | None]] = ()
    checkpoint_dir: str | Path | None = None
    checkpoint_every: int = 1
    resume: bool = False
    hessian: Hessian | None = None

    def __post_init__(self) -> None:
        rate, optimizer = self.learning_rate, self.optimizer
        needs_rate = optimizer is None or (isinstance(optimizer, str) and optimizer in OPTIMIZERS)
        if (rate is not None or needs_rate) and not (
            rate is not None and rate > 0 and math.isfinite(rate)
        ):
            raise ValueError(f"the learning rate must be a positive number, not {rate}")
        if (self.epochs is None) == (self.steps is None):
            raise ValueError("give either epochs or steps (the length of the run), not both")
        for name in ("epochs", "steps"):
            if getattr(self, name) is not None and getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, not {getattr(self, name)}")
        if self.batch_size is not None and not self.batch_size >= 1:
            raise ValueError(f"the batch size must be >= 1, not {self.batch_size}")
        if not 0 <= self.validation_split < 1:
            raise ValueError(f"validation_split must be in [0, 1), not {self.validation_split}")
        if self.early_stopping is not None:
            if not self.early_stopping >= 1:
                patience = self.early_stopping
                raise ValueError(f"early_stopping (the patience) must be >= 1, not {patience}")
            if self.validation_split == 0:
                raise ValueError(
                    "early stopping watches the validation loss: give validation_split"
                )
        if self.resume and self.checkpoint_dir is None:
            raise ValueError("resume needs checkpoint_dir, the folder the checkpoints are in")
        if not self.checkpoint_every >= 1:
            raise ValueError(f"checkpoint_every must be >= 1, not {self.checkpoint_every}")


@dataclass(frozen=True)
class Plan:
    """What a :class:`TrainConfig` means for one problem.

    Attributes:
        names: Parameter names.
        blocks: ``(name, slice)`` per block, checked to cover the parameters exactly once.
        training: The training examples: ``slice(0, m)``, or sorted indices with a validation
            split.
        validation: The validation examples, or ``None``.
        n_train: Number of training examples.
        batch_size: Examples per step (at most ``n_train``).
        steps_per_epoch: Steps per pass over the training examples.
        total_steps: Steps the whole run makes.
        optimizer: The optimiser, built for ``total_steps`` when given as a factory.
    """

    names: tuple[str, ...]
    blocks: tuple[tuple[str, slice], ...]
    training: slice | numpy.ndarray
    validation: numpy.ndarray | None
    n_train: int
    batch_size: int
    steps_per_epoch: int
    total_steps: int
    optimizer: GradientTransformation

    @classmethod
    def make(cls, config: TrainConfig, size: int, n_examples: int) -> Plan:
        """The plan of a run over ``n_examples`` examples with ``size`` parameters.

        Raises:
            ValueError: No examples, bad blocks, a split that leaves no training examples, an
                unknown optimiser name, or Newton's method without a Hessian.
        """
        if n_examples < 1:
            raise ValueError("training needs at least one example")
        names = config.names or tuple(f"theta{j}" for j in range(size))
        training, validation = _split(n_examples, config.validation_split, config.seed)
        n_train = n_examples if validation is None else training.size
        batch_size = min(n_train if config.batch_size is None else config.batch_size, n_train)
        steps_per_epoch = -(-n_train // batch_size)
        total_steps = config.steps if config.steps is not None else config.epochs * steps_per_epoch
        optimizer = config.optimizer
        if optimizer is None:
            optimizer = sgd(config.learning_rate)
        elif isinstance(optimizer, str):
            optimizer = make_optimizer(optimizer, config.learning_rate)
        elif not isinstance(optimizer, GradientTransformation):
            optimizer = optimizer(max(total_steps, 1))
        if isinstance(optimizer, Newton) and config.hessian is None:
            raise ValueError(
                "Newton's method needs the Hessian: pass hessian=(theta, examples) -> the n×n "
                "matrix of second derivatives of the batch loss"
            )
        blocks = _check_blocks(config.blocks, names, size)
        return cls(names, blocks, training, validation, n_train, batch_size, steps_per_epoch,
                   total_steps, optimizer)  # fmt: skip

    def fingerprint(self, config: TrainConfig) -> dict:
        """The settings a resumed run must share with the checkpoint it resumes."""
        return {
            "n_examples": self.n_train + (0 if self.validation is None else self.validation.size),
            "batch_size": self.batch_size,
            "seed": config.seed,
            "validation_split": config.validation_split,
            "blocks": [[name, part.start, part.stop] for name, part in self.blocks],
        }


def _check_blocks(blocks: Blocks | None, names: tuple[str, ...], size: int) -> tuple:
    if blocks is None:
        return tuple((name, slice(j, j + 1)) for j, name in enumerate(names))
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
    return tuple(checked)


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
