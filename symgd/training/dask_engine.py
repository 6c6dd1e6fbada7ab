"""Stage 5, train: the same runner on Dask collections, for data larger than memory.

The objective is a mean over examples plus terms that do not depend on the data (the L2
penalty :math:`R(\\theta)`), so over chunks :math:`P_1, \\dots, P_K` of sizes
:math:`m_1 + \\dots + m_K = m`

.. math:: J(\\theta) = \\frac{1}{m} \\sum_{i=1}^{m} \\ell_i(\\theta) + R(\\theta)
    = \\sum_{k=1}^{K} \\frac{m_k}{m} J_{P_k}(\\theta),

and the same weights combine the chunk gradients :math:`\\nabla J_{P_k}`; a summed objective
(``reduction="sum"``) is :math:`\\sum_k J_{P_k} - (K - 1) R`. Each chunk runs the compiled NumPy
function on its own rows; Dask computes the chunks (``delayed`` + ``dask.compute``) and the
:math:`K` small vectors are combined here in a fixed order, so the threaded scheduler gives
the same numbers on every run.

Full-batch descent makes one pass over the data per step (the loss the runner records after an
epoch is remembered and reused by the next step, as both are at the same :math:`\\theta`).
Mini-batch descent draws its batches partition by partition: each epoch the partition order
and the rows within each partition are shuffled with the run's seeded generator, a batch never
crosses a partition boundary, and each partition is loaded once per epoch for its batches
(:func:`partition_order`). With one partition the batches are exactly those of in-memory
training. Checkpoints and resume are the runner's own.

Example:
    Rows 0–2 form one partition, rows 3–4 another; an epoch visits each partition whole:

    >>> import numpy
    >>> partition_order(numpy.random.default_rng(0), numpy.array([0, 3, 5]), slice(0, 5))
    array([2, 0, 1, 4, 3])
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy

from symgd.compile import Compiled, load_source
from symgd.training.config import Plan, TrainConfig
from symgd.training.diagnostics import scale_advice
from symgd.training.loop import Runner, check_domain
from symgd.training.state import TrainResult
from symgd.training.transforms import GradientTransformation

INSTALL = "pip install 'symgd[dask]'"


def is_dask_data(data: Any) -> bool:
    """Whether ``data`` is a Dask collection, or a mapping holding one (without importing Dask).

    Example:
        >>> import numpy
        >>> is_dask_data({"x": numpy.zeros(3)})
        False
    """
    values = data.values() if isinstance(data, Mapping) else [data]
    return any(type(value).__module__.split(".")[0] == "dask" for value in values)


def _dask():
    try:
        import dask
        import dask.array
    except ImportError:
        raise ImportError(f"training on Dask data needs Dask: {INSTALL}") from None
    return dask


def partition_order(
    rng: numpy.random.Generator, offsets: numpy.ndarray, training: slice | numpy.ndarray
) -> numpy.ndarray:
    """One epoch's example order, partition by partition.

    The partitions come in the order ``rng.permutation(K)``; within partition ``k`` its training
    examples come in the order ``rng.permutation(m_k)``. With one partition this is exactly the
    in-memory runner's ``training[rng.permutation(m)]``.

    Args:
        rng: The run's generator (its state is checkpointed by the runner).
        offsets: ``K + 1`` increasing row numbers: partition ``k`` holds rows
            ``offsets[k] … offsets[k + 1] − 1``.
        training: The training examples: a slice of all rows, or sorted row numbers.

    Returns:
        The row numbers of the training examples in this epoch's order.

    Example:
        >>> import numpy
        >>> partition_order(numpy.random.default_rng(1), numpy.array([0, 2, 4]), slice(0, 4))
        array([0, 1, 3, 2])
    """
    rows = numpy.arange(offsets[-1]) if isinstance(training, slice) else training
    bounds = numpy.searchsorted(rows, offsets)
    parts = [rows[bounds[k] : bounds[k + 1]] for k in range(len(offsets) - 1)]
    order = rng.permutation(len(parts))
    return numpy.concatenate([parts[k][rng.permutation(parts[k].size)] for k in order])


@functools.lru_cache(maxsize=16)
def _function(source: str):
    """The compiled ``loss_and_gradient``, loaded once per process (also on a cluster worker)."""
    return load_source(source)["loss_and_gradient"]


def _chunk(block: numpy.ndarray, theta: numpy.ndarray, source: str, rows) -> numpy.ndarray:
    """``[J, ∇J]`` of the compiled objective on one chunk (its rows ``rows``, or all)."""
    X = block if rows is None else block[:, rows]
    with numpy.errstate(over="ignore", invalid="ignore", divide="ignore"):
        loss, gradient = _function(source)(theta, X)
    return numpy.concatenate([[loss], numpy.asarray(gradient, dtype=numpy.float64)])


def _summed(compiled: Compiled, rows: int) -> bool:
    """Whether the objective sums over examples: on no examples a mean is 0/0, a sum is R(θ)."""
    empty = numpy.empty((rows, 0), dtype=compiled.dtype)
    try:
        loss = _chunk(empty, numpy.zeros(len(compiled.params)), compiled.source, None)[0]
    except ZeroDivisionError:
        return False
    return bool(numpy.isfinite(loss))


class DaskObjective:
    """``loss_and_gradient(theta, examples)`` over a ``(d, m)`` Dask array, for the runner.

    Args:
        compiled: The compiled objective.
        X: Its data, one row per data symbol, chunked along the examples with known sizes.
        scheduler: What ``dask.compute`` runs on (``"threads"`` or a ``distributed`` client's
            ``get``).
    """

    def __init__(self, compiled: Compiled, X: Any, scheduler: Any = "threads"):
        self.compiled, self.X, self.scheduler = compiled, X, scheduler
        self.offsets = numpy.concatenate([[0], numpy.cumsum(X.chunks[1])]).astype(numpy.int64)
        self.blocks = X.to_delayed().reshape(-1)
        self.m = int(self.offsets[-1])
        self.loaded: tuple[int, numpy.ndarray] | None = None
        self.loads = 0  # partitions loaded whole for mini-batches
        self._memo: tuple[bytes, tuple, tuple[float, numpy.ndarray]] | None = None
        self.summed = _summed(compiled, X.shape[0])

    def __call__(self, theta: numpy.ndarray, examples: slice | numpy.ndarray):
        if not isinstance(examples, slice):
            return self._rows(theta, numpy.asarray(examples))
        key = examples.indices(self.m)
        if self._memo and self._memo[:2] == (theta.tobytes(), key):  # the epoch's loss, again
            return self._memo[2]
        if key[:2] == (0, self.m) and key[2] == 1:
            value = self._reduce(theta, [(k, None) for k in range(len(self.blocks))])
        else:
            value = self._rows(theta, numpy.arange(self.m)[examples])
        self._memo = (theta.tobytes(), key, value)
        return value

    def _rows(self, theta: numpy.ndarray, rows: numpy.ndarray):
        first, last = numpy.searchsorted(self.offsets, [rows.min(), rows.max()], side="right") - 1
        if first == last:  # a mini-batch: from the partition in memory, loading it if needed
            if self.loaded is None or self.loaded[0] != first:
                (block,) = self._compute(self.blocks[first])
                self.loaded, self.loads = (int(first), block), self.loads + 1
            vector = _chunk(self.loaded[1], theta, self.compiled.source, rows - self.offsets[first])
            return float(vector[0]), vector[1:]
        parts = numpy.searchsorted(self.offsets, rows, side="right") - 1
        return self._reduce(
            theta,
            [(k, rows[parts == k] - self.offsets[k]) for k in numpy.unique(parts)],
        )

    def _compute(self, *tasks: Any) -> tuple:
        """``dask.compute``; a file that cannot be read is a one-line ``ValueError``."""
        try:
            return _dask().compute(*tasks, scheduler=self.scheduler)
        except ValueError as error:  # pandas' message, wrapped by Dask over two lines
            text = str(error).split("Original Message:")[-1]
            raise ValueError(f"reading the data failed: {' '.join(text.split())}") from None

    def _reduce(self, theta: numpy.ndarray, chunks: list[tuple[int, Any]]):
        """Each chunk's ``[J, ∇J]`` by Dask, combined with weights ``m_k / m``."""
        dask = _dask()
        source = self.compiled.source
        tasks = [dask.delayed(_chunk)(self.blocks[k], theta, source, rows) for k, rows in chunks]
        values = numpy.stack(self._compute(*tasks), axis=1)
        sizes = numpy.array(
            [self.offsets[k + 1] - self.offsets[k] if r is None else len(r) for k, r in chunks],
            dtype=numpy.float64,
        )
        if self.summed:  # the penalty R(θ) is in every chunk's value: keep it once
            empty = numpy.empty((self.X.shape[0], 0), dtype=self.compiled.dtype)
            penalty = _chunk(empty, theta, source, None)
            vector = values.sum(axis=1) - (len(chunks) - 1) * penalty
        else:
            vector = values @ (sizes / sizes.sum())
        return float(vector[0]), vector[1:]

    def example(self, k: int) -> str:
        """Example ``k`` (0-based) with its values, for a message."""
        values = numpy.asarray(self.X[:, k].compute(scheduler=self.scheduler))
        shown = ", ".join(f"{n}={v:.6g}" for n, v in zip(self.compiled.data, values, strict=True))
        return f"example {k + 1} ({shown})"

    def column_sizes(self) -> dict[str, numpy.ndarray]:
        """Each data column's largest finite magnitude (for the advice to standardise)."""
        dask = _dask()
        magnitude = dask.array.where(dask.array.isfinite(self.X), abs(self.X), 0.0)
        sizes = magnitude.max(axis=1).compute(scheduler=self.scheduler)
        return {name: numpy.array([s]) for name, s in zip(self.compiled.data, sizes, strict=True)}


