r"""The JAX epoch engine: a whole epoch of mini-batch descent in one jitted ``lax.scan``.

:func:`train_network_jax` trains a network compiled with ``compile_network(net, backend="jax")``
with the same plan, shuffling and update rules as :func:`symgd.training.gradient_descent`, so the
loss history and final parameters equal the NumPy backend's (to rounding: 1e-10 in float64).
Each epoch's permutation is drawn in NumPy from the runner's generator, in the runner's order,
and handed to the scan as a matrix of example indices; a last, shorter batch is one more jitted
step.

The optimisers are symgd's own: the update rules of :data:`~symgd.training.rules.UPDATE_RULES`
that an optimiser was built from are compiled once more, by ``sympy.lambdify`` into ``jax.numpy``
(:func:`jax_optimizer`), and the learning rate of every step (schedules included) is computed in
NumPy before the epoch and fed to the scan. Optax is not needed, and the formulas are the ones
the lecture notes show (optax's AdaGrad and RMSProp place :math:`\epsilon` differently).

Not supported here (a one-line error says so): ``steps``, checkpoints and ``resume``, and
Newton's method. Validation, early stopping and callbacks work, once per epoch.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Callable
from typing import Any

import numpy
import sympy

from symgd.compile.jax_backend import require_jax
from symgd.training.callbacks import Callbacks, EarlyStopping, EpochInfo, Progress
from symgd.training.config import Plan, TrainConfig
from symgd.training.diagnostics import divergence, gradient_findings, loss_diverges, oscillation
from symgd.training.newton import Newton
from symgd.training.rules import (
    GRADIENT,
    LEARNING_RATE,
    PARAMETER,
    STEP,
    GlobalNorm,
    UpdateRule,
)
from symgd.training.state import RunState, TrainResult
from symgd.training.transforms import GradientTransformation

_NORM = sympy.Symbol("norm", nonnegative=True)


@dataclasses.dataclass(frozen=True)
class _Stage:
    """One rule of an optimiser: its JAX function, constants and learning rate per step."""

    rule: UpdateRule
    function: Callable
    constants: tuple[float, ...]
    rate_at: Callable[[int], float | None]
    needs_norm: bool


def _closure(function: Callable) -> dict[str, Any]:
    cells = function.__closure__ or ()
    return dict(zip(function.__code__.co_freevars, (c.cell_contents for c in cells), strict=True))


def _stages(transformation: GradientTransformation) -> list[_Stage]:
    """The rules a symgd optimiser was built from (by ``from_rule`` and ``chain``)."""
    if isinstance(transformation, Newton):
        raise ValueError("the JAX backend runs first-order optimisers; use --backend numpy")
    cells = _closure(transformation.update)
    if "transformations" in cells:
        return [stage for inner in cells["transformations"] for stage in _stages(inner)]
    if not {"rule", "constants", "rate_at"} <= cells.keys():
        raise ValueError(
            "the JAX backend runs symgd's optimisers (make_optimizer, adam, chain …), "
            f"not {transformation!r}"
        )
    function, needs_norm = _compile_rule_jax(cells["rule"])
    return [_Stage(cells["rule"], function, cells["constants"], cells["rate_at"], needs_norm)]


def _compile_rule_jax(rule: UpdateRule) -> tuple[Callable, bool]:
    """``f(g, theta, alpha, t, norm, *previous, *hyper) -> [*new, update]`` in ``jax.numpy``."""
    values: dict[sympy.Symbol, sympy.Expr] = {}
    for symbol, expression in rule.assignments:
        values[symbol] = expression.xreplace(values)
    outputs = [values[new] for _, _, new in rule.accumulators]
    outputs.append(rule.update.xreplace(values))
    outputs = [output.xreplace({GlobalNorm(GRADIENT): _NORM}) for output in outputs]
    arguments = [
        GRADIENT,
        PARAMETER,
        LEARNING_RATE,
        STEP,
        _NORM,
        *(previous for _, previous, _ in rule.accumulators),
        *rule.hyperparameters.values(),
    ]
    function = sympy.lambdify(arguments, outputs, modules="jax", cse=True)
    return function, _NORM in set().union(*(output.free_symbols for output in outputs))


def jax_optimizer(transformation: GradientTransformation, blocks: tuple):
    """A symgd optimiser as pure JAX functions over a tuple of blocks.

    Args:
        transformation: Built by :func:`~symgd.training.optimizers.make_optimizer`, a named
            optimiser, ``from_rule`` or ``chain``.
        blocks: ``(name, slice)`` per parameter block.

    Returns:
        ``(init, update, rates)``: ``init(theta) -> state``; ``update(grads, state, theta,
        rates, step) -> (update vector, state)`` with ``grads`` a flat vector and ``rates`` one
        learning rate per stage; ``rates(first, count)``: the learning rates of ``count`` steps
        from step ``first``, ``(count, stages)`` in NumPy, with the recorded rate per step.

    Raises:
        ValueError: The optimiser is not one of symgd's first-order optimisers.
    """
    import jax.numpy as jnp

    stages = _stages(transformation)

    def init(theta):
        return tuple(
            tuple(tuple(jnp.zeros_like(theta[p]) for _, p in blocks) for _ in s.rule.accumulators)
            for s in stages
        )

    def update(grads, state, theta, rates, step):
        arrays = [grads[part] for _, part in blocks]
        new_state = []
        for k, stage in enumerate(stages):
            norm = jnp.sqrt(sum(jnp.vdot(a, a) for a in arrays)) if stage.needs_norm else 0.0
            outputs = [
                stage.function(
                    a, theta[part], rates[k], step + 1.0, norm,
                    *(state[k][j][b] for j in range(len(stage.rule.accumulators))),
                    *stage.constants,
                )
                for b, (a, (_, part)) in enumerate(zip(arrays, blocks, strict=True))
            ]  # fmt: skip
            new_state.append(
                tuple(
                    tuple(_like(out[j], a) for out, a in zip(outputs, arrays, strict=True))
                    for j in range(len(stage.rule.accumulators))
                )
            )
            arrays = [_like(out[-1], a) for out, a in zip(outputs, arrays, strict=True)]
        return jnp.concatenate([a.reshape(-1) for a in arrays]), tuple(new_state)

    def rates(first: int, count: int) -> tuple[numpy.ndarray, numpy.ndarray]:
        table = numpy.array(
            [[_or_zero(s.rate_at(t)) for s in stages] for t in range(first, first + count)]
        ).reshape(count, len(stages))
        # The runner records the rate of the last stage that has one (the optimiser).
        having = [k for k, s in enumerate(stages) if s.rate_at(0) is not None]
        recorded = table[:, having[-1]] if having else numpy.full(count, math.nan)
        return table, recorded

    return init, update, rates


def _like(value, array):
    """``value`` (an array or a constant such as 0) as an array shaped and typed like ``array``."""
    import jax.numpy as jnp

    return jnp.broadcast_to(jnp.asarray(value, dtype=array.dtype), array.shape)


def _or_zero(rate: float | None) -> float:
    return 0.0 if rate is None else rate


def _refuse(config: TrainConfig) -> None:
    """One-line errors for what the JAX epoch engine does not do (yet)."""
    if config.steps is not None:
        raise ValueError("the JAX backend trains whole epochs: give epochs, not steps")
    if config.checkpoint_dir is not None or config.resume:
        raise ValueError("the JAX backend does not write checkpoints: use --backend numpy")


def train_network_jax(compiled: Any, X: numpy.ndarray, Y: numpy.ndarray, **options: Any):
    r"""Train a JAX-compiled network, each epoch one jitted ``lax.scan`` over its mini-batches.

    .. math:: \theta^{(t+1)} = \theta^{(t)} + u^{(t)}, \qquad
        u^{(t)} = \operatorname{update}(\nabla J_{B_t}(\theta^{(t)}))

    Args:
        compiled: From ``compile_network(net, backend="jax")``.
        X: Training inputs, one row per example.
        Y: Training targets.
        **options: ``theta`` (the start, float64) and the fields of
            :class:`~symgd.training.config.TrainConfig` (``epochs``, ``batch_size``, ``seed``,
            ``optimizer``, ``blocks``, ``names``, ``validation_split`` …).

    Returns:
        A :class:`~symgd.training.state.TrainResult`, as the NumPy runner gives it.

    Raises:
        ValueError: A setting the engine does not support (``steps``, checkpoints, Newton), or
            one out of range.
    """
    jax = require_jax(compiled.dtype)
    jnp = jax.numpy
    theta = numpy.array(options.pop("theta"), dtype=numpy.float64)
    config = TrainConfig(**options)
    _refuse(config)
    plan = Plan.make(config, theta.size, len(X))
    init, update, rates = jax_optimizer(plan.optimizer, plan.blocks)
    dtype = compiled.dtype
    X_all, Y_all = jnp.asarray(X, dtype=dtype), jnp.asarray(Y, dtype=dtype)
    data = (X_all, Y_all)
    training = plan.training if isinstance(plan.training, numpy.ndarray) else None
    X_train = X_all if training is None else X_all[training]
    Y_train = Y_all if training is None else Y_all[training]
    loss_and_gradient, loss_of = compiled.loss_and_gradient, compiled.loss
    parts = [part for _, part in plan.blocks]

    def step(carry, inputs, data):
        theta, state, last_good, previous, previous_square, ok = carry
        examples, step_rates, count = inputs
        loss, grad = loss_and_gradient(theta, data[0][examples], data[1][examples])
        good = ok & jnp.isfinite(loss) & jnp.all(jnp.isfinite(grad))
        change, new_state = update(grad, state, theta, step_rates, count)
        square = jnp.vdot(change, change)
        scale = jnp.sqrt(square * previous_square)
        cosine = jnp.where(scale > 0, jnp.vdot(change, previous) / scale, jnp.nan)
        squares = jnp.stack([jnp.vdot(grad[part], grad[part]) for part in parts])
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(good, a, b), new, old)  # noqa: E731
        carry = (
            keep(theta + change, theta), keep(new_state, state), keep(theta, last_good),
            keep(change, previous), keep(square, previous_square), good,
        )  # fmt: skip
        return carry, (loss, good, squares, cosine)

    @jax.jit
    def epoch(carry, examples, step_rates, counts, data):
        # The data are an argument, not a constant folded into the compiled program.
        return jax.lax.scan(lambda c, x: step(c, x, data), carry, (examples, step_rates, counts))

    one_step = jax.jit(step)
    # ``loss_of`` is jitted already: one compilation per data shape, shared between runs.
    training_loss = lambda t: loss_of(t, X_train, Y_train)  # noqa: E731
    validation_loss = None
    if plan.validation is not None:
        X_valid, Y_valid = X_all[plan.validation], Y_all[plan.validation]
        validation_loss = lambda t: loss_of(t, X_valid, Y_valid)  # noqa: E731

    rng = numpy.random.default_rng(config.seed)
    callbacks, early_stopping = Callbacks(config.callbacks), EarlyStopping(config.early_stopping)
    run = RunState(theta, theta.copy(), None, {})
    run.block_norms = {name: [] for name, _ in plan.blocks}
    theta_jax = jnp.asarray(theta, dtype=dtype)
    run.loss_history.append(float(training_loss(theta_jax)))
    if validation_loss is not None:
        run.validation_history.append(float(validation_loss(theta_jax)))
        run.best_theta, run.best_loss = theta.copy(), run.validation_history[0]
    show = sys.stderr.isatty() if config.progress is None else config.progress
    progress = Progress(config.epochs, "epoch", 0, 1, show)
    zero = jnp.zeros((), dtype=dtype)
    carry = (theta_jax, init(theta_jax), theta_jax, jnp.zeros_like(theta_jax), zero, True)
    bs, n = plan.batch_size, plan.n_train
    kind, message = "finished", ""
    while run.epoch < config.epochs:
        order = rng.permutation(n) if bs < n else numpy.arange(n)
        examples = order if training is None else training[order]
        full = n // bs
        table, recorded = rates(run.step, plan.steps_per_epoch)
        counts = numpy.arange(run.step, run.step + plan.steps_per_epoch, dtype=dtype)
        table = table.astype(dtype)
        carry, outputs = epoch(
            carry, examples[: full * bs].reshape(full, bs), table[:full], counts[:full], data
        )
        outputs = [numpy.asarray(o) for o in outputs]
        if full * bs < n:
            inputs = (examples[full * bs :], table[full], counts[full])
            carry, last = one_step(carry, inputs, data)
            outputs = [
                numpy.concatenate([o, numpy.asarray(x)[None]])
                for o, x in zip(outputs, last, strict=True)
            ]
        losses, good, squares, cosines = outputs
        applied = int(good.sum())
        for k in range(applied):
            run.gradient_norms.append(math.sqrt(float(squares[k].sum())))
            run.learning_rates.append(float(recorded[k]))
            run.update_cosines.append(float(cosines[k]))
            for b, (name, _) in enumerate(plan.blocks):
                run.block_norms[name].append(math.sqrt(float(squares[k, b])))
        run.step += applied
        run.theta = numpy.asarray(carry[0], dtype=numpy.float64)
        run.last_good = numpy.asarray(carry[2], dtype=numpy.float64)
        if applied < len(good):
            kind, message = "diverged", _diverged(run, float(losses[applied]), None, compiled, X, Y)
            break
        run.epoch += 1
        loss = float(training_loss(carry[0]))
        progress.epoch_end(loss)
        run.loss_history.append(loss)
        if what := loss_diverges(run.loss_history):
            if not math.isfinite(loss):
                run.loss_history.pop()
            kind, message = "diverged", _diverged(run, loss, what, compiled, X, Y)
            break
        previous = run.loss_history[-2]
        run.last_good = run.theta
        carry = (*carry[:2], carry[0], *carry[3:])
        valid = stopped_early = None
        if validation_loss is not None:
            valid = float(validation_loss(carry[0]))
            run.validation_history.append(valid)
            stopped_early = early_stopping.observe(run, valid)
        stop = callbacks.epoch_end(EpochInfo.of(run, valid))
        if stopped_early:
            kind, message = "stopped early", stopped_early
            break
        if config.tolerance > 0 and abs(previous - loss) <= config.tolerance * max(1.0, abs(loss)):
            kind = "converged"
            message = f"converged after {run.epoch} epochs (loss {loss:.6g})"
            break
        if stop:
            kind, message = "stopped", f"stopped by a callback after {run.epoch} epochs"
            break
    else:
        message = f"finished {run.epoch} epochs (loss {run.last_loss})"
    progress.close()
    return _result(run, plan, config, kind, message, callbacks)


def _diverged(run: RunState, loss: float, what: str | None, compiled, X, Y) -> str:
    rate = run.learning_rates[-1] if run.learning_rates else math.nan
    objective = compiled.objective(X, Y)
    gradient = lambda t: objective(t, slice(None))[1]  # noqa: E731
    return divergence(
        gradient, run.last_good, rate, loss, epoch=run.epoch, step=run.step, what=what,
        start=None,
    )  # fmt: skip


def _result(run: RunState, plan: Plan, config: TrainConfig, kind: str, message: str, callbacks):
    notes, theta = [], run.theta
    if kind == "diverged":
        theta = run.last_good
        values = ", ".join(f"{n}={v:.6g}" for n, v in zip(plan.names, theta, strict=True))
        notes.append(f"the last finite parameters are returned: {values}")
    elif kind == "stopped early" or (config.early_stopping and run.best_theta is not None):
        theta = run.best_theta
    findings = [oscillation(run.loss_history, run.update_cosines)]
    findings += gradient_findings(run.block_norms)
    result = TrainResult(
        theta.copy(), plan.names, tuple(run.loss_history), run.epoch, run.step,
        kind == "converged", kind == "diverged", message,
        validation_history=tuple(run.validation_history),
        gradient_norm_history=tuple(run.gradient_norms),
        learning_rate_history=tuple(run.learning_rates),
        block_gradient_norms={k: tuple(v) for k, v in run.block_norms.items()},
        diagnostics=(*notes, *(finding for finding in findings if finding)),
        stopped_early=kind == "stopped early",
        best_epoch=run.best_epoch if config.early_stopping else None,
    )  # fmt: skip
    callbacks.train_end(result)
    return result
