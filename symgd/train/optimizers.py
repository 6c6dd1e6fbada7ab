r"""Optimisers as pure ``(init, update)`` pairs whose update rules are SymPy equations.

Each optimiser is one entry of :data:`UPDATE_RULES`: per-element SymPy equations over the
gradient :math:`g_t`, the parameter :math:`\theta_t`, the optimiser's state (:math:`m_{t-1}`,
:math:`v_{t-1}`, ...), its hyper-parameters and the step :math:`t`. The same equations are

* compiled once, when the optimiser is built, with ``sympy.lambdify(cse=True)`` into a NumPy
  function that every ``update`` call runs on whole arrays (no SymPy at training time), and
* rendered to LaTeX by :func:`update_rule_latex`,

so the formula a lecturer shows is the formula the code runs.

Parameters, gradients and updates are ``dict[str, numpy.ndarray]``. As in optax, ``update``
returns updates that already carry the learning rate and the minus sign; apply them with
:func:`apply_updates`. Transformations compose with :func:`chain`.

Example:
    >>> import numpy as np
    >>> optimizer = chain(clip_by_global_norm(1.0), sgd(0.1))
    >>> params = {"w": np.array([3.0, 4.0])}
    >>> state = optimizer.init(params)
    >>> updates, state = optimizer.update({"w": np.array([3.0, 4.0])}, state)
    >>> apply_updates(params, updates)["w"]
    array([2.94, 3.92])
    >>> print(update_rule_latex(optimizer))
    \begin{aligned}
    \tilde{g}_{t} &= \frac{g_{t} \tau}{\max\left(\tau, \left\lVert g_{t} \right\rVert\right)} \\
    \theta_{t+1} &= \theta_{t} - \alpha \tilde{g}_{t}
    \end{aligned}
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import sympy
from sympy.printing.latex import LatexPrinter

__all__ = [
    "GradientTransformation",
    "RuleState",
    "ChainState",
    "UpdateRule",
    "UPDATE_RULES",
    "apply_updates",
    "global_norm",
    "chain",
    "clip_by_global_norm",
    "clip_by_value",
    "sgd",
    "momentum",
    "nesterov",
    "adagrad",
    "rmsprop",
    "adam",
    "adamw",
    "OPTIMIZERS",
    "Schedule",
    "constant",
    "step_decay",
    "exponential_decay",
    "cosine_decay",
    "linear_warmup",
    "SCHEDULES",
    "current_learning_rate",
    "update_rule_latex",
    "make_optimizer",
]

Params = dict[str, np.ndarray]
LearningRate = float | Callable[[int], float]


class GlobalNorm(sympy.Function):
    r"""The Euclidean norm of an update over *all* parameter arrays, :math:`\lVert g \rVert`.

    It is a reduction, not an element-wise operation, so the compiled rule receives its value
    as an argument (computed by :func:`global_norm`) instead of evaluating it per element.
    """

    def _latex(self, printer, exp=None):
        base = rf"\left\lVert {printer._print(self.args[0])} \right\rVert"
        return base if exp is None else rf"{base}^{{{exp}}}"


# The symbols of every rule. Their names are chosen so that SymPy's default printer gives the
# textbook LaTeX (``mhat_t`` -> \hat{m}_{t}, ``m_t-1`` -> m_{t-1}).
GRADIENT = sympy.Symbol("g_t", real=True)
PARAMETER = sympy.Symbol("theta_t", real=True)
NEXT_PARAMETER = sympy.Symbol("theta_t+1", real=True)
LEARNING_RATE = sympy.Symbol("alpha", positive=True)
SCHEDULED_LEARNING_RATE = sympy.Symbol("alpha_t", positive=True)
STEP = sympy.Symbol("t", integer=True, positive=True)
_NORM_VALUE = sympy.Symbol("norm", nonnegative=True)

_beta, _beta_1, _beta_2, _rho = sympy.symbols("beta beta_1 beta_2 rho", positive=True)
_epsilon, _lambda, _limit, _max_norm = sympy.symbols("epsilon lambda c tau", positive=True)
_m, _m_prev, _v, _v_prev = sympy.symbols("m_t m_t-1 v_t v_t-1", real=True)
_G, _G_prev = sympy.symbols("G_t G_t-1", real=True)
_m_hat, _v_hat = sympy.symbols("mhat_t vhat_t", real=True)


@dataclass(frozen=True)
class UpdateRule:
    r"""One optimiser's per-element update rule as SymPy equations.

    Attributes:
        name: The rule's name.
        hyperparameters: Keyword argument name -> SymPy symbol, e.g. ``{"b1": beta_1}``.
        accumulators: ``(state name, previous-value symbol, new-value symbol)`` per state array,
            each initialised to zeros like the parameters.
        assignments: ``(symbol, expression)`` pairs evaluated in order: new accumulator values and
            named intermediates such as :math:`\hat m_t`.
        update: The expression for :math:`\theta_{t+1} - \theta_t`, in terms of the symbols above.
    """

    name: str
    hyperparameters: Mapping[str, sympy.Symbol]
    accumulators: tuple[tuple[str, sympy.Symbol, sympy.Symbol], ...]
    assignments: tuple[tuple[sympy.Symbol, sympy.Expr], ...]
    update: sympy.Expr

    def equations(self) -> tuple[sympy.Eq, ...]:
        """The rule as ``Eq`` objects, ending with the parameter update."""
        body = tuple(sympy.Eq(symbol, expression) for symbol, expression in self.assignments)
        return (*body, _parameter_update(self.update))


def _parameter_update(step: sympy.Expr) -> sympy.Eq:
    # Unevaluated so that theta_t is printed first, as in every textbook.
    return sympy.Eq(NEXT_PARAMETER, sympy.Add(PARAMETER, step, evaluate=False))


_SQRT = sympy.sqrt
UPDATE_RULES: dict[str, UpdateRule] = {
    rule.name: rule
    for rule in (
        UpdateRule("sgd", {}, (), (), -LEARNING_RATE * GRADIENT),
        UpdateRule(
            "momentum",
            {"beta": _beta},
            (("velocity", _v_prev, _v),),
            ((_v, _beta * _v_prev + GRADIENT),),
            -LEARNING_RATE * _v,
        ),
        UpdateRule(
            "nesterov",
            {"beta": _beta},
            (("velocity", _v_prev, _v),),
            ((_v, _beta * _v_prev + GRADIENT),),
            -LEARNING_RATE * (GRADIENT + _beta * _v),
        ),
        UpdateRule(
            "adagrad",
            {"eps": _epsilon},
            (("sum_of_squares", _G_prev, _G),),
            ((_G, _G_prev + GRADIENT**2),),
            -LEARNING_RATE * GRADIENT / (_SQRT(_G) + _epsilon),
        ),
        UpdateRule(
            "rmsprop",
            {"decay": _rho, "eps": _epsilon},
            (("mean_square", _v_prev, _v),),
            ((_v, _rho * _v_prev + (1 - _rho) * GRADIENT**2),),
            -LEARNING_RATE * GRADIENT / (_SQRT(_v) + _epsilon),
        ),
        UpdateRule(
            "adam",
            {"b1": _beta_1, "b2": _beta_2, "eps": _epsilon},
            (("mu", _m_prev, _m), ("nu", _v_prev, _v)),
            (
                (_m, _beta_1 * _m_prev + (1 - _beta_1) * GRADIENT),
                (_v, _beta_2 * _v_prev + (1 - _beta_2) * GRADIENT**2),
                (_m_hat, _m / (1 - _beta_1**STEP)),
                (_v_hat, _v / (1 - _beta_2**STEP)),
            ),
            -LEARNING_RATE * _m_hat / (_SQRT(_v_hat) + _epsilon),
        ),
        UpdateRule(
            "adamw",
            {"b1": _beta_1, "b2": _beta_2, "eps": _epsilon, "weight_decay": _lambda},
            (("mu", _m_prev, _m), ("nu", _v_prev, _v)),
            (
                (_m, _beta_1 * _m_prev + (1 - _beta_1) * GRADIENT),
                (_v, _beta_2 * _v_prev + (1 - _beta_2) * GRADIENT**2),
                (_m_hat, _m / (1 - _beta_1**STEP)),
                (_v_hat, _v / (1 - _beta_2**STEP)),
            ),
            -LEARNING_RATE * (_m_hat / (_SQRT(_v_hat) + _epsilon) + _lambda * PARAMETER),
        ),
        UpdateRule(
            "clip_by_global_norm",
            {"max_norm": _max_norm},
            (),
            (),
            GRADIENT * _max_norm / sympy.Max(_max_norm, GlobalNorm(GRADIENT)),
        ),
        UpdateRule(
            "clip_by_value",
            {"limit": _limit},
            (),
            (),
            sympy.Min(sympy.Max(GRADIENT, -_limit), _limit),
        ),
    )
}


class RuleState(NamedTuple):
    """State of a transformation built from one :class:`UpdateRule`.

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
            :math:`\\theta_{t+1} = \\theta_t + \\dots`; rendered by :func:`update_rule_latex`.
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


