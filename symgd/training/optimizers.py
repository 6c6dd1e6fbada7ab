r"""Optimisers: each one update rule from :data:`~symgd.training.rules.UPDATE_RULES`, built once.

Every optimiser is a :class:`~symgd.training.transforms.GradientTransformation` whose ``update``
returns updates that already carry the learning rate and the minus sign (apply them with
:func:`~symgd.training.transforms.apply_updates`); its equations render with
:func:`~symgd.training.transforms.update_rule_latex`. Adam and AdamW are compositions of optax's
building blocks (``scale_by_adam``, ``add_decayed_weights``, ``scale_by_learning_rate``).

Example:
    >>> import numpy as np
    >>> from symgd.training.transforms import apply_updates
    >>> optimizer = make_optimizer("sgd", 0.1, clip_norm=1.0)
    >>> params = {"w": np.array([3.0, 4.0])}
    >>> updates, _ = optimizer.update({"w": np.array([3.0, 4.0])}, optimizer.init(params))
    >>> apply_updates(params, updates)["w"]
    array([2.94, 3.92])
"""

from __future__ import annotations

from collections.abc import Callable

from symgd.training.newton import newton
from symgd.training.rules import UPDATE_RULES
from symgd.training.schedules import SCHEDULES
from symgd.training.transforms import (
    GradientTransformation,
    LearningRate,
    chain,
    clip_by_global_norm,
    clip_by_value,
    from_rule,
)


def sgd(learning_rate: LearningRate) -> GradientTransformation:
    r"""Plain (stochastic) gradient descent.

    .. math:: \theta^{(t+1)} = \theta^{(t)} - \alpha g^{(t)}

    Args:
        learning_rate: :math:`\alpha`, a float or a schedule ``step -> float``.

    Returns:
        The optimiser.

    Example:
        >>> import numpy as np
        >>> from symgd.training.transforms import apply_updates
        >>> optimizer = sgd(0.1)
        >>> params = {"w": np.array([1.0, -2.0])}
        >>> updates, state = optimizer.update({"w": np.array([2.0, -4.0])}, optimizer.init(params))
        >>> apply_updates(params, updates)["w"]
        array([ 0.8, -1.6])
    """
    return from_rule(UPDATE_RULES["sgd"], learning_rate)


def momentum(learning_rate: LearningRate, beta: float = 0.9) -> GradientTransformation:
    r"""Heavy-ball momentum.

    .. math::
        v^{(t)} = \beta v^{(t-1)} + g^{(t)}, \qquad \theta^{(t+1)} = \theta^{(t)} - \alpha v^{(t)}

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
    return from_rule(UPDATE_RULES["momentum"], learning_rate, beta=beta)


def nesterov(learning_rate: LearningRate, beta: float = 0.9) -> GradientTransformation:
    r"""Nesterov momentum in the PyTorch / optax formulation.

    .. math::
        v^{(t)} = \beta v^{(t-1)} + g^{(t)},
            \qquad \theta^{(t+1)} = \theta^{(t)} - \alpha (g^{(t)} + \beta v^{(t)})

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
    return from_rule(UPDATE_RULES["nesterov"], learning_rate, beta=beta)


def adagrad(learning_rate: LearningRate, eps: float = 1e-8) -> GradientTransformation:
    r"""AdaGrad: per-element step sizes from the running sum of squared gradients.

    .. math::
        G^{(t)} = G^{(t-1)} + (g^{(t)})^2, \qquad
        \theta^{(t+1)} = \theta^{(t)} - \frac{\alpha\, g^{(t)}}{\sqrt{G^{(t)}} + \epsilon}

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
    return from_rule(UPDATE_RULES["adagrad"], learning_rate, eps=eps)


def rmsprop(
    learning_rate: LearningRate, decay: float = 0.9, eps: float = 1e-8
) -> GradientTransformation:
    r"""RMSProp: step sizes from a running mean of squared gradients.

    .. math::
        v^{(t)} = \rho v^{(t-1)} + (1 - \rho) (g^{(t)})^2, \qquad
        \theta^{(t+1)} = \theta^{(t)} - \frac{\alpha\, g^{(t)}}{\sqrt{v^{(t)}} + \epsilon}

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
    return from_rule(UPDATE_RULES["rmsprop"], learning_rate, decay=decay, eps=eps)


def adam(
    learning_rate: LearningRate, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
) -> GradientTransformation:
    r"""Adam, with bias correction.

    .. math::
        \begin{aligned}
        m^{(t)} &= \beta_1 m^{(t-1)} + (1 - \beta_1) g^{(t)}, &
        v^{(t)} &= \beta_2 v^{(t-1)} + (1 - \beta_2) (g^{(t)})^2, \\
        \hat m^{(t)} &= \frac{m^{(t)}}{1 - \beta_1^t}, &
        \hat v^{(t)} &= \frac{v^{(t)}}{1 - \beta_2^t}, \\
        \theta^{(t+1)} &= \theta^{(t)}
            - \frac{\alpha\, \hat m^{(t)}}{\sqrt{\hat v^{(t)}} + \epsilon}
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
        >>> from symgd.training.transforms import apply_updates
        >>> optimizer = adam(0.1)
        >>> params = {"w": np.array([1.0, -2.0])}
        >>> updates, state = optimizer.update({"w": np.array([0.5, -3.0])}, optimizer.init(params))
        >>> apply_updates(params, updates)["w"]  # the first step is -alpha * sign(g)
        array([ 0.9, -1.9])
    """
    return from_rule(UPDATE_RULES["adam"], learning_rate, b1=b1, b2=b2, eps=eps)


def adamw(
    learning_rate: LearningRate,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.01,
) -> GradientTransformation:
    r"""AdamW: Adam composed with decoupled weight decay.

    The rule is ``compose(scale_by_adam, add_decayed_weights, scale_by_learning_rate)``, as
    optax chains them: Adam's direction, plus :math:`\lambda \theta^{(t)}`, times :math:`-\alpha`.

    .. math::
        \theta^{(t+1)} = \theta^{(t)}
        - \alpha \left(\frac{\hat m^{(t)}}{\sqrt{\hat v^{(t)}} + \epsilon}
        + \lambda \theta^{(t)}\right)

    with :math:`\hat m^{(t)}, \hat v^{(t)}` as in :func:`adam`. ``update`` needs ``params``.

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
        >>> from symgd.training.transforms import update_rule_latex
        >>> r"\lambda \theta^{(t)} + \frac{\hat{m}^{(t)}}" in update_rule_latex(optimizer)
        True
    """
    return from_rule(
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
    ``"newton"`` gives :func:`~symgd.training.newton.newton` (its line search chooses the step,
    so it takes no learning rate, schedule or clipping; the run needs ``hessian=``).

    Args:
        name: A key of :data:`OPTIMIZERS`, or ``"newton"``.
        learning_rate: The (initial) learning rate; not used by Newton.
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
    if name == "newton":
        if (schedule, clip_norm, clip_value) != (None, None, None):
            raise ValueError(
                "newton chooses its step size by a line search: drop the schedule and clipping"
            )
        return newton()
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
