r"""Gradient transformations as pure ``(init, update)`` pairs compiled from update rules.

A transformation built from an :class:`~symgd.training.rules.UpdateRule` is

* compiled once, when it is built, with ``sympy.lambdify(cse=True)`` into a NumPy function that
  every ``update`` call runs on whole arrays (no SymPy at training time), and
* rendered to LaTeX by :func:`update_rule_latex` from the same equations.

Parameters, gradients and updates are ``dict[str, numpy.ndarray]``. As in optax, an
optimiser's ``update`` returns updates that already carry the learning rate and the minus sign;
apply them with :func:`apply_updates`. Transformations compose with :func:`chain`.

Example:
    >>> import numpy as np
    >>> optimizer = chain(clip_by_global_norm(1.0), scale_by_learning_rate(0.1))
    >>> params = {"w": np.array([3.0, 4.0])}
    >>> state = optimizer.init(params)
    >>> updates, state = optimizer.update({"w": np.array([3.0, 4.0])}, state)
    >>> apply_updates(params, updates)["w"]
    array([2.94, 3.92])
    >>> print(update_rule_latex(optimizer).splitlines()[2])  # the clipped gradient's step
    \theta^{(t+1)} &= \theta^{(t)} - \alpha \tilde{g}^{(t)}
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np
import sympy

from symgd.render import latex
from symgd.render.printing import latex_printer
from symgd.training.rules import (
    GRADIENT,
    LEARNING_RATE,
    NEXT_PARAMETER,
    PARAMETER,
    SCHEDULED_LEARNING_RATE,
    STEP,
    UPDATE_RULES,
    GlobalNorm,
    UpdateRule,
    parameter_update,
)

Params = dict[str, np.ndarray]
LearningRate = float | Callable[[int], float]

_NORM_VALUE = sympy.Symbol("norm", nonnegative=True)


class RuleState(NamedTuple):
    """State of a transformation built from one :class:`~symgd.training.rules.UpdateRule`.

    Attributes:
        count: Number of updates done so far.
        accumulators: State name -> parameter name -> array (e.g. Adam's ``mu`` and ``nu``).
        learning_rate: The learning rate used by the most recent update; before the first update,
            the rate the first update will use. ``None`` for rules without a learning rate.
    """

    count: int
    accumulators: dict[str, dict[str, np.ndarray]]
    learning_rate: float | None = None


class ChainState(NamedTuple):
    """State of :func:`chain`: one state per chained transformation."""

    inner: tuple


class GradientTransformation(NamedTuple):
    """An optimiser or gradient transformation: pure ``init`` / ``update`` plus its equations.

    Attributes:
        init: ``init(params) -> state``.
        update: ``update(grads, state, params=None) -> (updates, new_state)``.
        equations: The update rule as SymPy ``Eq`` objects, the last one being
            :math:`\\theta^{(t+1)} = \\theta_t + \\dots`; rendered by :func:`update_rule_latex`.
    """

    init: Callable[[Params], Any]
    update: Callable[..., tuple[Params, Any]]
    equations: tuple[sympy.Eq, ...]

    def _repr_latex_(self) -> str:
        return f"$${update_rule_latex(self)}$$"


def apply_updates(params: Params, updates: Params) -> Params:
    """Return ``params + updates`` as a new dict (the inputs are not modified).

    Example:
        >>> import numpy as np
        >>> apply_updates({"w": np.array(1.0)}, {"w": np.array(-0.25)})["w"]
        array(0.75)
    """
    return {name: np.asarray(params[name] + updates[name]) for name in params}


def global_norm(tree: Mapping[str, np.ndarray]) -> float:
    r"""The Euclidean norm over all arrays of a tree, :math:`\sqrt{\sum_i \sum_j x_{ij}^2}`.

    Example:
        >>> import numpy as np
        >>> global_norm({"w": np.array([3.0]), "b": np.array(4.0)})
        5.0
    """
    return math.sqrt(sum(float(np.vdot(value, value)) for value in tree.values()))


def _compile_rule(rule: UpdateRule) -> tuple[Callable[..., list], bool, bool]:
    """Compile a rule to ``f(g, theta, alpha, t, norm, *previous, *hyper) -> [*new, update]``."""
    values: dict[sympy.Symbol, sympy.Expr] = {}
    for symbol, expression in rule.assignments:
        values[symbol] = expression.xreplace(values)
    outputs = [values[new] for _, _, new in rule.accumulators]
    outputs.append(rule.update.xreplace(values))
    outputs = [output.xreplace({GlobalNorm(GRADIENT): _NORM_VALUE}) for output in outputs]
    arguments = [
        GRADIENT,
        PARAMETER,
        LEARNING_RATE,
        STEP,
        _NORM_VALUE,
        *(previous for _, previous, _ in rule.accumulators),
        *rule.hyperparameters.values(),
    ]
    function = sympy.lambdify(arguments, outputs, modules="numpy", cse=True)
    free = set().union(*(output.free_symbols for output in outputs))
    return function, PARAMETER in free, _NORM_VALUE in free


def from_rule(
    rule: UpdateRule, learning_rate: LearningRate | None = None, **hyperparameters: float
) -> GradientTransformation:
    """Build a transformation from a rule: compile once, then only run NumPy per step.

    Args:
        rule: The update rule, e.g. ``UPDATE_RULES["adam"]``.
        learning_rate: :math:`\\alpha`, a float or a schedule ``step -> float``; ``None`` for a
            rule without one.
        **hyperparameters: One value per key of ``rule.hyperparameters``.

    Returns:
        The transformation.

    Example:
        >>> import numpy as np
        >>> step = from_rule(UPDATE_RULES["momentum"], 0.5, beta=0.9)
        >>> step.update({"w": np.array(2.0)}, step.init({"w": np.array(0.0)}))[0]["w"]
        array(-1.)
    """
    function, needs_params, needs_norm = _compile_rule(rule)
    constants = tuple(float(hyperparameters[name]) for name in rule.hyperparameters)
    names = tuple(name for name, _, _ in rule.accumulators)
    schedule = learning_rate if callable(learning_rate) else None

    def rate_at(count: int) -> float | None:
        if learning_rate is None:
            return None
        return float(schedule(count)) if schedule is not None else float(learning_rate)

    def init(params: Params) -> RuleState:
        zeros = {name: {key: np.zeros_like(value, dtype=float) for key, value in params.items()}
                 for name in names}  # fmt: skip
        return RuleState(0, zeros, rate_at(0))

    def update(grads: Params, state: RuleState, params: Params | None = None):
        if needs_params and params is None:
            raise ValueError(f"{rule.name} needs the parameters: call update(grads, state, params)")
        rate = rate_at(state.count)
        norm = global_norm(grads) if needs_norm else 0.0
        step = state.count + 1
        updates: Params = {}
        accumulators: dict[str, dict[str, np.ndarray]] = {name: {} for name in names}
        for key, gradient in grads.items():
            previous = [state.accumulators[name][key] for name in names]
            parameter = params[key] if needs_params else None
            *new, change = function(gradient, parameter, rate, step, norm, *previous, *constants)
            updates[key] = np.asarray(change, dtype=float)
            for name, value in zip(names, new, strict=True):
                accumulators[name][key] = np.asarray(value, dtype=float)
        return updates, RuleState(step, accumulators, rate)

    equations = rule.equations()
    if schedule is not None:
        equations = tuple(eq.xreplace({LEARNING_RATE: SCHEDULED_LEARNING_RATE}) for eq in equations)
    return GradientTransformation(init, update, equations)


def _chain_equations(stages: tuple[tuple[sympy.Eq, ...], ...]) -> tuple[sympy.Eq, ...]:
    """Compose equations: each stage's output gets a name and becomes the next stage's input."""
    used = set().union(*(eq.free_symbols for equations in stages for eq in equations))
    candidates = [sympy.Symbol("gtilde_t", real=True)] * (len(stages) == 2)
    candidates += [sympy.Symbol(f"g^({k})_t", real=True) for k in range(1, 2 * len(stages))]
    fresh = iter(symbol for symbol in candidates if symbol not in used)
    composed: list[sympy.Eq] = []
    incoming: sympy.Symbol = GRADIENT
    for position, equations in enumerate(stages):
        rename = {GRADIENT: incoming}
        *body, last = equations
        composed += [sympy.Eq(eq.lhs, eq.rhs.xreplace(rename)) for eq in body]
        step = (last.rhs - PARAMETER).xreplace(rename)
        if position == len(stages) - 1:
            composed.append(parameter_update(step))
        else:
            incoming = next(fresh)
            composed.append(sympy.Eq(incoming, step))
    return tuple(composed)


def chain(*transformations: GradientTransformation) -> GradientTransformation:
    r"""Apply transformations in sequence: each one's updates are the next one's gradients.

    The equations are composed too: a stage's output is named (:math:`\tilde g_t`, or
    :math:`g^{(k)}_t` for longer chains) and replaces :math:`g_t` in the next stage.

    Args:
        *transformations: At least one transformation, applied left to right.

    Returns:
        The composed transformation; its state is a :class:`ChainState`.

    Raises:
        ValueError: If no transformation is given.

    Example:
        >>> import numpy as np
        >>> optimizer = chain(clip_by_value(1.0), scale_by_learning_rate(0.5))
        >>> state = optimizer.init({"w": np.zeros(2)})
        >>> optimizer.update({"w": np.array([-4.0, 0.5])}, state)[0]["w"]
        array([ 0.5 , -0.25])
    """
    if not transformations:
        raise ValueError("chain() needs at least one transformation, e.g. chain(sgd(0.1))")

    def init(params: Params) -> ChainState:
        return ChainState(tuple(stage.init(params) for stage in transformations))

    def update(grads: Params, state: ChainState, params: Params | None = None):
        new_states = []
        for stage, stage_state in zip(transformations, state.inner, strict=True):
            grads, stage_state = stage.update(grads, stage_state, params)
            new_states.append(stage_state)
        return grads, ChainState(tuple(new_states))

    equations = _chain_equations(tuple(stage.equations for stage in transformations))
    return GradientTransformation(init, update, equations)


def _check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {value!r}")


def clip_by_global_norm(max_norm: float) -> GradientTransformation:
    r"""Rescale all gradients together so that their global norm is at most ``max_norm``.

    .. math:: \tilde g_t = \frac{\tau\, g_t}{\max(\tau, \lVert g_t \rVert)}

    Args:
        max_norm: The largest allowed global norm :math:`\tau > 0`.

    Returns:
        The transformation (usually chained before an optimiser).

    Raises:
        ValueError: If ``max_norm`` is not positive.

    Example:
        >>> import numpy as np
        >>> clip = clip_by_global_norm(1.0)
        >>> clip.update({"w": np.array([3.0, 4.0])}, clip.init({"w": np.zeros(2)}))[0]["w"]
        array([0.6, 0.8])
    """
    _check_positive("max_norm", max_norm)
    return from_rule(UPDATE_RULES["clip_by_global_norm"], max_norm=max_norm)


def clip_by_value(limit: float) -> GradientTransformation:
    r"""Clip every gradient element to :math:`[-c, c]`.

    .. math:: \tilde g_t = \min(\max(g_t, -c), c)

    Args:
        limit: The bound :math:`c > 0`.

    Returns:
        The transformation (usually chained before an optimiser).

    Raises:
        ValueError: If ``limit`` is not positive.

    Example:
        >>> import numpy as np
        >>> clip = clip_by_value(1.0)
        >>> clip.update({"w": np.array([-3.0, 0.5])}, clip.init({"w": np.zeros(2)}))[0]["w"]
        array([-1. ,  0.5])
    """
    _check_positive("limit", limit)
    return from_rule(UPDATE_RULES["clip_by_value"], limit=limit)


def scale_by_learning_rate(learning_rate: LearningRate) -> GradientTransformation:
    r"""Step against the incoming gradient: :math:`u_t = -\alpha g_t` (the last stage of a chain).

    Example:
        >>> import numpy as np
        >>> step = scale_by_learning_rate(0.5)
        >>> step.update({"w": np.array(2.0)}, step.init({"w": np.array(0.0)}))[0]["w"]
        array(-1.)
    """
    return from_rule(UPDATE_RULES["scale_by_learning_rate"], learning_rate)


def scale_by_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> GradientTransformation:
    r"""Adam's direction :math:`\hat m_t / (\sqrt{\hat v_t} + \epsilon)`, without the learning rate.

    Example:
        >>> import numpy as np
        >>> direction = scale_by_adam()
        >>> direction.update({"w": np.array(-3.0)}, direction.init({"w": np.array(0.0)}))[0]["w"]
        array(-1.)
    """
    return from_rule(UPDATE_RULES["scale_by_adam"], b1=b1, b2=b2, eps=eps)


def add_decayed_weights(weight_decay: float) -> GradientTransformation:
    r"""Add decoupled weight decay to the incoming update: :math:`u_t = g_t + \lambda \theta_t`.

    ``update`` needs ``params``.

    Example:
        >>> import numpy as np
        >>> decay = add_decayed_weights(0.5)
        >>> params = {"w": np.array(2.0)}
        >>> decay.update({"w": np.array(1.0)}, decay.init(params), params)[0]["w"]
        array(2.)
    """
    return from_rule(UPDATE_RULES["add_decayed_weights"], weight_decay=weight_decay)


def current_learning_rate(state: RuleState | ChainState) -> float:
    """The learning rate used by the most recent update (before any update: the first one's).

    Args:
        state: The state of an optimiser, or of a chain containing one.

    Returns:
        The rate as a float.

    Raises:
        ValueError: If the state holds no learning rate (e.g. a chain of clipping only).

    Example:
        >>> import numpy as np
        >>> step = scale_by_learning_rate(lambda count: 1.0 / (count + 1))
        >>> state = step.init({"w": np.zeros(1)})
        >>> current_learning_rate(state)
        1.0
        >>> _, state = step.update({"w": np.ones(1)}, state)
        >>> _, state = step.update({"w": np.ones(1)}, state)
        >>> current_learning_rate(state)
        0.5
    """
    if isinstance(state, RuleState) and state.learning_rate is not None:
        return state.learning_rate
    if isinstance(state, ChainState):
        # The optimiser is usually the last stage; clipping stages hold no rate.
        for inner in reversed(state.inner):
            try:
                return current_learning_rate(inner)
            except ValueError:
                continue
    raise ValueError("this state holds no learning rate; pass the state of an optimiser")


#: A rule's symbol at a step: ``theta_t``, ``m_t-1``, ``theta_t+1`` (base, shift).
_AT_STEP = re.compile(r"(?P<base>[A-Za-z]+)_t(?P<shift>[+-]1)?")


def update_rule_lines(transformation: GradientTransformation) -> list[tuple[str, str]]:
    r"""A transformation's equations as ``(lhs, rhs)`` LaTeX, the step a bracketed superscript.

    A value at step :math:`t` prints as :math:`\theta^{(t)}` (the notation of every symgd
    document, docs/notation.md), and the new parameter's right-hand side keeps
    :math:`\theta^{(t)}` first, as textbooks do.

    Example:
        >>> update_rule_lines(from_rule(UPDATE_RULES["momentum"], 0.1, beta=0.9))[1]
        ('\\theta^{(t+1)}', '\\theta^{(t)} - \\alpha v^{(t)}')
    """
    names = {}
    for symbol in {s for eq in transformation.equations for s in eq.free_symbols}:
        found = _AT_STEP.fullmatch(symbol.name)
        if found:
            base = latex(sympy.Symbol(found["base"]))
            names[symbol.name] = f"{base}^{{(t{found['shift'] or ''})}}"
    printer = latex_printer(symbol_names=names, order=None)  # the definitions' term order
    lines = []
    for eq in transformation.equations:
        if eq.lhs == NEXT_PARAMETER and eq.rhs.is_Add:
            rhs = printer._print_Add(eq.rhs, order="none")  # the old value first
        else:
            rhs = printer.doprint(eq.rhs)
        lines.append((printer.doprint(eq.lhs), rhs))
    return lines


def update_rule_latex(transformation: GradientTransformation) -> str:
    r"""Render a transformation's equations as an ``aligned`` LaTeX block.

    Args:
        transformation: Any optimiser or chain.

    Returns:
        ``\begin{aligned} ... \end{aligned}`` with one equation per line
        (:func:`update_rule_lines`).

    Example:
        >>> print(update_rule_latex(from_rule(UPDATE_RULES["momentum"], 0.1, beta=0.9)))
        \begin{aligned}
        v^{(t)} &= \beta v^{(t-1)} + g^{(t)} \\
        \theta^{(t+1)} &= \theta^{(t)} - \alpha v^{(t)}
        \end{aligned}
    """
    lines = [f"{lhs} &= {rhs}" for lhs, rhs in update_rule_lines(transformation)]
    return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"