def _from_rule(
    rule: UpdateRule, learning_rate: LearningRate | None = None, **hyperparameters: float
) -> GradientTransformation:
    """Build a transformation from a rule: compile once, then only run NumPy per step."""
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
            composed.append(_parameter_update(step))
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
        >>> optimizer = chain(clip_by_value(1.0), sgd(0.5))
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
    return _from_rule(UPDATE_RULES["clip_by_global_norm"], max_norm=max_norm)


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
    return _from_rule(UPDATE_RULES["clip_by_value"], limit=limit)


def _check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {value!r}")


def sgd(learning_rate: LearningRate) -> GradientTransformation:
    r"""Plain (stochastic) gradient descent.

    .. math:: \theta_{t+1} = \theta_t - \alpha g_t

    Args:
        learning_rate: :math:`\alpha`, a float or a schedule ``step -> float``.

    Returns:
        The optimiser.

    Example:
        >>> import numpy as np
        >>> optimizer = sgd(0.1)
        >>> params = {"w": np.array([1.0, -2.0])}
        >>> updates, state = optimizer.update({"w": np.array([2.0, -4.0])}, optimizer.init(params))
        >>> apply_updates(params, updates)["w"]
        array([ 0.8, -1.6])
    """
    return _from_rule(UPDATE_RULES["sgd"], learning_rate)


