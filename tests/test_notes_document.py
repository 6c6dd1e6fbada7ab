"""symgd.notes.document and symgd.notes.files: writers, notation, escaping, pdflatex."""

from __future__ import annotations

import re

import numpy
import pytest

from symgd.define import linear_regression, objective
from symgd.notes import Notation, build_notes, custom_notes, to_tex, write_notes
from symgd.parse import ParseError


def test_markdown_links_its_figures(tmp_path):
    data = {"x": numpy.linspace(-1, 1, 30), "y": 2 * numpy.linspace(-1, 1, 30) + 1}
    note = custom_notes(
        linear_regression(), data=data, learning_rate=0.5, epochs=10, figures=tmp_path / "figs"
    )
    written = write_notes(note, tmp_path / "custom.md")
    text = written[0].read_text(encoding="utf-8")
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(links) == 3 and all((tmp_path / link).exists() for link in links)
    assert "```python" in text and "mathrm{gradient}" in text


def test_custom_notes_compile(pdflatex):
    obj = objective("(y - w*x)**2", "w", "x,y")
    note = custom_notes(obj, title="A & B: 100% \\input{x}")
    tex = to_tex(note)
    assert "\\input{x}" not in tex and r"\textbackslash{}input" in tex
    pdflatex(tex)


# ---------------------------------------------------------------- hostile input


@pytest.mark.parametrize(
    "params", [r"w,\input{/etc/hostname}", "w,b}", "w,$b$", "w,b\\\\", "w,exp"]
)
def test_hostile_symbol_names_are_refused(params):
    with pytest.raises(ParseError):
        objective("(y - w*x)**2", params, "x,y")


def test_hostile_rename_is_refused():
    with pytest.raises(ParseError):
        Notation(renames={"w": r"\input{/etc/hostname}"})
    note = build_notes("linear-regression", code=False, notation=Notation(renames={"alpha": "eta"}))
    tex = to_tex(note)
    assert r"\eta \frac{\partial J}{\partial w}" in tex and r"\alpha \frac" not in tex
