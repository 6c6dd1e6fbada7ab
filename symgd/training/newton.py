r"""Stage 5, train: Newton's method, damped, with a backtracking (Armijo) line search.

Newton's method minimises the second-order Taylor model of the batch loss at every step and
then lets a line search shorten the step until the loss really drops:

.. math::
    \theta^{(t+1)} = \theta^{(t)} - \alpha^{(t)}
        \left(\nabla^2 J_{B_t}(\theta^{(t)}) + \lambda I\right)^{-1} \nabla J_{B_t}(\theta^{(t)})

The direction solves :math:`(H + \lambda I)\, d = -g` by Cholesky. Where :math:`H + \lambda I`
is not positive definite (a saddle, a maximum, a non-convex loss) :math:`\lambda` grows as in
Levenberg–Marquardt until it is, and if it never becomes so the step falls back to steepest
descent, :math:`d = -g`. The step size :math:`\alpha^{(t)} = 2^{-k}` is the first of
:math:`1, \tfrac12, \tfrac14, \dots` with
:math:`J(\theta^{(t)} + \alpha^{(t)} d) < J(\theta^{(t)})
+ c\, \alpha^{(t)}\, g^\top d`; when none of them
lowers the loss the step is not taken (:math:`\alpha^{(t)} = 0`). On the mean cross-entropy of
logistic regression this is iteratively reweighted least squares (IRLS), and on a quadratic
it lands on the minimum in one step.

Newton needs more than a gradient, so :func:`newton` is a
:class:`~symgd.training.transforms.GradientTransformation` whose ``update`` also takes the
Hessian and the loss (as optax's L-BFGS takes ``value`` and ``value_fn``); the runner passes
them when :class:`~symgd.training.config.TrainConfig` has a ``hessian``. Its state is a
:class:`~symgd.training.transforms.RuleState`: the step count, the damping :math:`\lambda` the
last step used (``inf`` for a steepest-descent fallback) and the step size :math:`\alpha^{(t)}`,
which is what the runner records as the step's learning rate.

Example:
    >>> import numpy
    >>> from symgd.training.runner import gradient_descent
    >>> A, b = numpy.array([[2.0, 1.0], [1.0, 3.0]]), numpy.array([1.0, 2.0])
    >>> def loss_and_gradient(theta, examples):  # J = theta^T A theta / 2 - b^T theta
    ...     return float(theta @ A @ theta / 2 - b @ theta), A @ theta - b
    >>> result = gradient_descent(loss_and_gradient, numpy.zeros(2), 1, optimizer=newton(),
    ...                           hessian=lambda theta, examples: A, steps=1)
    >>> result.theta, numpy.linalg.solve(A, b)
    (array([0.2, 0.6]), array([0.2, 0.6]))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy
import sympy

from symgd.training.rules import SCHEDULED_LEARNING_RATE, parameter_update
from symgd.training.transforms import GradientTransformation, Params, RuleState

#: How often :math:`\lambda` may grow (tenfold each time) before steepest descent takes over.
MAX_DAMPING_TRIES = 30

# Non-commutative symbols, so that the inverse prints before the gradient it multiplies.
_HESSIAN = sympy.Symbol("H_t", commutative=False)
_IDENTITY = sympy.Symbol("I", commutative=False)
_GRADIENT = sympy.Symbol("g_t", commutative=False)
_DAMPING = sympy.Symbol("lambda", nonnegative=True)


class Newton(GradientTransformation):
    """The transformation :func:`newton` returns: ``update`` also needs the Hessian and the loss.

    ``update(grads, state, params, *, hessian, value=None, value_fn=None)``: ``hessian`` is the
    :math:`n \\times n` matrix over the parameters in the order of ``grads`` (arrays flattened
    one after the other), ``value`` the loss at ``params`` and ``value_fn(params) -> loss`` the
    batch loss the line search evaluates.
    """

    __slots__ = ()


def newton(
    damping: float = 0.0,
    line_search: bool = True,
    armijo: float = 1e-4,
    max_halvings: int = 30,
) -> Newton:
    r"""Newton's method: damped, with a backtracking line search.

    .. math::
        \theta^{(t+1)} = \theta^{(t)}
            - \alpha^{(t)} \left(\nabla^2 J + \lambda I\right)^{-1} \nabla J,
        \qquad
        \alpha^{(t)} = \max\left\{2^{-k} : J(\theta^{(t)} + 2^{-k} d^{(t)})
        < J(\theta^{(t)}) + c\, 2^{-k} \nabla J^\top d^{(t)}\right\}

    where :math:`d^{(t)} = -(\nabla^2 J + \lambda I)^{-1} \nabla J`. A ``learning_rate`` is not
    used: the line search chooses :math:`\alpha^{(t)}`.

    Args:
        damping: :math:`\lambda \ge 0`, added to the Hessian's diagonal at every step; it grows
            (Levenberg–Marquardt style) on a step where :math:`\nabla^2 J + \lambda I` is not
            positive definite. With :math:`\lambda > 0` convergence is linear, and a line
            search on loss values resolves :math:`\theta` only to about
            :math:`\sqrt{\epsilon_\text{machine}}` relative (the loss differences vanish in
            rounding); with :math:`\lambda = 0` it is quadratic, to full precision.
        line_search: Backtrack from :math:`\alpha^{(t)} = 1`; ``False`` always takes the full step
            (pure damped Newton).
        armijo: :math:`c \in (0, 1)`, the fraction of the predicted decrease a step must give.
        max_halvings: Halvings of :math:`\alpha^{(t)}` before the step is given up (not taken).

    Returns:
        The optimiser; pass it as ``optimizer=`` together with ``hessian=``.

    Raises:
        ValueError: A setting is out of range.

    Example:
        >>> import numpy as np
        >>> optimizer = newton()
        >>> H, g = np.array([[4.0]]), np.array([2.0])  # J = 2 w^2 at w = 0.5
        >>> params = {"w": np.array([0.5])}
        >>> updates, state = optimizer.update(
        ...     {"w": g}, optimizer.init(params), params, hessian=H,
        ...     value_fn=lambda p: float(2 * p["w"][0] ** 2),
        ... )
        >>> updates["w"], state.learning_rate
        (array([-0.5]), 1.0)
        >>> from symgd.training.transforms import update_rule_latex
        >>> print(update_rule_latex(optimizer))
        \begin{aligned}
        \theta^{(t+1)} &= \theta^{(t)} - \alpha^{(t)} \left(\lambda I + H^{(t)}\right)^{-1} g^{(t)}
        \end{aligned}
    """
    if not (damping >= 0 and math.isfinite(damping)):
        raise ValueError(f"the damping must be a number >= 0, not {damping}")
    if not 0 < armijo < 1:
        raise ValueError(f"the Armijo constant c must be in (0, 1), not {armijo}")
    if not (isinstance(max_halvings, int) and max_halvings >= 0):
        raise ValueError(f"max_halvings must be a whole number >= 0, not {max_halvings}")
    damping = float(damping)

    def init(params: Params) -> RuleState:
        return _state(0, damping, 1.0)

    def update(
        grads: Params,
        state: RuleState,
        params: Params | None = None,
        *,
        hessian: numpy.ndarray | None = None,
        value: float | None = None,
        value_fn: Callable[[Params], float] | None = None,
    ) -> tuple[Params, RuleState]:
        if params is None or hessian is None or (line_search and value_fn is None):
            raise ValueError(
                "Newton's update needs params, hessian= and (for the line search) value_fn=; "
                "gradient_descent passes them when it is given hessian="
            )
        gradient = numpy.concatenate([numpy.ravel(grads[name]) for name in grads])
        matrix = numpy.asarray(hessian, dtype=numpy.float64)
        if matrix.shape != (gradient.size, gradient.size):
            raise ValueError(
                f"the Hessian must be a {gradient.size}×{gradient.size} matrix (one row and "
                f"column per parameter), not one of shape {matrix.shape}"
            )
        direction, used = _direction(matrix, gradient, damping)
        rate = 1.0
        if line_search:
            start = value_fn(params) if value is None else value
            trial = lambda rate: value_fn(_moved(params, grads, rate * direction))  # noqa: E731
            rate = _backtrack(trial, start, float(gradient @ direction), armijo, max_halvings)
        return _unflatten(rate * direction, grads), _state(state.count + 1, used, rate)

    step = -SCHEDULED_LEARNING_RATE * (_HESSIAN + _DAMPING * _IDENTITY) ** -1 * _GRADIENT
    return Newton(init, update, (parameter_update(step),))


def newton_stalled(
    optimizer: GradientTransformation, step_sizes: Sequence[float], gradient_norm: float
) -> str:
    """Why a run ends when Newton's line search took no step in a whole epoch; else ``""``.

    No step size :math:`2^{-k}` lowered any batch's loss, so the parameters can no longer move:
    at a minimum this is rounding; far from one (a large gradient norm) the gradient or the
    Hessian does not belong to the loss.

    Args:
        optimizer: The run's optimiser.
        step_sizes: The step sizes :math:`\alpha^{(t)}` of the epoch's steps.
        gradient_norm: The gradient norm of the last step.

    Returns:
        ``"; no Newton step lowered the loss …"`` to add to the message, or ``""``.

    Example:
        >>> newton_stalled(newton(), [0.0, 0.0], 1e-13)[:58]
        '; no Newton step lowered the loss (gradient norm 1e-13: a '
        >>> newton_stalled(newton(), [0.0, 0.5], 1e-13)
        ''
    """
    if isinstance(optimizer, Newton) and step_sizes and not any(step_sizes):
        return (
            f"; no Newton step lowered the loss (gradient norm {gradient_norm:.3g}: a minimum if "
            f"that is about zero, else the gradient or the Hessian does not belong to the loss)"
        )
    return ""


def _state(count: int, damping: float, rate: float) -> RuleState:
    """Newton's state: one damping for all parameters at once, and the last step size."""
    return RuleState(count, {"damping": {"theta": numpy.array(damping)}}, rate)