def momentum(learning_rate: LearningRate, beta: float = 0.9) -> GradientTransformation:
    r"""Heavy-ball momentum.

    .. math::
        v_t = \beta v_{t-1} + g_t, \qquad \theta_{t+1} = \theta_t - \alpha v_t

    Args:
        learning_rate: :math:`\alpha`, a float or a schedule ``step -> float``.
        beta: The momentum coefficient :math:`\beta`.

    Returns:
        The optimiser.

    Example:
        >>> import numpy as np
        >>> optimizer = momentum(0.1, beta=0.5)
        >>> params, grads = {"w": np.array(1.0)}, {"w": np.array(2.0)}
        >>> state = optimizer.init(params)
        >>> updates, state = optimizer.update(grads, state)
        >>> updates, state = optimizer.update(grads, state)
        >>> updates["w"]  # v_2 = 0.5 * 2 + 2
        array(-0.3)
    """
    return _from_rule(UPDATE_RULES["momentum"], learning_rate, beta=beta)


def nesterov(learning_rate: LearningRate, beta: float = 0.9) -> GradientTransformation:
    r"""Nesterov momentum in the PyTorch / optax formulation.

    .. math::
        v_t = \beta v_{t-1} + g_t, \qquad \theta_{t+1} = \theta_t - \alpha (g_t + \beta v_t)

    Args:
        learning_rate: :math:`\alpha`, a float or a schedule ``step -> float``.
        beta: The momentum coefficient :math:`\beta`.

    Returns:
        The optimiser.

    Example:
        >>> import numpy as np
        >>> optimizer = nesterov(0.1, beta=0.5)
        >>> state = optimizer.init({"w": np.array(0.0)})
        >>> optimizer.update({"w": np.array(2.0)}, state)[0]["w"]  # -0.1 * (2 + 0.5 * 2)
        array(-0.3)
    """
    return _from_rule(UPDATE_RULES["nesterov"], learning_rate, beta=beta)