def data_matrix(compiled: Compiled, data: Any, chunk_rows: int | None = None) -> Any:
    """The data as a ``(d, m)`` Dask array with known chunk sizes, one row per data symbol.

    Args:
        compiled: The compiled objective (its data symbols name the columns).
        data: A Dask DataFrame with a column per data symbol, or one Dask array per symbol.
        chunk_rows: Examples per chunk (default: the collection's own partitions).

    Returns:
        The Dask array (finding the partition sizes reads the data once).

    Raises:
        ValueError: A data symbol is missing, the columns differ in length, there are no
            examples, or ``chunk_rows`` is not positive.
    """
    dask = _dask()
    names = list(compiled.data)
    if not names:
        raise ValueError("the objective has no data symbols: there is nothing for Dask to split")
    have = list(data.columns) if hasattr(data, "columns") else list(data)
    missing = [name for name in names if name not in have]
    if missing:
        raise ValueError(f"no data for symbol {missing[0]!r} (have: {', '.join(map(str, have))})")
    if hasattr(data, "columns"):
        X = data[names].to_dask_array(lengths=True).T
    else:
        columns = [dask.array.asarray(data[name]).reshape(-1) for name in names]
        lengths = {c.shape[0] for c in columns}
        if len(lengths) > 1:
            raise ValueError(f"data columns differ in length: {sorted(lengths)}")
        X = dask.array.stack(columns)
    X = X.astype(compiled.dtype)
    if any(math.isnan(c) for c in X.chunks[1]):
        X = X.compute_chunk_sizes()
    if X.shape[1] == 0:
        raise ValueError("the data has no examples")
    if chunk_rows is not None and not chunk_rows >= 1:
        raise ValueError(f"chunk_rows must be >= 1, not {chunk_rows}")
    return X.rechunk({0: -1, 1: chunk_rows or X.chunks[1]})


