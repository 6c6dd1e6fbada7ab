r"""Figures of training runs: loss curves, learning-rate comparisons, descent paths.

Headless: figures are drawn with matplotlib's object API on the Agg canvas (no
``pyplot``, no display), and saved as PNG or PDF according to the file suffix.
Every function returns the path it wrote. A PNG is ``FIGURE_SIZE`` inches at
``DPI`` dots per inch; ``descent_paths`` is ``PATHS_WIDTH`` inches wide at ``PATHS_DPI``.

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> loss_curves({"batch": [1.0, 0.5, 0.25]}, folder / "loss.png").name
    'loss.png'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: Resolution of PNG figures (dots per inch).
DPI = 100
#: Width and height of one panel, in inches.
FIGURE_SIZE = (6.0, 4.0)
#: Width of a descent-path figure, in inches: about the text width of a page with 2 cm margins.
PATHS_WIDTH = 6.5
#: The most height of a descent-path figure, in inches: panels shrink to fit on a page.
PATHS_HEIGHT = 8.5
#: Resolution of descent-path PNGs: printed at text width, their small text stays sharp.
PATHS_DPI = 200
#: Text size of descent-path figures, in points (placed at text width they keep it).
FONT_SIZE = 9
#: Steps drawn of one descent path by default (stochastic descent takes one per example).
PATH_STEPS = 200
_FORMATS = (".png", ".pdf")


def _check_path(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() not in _FORMATS:
        raise ValueError(f"figure file {path.name!r} must end in .png or .pdf")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _save(figure: Figure, path: Path, dpi: int = DPI) -> Path:
    FigureCanvasAgg(figure)  # attaches the headless canvas
    figure.savefig(path, dpi=dpi, format=path.suffix.lower()[1:])
    return path


def _finite_prefix(history: Sequence[float]) -> numpy.ndarray:
    """The values up to (not including) the first nan/inf: a diverged run drawn until it blew up."""
    values = numpy.asarray(history, dtype=numpy.float64).reshape(-1)
    bad = numpy.flatnonzero(~numpy.isfinite(values))
    return values[: bad[0]] if bad.size else values


def _use_log_scale(axes, curves: Sequence[numpy.ndarray]) -> None:
    values = [c for c in curves if c.size]
    if values and all(numpy.all(c > 0) for c in values):
        axes.set_yscale("log")


def loss_curves(
    histories: Mapping[str, Sequence[float]],
    path: str | Path,
    *,
    title: str | None = None,
    validation: Mapping[str, Sequence[float]] | None = None,
) -> Path:
    r"""Plot training loss :math:`J(\theta_t)` against the epoch for several runs.

    A run whose loss became ``nan``/``inf`` is drawn up to its last finite value.
    The y axis is logarithmic when every value is positive.

    Args:
        histories: Run name -> loss per epoch (epoch 0 first).
        path: Output file, ``.png`` or ``.pdf``.
        title: Figure title.
        validation: Optional run name -> validation loss per epoch, drawn dashed in
            the colour of the run of the same name.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: No runs, or a file suffix other than ``.png``/``.pdf``.

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "curves.pdf"
        >>> loss_curves({"a": [2, 1], "b": [2, 1.5]}, out, validation={"a": [2.1, 1.2]}).suffix
        '.pdf'
    """
    if not histories:
        raise ValueError("loss_curves needs at least one run")
    path = _check_path(path)
    figure = Figure(figsize=FIGURE_SIZE)
    axes = figure.add_subplot()
    drawn = []
    for name, history in histories.items():
        values = _finite_prefix(history)
        (line,) = axes.plot(numpy.arange(values.size), values, label=f"{name} (training)")
        drawn.append(values)
        if validation and name in validation:
            checked = _finite_prefix(validation[name])
            axes.plot(
                numpy.arange(checked.size),
                checked,
                linestyle="--",
                color=line.get_color(),
                label=f"{name} (validation)",
            )
            drawn.append(checked)
    unknown = sorted(set(validation or {}) - set(histories))
    if unknown:
        raise ValueError(f"validation run {unknown[0]!r} has no training run of the same name")
    _use_log_scale(axes, drawn)
    axes.set_xlabel("epoch")
    axes.set_ylabel("loss J")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    if title:
        axes.set_title(title)
    figure.tight_layout()
    return _save(figure, path)


def _rate_label(rate: float, history: Sequence[float], verdict: str | None) -> str:
    """``α = 0.5: good, J_40 = 0.142``: the rate, its verdict and its last loss (or inf)."""
    values = numpy.asarray(history, dtype=numpy.float64).reshape(-1)
    label = rf"$\alpha$ = {rate:g}" + (f": {verdict}" if verdict else "")
    if not values.size:
        return label
    bad = numpy.flatnonzero(~numpy.isfinite(values))
    epoch, value = (bad[0], "inf") if bad.size else (values.size - 1, f"{values[-1]:.3g}")
    return rf"{label}, $J_{{{epoch}}}$ = {value}"


def learning_rate_comparison(
    histories_by_rate: Mapping[float, Sequence[float]],
    path: str | Path,
    *,
    verdicts: Mapping[float, str] | None = None,
    title: str | None = None,
) -> Path:
    r"""Plot the loss of the same run at several learning rates :math:`\alpha`, each labelled.

    Each curve is labelled with its rate, its verdict when given (from
    :func:`symgd.training.classify_runs`) and its final loss :math:`J_K` (or the epoch where it
    became ``inf``). The loss axis stops at ten times
    the largest initial loss, so that a run that blows up does not squash the others: a curve
    that leaves the plot ends in a triangle at the top edge, and a run that became non-finite
    ends in a cross.

    Args:
        histories_by_rate: Learning rate -> loss per epoch.
        path: Output file, ``.png`` or ``.pdf``.
        verdicts: Learning rate -> verdict, shown in the legend.
        title: Figure title.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: No runs, or a file suffix other than ``.png``/``.pdf``.

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "rates.png"
        >>> runs = {0.01: [1, 0.99], 0.5: [1, 0.0], 3.0: [1, 9, float("inf")]}
        >>> learning_rate_comparison(runs, out, verdicts={3.0: "diverging"}).exists()
        True
    """
    if not histories_by_rate:
        raise ValueError("learning_rate_comparison needs at least one learning rate")
    path = _check_path(path)
    verdicts = verdicts or {}
    figure = Figure(figsize=FIGURE_SIZE, layout="constrained")
    axes = figure.add_subplot()
    drawn = [_finite_prefix(histories_by_rate[rate]) for rate in sorted(histories_by_rate)]
    starts = [values[0] for values in drawn if values.size]
    log = all(numpy.all(values > 0) for values in drawn if values.size)
    low = min((values.min() for values in drawn if values.size), default=0.0)
    top = 10 * max(starts, default=1.0) if log else max(starts, default=1.0) + 2 * abs(low)
    for rate, values in zip(sorted(histories_by_rate), drawn, strict=True):
        history = histories_by_rate[rate]
        label = _rate_label(rate, history, verdicts.get(rate))
        (line,) = axes.plot(numpy.arange(values.size), values, label=label)
        above = numpy.flatnonzero(values > top)
        if above.size:
            axes.plot([above[0]], [top], "^", color=line.get_color(), markersize=9, clip_on=False)
        elif values.size < len(history) and values.size:
            axes.plot([values.size - 1], [values[-1]], "x", color=line.get_color(), markersize=9)
    _use_log_scale(axes, drawn)
    if any(values.size and values.max() > top for values in drawn):
        axes.set_ylim(top=top)
    axes.set_xlabel("epoch")
    axes.set_ylabel("training loss J")
    axes.grid(True, which="both", alpha=0.3)
    # Below the plot: a curve that blows up runs through the upper corners.
    figure.legend(loc="outside lower center", ncols=2, frameon=False)
    axes.set_title(title or "Learning rates compared")
    return _save(figure, path)


def _grid_bounds(paths: Sequence[numpy.ndarray]) -> tuple[numpy.ndarray, numpy.ndarray]:
    points = numpy.concatenate(paths)
    low, high = points.min(axis=0), points.max(axis=0)
    span = numpy.maximum(high - low, 1e-3 * numpy.maximum(1.0, numpy.abs(high)))
    return low - 0.15 * span, high + 0.15 * span


def _contour_levels(values: numpy.ndarray, count: int = 8) -> tuple[numpy.ndarray, str]:
    """Levels spaced logarithmically above the lowest value, rounded to as few significant
    digits as keep them apart (so that each label is the level itself), and their format."""
    floor, top = float(values.min()), float(values.max())
    span = top - floor
    if not span > 1e-12 * max(1.0, abs(floor)):
        return numpy.zeros(0), "%g"
    raw = floor + numpy.geomspace(3e-3 * span, 0.8 * span, count)
    for digits in range(2, 10):
        levels = numpy.unique([float(f"{value:.{digits}g}") for value in raw])
        levels = levels[(levels > floor) & (levels < top)]
        if levels.size == count:
            break
    return levels, f"%.{digits}g"


def descent_paths(
    loss: Callable[[numpy.ndarray], float],
    paths: Mapping[str, numpy.ndarray],
    path: str | Path,
    *,
    names: tuple[str, str] = ("w", "b"),
    title: str | None = None,
    resolution: int = 80,
    columns: int | None = None,
    max_steps: int | None = PATH_STEPS,
) -> Path:
    r"""Draw each descent path :math:`\theta_0, \theta_1, \dots` over the contours of :math:`J`.

    One panel per path (e.g. batch, stochastic, mini-batch), at most three to a row, in a
    figure :data:`PATHS_WIDTH` inches wide with :data:`FONT_SIZE` point text, so that it reads
    at the text width of a page. The panels share one grid covering the drawn paths with a
    margin; the contour levels, spaced logarithmically above the lowest value on the grid, are
    labelled with their values of :math:`J`. A path longer than ``max_steps`` (stochastic
    descent: one step per example) is drawn for its first ``max_steps`` steps, and its title
    says so.

    Args:
        loss: :math:`J` at a point ``numpy.array([p, q])`` of the two parameters.
        paths: Panel title -> array of shape ``(k, 2)``, the parameters after each step.
        path: Output file, ``.png`` or ``.pdf``.
        names: The two parameters' names, for the axes.
        title: Figure title above the panels.
        resolution: Grid points per axis at which ``loss`` is evaluated.
        columns: Panels per row (default: up to three); more panels wrap onto new rows.
        max_steps: The most steps drawn of one path (``None``: all).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: No paths, a path not of shape ``(k, 2)`` or not finite, or a bad suffix.

    Example:
        >>> import tempfile, pathlib, numpy
        >>> bowl = lambda t: float(t @ t)
        >>> steps = numpy.array([[2.0, 1.0], [1.0, 0.5], [0.5, 0.25]])
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "paths.png"
        >>> descent_paths(bowl, {"batch": steps}, out).exists()
        True
    """
    if not paths:
        raise ValueError("descent_paths needs at least one path")
    path = _check_path(path)
    arrays, steps = {}, {}
    for name, points in paths.items():
        points = numpy.asarray(points, dtype=numpy.float64)
        if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] < 1:
            raise ValueError(f"path {name!r} must have shape (k, 2), not {points.shape}")
        finite = numpy.all(numpy.isfinite(points), axis=1)
        if not finite[0]:
            raise ValueError(f"path {name!r} does not start at a finite point")
        # A diverged path is drawn until it left the finite numbers.
        points = points[: numpy.argmin(finite)] if not finite.all() else points
        steps[name] = len(points) - 1
        arrays[name] = points if max_steps is None else points[: max_steps + 1]
    low, high = _grid_bounds(list(arrays.values()))
    P, Q = numpy.meshgrid(
        numpy.linspace(low[0], high[0], resolution), numpy.linspace(low[1], high[1], resolution)
    )
    J = numpy.array([loss(numpy.array([a, b])) for a, b in zip(P.ravel(), Q.ravel())])
    J = J.reshape(P.shape)
    finite_values = J[numpy.isfinite(J)]
    if finite_values.size == 0:
        raise ValueError("the loss is not finite anywhere on the plotted grid")
    levels, label_format = _contour_levels(finite_values)
    end = "end" if all(len(arrays[n]) - 1 == steps[n] for n in arrays) else "last step shown"
    panels = len(arrays)
    columns = min(panels, 3) if columns is None else max(1, min(columns, panels))
    rows = -(-panels // columns)
    # A square plot with its title and labels, in a figure that fits on a page.
    panel_height = min(PATHS_WIDTH / columns, 2.8, (PATHS_HEIGHT - 0.6) / rows - 0.7) + 0.7
    sizes = {"font.size": FONT_SIZE, "axes.titlesize": FONT_SIZE, "legend.fontsize": FONT_SIZE}
    with rc_context({**sizes, "figure.titlesize": FONT_SIZE + 1}):
        figure = Figure(figsize=(PATHS_WIDTH, panel_height * rows + 0.6), layout="constrained")
        axes_list = figure.subplots(rows, columns, squeeze=False).ravel()
        for extra in axes_list[panels:]:
            extra.set_visible(False)
        for axes, (name, points) in zip(axes_list, arrays.items()):
            if levels.size:
                contours = axes.contour(P, Q, J, levels=levels, cmap="viridis", linewidths=0.8)
                axes.clabel(contours, fmt=label_format, fontsize=FONT_SIZE - 1, inline_spacing=2)
            few = len(points) <= 60
            axes.plot(
                points[:, 0],
                points[:, 1],
                ".-" if few else "-",
                color="tab:red",
                markersize=3,
                linewidth=1.0 if few else 0.6,
            )
            axes.plot(points[0, 0], points[0, 1], "o", color="black", label="start")
            axes.plot(*points[-1], "*", color="tab:red", markersize=11, label=end)
            axes.set_xlabel(names[0])
            axes.set_ylabel(names[1])
            shown = len(points) - 1
            axes.set_title(
                f"{name}\n{shown} steps"
                if shown == steps[name]
                else f"{name}\nfirst {shown} of {steps[name]} steps"
            )
        handles, labels = axes_list[0].get_legend_handles_labels()
        figure.legend(handles, labels, loc="outside lower center", ncols=2, frameon=False)
        if title:
            figure.suptitle(title)
        return _save(figure, path, PATHS_DPI)