def adagrad(learning_rate: LearningRate, eps: float = 1e-8) -> GradientTransformation:
    r"""AdaGrad: per-element step sizes from the running sum of squared gradients.

    .. math::
        G_t = G_{t-1} + g_t^2, \qquad
        \theta_{t+1} = \theta_t - \frac{\alpha\, g_t}{\sqrt{G_t} + \epsilon}

    Args:
        learning_rate: :math:`\alpha`, a float or a schedule ``step -> float``.
        eps: :math:`\epsilon`, keeps the denominator away from zero.

    Returns:
        The optimiser.

    Example:
        >>> import numpy as np
        >>> optimizer = adagrad(0.1)
        >>> state = optimizer.init({"w": np.zeros(2)})
        >>> optimizer.update({"w": np.array([4.0, -0.5])}, state)[0]["w"].round(6)
        array([-0.1,  0.1])
    """
    return _from_rule(UPDATE_RULES["adagrad"], learning_rate, eps=eps)


def rmsprop(
    learning_rate: LearningRate, decay: float = 0.9, eps: float = 1e-8
) -> GradientTransformation:
    r"""RMSProp: step sizes from a running mean of squared gradients.

    .. math::
        v_t = \rho v_{t-1} + (1 - \rho) g_t^2, \qquad
        \theta_{t+1} = \theta_t - \frac{\alpha\, g_t}{\sqrt{v_t} + \epsilon}

    Args:
        learning_rate: :math:`\alpha`, a float or a schedule ``step -> float``.
        decay: :math:`\rho`, the decay of the running mean (which starts at zero).
        eps: :math:`\epsilon`, keeps the denominator away from zero.

    Returns:
        The optimiser.

    Example:
        >>> import numpy as np
        >>> optimizer = rmsprop(0.01, decay=0.75)
        >>> state = optimizer.init({"w": np.zeros(1)})
        >>> optimizer.update({"w": np.array([3.0])}, state)[0]["w"].round(6)  # -0.01 * 3 / 1.5
        array([-0.02])
    """
    return _from_rule(UPDATE_RULES["rmsprop"], learning_rate, decay=decay, eps=eps)


def adam(
    learning_rate: LearningRate, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
) -> GradientTransformation:
    r"""Adam, with bias correction.

    .. math::
        \begin{aligned}
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1) g_t, &
        v_t &= \beta_2 v_{t-1} + (1 - \beta_2) g_t^2, \\
        \hat m_t &= \frac{m_t}{1 - \beta_1^t}, &
        \hat v_t &= \frac{v_t}{1 - \beta_2^t}, \\
        \theta_{t+1} &= \theta_t - \frac{\alpha\, \hat m_t}{\sqrt{\hat v_t} + \epsilon}
        \end{aligned}

    Args:
        learning_rate: :math:`\alpha`, a float or a schedule ``step -> float``.
        b1: :math:`\beta_1`, decay of the first-moment estimate.
        b2: :math:`\beta_2`, decay of the second-moment estimate.
        eps: :math:`\epsilon`, keeps the denominator away from zero.

    Returns:
        The optimiser.

    Example:
        >>> import numpy as np
        >>> optimizer = adam(0.1)
        >>> params = {"w": np.array([1.0, -2.0])}
        >>> updates, state = optimizer.update({"w": np.array([0.5, -3.0])}, optimizer.init(params))
        >>> apply_updates(params, updates)["w"]  # the first step is -alpha * sign(g)
        array([ 0.9, -1.9])
    """
    return _from_rule(UPDATE_RULES["adam"], learning_rate, b1=b1, b2=b2, eps=eps)


