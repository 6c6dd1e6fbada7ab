"""Stage 5, train: what a run did, in words.

Example:
    >>> classify_run([1.0, 0.0, 0.0], best_final=0.0)
    'good'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy

__all__ = ["RATE_KINDS", "classify_run", "classify_runs"]

#: The verdicts :func:`classify_run` gives, in the order of growing learning rate.
RATE_KINDS = ("too small", "good", "oscillating", "diverging")


def classify_run(history: Sequence[float], best_final: float) -> str:
    r"""Say what a learning rate did: ``too small``, ``good``, ``oscillating`` or ``diverging``.

    * diverging: the loss became ``nan``/``inf`` or ended above where it started;
    * oscillating: the loss went down overall but rose at some epoch (by more than
      :math:`10^{-9}` relative);
    * good: it went down monotonically and closed at least 99 % of the gap
      :math:`J_0 - J^\ast` to the best final loss :math:`J^\ast` of the comparison;
    * too small: it went down monotonically but closed less of that gap.

    Args:
        history: Loss per epoch.
        best_final: The lowest final loss among the runs compared.

    Returns:
        One of :data:`RATE_KINDS`.

    Example:
        >>> classify_run([1.0, 0.9, 0.8], best_final=0.0)
        'too small'
        >>> classify_run([1.0, 0.0, 0.0], best_final=0.0)
        'good'
        >>> classify_run([1.0, 0.2, 0.4, 0.1], best_final=0.0)
        'oscillating'
        >>> classify_run([1.0, 3.0, float("inf")], best_final=0.0)
        'diverging'
    """
    values = numpy.asarray(history, dtype=numpy.float64).reshape(-1)
    if values.size == 0:
        raise ValueError("an empty loss history cannot be classified")
    if not numpy.all(numpy.isfinite(values)) or values[-1] > values[0]:
        return "diverging"
    scale = numpy.maximum(numpy.abs(values[:-1]), 1e-300)
    if numpy.any(numpy.diff(values) > 1e-9 * scale):
        return "oscillating"
    gap = values[0] - best_final
    if gap <= 0 or values[0] - values[-1] >= 0.99 * gap:
        return "good"
    return "too small"


def classify_runs(histories_by_rate: Mapping[float, Sequence[float]]) -> dict[float, str]:
    """The verdict of each run of a learning-rate comparison, against the best final loss.

    Example:
        >>> classify_runs({0.01: [1, 0.99], 0.5: [1, 0.0], 3.0: [1, 9, float("inf")]})
        {0.01: 'too small', 0.5: 'good', 3.0: 'diverging'}
    """
    finals = [float(h[-1]) for h in histories_by_rate.values() if len(h)]
    finite = [f for f in finals if numpy.isfinite(f)]
    best = min(finite) if finite else 0.0
    return {rate: classify_run(h, best) for rate, h in histories_by_rate.items()}
