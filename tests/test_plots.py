"""symgd.render.plots: files are written and are images of the right size."""

from __future__ import annotations

import re
import shutil
import subprocess

import matplotlib.image
import matplotlib.text
import numpy
import pytest

from symgd.render import (
    DPI,
    FIGURE_SIZE,
    descent_paths,
    learning_rate_comparison,
    loss_curves,
    plots,
)
from symgd.render.plots import PATHS_DPI, PATHS_HEIGHT, PATHS_WIDTH

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


def test_descent_paths_fit_the_text_width(tmp_path):
    # Three panels in one row of a page-wide figure (it was 1800 x 400 px: 4 pt text in print).
    paths = {"batch": _path(0.1), "stochastic": _path(0.3), "mini-batch": _path(0.2)}
    out = descent_paths(_bowl, paths, tmp_path / "paths.png", resolution=30)
    width, height = _png_shape(out)
    assert width == round(PATHS_WIDTH * PATHS_DPI) and 0.4 * width < height < 0.7 * width


def test_descent_paths_wrap_into_rows(tmp_path):
    paths = {name: _path(rate) for name, rate in (("a", 0.1), ("b", 0.2), ("c", 0.3))}
    one_row = _png_shape(descent_paths(_bowl, paths, tmp_path / "row.png", resolution=20))
    grid = _png_shape(descent_paths(_bowl, paths, tmp_path / "grid.png", resolution=20, columns=2))
    assert grid[0] == one_row[0] and grid[1] > 1.5 * one_row[1]


def test_many_panels_fit_on_a_page(tmp_path):
    paths = {f"optimiser {k}": _path(0.05 * k) for k in range(1, 7)}
    out = descent_paths(_bowl, paths, tmp_path / "six.png", resolution=20, columns=2)
    assert _png_shape(out)[1] <= PATHS_HEIGHT * PATHS_DPI


def test_descent_path_diverged_is_cut(tmp_path):
    points = numpy.array([[0.0, 0.0], [1.0, 1.0], [numpy.inf, 0.0]])
    out = descent_paths(_bowl, {"diverged": points}, tmp_path / "p.png", resolution=10)
    assert _png_shape(out)[0] == round(PATHS_WIDTH * PATHS_DPI)


def _words(pdf):
    """Each word of a PDF figure with its height in points (poppler's pdftotext)."""
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    page = subprocess.run(
        ["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    found = re.findall(r'yMin="([\d.]+)" xMax="[\d.]+" yMax="([\d.]+)">([^<]*)</word>', page)
    return [(word, float(y1) - float(y0)) for y0, y1, word in found]


def test_descent_path_text_is_at_least_8_points_and_long_paths_are_cut(tmp_path, monkeypatch):
    # The figure is PATHS_WIDTH wide and placed at the text width (no narrower): a font size
    # in the figure is the size on the page.
    drawn = []
    monkeypatch.setattr(plots, "_save", lambda figure, path, dpi=100: drawn.append(figure) or path)
    rng = numpy.random.default_rng(0)
    noisy = numpy.cumsum(rng.normal(0, 0.1, (501, 2)), axis=0)
    paths = {"batch": _path(0.1), "stochastic": noisy}
    descent_paths(_bowl, paths, tmp_path / "paths.png", resolution=30, title="Two paths")
    (figure,) = drawn
    assert figure.get_size_inches()[0] == PATHS_WIDTH
    texts = [t for t in figure.findobj(matplotlib.text.Text) if t.get_text() and t.get_visible()]
    shown = [t.get_text() for t in texts]
    assert "stochastic\nfirst 200 of 500 steps" in shown and "batch\n30 steps" in shown
    assert sum(t.get_text().replace(".", "").isdigit() for t in texts) > 10  # levels, ticks
    small = [(t.get_text(), t.get_size()) for t in texts if t.get_size() < 8]
    assert small == []


def test_learning_rate_legend_has_verdicts_and_final_losses(tmp_path):
    runs = {0.01: [1.0, 0.9, 0.8], 0.5: [1.0, 0.1, 0.05], 9.0: [1.0, 50.0, float("inf")]}
    verdicts = {0.01: "too slow", 0.5: "good", 9.0: "diverging"}
    out = learning_rate_comparison(runs, tmp_path / "rates.pdf", verdicts=verdicts)
    text = " ".join(word for word, _ in _words(out))
    for shown in ("too slow,", "0.8", "good,", "0.05", "diverging,", "inf"):
        assert shown in text


def test_descent_path_wrong_shape_refused(tmp_path):
    with pytest.raises(ValueError, match=r"shape \(k, 2\)"):
        descent_paths(_bowl, {"bad": numpy.zeros((3, 3))}, tmp_path / "p.png")
