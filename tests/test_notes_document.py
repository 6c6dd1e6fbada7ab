"""symgd.notes.document and symgd.notes.files: writers, notation, escaping, pdflatex."""

from __future__ import annotations

import re

import numpy
import pytest

from symgd.define import linear_regression, objective
from symgd.notes import Notation, build_notes, custom_notes, to_tex, write_notes
from symgd.parse import ParseError
from symgd.render.printing import code_listing


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


#: topic: the listing of its loss and gradient, typeset without overfull boxes
LISTED = ["linear-regression", "logistic-regression", "mlp-backprop", "softmax-regression"]


@pytest.mark.parametrize("topic", LISTED)
def test_the_code_listing_fits_the_page(pdflatex, topic):
    tex = to_tex(build_notes(topic))
    assert (
        "\\begin{verbatim}\ndef loss_and_gradient" in tex
        or "\\begin{verbatim}\nimport numpy" in tex
    )
    log = pdflatex(tex).with_suffix(".log").read_text(encoding="latin-1")
    assert "Overfull \\hbox" not in log, re.findall(r"Overfull.*\n.*", log)[:3]


#: source, the type size chosen, the longest line typeset
LISTING_SIZES = [
    ("x = 1\n", r"{\small", 5),
    ("y = " + "x + " * 22 + "x\n", r"{\small", 93),
    ("y = " + "x + " * 24 + "x\n", r"{\footnotesize", 101),
    ("y = " + "x + " * 27 + "x\n", r"{\scriptsize", 113),
    ("y = " + "x + " * 40 + "x\n", r"{\scriptsize", 117),  # 165 characters: broken once
]


@pytest.mark.parametrize(("source", "size", "longest"), LISTING_SIZES)
def test_a_listing_takes_the_largest_type_that_fits(source, size, longest):
    listing = code_listing(source)
    assert listing.startswith(size + "\n")
    code = listing.split("\\begin{verbatim}\n")[1].split("\n\\end{verbatim}")[0]
    assert max(map(len, code.splitlines())) == longest
    assert code.replace(" \\\n", " ").split() == source.split()  # broken lines rejoin
    compile(code, "<listing>", "exec")  # still Python


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


# ---------------------------------------------------------------- file names and titles (issue 15)


def test_an_output_name_is_never_read_by_tex(tmp_path):
    # symgd notes ... -o 'out/\input{hostname}.pdf' made pdflatex run the \input.
    out = tmp_path / "out" / "\\input{hostname}.pdf"
    note = custom_notes(objective("(y - w*x - b)**2/2", "w,b", "x,y"))
    pdf, tex = write_notes(note, out)[:2]
    assert pdf == out and pdf.read_bytes().startswith(b"%PDF")
    assert tex == out.with_suffix(".tex") and tex.exists()
    log = out.with_suffix(".log")
    assert sorted(out.parent.iterdir()) == sorted([out, tex, log])  # no .aux
    assert "hostname.tex" not in log.read_text(encoding="latin-1")


def test_figures_of_a_hostile_output_name_go_to_a_plain_folder(tmp_path):
    out = tmp_path / "\\input{hostname}.pdf"
    pdf, tex, *figures = write_notes("linear-regression", out)
    assert pdf.read_bytes().startswith(b"%PDF") and figures
    assert all(figure.parent == tmp_path / "_input_hostname_-figures" for figure in figures)
    assert "\\input{hostname}" not in tex.read_text(encoding="utf-8")


def test_a_figure_path_tex_would_read_as_commands_is_refused(tmp_path):
    data = {"x": numpy.linspace(-1, 1, 30), "y": 2 * numpy.linspace(-1, 1, 30) + 1}
    note = custom_notes(
        linear_regression(), data=data, learning_rate=0.5, epochs=3,
        figures=tmp_path / "\\input{hostname}-figures",
    )  # fmt: skip
    with pytest.raises(ValueError, match="figure path .* holds characters TeX reads as commands"):
        to_tex(note, relative_to=tmp_path)


@pytest.mark.parametrize("title", ["Notes \x7f DEL", "tab\tnew\nline\n\nblank", "bell\x07 C1\x85"])
def test_titles_with_control_characters_compile(tmp_path, title):
    note = custom_notes(objective("(y - w*x)**2", "w", "x,y"), title=title)
    pdf = write_notes(note, tmp_path / "t.pdf")[0]
    assert pdf.read_bytes().startswith(b"%PDF")


@pytest.mark.parametrize(("title", "code"), [("Notes 你好", "U+4F60"), ("Emoji 😀", "U+1F600")])
def test_titles_pdflatex_cannot_typeset_are_bad_input(tmp_path, title, code):
    note = custom_notes(objective("(y - w*x)**2", "w", "x,y"), title=title)
    with pytest.raises(
        ValueError, match=re.escape(f"the character {code} ({chr(int(code[2:], 16))}), which")
    ):
        write_notes(note, tmp_path / "t.pdf")
    assert (tmp_path / "t.tex").exists()  # the .tex is written; xelatex can take it
