"""Stage 6, verify: gradients checked against finite differences.

The check compares an analytic gradient ``a`` with a numeric one ``n`` per
parameter and reports the absolute error ``|a − n|`` and the relative error
``|a − n| / max(|a|, |n|, tiny)``; a parameter passes when
``|a − n| ≤ atol + rtol · max(|a|, |n|)``.

Central differences with a step scaled to the parameter,
``h_j = ε^{1/3} max(1, |θ_j|)``, have truncation error ``O(h²)`` and rounding
error ``O(ε/h)``; the step balances the two, leaving about ``ε^{2/3} ≈ 4e-11``
relative error for well-scaled float64 problems. The default tolerances leave a
margin of five orders of magnitude below any real bug.

Small problems (up to ``full_check_limit`` parameters) get the full check, one
pair of evaluations per parameter. Larger ones get a seeded random-direction
check, which compares the directional derivative ``∇J · u`` for a few random unit
directions ``u``; a random direction alone can miss a bug confined to a few
entries, which is why small problems are always checked in full.

Example:
    >>> import numpy
    >>> loss = lambda t: float(t @ t)
    >>> check = check_gradient(loss, lambda t: 2 * t, numpy.array([1.0, -2.0]), names=["a", "b"])
    >>> check.passed
    True
    >>> check_gradient(loss, lambda t: 3 * t, numpy.array([1.0, -2.0])).passed
    False
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy

#: Default (rtol, atol) per floating-point type: float32 has ~7 digits, so its
#: differences carry ~1e-3 relative noise.
TOLERANCES: dict[type, tuple[float, float]] = {
    numpy.float64: (1e-6, 1e-9),
    numpy.float32: (2e-2, 1e-3),
}

#: Default (rtol, atol) per mode and floating-point type. Complex step has no subtraction, so
#: it is exact to rounding (error ~ε); Richardson extrapolation of central differences leaves
#: O(h^4) truncation with h = ε^{1/5}, about ε^{4/5} ≈ 3e-13 relative in float64.
MODE_TOLERANCES: dict[tuple[str, type], tuple[float, float]] = {
    ("central", numpy.float64): TOLERANCES[numpy.float64],
    ("central", numpy.float32): TOLERANCES[numpy.float32],
    ("complex-step", numpy.float64): (1e-12, 1e-14),
    ("complex-step", numpy.float32): (1e-5, 1e-6),
    ("richardson", numpy.float64): (1e-9, 1e-11),
    ("richardson", numpy.float32): (5e-3, 1e-4),
}

_MODES = ("central", "complex-step", "richardson")

_TINY = 1e-300


@dataclass(frozen=True)
class ParameterCheck:
    """The check of one parameter (or one parameter block, or one direction).

    Attributes:
        name: The parameter name.
        analytic: The analytic derivative (at the worst index of a block).
        numeric: The numeric derivative at the same index.
        absolute_error: ``|analytic − numeric|`` (worst over the block).
        relative_error: ``|a − n| / max(|a|, |n|)`` at the same index.
        worst_index: The index within the block with the largest violation.
        passed: Whether every entry is within the tolerances.
    """

    name: str
    analytic: float
    numeric: float
    absolute_error: float
    relative_error: float
    worst_index: tuple[int, ...]
    passed: bool


@dataclass(frozen=True)
class GradientCheck:
    """A gradient-check report: one :class:`ParameterCheck` per parameter.

    Attributes:
        checks: The per-parameter results.
        method: ``"central"`` (full) or ``"random-direction"``.
        rtol: Relative tolerance used.
        atol: Absolute tolerance used.
    """

    checks: tuple[ParameterCheck, ...]
    method: str
    rtol: float
    atol: float

    @property
    def passed(self) -> bool:
        """Whether every parameter passed."""
        return all(c.passed for c in self.checks)

    def to_dict(self) -> dict:
        """A JSON-ready dictionary."""
        return {
            "passed": self.passed,
            "method": self.method,
            "rtol": self.rtol,
            "atol": self.atol,
            "parameters": [
                {
                    "name": c.name,
                    "analytic": c.analytic,
                    "numeric": c.numeric,
                    "absolute_error": c.absolute_error,
                    "relative_error": c.relative_error,
                    "worst_index": list(c.worst_index),
                    "passed": c.passed,
                }
                for c in self.checks
            ],
        }

    def table(self) -> str:
        """A plain-text table of the report."""
        rows = [
            f"{'parameter':<12} {'analytic':>14} {'numeric':>14} {'abs error':>10} "
            f"{'rel error':>10}  verdict"
        ]
        for c in self.checks:
            name = c.name + (str(list(c.worst_index)) if c.worst_index else "")
            rows.append(
                f"{name:<12} {c.analytic:>14.8g} {c.numeric:>14.8g} {c.absolute_error:>10.2e} "
                f"{c.relative_error:>10.2e}  {'pass' if c.passed else 'FAIL'}"
            )
        verdict = "PASSED" if self.passed else "FAILED"
        rows.append(
            f"gradient check {verdict} ({self.method} differences, rtol={self.rtol:g}, "
            f"atol={self.atol:g})"
        )
        return "\n".join(rows)

    def __str__(self) -> str:
        return self.table()


def _steps(theta: numpy.ndarray) -> numpy.ndarray:
    eps = numpy.finfo(theta.dtype).eps
    return eps ** (1 / 3) * numpy.maximum(1.0, numpy.abs(theta))


def central_difference(
    loss: Callable[[numpy.ndarray], float], theta: numpy.ndarray
) -> numpy.ndarray:
    """The gradient of ``loss`` at ``theta`` by central differences.

    .. math:: \\frac{\\partial J}{\\partial \\theta_j} \\approx
        \\frac{J(\\theta + h_j e_j) - J(\\theta - h_j e_j)}{2 h_j}

    Args:
        loss: A scalar function of the parameter vector.
        theta: Where to differentiate.

    Returns:
        The numeric gradient, same shape as ``theta``.

    Example:
        >>> g = central_difference(lambda t: float(t @ t), numpy.array([1.0, -2.0]))
        >>> bool(numpy.allclose(g, [2.0, -4.0]))
        True
    """
    theta = numpy.array(theta, copy=True)
    flat = theta.reshape(-1)
    steps = _steps(flat)
    gradient = numpy.empty_like(flat)
    for j, h in enumerate(steps):
        gradient[j] = _central_quotient(loss, theta, flat, j, h)
    return gradient.reshape(theta.shape)


def _central_quotient(loss, theta: numpy.ndarray, flat: numpy.ndarray, j: int, h: float) -> float:
    """``(J(θ + h e_j) − J(θ − h e_j)) / 2h``; ``flat`` is a view of ``theta``, restored after."""
    saved = flat[j]
    flat[j] = saved + h
    forward = loss(theta)
    flat[j] = saved - h
    backward = loss(theta)
    flat[j] = saved
    return (forward - backward) / (2 * h)


def complex_step(loss: Callable[[numpy.ndarray], complex], theta: numpy.ndarray) -> numpy.ndarray:
    """The gradient of an analytic ``loss`` by the complex step, exact to rounding.

    .. math:: \\frac{\\partial J}{\\partial \\theta_j} \\approx
        \\frac{\\operatorname{Im} J(\\theta + i h e_j)}{h}, \\quad h = 10^{-30}

    No difference is taken, so there is no cancellation; ``loss`` must accept complex input
    and be analytic (no ``abs``, ``max`` or comparisons).

    Args:
        loss: A scalar function of the parameter vector that works on complex arrays.
        theta: Where to differentiate.

    Returns:
        The gradient, same shape and real dtype as ``theta``.

    Example:
        >>> g = complex_step(lambda t: numpy.sin(t).sum(), numpy.array([0.5]))
        >>> bool(abs(g[0] - numpy.cos(0.5)) <= 2e-16)
        True
    """
    theta = numpy.asarray(theta)
    real = theta.dtype if numpy.issubdtype(theta.dtype, numpy.floating) else numpy.float64
    shifted = theta.astype(numpy.complex128 if real == numpy.float64 else numpy.complex64)
    flat = shifted.reshape(-1)
    h = 1e-30 if real == numpy.float64 else 1e-15
    gradient = numpy.empty(flat.size, dtype=real)
    for j in range(flat.size):
        saved = flat[j]
        flat[j] = saved + 1j * h
        gradient[j] = numpy.imag(loss(shifted)) / h
        flat[j] = saved
    return gradient.reshape(theta.shape)


def richardson(loss: Callable[[numpy.ndarray], float], theta: numpy.ndarray) -> numpy.ndarray:
    """The gradient by Richardson extrapolation of central differences.

    .. math:: D(h) = \\frac{J(\\theta + h e_j) - J(\\theta - h e_j)}{2h}, \\quad
        \\frac{\\partial J}{\\partial \\theta_j} \\approx \\frac{4 D(h/2) - D(h)}{3}

    The ``O(h²)`` error terms cancel, leaving ``O(h⁴)``; ``h_j = ε^{1/5} max(1, |θ_j|)``.

    Args:
        loss: A scalar function of the parameter vector.
        theta: Where to differentiate.

    Returns:
        The numeric gradient, same shape as ``theta``.

    Example:
        >>> g = richardson(lambda t: float(numpy.exp(t).sum()), numpy.array([1.0]))
        >>> bool(abs(g[0] - numpy.e) < 1e-11)
        True
    """
    theta = numpy.array(theta, copy=True)
    if not numpy.issubdtype(theta.dtype, numpy.floating):
        theta = theta.astype(numpy.float64)
    flat = theta.reshape(-1)
    eps = numpy.finfo(theta.dtype).eps
    steps = eps ** (1 / 5) * numpy.maximum(1.0, numpy.abs(flat))
    gradient = numpy.empty_like(flat)

    def central(j: int, h: float) -> float:
        return _central_quotient(loss, theta, flat, j, h)

    for j, h in enumerate(steps):
        gradient[j] = (4 * central(j, h / 2) - central(j, h)) / 3
    return gradient.reshape(theta.shape)


_NUMERIC = {"central": central_difference, "complex-step": complex_step, "richardson": richardson}


def _compare(name: str, analytic: numpy.ndarray, numeric: numpy.ndarray, rtol, atol):
    analytic, numeric = numpy.atleast_1d(analytic), numpy.atleast_1d(numeric)
    error = numpy.abs(analytic - numeric)
    scale = numpy.maximum(numpy.abs(analytic), numpy.abs(numeric))
    bound = atol + rtol * scale
    finite = numpy.isfinite(analytic) & numpy.isfinite(numeric)
    violation = numpy.where(finite, error / bound, numpy.inf)
    worst = int(numpy.argmax(violation))
    index = numpy.unravel_index(worst, analytic.shape) if analytic.size > 1 else ()
    return ParameterCheck(
        name=name,
        analytic=float(analytic.reshape(-1)[worst]),
        numeric=float(numeric.reshape(-1)[worst]),
        absolute_error=float(error.reshape(-1)[worst]),
        relative_error=float(error.reshape(-1)[worst] / max(scale.reshape(-1)[worst], _TINY)),
        worst_index=tuple(int(i) for i in index),
        passed=bool(numpy.all(finite) and numpy.all(error <= bound)),
    )


def check_gradient(
    loss: Callable[[numpy.ndarray], float],
    gradient: Callable[[numpy.ndarray], numpy.ndarray],
    theta: numpy.ndarray,
    *,
    names: Sequence[str] | None = None,
    blocks: Sequence[tuple[str, slice, tuple[int, ...]]] | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    full_check_limit: int = 2000,
    directions: int = 8,
    seed: int = 0,
    mode: str = "central",
) -> GradientCheck:
    """Check an analytic gradient against finite differences.

    Args:
        loss: ``J(θ)`` for a flat parameter vector.
        gradient: ``∇J(θ)``, same shape as ``θ``.
        theta: Where to check.
        names: One name per entry of ``theta`` (default ``θ0, θ1 …``).
        blocks: Instead of ``names``: ``(name, slice, shape)`` per parameter block
            (a weight matrix is one block, reported at its worst entry).
        rtol: Relative tolerance (default by dtype, see :data:`TOLERANCES`).
        atol: Absolute tolerance.
        full_check_limit: Above this many parameters, check random directions.
        directions: How many random directions in that case.
        seed: Seed of the random directions.
        mode: ``"central"`` differences (default), ``"complex-step"`` (``loss`` must accept
            complex input) or ``"richardson"`` extrapolation; tolerances per mode and dtype are
            in :data:`MODE_TOLERANCES`.

    Returns:
        A :class:`GradientCheck`; ``passed`` is False if any parameter fails.

    Raises:
        ValueError: ``mode`` is not one of the three modes.

    Example:
        >>> loss = lambda t: float(numpy.sum(t**3))
        >>> theta = numpy.array([0.5, 2.0])
        >>> check = check_gradient(loss, lambda t: 3 * t**2, theta, mode="richardson")
        >>> check.passed, check.method
        (True, 'richardson')
    """
    theta = numpy.asarray(theta)
    if not numpy.issubdtype(theta.dtype, numpy.floating):
        theta = theta.astype(numpy.float64)
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {', '.join(_MODES)}, not {mode!r}")
    dtype = (
        theta.dtype.type if theta.dtype.type in (numpy.float32, numpy.float64) else numpy.float64
    )
    default_rtol, default_atol = MODE_TOLERANCES[(mode, dtype)]
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    analytic = numpy.asarray(gradient(theta), dtype=numpy.float64).reshape(theta.shape)
    if theta.size <= full_check_limit:
        numeric = _NUMERIC[mode](loss, theta)
        if blocks is None:
            labels = names if names is not None else [f"theta{j}" for j in range(theta.size)]
            blocks = [(label, slice(j, j + 1), ()) for j, label in enumerate(labels)]
        checks = tuple(
            _compare(
                name,
                analytic.reshape(-1)[part].reshape(shape),
                numeric.reshape(-1)[part].reshape(shape),
                rtol,
                atol,
            )
            for name, part, shape in blocks
        )
        return GradientCheck(checks, mode, rtol, atol)
    rng = numpy.random.default_rng(seed)
    checks = []
    for k in range(directions):
        u = rng.standard_normal(theta.shape).astype(theta.dtype)
        u /= numpy.linalg.norm(u)
        along = lambda s, u=u: loss(theta + s[0] * u)  # noqa: E731
        numeric = float(_NUMERIC[mode](along, numpy.zeros(1, dtype=theta.dtype))[0])
        checks.append(
            _compare(f"direction {k}", analytic.reshape(-1) @ u.reshape(-1), numeric, rtol, atol)
        )
    method = "random-direction" if mode == "central" else f"random-direction {mode}"
    return GradientCheck(tuple(checks), method, rtol, atol)
