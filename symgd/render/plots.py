r"""Figures of training runs: loss curves, learning-rate comparisons, descent paths.

Headless: figures are drawn with matplotlib's object API on the Agg canvas (no
``pyplot``, no display), and saved as PNG or PDF according to the file suffix.
Every function returns the path it wrote. A PNG is ``FIGURE_SIZE`` inches at
``DPI`` dots per inch (``descent_paths`` is that wide per panel).

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
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: Resolution of PNG figures (dots per inch).
DPI = 100
#: Width and height of one panel, in inches.
FIGURE_SIZE = (6.0, 4.0)
_FORMATS = (".png", ".pdf")


def _check_path(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() not in _FORMATS:
        raise ValueError(f"figure file {path.name!r} must end in .png or .pdf")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _save(figure: Figure, path: Path) -> Path:
    FigureCanvasAgg(figure)  # attaches the headless canvas
    figure.savefig(path, dpi=DPI, format=path.suffix.lower()[1:])
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


def learning_rate_comparison(
    histories_by_rate: Mapping[float, Sequence[float]],
    path: str | Path,
    *,
    verdicts: Mapping[float, str] | None = None,
    title: str | None = None,
) -> Path:
    r"""Plot the loss of the same run at several learning rates :math:`\alpha`, each labelled.

    Each curve is labelled with its rate and, when given, its verdict (too small / good /
    oscillating / diverging, from :func:`symgd.training.diagnostics.classify_run`). A run that
    became non-finite is drawn until it blew up, the last finite value marked with a cross.

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
    figure = Figure(figsize=FIGURE_SIZE)
    axes = figure.add_subplot()
    drawn = []
    for rate in sorted(histories_by_rate):
        history = histories_by_rate[rate]
        values = _finite_prefix(history)
        label = rf"$\alpha$ = {rate:g}" + (f" ({verdicts[rate]})" if rate in verdicts else "")
        (line,) = axes.plot(numpy.arange(values.size), values, label=label)
        if values.size < len(history) and values.size:
            axes.plot([values.size - 1], [values[-1]], "x", color=line.get_color(), markersize=9)
        drawn.append(values)
    _use_log_scale(axes, drawn)
    axes.set_xlabel("epoch")
    axes.set_ylabel("loss J")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    axes.set_title(title or "Learning rates compared")
    figure.tight_layout()
    return _save(figure, path)


def _grid_bounds(paths: Sequence[numpy.ndarray]) -> tuple[numpy.ndarray, numpy.ndarray]:
    points = numpy.concatenate(paths)
    low, high = points.min(axis=0), points.max(axis=0)
    span = numpy.maximum(high - low, 1e-3 * numpy.maximum(1.0, numpy.abs(high)))
    return low - 0.15 * span, high + 0.15 * span


def descent_paths(
    loss: Callable[[numpy.ndarray], float],
    paths: Mapping[str, numpy.ndarray],
    path: str | Path,
    *,
    names: tuple[str, str] = ("w", "b"),
    title: str | None = None,
    resolution: int = 80,
    columns: int | None = None,
) -> Path:
    r"""Draw each descent path :math:`\theta_0, \theta_1, \dots` over the contours of :math:`J`.

    One panel per path, side by side (e.g. batch, stochastic, mini-batch), sharing one
    grid that covers every path with a margin; contour levels are spaced
    logarithmically above the lowest value on the grid.

    Args:
        loss: :math:`J` at a point ``numpy.array([p, q])`` of the two parameters.
        paths: Panel title -> array of shape ``(k, 2)``, the parameters after each step.
        path: Output file, ``.png`` or ``.pdf``.
        names: The two parameters' names, for the axes.
        title: Figure title above the panels.
        resolution: Grid points per axis at which ``loss`` is evaluated.
        columns: Panels per row (default: all in one row); more panels wrap onto new rows.

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
    arrays = {}
    for name, points in paths.items():
        points = numpy.asarray(points, dtype=numpy.float64)
        if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] < 1:
            raise ValueError(f"path {name!r} must have shape (k, 2), not {points.shape}")
        finite = numpy.all(numpy.isfinite(points), axis=1)
        if not finite[0]:
            raise ValueError(f"path {name!r} does not start at a finite point")
        # A diverged path is drawn until it left the finite numbers.
        arrays[name] = points[: numpy.argmin(finite)] if not finite.all() else points
    low, high = _grid_bounds(list(arrays.values()))
    p = numpy.linspace(low[0], high[0], resolution)
    q = numpy.linspace(low[1], high[1], resolution)
    P, Q = numpy.meshgrid(p, q)
    J = numpy.array([loss(numpy.array([a, b])) for a, b in zip(P.ravel(), Q.ravel())])
    J = J.reshape(P.shape)
    finite_values = J[numpy.isfinite(J)]
    if finite_values.size == 0:
        raise ValueError("the loss is not finite anywhere on the plotted grid")
    floor = float(finite_values.min())
    top = float(finite_values.max())
    levels = floor + numpy.geomspace(max(1e-6 * (top - floor), 1e-12), top - floor + 1e-12, 15)
    panels = len(arrays)
    columns = panels if columns is None else max(1, min(columns, panels))
    rows = -(-panels // columns)
    figure = Figure(figsize=(FIGURE_SIZE[0] * columns, FIGURE_SIZE[1] * rows))
    axes_list = figure.subplots(rows, columns, squeeze=False).ravel()
    for extra in axes_list[panels:]:
        extra.set_visible(False)
    for axes, (name, points) in zip(axes_list, arrays.items()):
        axes.contour(P, Q, J, levels=levels, cmap="viridis", linewidths=0.8)
        axes.plot(points[:, 0], points[:, 1], ".-", color="tab:red", markersize=3, linewidth=1)
        axes.plot(points[0, 0], points[0, 1], "o", color="black", label="start")
        axes.plot(points[-1, 0], points[-1, 1], "*", color="tab:red", markersize=12, label="end")
        axes.set_xlabel(names[0])
        axes.set_ylabel(names[1])
        axes.set_title(f"{name} ({len(points) - 1} steps)")
        axes.legend(loc="best", fontsize="small")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return _save(figure, path)
