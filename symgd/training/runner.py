"""Stage 5, train: the gradient-descent runner.

One runner serves batch, stochastic and mini-batch gradient descent:

.. math:: \\theta_{t+1} = \\theta_t + u_t, \\qquad
    u_t = \\operatorname{update}(\\nabla J_{B_t}(\\theta_t))

where ``B_t`` is the whole training set (batch), one example (stochastic) or a
shuffled slice of ``batch_size`` examples (mini-batch), and the update is plain
gradient descent ``u_t = -α ∇J`` unless an optimiser from :mod:`symgd.training.optimizers`
(momentum, Adam, clipping, schedules …) or Newton's method (:mod:`symgd.training.newton`, which
also needs ``hessian``) is given. The runner only needs a
function ``loss_and_gradient(theta, examples)``; :func:`train` wires it to a
:class:`~symgd.compile.Compiled` objective.

The options of a run are one :class:`~symgd.training.config.TrainConfig`. Besides the loss the
runner records the gradient norm (overall and per parameter block) and the learning rate of
every step; validation, early stopping, callbacks and the progress bar
(:mod:`symgd.training.callbacks`) watch each epoch; checkpoints
(:mod:`symgd.training.checkpoints`) let a later run resume bit for bit; and
:mod:`symgd.training.diagnostics` explains in plain words how the run went.

Example:
    >>> from symgd.data import linear_data
    >>> from symgd.define import linear_regression
    >>> from symgd.derivation import derive
    >>> from symgd.compile import compile_objective
    >>> compiled = compile_objective(derive(linear_regression()))
    >>> data = linear_data(m=100, noise=0.0, seed=0)
    >>> result = train(compiled, data, {"w": 0.0, "b": 0.0}, learning_rate=0.5, epochs=500)
    >>> {k: round(v, 6) for k, v in result.params.items()}
    {'w': 2.0, 'b': 1.0}
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy

from symgd.compile import Compiled
from symgd.training.config import Plan, TrainConfig
from symgd.training.diagnostics import (
    scale_advice,
)
from symgd.training.loop import LossAndGradient, Runner, check_domain
from symgd.training.state import TrainResult


def gradient_descent(
    loss_and_gradient: LossAndGradient,
    theta: numpy.ndarray,
    n_examples: int,
    config: TrainConfig | None = None,
    **options: Any,
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
        config: The options as one :class:`~symgd.training.config.TrainConfig`.
        **options: Or (also) the options as keywords, the fields of
            :class:`~symgd.training.config.TrainConfig`: ``learning_rate``, ``epochs`` or
            ``steps``, ``batch_size``, ``seed``, ``tolerance``, ``names``, ``progress``,
            ``optimizer``, ``blocks``, ``validation_split``, ``early_stopping``,
            ``callbacks``, ``checkpoint_dir``, ``checkpoint_every``, ``resume``, ``hessian``.

    Returns:
        A :class:`~symgd.training.state.TrainResult`.

    Raises:
        ValueError: A setting is out of range, Newton's method has no ``hessian``, or a
            checkpoint does not fit this run.

    Example:
        >>> import numpy
        >>> from symgd.training.optimizers import adam
        >>> def loss_and_gradient(theta, examples):  # J = (theta - 3)^2
        ...     return float((theta[0] - 3) ** 2), 2 * (theta - 3)
        >>> result = gradient_descent(
        ...     loss_and_gradient, numpy.zeros(1), 1, optimizer=adam(0.1), steps=500
        ... )
        >>> round(result.params["theta0"], 3), result.steps
        (3.0, 500)
    """
    if config is None:
        config = TrainConfig(**options)
    elif options:
        config = dataclasses.replace(config, **options)
    theta = numpy.array(theta, dtype=numpy.float64, copy=True)
    return Runner(loss_and_gradient, config, Plan.make(config, theta.size, n_examples)).run(theta)


