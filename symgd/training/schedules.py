r"""Learning-rate schedules: each one SymPy expression in the step, compiled and rendered.

A schedule is given to an optimiser in place of a constant learning rate; ``schedule(k)`` is the
rate of the (k+1)-th update, and :attr:`Schedule.latex` shows the formula that computes it.

Example:
    >>> schedule = step_decay(1.0, step_size=10, gamma=0.5)
    >>> schedule(25)
    0.25
    >>> print(schedule.latex)
    \alpha_{t} = \alpha \gamma^{\left\lfloor{\frac{t}{s}}\right\rfloor}
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import sympy

from symgd.training.rules import LEARNING_RATE, SCHEDULED_LEARNING_RATE


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