class PartitionRunner(Runner):
    """The runner's loop, drawing each epoch's batches partition by partition."""

    def __init__(self, objective: DaskObjective, config: TrainConfig, plan: Plan):
        super().__init__(objective, config, plan)
        self.offsets, self._ends = objective.offsets, (None, None)

    def _next_batch(self) -> numpy.ndarray:
        run = self.state
        if run.position == 0:
            run.order = partition_order(self.rng, self.offsets, self.plan.training)
        if self._ends[0] is not run.order:  # where each partition's rows end in the order
            parts = numpy.searchsorted(self.offsets, run.order, side="right")
            ends = numpy.append(numpy.flatnonzero(numpy.diff(parts)) + 1, run.order.size)
            self._ends = (run.order, ends)
        ends = self._ends[1]
        partition_end = ends[numpy.searchsorted(ends, run.position, side="right")]
        return run.order[run.position : min(run.position + self.plan.batch_size, partition_end)]

    def _step(self, gradient: numpy.ndarray, loss: float, batch: numpy.ndarray) -> None:
        super()._step(gradient, loss, batch)
        self.state.position += batch.size - self.plan.batch_size  # a short last batch


def _partition_plan(plan: Plan, config: TrainConfig, offsets: numpy.ndarray) -> Plan:
    """The plan with the steps that batches within partitions take."""
    rows = numpy.arange(offsets[-1]) if isinstance(plan.training, slice) else plan.training
    sizes = numpy.diff(numpy.searchsorted(rows, offsets))
    per_epoch = int(sum(-(-int(s) // plan.batch_size) for s in sizes if s))
    total = config.steps if config.steps is not None else config.epochs * per_epoch
    optimizer = config.optimizer
    if callable(optimizer) and not isinstance(optimizer, GradientTransformation | str):
        plan = dataclasses.replace(plan, optimizer=optimizer(max(total, 1)))
    return dataclasses.replace(plan, steps_per_epoch=per_epoch, total_steps=total)


@contextlib.contextmanager
def _scheduler(address: str | None) -> Iterator[Any]:
    """Dask's local threads, or a client of the ``distributed`` cluster at ``address``."""
    if address is None:
        yield "threads"  # the combination is in a fixed order, so threads are deterministic
        return
    try:
        from distributed import Client
    except ImportError:
        raise ImportError(f"--scheduler needs Dask's distributed: {INSTALL}") from None
    try:
        client = Client(address, timeout="10s", set_as_default=False)
    except (OSError, ValueError, TimeoutError) as error:
        raise ValueError(f"cannot reach the Dask scheduler at {address}: {error}") from None
    with client:
        yield client.get


def train_dask(
    compiled: Compiled,
    data: Any,
    init: Mapping[str, float],
    *,
    scheduler: str | None = None,
    chunk_rows: int | None = None,
    **options: Any,
) -> TrainResult:
    """Train a compiled objective on Dask data with the runner of :mod:`symgd.training.runner`.

    Args:
        compiled: From :func:`symgd.compile.compile_objective`.
        data: A Dask DataFrame with a column per data symbol, or one Dask array per symbol.
        init: Starting value of every parameter.
        scheduler: Address of a ``distributed`` scheduler (``"tcp://host:8786"``); default
            Dask's local threaded scheduler.
        chunk_rows: Examples per chunk (default: the collection's partitions).
        **options: The keywords of :func:`~symgd.training.runner.gradient_descent`.

    Returns:
        A :class:`~symgd.training.state.TrainResult`.

    Raises:
        ValueError: As :func:`~symgd.training.runner.train`, or the scheduler cannot be reached.
        ImportError: Dask is not installed (the message says how to install it).
    """
    with _scheduler(scheduler) as where:
        objective = DaskObjective(compiled, data_matrix(compiled, data, chunk_rows), where)
        theta = numpy.array(compiled.theta(init), dtype=numpy.float64, copy=True)
        loss, gradient = objective(theta, slice(0, objective.m))  # the runner's first loss too
        if not (math.isfinite(loss) and numpy.all(numpy.isfinite(gradient))):
            check_domain(objective, theta, objective.m, objective.example)
        config = TrainConfig(**{"names": compiled.params, **options})
        plan = Plan.make(config, theta.size, objective.m)
        runner = Runner
        if plan.batch_size < plan.n_train:
            plan = _partition_plan(plan, config, objective.offsets)
            runner = PartitionRunner
        result = runner(objective, config, plan).run(theta)
        advice = scale_advice(objective.column_sizes()) if result.diverged else None
    return dataclasses.replace(result, message=f"{result.message}; {advice}") if advice else result
