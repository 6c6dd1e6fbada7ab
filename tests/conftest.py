"""Shared fixtures: the seed objective and its data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from symgd.compile import compile_objective
from symgd.data import linear_data
from symgd.define import linear_regression
from symgd.derivation import derive
from symgd.limits import run_process


@pytest.fixture(scope="session")
def seed_derivation():
    """The derivation of the seed example (derived once per test session)."""
    return derive(linear_regression())


@pytest.fixture(scope="session")
def compiled(seed_derivation):
    """The seed objective compiled to NumPy (a test module may define its own)."""
    return compile_objective(seed_derivation)


@pytest.fixture
def seed_csv_of(tmp_path):
    """A function writing ``m`` seed examples (noise 0.1, seed 0) to an ``x,y`` CSV file."""

    def write(m: int) -> Path:
        data = linear_data(m=m, noise=0.1, seed=0)
        path = tmp_path / "seed.csv"
        rows = ["x,y"] + [f"{float(x)!r},{float(y)!r}" for x, y in zip(data["x"], data["y"])]
        path.write_text("\n".join(rows) + "\n")
        return path

    return write


@pytest.fixture
def pdflatex(tmp_path):
    """A function compiling a standalone .tex in a temporary folder; returns the PDF path."""
    return lambda source, name="document": compile_latex(source, tmp_path, name)


def compile_latex(source: str, folder: Path, name: str = "document") -> Path:
    """Compile a standalone .tex with the real pdflatex; fail with its log on error."""
    if shutil.which("pdflatex") is None:
        pytest.fail("pdflatex is not installed (Debian: apt-get install texlive-latex-base)")
    tex = folder / f"{name}.tex"
    tex.write_text(source, encoding="utf-8")
    result = run_process(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", tex.name],
        cwd=folder,
        timeout=120,
    )
    log = (
        (folder / f"{name}.log").read_text(encoding="latin-1")
        if (folder / f"{name}.log").exists()
        else ""
    )
    assert result.returncode == 0, f"pdflatex failed:\n{result.stdout[-3000:]}"
    pdf = folder / f"{name}.pdf"
    assert pdf.exists() and pdf.stat().st_size > 1000
    assert "! " not in log, log[-2000:]
    return pdf