def _direction(
    hessian: numpy.ndarray, gradient: numpy.ndarray, damping: float
) -> tuple[numpy.ndarray, float]:
    """Solve :math:`(H + \\lambda I) d = -g` by Cholesky; the direction and the λ it used."""
    if not numpy.all(numpy.isfinite(hessian)):
        return -gradient, math.inf
    hessian = (hessian + hessian.T) / 2  # Cholesky reads one triangle: use the symmetric part
    identity = numpy.eye(gradient.size)
    smallest = 1e-8 * (1.0 + float(numpy.max(numpy.abs(numpy.diag(hessian)), initial=0.0)))
    for _ in range(MAX_DAMPING_TRIES):
        try:
            lower = numpy.linalg.cholesky(hessian + damping * identity)
        except numpy.linalg.LinAlgError:
            pass  # not positive definite: damp more
        else:
            direction = numpy.linalg.solve(lower.T, numpy.linalg.solve(lower, -gradient))
            if numpy.all(numpy.isfinite(direction)):
                return direction, damping
        damping = max(10 * damping, smallest)
    return -gradient, math.inf


def _backtrack(
    trial: Callable[[float], float], start: float, slope: float, armijo: float, halvings: int
) -> float:
    """The first of 1, 1/2, 1/4 … that meets the Armijo condition; 0 when none does.

    The test is strict: once the predicted decrease is below rounding, a step that leaves the
    loss unchanged is not a decrease, so a converged run stops moving instead of taking ever
    smaller steps. A NaN or infinite trial loss fails it too.
    """
    rate = 1.0
    for _ in range(halvings + 1):
        if trial(rate) < start + armijo * rate * slope:
            return rate
        rate /= 2
    return 0.0


def _moved(params: Params, grads: Params, change: numpy.ndarray) -> Params:
    """``params + change``, with ``change`` flattened in the order of ``grads``."""
    steps = _unflatten(change, grads)
    return {name: numpy.asarray(params[name] + steps[name]) for name in grads}


def _unflatten(vector: numpy.ndarray, like: Params) -> Params:
    tree, start = {}, 0
    for name, value in like.items():
        size = numpy.size(value)
        tree[name] = vector[start : start + size].reshape(numpy.shape(value))
        start += size
    return tree
