r"""Update rules as data: per-element SymPy equations, one table entry per rule.

A rule is a set of SymPy equations over the gradient :math:`g^{(t)}`, the parameter
:math:`\theta^{(t)}`, the rule's state (:math:`m_{t-1}`, :math:`v_{t-1}`, ...), its
hyper-parameters and the step :math:`t`. :mod:`symgd.training.transforms` compiles a rule to NumPy
and renders it to LaTeX, so the formula a lecturer shows is the formula the code runs.

Rules compose as optax's transformations do: :func:`compose` feeds each rule's output to the
next one as its gradient. Adam is Adam's scaling followed by the learning rate; AdamW puts
decoupled weight decay in between; so Adam's moment equations are written once.

Example:
    >>> rule = UPDATE_RULES["adamw"]
    >>> [name for name, _, _ in rule.accumulators], sorted(rule.hyperparameters)
    (['mu', 'nu'], ['b1', 'b2', 'eps', 'weight_decay'])
    >>> rule.update
    -alpha*(lambda*theta_t + mhat_t/(epsilon + sqrt(vhat_t)))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import sympy


class GlobalNorm(sympy.Function):
    r"""The Euclidean norm of an update over *all* parameter arrays, :math:`\lVert g \rVert`.

    It is a reduction, not an element-wise operation, so the compiled rule receives its value
    as an argument (computed by :func:`~symgd.training.transforms.global_norm`) instead of
    evaluating it per element.
    """

    def _latex(self, printer, exp=None):
        base = rf"\left\lVert {printer._print(self.args[0])} \right\rVert"
        return base if exp is None else rf"{base}^{{{exp}}}"


# The symbols of every rule. Their names are chosen so that SymPy's default printer gives the
# textbook LaTeX (``mhat_t`` -> \hat{m}_{t}, ``m^{(t)}-1`` -> m_{t-1}).
GRADIENT = sympy.Symbol("g_t", real=True)
PARAMETER = sympy.Symbol("theta_t", real=True)
NEXT_PARAMETER = sympy.Symbol("theta_t+1", real=True)
LEARNING_RATE = sympy.Symbol("alpha", positive=True)
SCHEDULED_LEARNING_RATE = sympy.Symbol("alpha_t", positive=True)
STEP = sympy.Symbol("t", integer=True, positive=True)

_beta, _beta_1, _beta_2, _rho = sympy.symbols("beta beta_1 beta_2 rho", positive=True)
_epsilon, _lambda, _limit, _max_norm = sympy.symbols("epsilon lambda c tau", positive=True)
_m, _m_prev, _v, _v_prev = sympy.symbols("m_t m_t-1 v_t v_t-1", real=True)
_G, _G_prev = sympy.symbols("G_t G_t-1", real=True)
_m_hat, _v_hat = sympy.symbols("mhat_t vhat_t", real=True)


@dataclass(frozen=True)
class UpdateRule:
    r"""One transformation's per-element update rule as SymPy equations.

    Attributes:
        name: The rule's name.
        hyperparameters: Keyword argument name -> SymPy symbol, e.g. ``{"b1": beta_1}``.
        accumulators: ``(state name, previous-value symbol, new-value symbol)`` per state array,
            each initialised to zeros like the parameters.
        assignments: ``(symbol, expression)`` pairs evaluated in order: new accumulator values and
            named intermediates such as :math:`\hat m^{(t)}`.
        update: The expression for :math:`\theta^{(t+1)} - \theta^{(t)}`, in terms of the
            symbols above.

    Example:
        >>> UPDATE_RULES["momentum"].equations()[0]
        Eq(v_t, beta*v_t-1 + g_t)
    """

    name: str
    hyperparameters: Mapping[str, sympy.Symbol]
    accumulators: tuple[tuple[str, sympy.Symbol, sympy.Symbol], ...]
    assignments: tuple[tuple[sympy.Symbol, sympy.Expr], ...]
    update: sympy.Expr

    def equations(self) -> tuple[sympy.Eq, ...]:
        """The rule as ``Eq`` objects, ending with the parameter update."""
        body = tuple(sympy.Eq(symbol, expression) for symbol, expression in self.assignments)
        return (*body, parameter_update(self.update))


def parameter_update(step: sympy.Expr) -> sympy.Eq:
    r"""The equation :math:`\theta^{(t+1)} = \theta^{(t)} + \text{step}`, old value first.

    Example:
        >>> parameter_update(-LEARNING_RATE * GRADIENT).rhs.args
        (theta_t, -alpha*g_t)
    """
    # Unevaluated so that theta_t is printed first, as in every textbook.
    return sympy.Eq(NEXT_PARAMETER, sympy.Add(PARAMETER, step, evaluate=False))


def compose(name: str, *rules: UpdateRule) -> UpdateRule:
    r"""The rule that applies ``rules`` in sequence: each one's update is the next one's gradient.

    The composition is symbolic: a later rule's :math:`g^{(t)}` is replaced by the earlier rule's
    update expression, so the composed rule renders as one formula and compiles to one function.
    (At run time, :func:`~symgd.training.transforms.chain` composes transformations instead,
    naming each intermediate gradient.)

    Args:
        name: The composed rule's name.
        *rules: At least one rule, applied left to right; their state names and
            hyper-parameter names must be distinct.

    Returns:
        The composed rule.

    Raises:
        ValueError: If no rule is given, or two rules share a state or hyper-parameter name.

    Example:
        >>> compose("decayed_sgd", ADD_DECAYED_WEIGHTS, SCALE_BY_LEARNING_RATE).update
        -alpha*(g_t + lambda*theta_t)
    """
    if not rules:
        raise ValueError("compose() needs at least one rule")
    hyperparameters: dict[str, sympy.Symbol] = {}
    accumulators: list[tuple[str, sympy.Symbol, sympy.Symbol]] = []
    assignments: list[tuple[sympy.Symbol, sympy.Expr]] = []
    incoming: sympy.Expr = GRADIENT
    for rule in rules:
        clashes = set(hyperparameters) & set(rule.hyperparameters)
        clashes |= {a[0] for a in accumulators} & {a[0] for a in rule.accumulators}
        if clashes:
            raise ValueError(f"cannot compose {rule.name}: {', '.join(sorted(clashes))} used twice")
        hyperparameters |= rule.hyperparameters
        accumulators += rule.accumulators
        rename = {GRADIENT: incoming}
        assignments += [(symbol, value.xreplace(rename)) for symbol, value in rule.assignments]
        incoming = rule.update.xreplace(rename)
    return UpdateRule(name, hyperparameters, tuple(accumulators), tuple(assignments), incoming)


_SQRT = sympy.sqrt

# Building blocks, as in optax: scale_by_adam, add_decayed_weights, scale_by_learning_rate.
SCALE_BY_LEARNING_RATE = UpdateRule("scale_by_learning_rate", {}, (), (), -LEARNING_RATE * GRADIENT)
SCALE_BY_ADAM = UpdateRule(
    "scale_by_adam",
    {"b1": _beta_1, "b2": _beta_2, "eps": _epsilon},
    (("mu", _m_prev, _m), ("nu", _v_prev, _v)),
    (
        (_m, _beta_1 * _m_prev + (1 - _beta_1) * GRADIENT),
        (_v, _beta_2 * _v_prev + (1 - _beta_2) * GRADIENT**2),
        (_m_hat, _m / (1 - _beta_1**STEP)),
        (_v_hat, _v / (1 - _beta_2**STEP)),
    ),
    _m_hat / (_SQRT(_v_hat) + _epsilon),
)
ADD_DECAYED_WEIGHTS = UpdateRule(
    "add_decayed_weights", {"weight_decay": _lambda}, (), (), GRADIENT + _lambda * PARAMETER
)

UPDATE_RULES: dict[str, UpdateRule] = {
    rule.name: rule
    for rule in (
        compose("sgd", SCALE_BY_LEARNING_RATE),
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
        compose("adam", SCALE_BY_ADAM, SCALE_BY_LEARNING_RATE),
        compose("adamw", SCALE_BY_ADAM, ADD_DECAYED_WEIGHTS, SCALE_BY_LEARNING_RATE),
        SCALE_BY_LEARNING_RATE,
        SCALE_BY_ADAM,
        ADD_DECAYED_WEIGHTS,
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
"""Every rule by name: the optimisers, their building blocks, and gradient clipping."""