def adamw(
    learning_rate: LearningRate,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.01,
) -> GradientTransformation:
    r"""AdamW: Adam with decoupled weight decay.

    .. math::
        \theta_{t+1} = \theta_t
        - \alpha \left(\frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon} + \lambda \theta_t\right)

    with :math:`\hat m_t, \hat v_t` as in :func:`adam`. ``update`` needs ``params``.

    Args:
        learning_rate: :math:`\alpha`, a float or a schedule ``step -> float``.
        b1: :math:`\beta_1`, decay of the first-moment estimate.
        b2: :math:`\beta_2`, decay of the second-moment estimate.
        eps: :math:`\epsilon`, keeps the denominator away from zero.
        weight_decay: :math:`\lambda`, the decoupled weight-decay coefficient.

    Returns:
        The optimiser.

    Example:
        >>> import numpy as np
        >>> optimizer = adamw(0.1, weight_decay=0.5)
        >>> params = {"w": np.array([2.0])}
        >>> updates, _ = optimizer.update({"w": np.array([1.0])}, optimizer.init(params), params)
        >>> updates["w"].round(6)  # -0.1 * (1 + 0.5 * 2)
        array([-0.2])
    """
    return _from_rule(
        UPDATE_RULES["adamw"], learning_rate, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay
    )


OPTIMIZERS: dict[str, Callable[..., GradientTransformation]] = {
    "sgd": sgd,
    "momentum": momentum,
    "nesterov": nesterov,
    "adagrad": adagrad,
    "rmsprop": rmsprop,
    "adam": adam,
    "adamw": adamw,
}


# Schedules -----------------------------------------------------------------------------------


class Schedule:
    r"""A learning-rate schedule :math:`\alpha_t` defined by one SymPy expression in the step.

    Subclasses define :meth:`definition`; calling the schedule evaluates the expression compiled
    with ``lambdify`` (once), and :attr:`latex` renders the same expression. Steps count from 0:
    ``schedule(k)`` is the rate of the (k+1)-th update.
    """

    def definition(self) -> tuple[sympy.Expr, dict[sympy.Symbol, float]]:
        """The expression in :data:`SCHEDULE_STEP` and the values of its other symbols."""
        raise NotImplementedError

    @property
    def expression(self) -> sympy.Expr:
        """The schedule as a SymPy expression."""
        return self.definition()[0]

    @property
    def latex(self) -> str:
        r"""The schedule as LaTeX, e.g. ``\alpha_{t} = \alpha \gamma^{\left\lfloor{\frac{t}{s}}\right\rfloor}``."""  # noqa: E501
        return sympy.latex(sympy.Eq(SCHEDULED_LEARNING_RATE, self.expression))

    def _repr_latex_(self) -> str:
        return f"${self.latex}$"

    @functools.cached_property
    def _compiled(self) -> tuple[Callable[..., float], tuple[float, ...]]:
        expression, values = self.definition()
        function = sympy.lambdify([SCHEDULE_STEP, *values], expression, modules="math")
        return function, tuple(values.values())

    def __call__(self, step: int) -> float:
        function, values = self._compiled
        return float(function(step, *values))

    def __getstate__(self) -> dict:
        # The compiled function is a cache and cannot be pickled.
        return {key: value for key, value in self.__dict__.items() if key != "_compiled"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)


SCHEDULE_STEP = sympy.Symbol("t", integer=True, nonnegative=True)
_gamma, _step_size, _decay_rate, _decay_steps = sympy.symbols("gamma s r k", positive=True)
_total_steps, _warmup_steps = sympy.symbols("T W", positive=True)
_final_rate = sympy.Symbol("alpha_T", nonnegative=True)


@dataclass(frozen=True)
class constant(Schedule):  # noqa: N801 -- lower-case like the other schedule constructors
    r"""A constant rate, :math:`\alpha_t = \alpha`.

    Example:
        >>> constant(0.1)(1000)
        0.1
    """

    learning_rate: float

    def definition(self):
        return LEARNING_RATE, {LEARNING_RATE: self.learning_rate}


@dataclass(frozen=True)
class step_decay(Schedule):  # noqa: N801
    r"""Multiply the rate by :math:`\gamma` every :math:`s` steps.

    .. math:: \alpha_t = \alpha \gamma^{\lfloor t / s \rfloor}

    Example:
        >>> step_decay(1.0, step_size=10, gamma=0.5)(25)
        0.25
    """

    learning_rate: float
    step_size: int
    gamma: float = 0.1

    def definition(self):
        expression = LEARNING_RATE * _gamma ** sympy.floor(SCHEDULE_STEP / _step_size)
        values = {LEARNING_RATE: self.learning_rate, _gamma: self.gamma, _step_size: self.step_size}
        return expression, values


