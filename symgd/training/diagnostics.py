r"""Stage 5, train: what a run did, in words.

Each diagnosis is defined once here and used by the runner (:attr:`TrainResult.diagnostics
<symgd.training.state.TrainResult.diagnostics>`) and by the learning-rate figures
(:func:`classify_run`, :func:`classify_runs`): divergence (:func:`loss_diverges`), oscillation
(:func:`loss_oscillates`), exploding and vanishing gradients; and, before a run, where a loss
leaves its domain on the data (:func:`first_bad_example`).

Example:
    >>> classify_runs({0.01: [1.0, 0.9, 0.8], 0.5: [1.0, 0.1, 0.0], 5.0: [1.0, 3.0]})
    {0.01: 'too slow', 0.5: 'good', 5.0: 'diverging'}
    >>> loss_oscillates([1.0, 0.2, 0.4, 0.1]), loss_oscillates([1.0, 0.4, 0.2, 0.1])
    (True, False)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence

import numpy

#: The verdicts :func:`classify_run` gives, roughly in the order of growing learning rate.
RATE_KINDS = ("too slow", "good", "oscillating", "stuck", "diverging")

#: A change of the loss between epochs counts when it exceeds this fraction of the loss scale
#: (the range the loss covers, max − min): rounding and mini-batch noise stay below it.
OSCILLATION_THRESHOLD = 0.05
#: A decreasing run is "good" when its final loss is within this fraction of the gap
#: :math:`J_0 - J^\ast` above the best final loss :math:`J^\ast` of the runs compared.
GOOD_FRACTION = 0.02
#: Successive updates whose mean cosine is below this point back and forth: oscillation.
OSCILLATION_COSINE = -0.5
#: How many recent steps the update-direction test looks at.
OSCILLATION_WINDOW = 100
#: The loss grows without bound once it exceeds ``max(|J_0|, 1)`` by this factor.
GROWTH_LIMIT = 1e6
#: A run has diverged when its loss ends more than this factor above its initial loss …
DIVERGENCE_FACTOR = 10.0
#: … and more than this much above it (a loss near zero may grow tenfold harmlessly).
DIVERGENCE_MARGIN = 1.0
#: A run has diverged when its loss rose in each of this many consecutive epochs and ended
#: above its initial loss (mini-batch noise and Adam's overshoot rise for an epoch or two).
GROWTH_EPOCHS = 5
#: Data columns whose typical sizes differ by this factor want standardising.
SCALE_RATIO = 100.0
#: A block's gradient norm is "exploding" once it exceeds its first value by this factor.
EXPLODING_FACTOR = 1e3
#: A block's gradient is "vanishing" when its norm is typically below this fraction of the
#: largest block's norm at the same step.
VANISHING_RATIO = 1e-4


def _significant_changes(history: Sequence[float], scale: float | None = None) -> numpy.ndarray:
    """The epoch-to-epoch changes of the finite losses larger than the threshold."""
    values = numpy.asarray(history, dtype=numpy.float64).reshape(-1)
    values = values[numpy.isfinite(values)]
    if values.size < 3:
        return numpy.zeros(0)
    scale = values.max() - values.min() if scale is None else scale
    changes = numpy.diff(values)
    return changes[numpy.abs(changes) > OSCILLATION_THRESHOLD * scale]


def loss_oscillates(history: Sequence[float], scale: float | None = None) -> bool:
    r"""Whether a loss history goes up and down: the one definition of an oscillating loss.

    The successive differences :math:`d_k = J_{k+1} - J_k` larger than
    :data:`OSCILLATION_THRESHOLD` of the loss scale :math:`S`, :math:`|d_k| > 0.05\,S`, change
    sign at least once. Non-finite values are ignored (divergence is a diagnosis of its own).

    Args:
        history: Loss per epoch.
        scale: :math:`S`; default the range the loss covers, :math:`\max_k J_k - \min_k J_k`.

    Returns:
        ``True`` for an oscillating loss.

    Example:
        >>> loss_oscillates([3.0, 1.0, 3.0, 1.0, 3.0])
        True
        >>> loss_oscillates([1.0, 0.5, 0.25, 0.26, 0.2])  # a rise of 1 % of the range: noise
        False
    """
    signs = numpy.sign(_significant_changes(history, scale))
    return bool(numpy.count_nonzero(numpy.diff(signs)))


def oscillation(loss_history: Sequence[float], update_cosines: Sequence[float] = ()) -> str | None:
    """The oscillation finding of a run, in words, or ``None``.

    A run oscillates when its successive updates point in nearly opposite directions (mean
    cosine below :data:`OSCILLATION_COSINE` over the last :data:`OSCILLATION_WINDOW` steps, when
    the updates are known) or when its loss oscillates (:func:`loss_oscillates`).

    Args:
        loss_history: Loss per epoch.
        update_cosines: Cosine between each update and the one before (``nan`` when undefined).

    Returns:
        The finding, starting with ``"oscillation:"``.

    Example:
        >>> oscillation([3.0, 1.0, 3.0, 1.0, 3.0, 1.0])[:40]
        'oscillation: the training loss goes up a'
        >>> oscillation([3.0, 2.0, 1.5], update_cosines=[-1.0] * 10)[:45]
        'oscillation: successive updates point in near'
    """
    cosines = numpy.asarray(update_cosines[-OSCILLATION_WINDOW:], dtype=numpy.float64)
    cosines = cosines[numpy.isfinite(cosines)]
    if cosines.size >= 10 and cosines.mean() < OSCILLATION_COSINE:
        return (
            f"oscillation: successive updates point in nearly opposite directions (mean cosine "
            f"{cosines.mean():.2f} over the last {cosines.size} steps): each step overshoots the "
            f"minimum along a steep direction; a smaller learning rate (or momentum) damps it"
        )
    if loss_oscillates(loss_history):
        changes = _significant_changes(loss_history)
        return (
            f"oscillation: the training loss goes up and down (it rose in "
            f"{int(numpy.sum(changes > 0))} of {len(loss_history) - 1} epochs by more than "
            f"{OSCILLATION_THRESHOLD:.0%} of its range); a smaller learning rate or a larger "
            f"batch steadies it"
        )
    return None


def classify_run(
    history: Sequence[float],
    best_final: float,
    *,
    learning_rate: float | None = None,
    best_rate: float | None = None,
) -> str:
    r"""Say what a learning rate did, from its loss history: one of :data:`RATE_KINDS`.

    With :math:`J_0` the first, :math:`J_K` the final loss and :math:`J^\ast` the best final loss
    of the runs compared, :math:`g = J_0 - J^\ast`, the first rule that holds gives the verdict:

    1. diverging: a loss is ``nan``/``inf``, :math:`J_K > J_0`, or :func:`loss_diverges`;
    2. oscillating: :func:`loss_oscillates` (differences above 5 % of the range change sign);
    3. good: :math:`J_K - J^\ast \le 0.02\,g` (:data:`GOOD_FRACTION`);
    4. stuck: the second half of the run is flat (it moves less than 5 % of :math:`g`) at this
       high loss, and the rate is large: above ``best_rate``, the rate that reached
       :math:`J^\ast` (without the rates: the loss stopped falling in that half);
    5. too slow: it is still going down, but has not come within 2 % of :math:`g`.

    Args:
        history: Loss per epoch, :math:`J_0` first.
        best_final: :math:`J^\ast`.
        learning_rate: This run's rate, when known.
        best_rate: The rate of the run that reached :math:`J^\ast`, when known.

    Returns:
        The verdict.

    Raises:
        ValueError: If the history is empty.

    Example:
        >>> classify_run([1.0, 0.9, 0.8], best_final=0.0)
        'too slow'
        >>> classify_run([1.0, 0.7, 0.7, 0.7], 0.0, learning_rate=50.0, best_rate=1.0)
        'stuck'
    """
    values = numpy.asarray(history, dtype=numpy.float64).reshape(-1)
    if values.size == 0:
        raise ValueError("an empty loss history cannot be classified")
    first, last = values[0], values[-1]
    if not numpy.all(numpy.isfinite(values)) or last > first or loss_diverges(values):
        return "diverging"
    if loss_oscillates(values):
        return "oscillating"
    gap = first - best_final
    if last - best_final <= GOOD_FRACTION * gap:
        return "good"
    tail = values[values.size // 2 :]
    flat = tail.size >= 2 and numpy.ptp(tail) <= OSCILLATION_THRESHOLD * gap
    if learning_rate is not None and best_rate is not None:
        large = learning_rate > best_rate
    else:
        large = not numpy.all(numpy.diff(tail) < 0)
    return "stuck" if flat and large else "too slow"


def classify_runs(histories_by_rate: Mapping[float, Sequence[float]]) -> dict[float, str]:
    """The verdict of each run of a learning-rate comparison (:func:`classify_run`).

    :math:`J^\\ast` is the lowest finite final loss of the runs, ``best_rate`` the rate that
    reached it.

    Example:
        >>> runs = {0.01: [1, 0.99], 0.5: [1, 0.0], 50.0: [1, 0.8, 0.8], 90.0: [1, float("inf")]}
        >>> classify_runs(runs)
        {0.01: 'too slow', 0.5: 'good', 50.0: 'stuck', 90.0: 'diverging'}
    """
    finals = {
        rate: float(history[-1]) for rate, history in histories_by_rate.items() if len(history)
    }
    finite = {rate: final for rate, final in finals.items() if math.isfinite(final)}
    best_rate = min(finite, key=finite.get) if finite else None
    best = finite[best_rate] if finite else 0.0
    return {
        rate: classify_run(history, best, learning_rate=rate, best_rate=best_rate)
        for rate, history in histories_by_rate.items()
    }


def largest_curvature(
    gradient: Callable[[numpy.ndarray], numpy.ndarray],
    theta: numpy.ndarray,
    *,
    iterations: int = 30,
    seed: int = 0,
) -> float:
    """Estimate the largest Hessian eigenvalue ``L`` by power iteration.

    Hessian-vector products come from differences of the gradient,
    ``H v ≈ (∇J(θ + ε v) − ∇J(θ − ε v)) / 2ε``. Batch gradient descent on a
    quadratic is stable exactly when ``α < 2 / L``.

    Args:
        gradient: ``∇J`` on the full training set.
        theta: Where to estimate the curvature.
        iterations: Power-iteration steps.
        seed: Seed of the starting vector.

    Returns:
        The estimate of ``L`` (``nan`` when it cannot be estimated).

    Example:
        >>> import numpy
        >>> A = numpy.diag([1.0, 4.0])
        >>> round(largest_curvature(lambda t: A @ t, numpy.zeros(2)), 6)
        4.0
    """
    rng = numpy.random.default_rng(seed)
    v = rng.standard_normal(theta.shape)
    v /= numpy.linalg.norm(v)
    eps = 1e-4 * max(1.0, float(numpy.linalg.norm(theta)))
    estimate = float("nan")
    for _ in range(iterations):
        hv = (gradient(theta + eps * v) - gradient(theta - eps * v)) / (2 * eps)
        norm = float(numpy.linalg.norm(hv))
        if not math.isfinite(norm) or norm == 0:
            return estimate
        estimate = float(v @ hv)
        v = hv / norm
    return abs(estimate)


def loss_diverges(history: Sequence[float]) -> str | None:
    r"""Whether a run has diverged, and how: the one definition of a diverged run.

    With :math:`J_0` the initial and :math:`J_k` the latest loss, the run has diverged when

    * :math:`J_k` is ``nan`` or ``inf``;
    * :math:`J_k > 10^6 \max(|J_0|, 1)` (:data:`GROWTH_LIMIT`);
    * :math:`J_k > J_0 + \max(1, 9\,|J_0|)`: far above where it started
      (:data:`DIVERGENCE_FACTOR`, :data:`DIVERGENCE_MARGIN`); or
    * it rose in each of the last :data:`GROWTH_EPOCHS` epochs and ended above :math:`J_0`.

    Only :math:`J_0` and the last :data:`GROWTH_EPOCHS` + 1 values are read, so a runner may
    ask after every epoch.

    Args:
        history: Loss per epoch, the initial loss first.

    Returns:
        What the loss did, in words (``"became nan/inf"``, ``"grew from … to …"``), or ``None``.

    Example:
        >>> loss_diverges([0.693, 0.5, 32564.0])
        'grew from 0.693 to 3.26e+04'
        >>> loss_diverges([1.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.1])
        'rose in each of the last 5 epochs, from 0.5 to 1.1 (it started at 1)'
        >>> loss_diverges([1.0, 0.5, 0.6, 0.4]) is None  # a brief rise (noise, Adam) is fine
        True
    """
    if len(history) == 0:
        return None
    first, last = float(history[0]), float(history[-1])
    if not math.isfinite(last):
        return "became nan/inf"
    if last > GROWTH_LIMIT * max(abs(first), 1.0) or last > first + max(
        DIVERGENCE_MARGIN, (DIVERGENCE_FACTOR - 1) * abs(first)
    ):
        return f"grew from {first:.3g} to {last:.3g}"
    recent = numpy.asarray(history[-(GROWTH_EPOCHS + 1) :], dtype=numpy.float64)
    if (
        recent.size == GROWTH_EPOCHS + 1
        and numpy.all(numpy.diff(recent) > 0)
        and last - first > 0.01 * max(abs(first), abs(last))
    ):
        return (
            f"rose in each of the last {GROWTH_EPOCHS} epochs, from {recent[0]:.3g} to "
            f"{last:.3g} (it started at {first:.3g})"
        )
    return None


def scale_advice(columns: Mapping[str, numpy.ndarray]) -> str | None:
    """Advice to standardise data whose columns differ in size by orders of magnitude.

    A column's size is its largest magnitude (a unit of measurement, so a column that is
    mostly zero still counts at its full size); columns that are all zero are left out. When the
    largest is :data:`SCALE_RATIO` or more times the smallest, one learning rate cannot suit
    every parameter: the steep direction forces a rate too small for the others, or blows up.

    Args:
        columns: One array per data column (name to values).

    Returns:
        The advice, or ``None`` when the sizes are comparable.

    Example:
        >>> import numpy
        >>> scale_advice({"x1": numpy.full(3, 1000.0), "x2": numpy.ones(3)})[:58]
        'the data columns differ in size by a factor of 1e+03 (x1 a'
        >>> scale_advice({"x": numpy.ones(3), "y": numpy.full(3, 2.0)}) is None
        True
    """
    sizes = {}
    for name, values in columns.items():
        values = numpy.asarray(values, dtype=numpy.float64).reshape(-1)
        values = values[numpy.isfinite(values)]
        size = float(numpy.max(numpy.abs(values))) if values.size else 0.0
        if size > 0 and math.isfinite(size):
            sizes[name] = size
    if len(sizes) < 2:
        return None
    large, small = max(sizes, key=sizes.get), min(sizes, key=sizes.get)
    ratio = sizes[large] / sizes[small]
    if ratio < SCALE_RATIO:
        return None
    return (
        f"the data columns differ in size by a factor of {ratio:.2g} ({large} about "
        f"{sizes[large]:.2g}, {small} about {sizes[small]:.2g}): standardise the features "
        f"(subtract each column's mean, divide by its standard deviation) so that one learning "
        f"rate suits every parameter"
    )


def divergence(
    gradient: Callable[[numpy.ndarray], numpy.ndarray],
    theta: numpy.ndarray,
    learning_rate: float,
    loss: float,
    *,
    epoch: int,
    step: int,
    what: str | None = None,
    start: numpy.ndarray | None = None,
) -> str:
    """The plain-words diagnosis of a run that blew up, with a learning rate to try.

    Args:
        gradient: ``∇J`` on the full training set (for the curvature estimate).
        theta: The last finite parameters.
        learning_rate: The rate of the last step.
        loss: The loss that blew up.
        epoch: Epochs completed before the blow-up.
        step: Steps completed before the blow-up.
        what: What the loss did (from :func:`loss_diverges`); default from ``loss``.
        start: The starting parameters: the curvature is estimated there too (a run that
            diverged may have left the steep region already).

    Returns:
        The message, naming the epoch and step and suggesting a stable rate.

    Example:
        >>> import numpy
        >>> divergence(lambda t: 4 * t, numpy.ones(1), 1.0, float("inf"), epoch=2, step=2)[:58]
        'diverged in epoch 3 at step 3 (after 2 steps): the loss be'
    """
    if what is None:
        what = "became nan/inf" if not math.isfinite(loss) else f"grew to {loss:.3g}"
    estimates = [largest_curvature(gradient, at) for at in (theta, start) if at is not None]
    estimates = [value for value in estimates if math.isfinite(value) and value > 0]
    curvature = max(estimates, default=math.nan)
    if math.isfinite(curvature) and 2 / curvature < learning_rate:
        advice = (
            f"learning rate {learning_rate:g} is above the stable range for this problem "
            f"(2/L = {2 / curvature:.3g}, L the largest curvature); try <= {1 / curvature:.3g}"
        )
    else:
        advice = f"the learning rate {learning_rate:g} is too large; try {learning_rate / 10:g}"
    where = f"diverged in epoch {epoch + 1} at step {step + 1} (after {step} steps)"
    return f"{where}: the loss {what}; {advice}"


def _not_finite_real(value: object) -> bool:
    array = numpy.asarray(value)
    if numpy.iscomplexobj(array):
        if numpy.any(array.imag != 0):
            return True
        array = array.real
    return not numpy.all(numpy.isfinite(array))


def first_bad_example(
    loss_and_gradient: Callable[[numpy.ndarray, numpy.ndarray], tuple[float, numpy.ndarray]],
    theta: numpy.ndarray,
    n_examples: int,
) -> tuple[int, object] | None:
    """The first example where the loss or its gradient is not a finite real number.

    Halves the examples (first half first) while a half is bad, so it needs about
    ``2 log2 m`` evaluations; NumPy's warnings (invalid value, casting complex to real) are
    silenced while it looks.

    Args:
        loss_and_gradient: ``(theta, example indices) -> (loss, gradient)``.
        theta: Where to evaluate.
        n_examples: Number of examples ``m``.

    Returns:
        ``(index, loss there)`` with a 0-based index; ``(-1, loss)`` when every example is
        fine alone but the whole data set is not (an overflowing sum); ``None`` when the loss
        and gradient are finite and real on the whole data.

    Example:
        >>> import numpy
        >>> x = numpy.array([1.0, 4.0, -1.0, -2.0])
        >>> first_bad_example(lambda t, rows: (numpy.sqrt(x[rows]).mean(), t), numpy.ones(1), 4)
        (2, nan)
    """
    with warnings.catch_warnings(), numpy.errstate(all="ignore"):
        warnings.simplefilter("ignore")

        def evaluate(rows: numpy.ndarray) -> tuple[bool, object]:
            loss, gradient = loss_and_gradient(theta, rows)
            return _not_finite_real(loss) or _not_finite_real(gradient), loss

        rows = numpy.arange(n_examples)
        bad, loss = evaluate(rows)
        if not bad:
            return None
        while rows.size > 1:
            half = rows.size // 2
            left_bad, left_loss = evaluate(rows[:half])
            if left_bad:
                rows, loss = rows[:half], left_loss
                continue
            right_bad, right_loss = evaluate(rows[half:])
            if not right_bad:
                return -1, loss
            rows, loss = rows[half:], right_loss
    value = numpy.asarray(loss)
    return int(rows[0]), value.item() if value.size == 1 else value


def gradient_findings(block_norms: Mapping[str, Sequence[float]]) -> list[str]:
    """Exploding and vanishing gradients per parameter block, in words.

    Args:
        block_norms: Per block, the gradient norm of each step.

    Returns:
        One finding per exploding or vanishing block.

    Example:
        >>> gradient_findings({"W1": [1e-9] * 5, "W2": [1.0] * 5})[0][:36]
        'vanishing gradients in block W1: its'
    """
    findings = []
    norms = {
        name: numpy.asarray(values, dtype=numpy.float64) for name, values in block_norms.items()
    }
    for name, values in norms.items():
        finite = values[numpy.isfinite(values)]
        window = max(1, min(10, finite.size // 3))
        if finite.size < 3:
            continue
        first, last = numpy.median(finite[:window]), numpy.median(finite[-window:])
        if last > EXPLODING_FACTOR * max(first, 1e-300):
            findings.append(
                f"exploding gradients in block {name}: the gradient norm grew from "
                f"{first:.3g} to {last:.3g}; lower the learning rate or clip "
                f"the gradients (clip_by_global_norm)"
            )
    if len(norms) >= 2 and all(values.size for values in norms.values()):
        table = numpy.vstack(list(norms.values()))
        largest = table.max(axis=0)
        # Only steps before the run reached the rounding floor say anything about ratios.
        active = largest > max(1e-12, 1e-6 * largest[0])
        biggest = max(norms, key=lambda key: float(numpy.median(norms[key])))
        for name, row in zip(norms, table, strict=True):
            if not active.any():
                break
            ratio = float(numpy.median(row[active] / largest[active]))
            if ratio < VANISHING_RATIO:
                findings.append(
                    f"vanishing gradients in block {name}: its gradient norm is typically "
                    f"{ratio:.1e} of the largest block's ({biggest}), so its parameters barely "
                    f"change; saturated activations or a poor initialisation are the usual causes"
                )
    return findings
