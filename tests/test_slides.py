"""``symgd.notes.slides``: lecture notes as Beamer slides, one derivation step per overlay."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import symgd.cli as cli
from symgd.limits import run_process
from symgd.notes import (
    TOPICS,
    Equation,
    Notes,
    Prose,
    Section,
    build_notes,
    to_beamer,
    write_notes,
)
from symgd.notes.slides import STEPS_PER_FRAME, _chunks


def _compiled(tex: str, folder: Path) -> tuple[int, str]:
    """One pdflatex run (no references to resolve): the page count and the log."""
    (folder / "slides.tex").write_text(tex, encoding="utf-8")
    command = ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "slides.tex"]
    result = run_process(command, cwd=folder, timeout=300)
    log = (folder / "slides.log").read_text(encoding="utf-8", errors="replace")
    assert result.returncode == 0, log[-3000:]
    return _pages(log), log


def _pages(log: str) -> int:
    pages = re.search(r"Output written on \S+ \((\d+) pages?", log)
    assert pages, log[-2000:]
    return int(pages.group(1))


def _overfull(log: str) -> list[str]:
    """Frames taller than the slide, and lines wider than it by more than a hair."""
    boxes = re.findall(r"Overfull \\([hv])box \(([\d.]+)pt too (?:wide|high)", log)
    return [f"{kind}box {size}pt" for kind, size in boxes if kind == "v" or float(size) > 1]


def _note(*counts: int) -> Notes:
    """A note with one block of equations, equation i showing ``counts[i]`` lines."""
    block = tuple(
        Equation(f"eq:{i}", f"y_{{{i}}}", tuple(f"x + {k}" for k in range(count)))
        for i, count in enumerate(counts)
    )
    section = Section("Steps", (Prose("The steps of {0}:", ("y",)), block))
    return Notes("test", "Steps", (("y", "a value"),), (section,), {}, ())


# ---------------------------------------------------------------- overlays


@pytest.mark.parametrize(
    ("counts", "ranges"),
    [
        ((1, 1, 1), [(0, 3)]),
        ((2, 3), [(0, 5)]),
        ((3, 3), [(0, 3), (3, 6)]),  # a whole chain moves to the next frame
        ((7,), [(0, 5), (5, 7)]),  # a chain longer than a frame is cut
        ((1, 7, 1), [(0, 1), (1, 6), (6, 9)]),  # the rest of a cut chain shares a frame
    ],
)
def test_frames_keep_chains_together(counts, ranges):
    assert STEPS_PER_FRAME == 5
    assert _chunks(_note(*counts).sections[0].parts[1]) == ranges


def test_each_line_is_one_overlay(tmp_path):
    """The derivation frame has as many pages as lines: 1 (title) + 1 (notation) + 4."""
    tex = to_beamer(_note(1, 3))
    assert [int(k) for k in re.findall(r"\\uncover<(\d+)->", tex)] == [1, 1, 2, 2, 3, 3, 4, 4]
    pages, log = _compiled(tex, tmp_path)
    assert pages == 2 + 4 and not _overfull(log)


def test_a_long_chain_continues_on_the_next_frame(tmp_path):
    """Seven lines: a frame of 5 overlays and one of 2, so 7 derivation pages in all."""
    tex = to_beamer(_note(7))
    assert tex.count("\\uncover<5->") == 2 and tex.count("\\uncover<6->") == 0
    pages, log = _compiled(tex, tmp_path)
    assert pages == 2 + 7 and not _overfull(log)


# ---------------------------------------------------------------- every topic compiles


@pytest.mark.parametrize("topic", list(TOPICS))
def test_every_topic_compiles_to_slides(topic, tmp_path):
    """Derivations and code of every topic; no frame taller or wider than the slide."""
    notes = build_notes(topic)
    tex = to_beamer(notes)
    steps = sum(
        len(eq.rhs)
        for section in notes.sections
        for part in section.parts
        if isinstance(part, tuple)
        for eq in part
    )
    assert len(re.findall(r"\\uncover<", tex)) == 2 * steps  # every line, both cells
    pages, log = _compiled(tex, tmp_path)
    assert pages >= steps and _overfull(log) == []


# ---------------------------------------------------------------- files and the command


def test_write_notes_refuses_markdown_slides(tmp_path):
    with pytest.raises(ValueError, match="Beamer"):
        write_notes("linear-regression", tmp_path / "talk.md", slides=True)
    assert not (tmp_path / "talk.md").exists()


def test_cli_writes_topic_slides_pdf(tmp_path, capsys):
    """``symgd notes TOPIC -o talk.pdf --slides``: figures on frames, capped in height."""
    out = tmp_path / "talk.pdf"
    assert cli.main(["notes", "linear-regression", "--slides", "-o", str(out)]) == 0
    tex = out.with_suffix(".tex").read_text(encoding="utf-8")
    figures = list((tmp_path / "talk-figures").glob("*.png"))
    assert tex.count("\\includegraphics") == len(figures) > 0
    log = out.with_suffix(".log").read_text(encoding="utf-8", errors="replace")
    assert out.exists() and _pages(log) > 10 and _overfull(log) == []
    assert "wrote" in capsys.readouterr().out


def test_cli_writes_custom_slides_tex(tmp_path):
    out = tmp_path / "talk.tex"
    args = ["notes", "--loss", "(y - w*x - b)**2/2", "--params", "w,b", "--data", "x,y"]
    assert cli.main([*args, "--slides", "-o", str(out)]) == 0
    tex = out.read_text(encoding="utf-8")
    assert tex.startswith("\\documentclass[11pt,aspectratio=169]{beamer}")
    assert "\\uncover<2->" in tex


def test_cli_refuses_markdown_slides_in_one_line(tmp_path, capsys):
    status = cli.main(["notes", "linear-regression", "--slides", "-o", str(tmp_path / "x.md")])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "--slides" in err
    assert not (tmp_path / "x.md").exists()