def train(
    compiled: Compiled,
    data: Mapping[str, numpy.ndarray] | Any,
    init: Mapping[str, float],
    **options: Any,
) -> TrainResult:
    """Train a compiled objective on data with gradient descent.

    Args:
        compiled: From :func:`symgd.compile.compile_objective`.
        data: One array per data symbol; or, for data larger than memory, a Dask DataFrame
            with a column per data symbol or one Dask array per symbol (trained by
            :func:`symgd.training.dask_engine.train_dask`, which also takes ``scheduler``
            and ``chunk_rows``).
        init: Starting value of every parameter.
        **options: Every keyword of :func:`gradient_descent`: ``learning_rate``,
            ``epochs`` or ``steps``, ``batch_size``, ``seed``, ``tolerance``, ``optimizer``,
            ``validation_split``, ``early_stopping``, ``callbacks``, ``checkpoint_dir``,
            ``resume``, ``progress`` … (``names`` comes from ``compiled``).

    Returns:
        A :class:`~symgd.training.state.TrainResult`; a diverged run on data whose columns
        differ in size by orders of magnitude also suggests standardising them.

    Raises:
        ValueError: The loss or its gradient is not a finite real number on the data at the
            starting values (the message names the first such row, as the CSV counts it), or
            a setting is out of range.

    Example:
        >>> from symgd.data import linear_data
        >>> from symgd.define import linear_regression
        >>> from symgd.derivation import derive
        >>> from symgd.compile import compile_objective
        >>> from symgd.training.optimizers import adam
        >>> compiled = compile_objective(derive(linear_regression()))
        >>> result = train(compiled, linear_data(m=50, noise=0.0), {"w": 0.0, "b": 0.0},
        ...                optimizer=adam(0.1), steps=2000)
        >>> {k: round(v, 4) for k, v in result.params.items()}
        {'w': 2.0, 'b': 1.0}
    """
    from symgd.training import dask_engine  # it imports Dask only for Dask data

    if dask_engine.is_dask_data(data):  # the engine runs this module's loop on Dask chunks
        return dask_engine.train_dask(compiled, data, init, **options)
    X = compiled.prepare(data)
    function = compiled.loss_and_gradient

    def loss_and_gradient(theta, examples):
        return function(theta, X if isinstance(examples, slice) else X[:, examples])

    theta = compiled.theta(init)

    def row(k: int) -> str:  # as the CSV shows it: the header is row 1
        values = ", ".join(f"{name}={X[j, k]:.6g}" for j, name in enumerate(compiled.data))
        return f"row {k + 2} ({values})" if values else f"example {k + 1}"

    check_domain(loss_and_gradient, theta, X.shape[1], row)
    result = gradient_descent(
        loss_and_gradient, theta, X.shape[1], names=compiled.params, **options
    )
    return _advise(result, dict(zip(compiled.data, X, strict=True)))


def _advise(result: TrainResult, columns: Mapping[str, numpy.ndarray]) -> TrainResult:
    """A diverged run on data of very different scales: also suggest standardising."""
    advice = scale_advice(columns) if result.diverged else None
    return dataclasses.replace(result, message=f"{result.message}; {advice}") if advice else result


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
        compiled: From :func:`symgd.compile.compile_network`; a JAX-compiled network
            (``backend="jax"``) trains with :func:`symgd.training.jax_engine.train_network_jax`.
        X: Training inputs, one row per example.
        Y: Training targets (``compiled.targets(labels)``).
        **options: Keyword arguments for :func:`gradient_descent` (``learning_rate``,
            ``epochs``, ``batch_size``, ``seed``, ``optimizer`` …); ``theta`` (the start;
            default ``compiled.initial_theta(init_seed)``) and ``init_seed`` (default 0).

    Returns:
        The runner's :class:`~symgd.training.state.TrainResult`; ``result.theta`` holds the
        trained weights.
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
    objective = compiled.objective(X, Y)
    with _blas_one_thread():
        check_domain(objective, theta, len(X), lambda k: f"training example {k + 1}")
        if getattr(compiled, "backend", "numpy") == "jax":  # each epoch one jitted lax.scan
            from symgd.training.jax_engine import train_network_jax

            result = train_network_jax(compiled, X, Y, theta=theta, names=names, **options)
        else:
            result = gradient_descent(objective, theta, len(X), names=names, **options)
    columns = numpy.reshape(X, (len(X), -1)).T  # images and sequences: one column per number
    return _advise(result, {f"feature {j + 1}": column for j, column in enumerate(columns)})