@dataclass(frozen=True)
class exponential_decay(Schedule):  # noqa: N801
    r"""Smooth exponential decay by a factor :math:`r` every :math:`k` steps.

    .. math:: \alpha_t = \alpha r^{t / k}

    Example:
        >>> exponential_decay(1.0, decay_rate=0.5, decay_steps=2)(4)
        0.25
    """

    learning_rate: float
    decay_rate: float
    decay_steps: int = 1

    def definition(self):
        expression = LEARNING_RATE * _decay_rate ** (SCHEDULE_STEP / _decay_steps)
        values = {
            LEARNING_RATE: self.learning_rate,
            _decay_rate: self.decay_rate,
            _decay_steps: self.decay_steps,
        }
        return expression, values


@dataclass(frozen=True)
class cosine_decay(Schedule):  # noqa: N801
    r"""Cosine decay from :math:`\alpha` to :math:`\alpha_T` over :math:`T` steps, then constant.

    .. math::
        \alpha_t = \alpha_T
        + \tfrac12 (\alpha - \alpha_T)\left(1 + \cos\frac{\pi \min(t, T)}{T}\right)

    Example:
        >>> cosine_decay(1.0, total_steps=100)(50)
        0.5
    """

    learning_rate: float
    total_steps: int
    final_lr: float = 0.0

    def definition(self):
        progress = sympy.Min(SCHEDULE_STEP, _total_steps) / _total_steps
        expression = (
            _final_rate + (LEARNING_RATE - _final_rate) * (1 + sympy.cos(sympy.pi * progress)) / 2
        )
        values = {
            LEARNING_RATE: self.learning_rate,
            _final_rate: self.final_lr,
            _total_steps: self.total_steps,
        }
        return expression, values


@dataclass(frozen=True)
class linear_warmup(Schedule):  # noqa: N801
    r"""Linear warm-up from 0 to :math:`\alpha` over :math:`W` steps, then :math:`\alpha`.

    With ``then``, after the warm-up the rate follows ``then`` shifted by :math:`W` steps
    (``then``'s own parameters appear as numbers in the composed expression).

    .. math:: \alpha_t = \begin{cases} \alpha t / W & t < W \\ \alpha & \text{otherwise} \end{cases}

    Example:
        >>> schedule = linear_warmup(1.0, warmup_steps=4, then=step_decay(1.0, 10, 0.5))
        >>> [schedule(step) for step in (0, 2, 4, 14)]
        [0.0, 0.5, 1.0, 0.5]
    """

    learning_rate: float
    warmup_steps: int
    then: Schedule | None = None

    def definition(self):
        values = {LEARNING_RATE: self.learning_rate, _warmup_steps: self.warmup_steps}
        after: sympy.Expr = LEARNING_RATE
        if self.then is not None:
            then_expression, then_values = self.then.definition()
            shifted = {SCHEDULE_STEP: SCHEDULE_STEP - _warmup_steps}
            after = then_expression.xreplace(_as_numbers(then_values)).xreplace(shifted)
        expression = sympy.Piecewise(
            (LEARNING_RATE * SCHEDULE_STEP / _warmup_steps, sympy.Lt(SCHEDULE_STEP, _warmup_steps)),
            (after, True),
        )
        return expression, values


def _as_numbers(values: dict[sympy.Symbol, float]) -> dict[sympy.Symbol, sympy.Expr]:
    # repr() round-trips a float, so these short rationals are exact and print readably.
    return {symbol: sympy.Rational(repr(float(value))) for symbol, value in values.items()}


def _needs_total_steps(name: str, total_steps: int | None) -> int:
    if total_steps is None or total_steps < 1:
        raise ValueError(f"schedule {name!r} needs total_steps >= 1, e.g. total_steps=1000")
    return total_steps


