"""``symgd demo -o DIR``: the documents include the loss-curve figure they are written beside."""

from __future__ import annotations

import io
import re
import shutil
import subprocess

import pytest

from symgd.cli.scalar import run_demo


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    run_demo(str(folder), stream=io.StringIO())
    return folder


@pytest.mark.parametrize(
    ("name", "pattern"),
    [
        ("linear_regression.tex", r"\\includegraphics\[[^]]*\]\{loss_curve\.png\}"),
        ("linear_regression.md", r"!\[Training loss J per epoch[^]]*\]\(loss_curve\.png\)"),
    ],
)
def test_documents_include_the_loss_curve(demo_folder, name, pattern):
    assert (demo_folder / "loss_curve.png").stat().st_size > 5000
    text = (demo_folder / name).read_text(encoding="utf-8")
    assert re.search(pattern, text), text[-400:]
    assert re.search(r"J = \d\.\d{6} after \d+ epochs", text)  # the measured numbers


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_demo_tex_compiles_with_its_figure(demo_folder):
    done = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "linear_regression.tex"],
        cwd=demo_folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    log = (demo_folder / "linear_regression.log").read_text(encoding="latin-1")
    assert done.returncode == 0, log[-2000:]
    assert "loss_curve.png" in log and "Overfull" not in log  # the image was read
