"""symgd.render.plots: files are written and are images of the right size."""

from __future__ import annotations

import matplotlib.image
import numpy
import pytest

from symgd.render import DPI, FIGURE_SIZE, descent_paths, learning_rate_comparison, loss_curves

WIDTH, HEIGHT = (round(FIGURE_SIZE[0] * DPI), round(FIGURE_SIZE[1] * DPI))


def _png_shape(path):
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    # Not a blank canvas: some pixels differ from the background.
    assert numpy.ptp(image[..., :3]) > 0.5
    return image.shape[1], image.shape[0]


def _bowl(theta):
    return float((theta[0] - 2.0) ** 2 + 3.0 * (theta[1] - 1.0) ** 2)


def _path(rate, steps=30):
    theta = numpy.zeros(2)
    points = [theta]
    for _ in range(steps):
        theta = theta - rate * numpy.array([2 * (theta[0] - 2), 6 * (theta[1] - 1)])
        points.append(theta)
    return numpy.array(points)


def test_loss_curves_png_size(tmp_path):
    out = loss_curves(
        {"batch": [1.0, 0.5, 0.1], "stochastic": [1.0, 0.7, 0.3, float("nan")]},
        tmp_path / "curves.png",
        title="loss",
        validation={"batch": [1.1, 0.6, 0.2]},
    )
    assert _png_shape(out) == (WIDTH, HEIGHT)


def test_pdf_by_suffix(tmp_path):
    out = loss_curves({"run": [3.0, 2.0, 1.0]}, tmp_path / "sub" / "curves.pdf")
    assert out.read_bytes().startswith(b"%PDF") and out.stat().st_size > 1000


@pytest.mark.parametrize("name", ["curves.jpg", "curves", "curves.tex"])
def test_unknown_suffix_refused(tmp_path, name):
    with pytest.raises(ValueError, match="png or .pdf"):
        loss_curves({"run": [1.0]}, tmp_path / name)


def test_validation_without_training_run_refused(tmp_path):
    with pytest.raises(ValueError, match="no training run"):
        loss_curves({"a": [1.0]}, tmp_path / "x.png", validation={"b": [1.0]})


def test_learning_rate_comparison_png(tmp_path):
    runs = {rate: [_bowl(p) for p in _path(rate)] for rate in (0.01, 0.15, 0.3, 0.4)}
    out = learning_rate_comparison(runs, tmp_path / "rates.png")
    assert _png_shape(out) == (WIDTH, HEIGHT)


def test_descent_paths_side_by_side(tmp_path):
    paths = {"batch": _path(0.1), "stochastic": _path(0.3), "mini-batch": _path(0.2)}
    out = descent_paths(_bowl, paths, tmp_path / "paths.png", resolution=30)
    assert _png_shape(out) == (3 * WIDTH, HEIGHT)


def test_descent_paths_wrap_into_rows(tmp_path):
    paths = {name: _path(rate) for name, rate in (("a", 0.1), ("b", 0.2), ("c", 0.3))}
    out = descent_paths(_bowl, paths, tmp_path / "grid.png", resolution=20, columns=2)
    assert _png_shape(out) == (2 * WIDTH, 2 * HEIGHT)


def test_descent_path_diverged_is_cut(tmp_path):
    points = numpy.array([[0.0, 0.0], [1.0, 1.0], [numpy.inf, 0.0]])
    out = descent_paths(_bowl, {"diverged": points}, tmp_path / "p.png", resolution=10)
    assert _png_shape(out) == (WIDTH, HEIGHT)


def test_descent_path_wrong_shape_refused(tmp_path):
    with pytest.raises(ValueError, match=r"shape \(k, 2\)"):
        descent_paths(_bowl, {"bad": numpy.zeros((3, 3))}, tmp_path / "p.png")