SCHEDULES: dict[str, Callable[[float, int | None], Schedule]] = {
    "constant": lambda rate, total: constant(rate),
    "step": lambda rate, total: step_decay(rate, max(_needs_total_steps("step", total) // 3, 1)),
    "exponential": lambda rate, total: exponential_decay(
        rate, 0.01, _needs_total_steps("exponential", total)
    ),
    "cosine": lambda rate, total: cosine_decay(rate, _needs_total_steps("cosine", total)),
    "warmup": lambda rate, total: linear_warmup(
        rate, max(_needs_total_steps("warmup", total) // 10, 1)
    ),
}
"""Schedules by name, each built from ``(learning_rate, total_steps)`` with these defaults:
``step`` divides the rate by 10 every third of the run, ``exponential`` decays to 1% at the
end, ``cosine`` decays to 0 at the end, ``warmup`` warms up over the first tenth, then stays."""


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
        >>> optimizer = sgd(step_decay(1.0, step_size=1, gamma=0.5))
        >>> state = optimizer.init({"w": np.zeros(1)})
        >>> current_learning_rate(state)
        1.0
        >>> _, state = optimizer.update({"w": np.ones(1)}, state)
        >>> _, state = optimizer.update({"w": np.ones(1)}, state)
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


def update_rule_latex(transformation: GradientTransformation) -> str:
    r"""Render a transformation's equations as an ``aligned`` LaTeX block.

    Args:
        transformation: Any optimiser or chain.

    Returns:
        ``\begin{aligned} ... \end{aligned}`` with one equation per line.

    Example:
        >>> print(update_rule_latex(momentum(0.1)))
        \begin{aligned}
        v_{t} &= \beta v_{t-1} + g_{t} \\
        \theta_{t+1} &= \theta_{t} - \alpha v_{t}
        \end{aligned}
    """
    printer = LatexPrinter()
    lines = []
    for eq in transformation.equations:
        if eq.lhs == NEXT_PARAMETER:
            # The update is an unevaluated theta_t + step: keep theta_t first, as textbooks do.
            rhs = printer._print_Add(eq.rhs, order="none")
        else:
            rhs = printer.doprint(eq.rhs)
        lines.append(f"{printer.doprint(eq.lhs)} &= {rhs}")
    return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"


def make_optimizer(
    name: str,
    learning_rate: float,
    *,
    schedule: str | None = None,
    total_steps: int | None = None,
    clip_norm: float | None = None,
    clip_value: float | None = None,
) -> GradientTransformation:
    """Build an optimiser from names, as a command line gives them.

    Clipping, when asked for, runs before the optimiser: first by value, then by global norm.

    Args:
        name: A key of :data:`OPTIMIZERS`.
        learning_rate: The (initial) learning rate.
        schedule: A key of :data:`SCHEDULES`, or ``None`` for a constant rate.
        total_steps: The length of the run; needed by every schedule but ``constant``.
        clip_norm: If given, chain :func:`clip_by_global_norm` with this norm.
        clip_value: If given, chain :func:`clip_by_value` with this limit.

    Returns:
        The optimiser, a chain when clipping is asked for.

    Raises:
        ValueError: On an unknown optimiser or schedule name, or a missing ``total_steps``.

    Example:
        >>> optimizer = make_optimizer("adam", 0.01, schedule="cosine", total_steps=100)
        >>> make_optimizer("adamm", 0.01)
        Traceback (most recent call last):
        ...
        ValueError: unknown optimizer 'adamm'; known: sgd, momentum, nesterov, adagrad, rmsprop, adam, adamw
    """  # noqa: E501
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(OPTIMIZERS)}")
    rate: LearningRate = learning_rate
    if schedule is not None:
        if schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {schedule!r}; known: {', '.join(SCHEDULES)}")
        rate = SCHEDULES[schedule](learning_rate, total_steps)
    stages = []
    if clip_value is not None:
        stages.append(clip_by_value(clip_value))
    if clip_norm is not None:
        stages.append(clip_by_global_norm(clip_norm))
    optimizer = OPTIMIZERS[name](rate)
    return chain(*stages, optimizer) if stages else optimizer
