r"""Lecture notes as Beamer slides: one derivation step per overlay.

:func:`to_beamer` walks the same document model as :func:`~symgd.notes.document.to_tex` and
reuses the LaTeX each part already has (render's printer, through the document writer):

* a block of equations becomes a frame (or several, at most :data:`STEPS_PER_FRAME` lines
  each) whose lines appear one per overlay, ``\uncover<k->`` around each cell of the
  ``align*`` row (``\pause`` does not work inside ``align``);
* prose becomes a short frame, or the lead line of the frame that follows it;
* a figure becomes a frame, its image capped at the frame's height;
* code becomes a ``fragile`` frame with a ``verbatim`` listing, split between frames when long;
* a block rendered by another stage becomes a frame that breaks across slides when long.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from symgd.notes.document import (
    Code,
    Equation,
    Figure,
    Notes,
    Prose,
    Rendered,
    Section,
    fit_width,
    tex_part,
)
from symgd.render.printing import PACKAGES, align, escape_tex

__all__ = ["STEPS_PER_FRAME", "to_beamer"]

#: Most derivation lines (overlays) on one frame; a longer block continues on the next frame.
STEPS_PER_FRAME = 5
#: Most notation rows on one frame.
_NOTATION_ROWS = 9
#: Most code lines on one frame.
_CODE_LINES = 16
#: Prose up to this many characters is the lead line of the frame that follows it.
_LEAD = 260
#: Consecutive paragraphs up to this many characters share a frame.
_PROSE = 650

#: render's document packages (:data:`symgd.render.printing.PACKAGES`) and the slide settings.
_PREAMBLE = (
    "\\documentclass[11pt,aspectratio=169]{beamer}\n"
    f"{PACKAGES}"
    "\\usepackage{array}\n"
    "\\allowdisplaybreaks\n"
    "\\setbeamertemplate{navigation symbols}{}\n"
    "\\setbeamertemplate{footline}[frame number]\n"
    "\\setbeamertemplate{caption}{\\raggedright\\footnotesize\\insertcaption\\par}\n"
    "\\newsavebox{\\symgdlisting}\n"
)


def to_beamer(notes: Notes, *, relative_to: str | Path | None = None) -> str:
    r"""The note as Beamer slides (16:9) that compile with ``pdflatex``.

    Args:
        notes: From :func:`symgd.notes.build_notes` or :func:`symgd.notes.custom_notes`.
        relative_to: Folder of the ``.tex`` file; figure paths are written relative to it.

    Returns:
        The ``.tex`` source.

    Example:
        >>> from symgd.notes.document import Equation, Section
        >>> block = (Equation("eq:y", "y", ("a + b", "c")),)
        >>> tex = to_beamer(Notes("demo", "Demo", (), (Section("Steps", (block,)),), {}, ()))
        >>> print("\n".join(line for line in tex.splitlines() if "uncover" in line))
        \uncover<1->{y} &\uncover<1->{{} = a + b} \\
        \uncover<2->{} &\uncover<2->{{} = c}
    """
    title = escape_tex(" ".join(notes.title.split()))
    frames = [_frame("", "\\titlepage")]
    rows = [f"${shown}$ & {escape_tex(meaning)} \\\\" for shown, meaning in notes.notation]
    for start in range(0, len(rows), _NOTATION_ROWS):
        table = [
            "\\begin{center}\\small",
            "\\begin{tabular}{c>{\\raggedright\\arraybackslash}p{0.7\\linewidth}}",
            "\\hline",
        ]
        table += [*rows[start : start + _NOTATION_ROWS], "\\hline", "\\end{tabular}"]
        frames.append(_frame("Notation", "\n".join([*table, "\\end{center}"])))
    for section in notes.sections:
        frames.append(f"\\section{{{escape_tex(section.heading)}}}")
        frames += _section_frames(section, relative_to)
    return (
        f"{_PREAMBLE}\\title{{{title}}}\n\\date{{}}\n\\begin{{document}}\n"
        + "\n\n".join(frames)
        + "\n\\end{document}\n"
    )


def _frame(title: str, body: str, options: str = "") -> str:
    head = f"\\begin{{frame}}{f'[{options}]' if options else ''}"
    head += f"{{{escape_tex(title)}}}" if title else ""
    return f"{head}\n{body}\n\\end{{frame}}"


def _section_frames(section: Section, relative_to: str | Path | None) -> Iterator[str]:
    """The frames of one section; a short paragraph just before a block leads its frame."""
    title = section.heading
    parts = [*section.parts, None]
    prose: list[str] = []  # paragraphs waiting for a frame of their own
    for part, following in zip(parts, parts[1:]):
        if isinstance(part, Prose):
            text = tex_part(part, relative_to)
            introduces = following is not None and not isinstance(following, Prose)
            if prose and (introduces or sum(map(len, prose)) + len(text) > _PROSE):
                yield _frame(title, "\n".join(prose))
                prose = []
            prose.append(text)
            continue
        lead = prose.pop() if prose and len(prose[-1]) <= _LEAD else ""
        if prose:
            yield _frame(title, "\n".join(prose))
            prose = []
        if isinstance(part, tuple):
            yield from _derivation_frames(title, lead, part)
        elif isinstance(part, Code) and not part.latex:
            yield from _code_frames(title, lead, part)
        elif isinstance(part, Figure):
            height = _figure_height(part.caption, lead)
            cap = f"\\setkeys{{Gin}}{{height={height:.2f}\\textheight,keepaspectratio}}\n"
            yield _frame(title, lead + cap + tex_part(part, relative_to))
        else:  # another stage's block may run longer than a frame
            options = "allowframebreaks" if isinstance(part, Rendered) else ""
            yield _frame(title, lead + tex_part(part, relative_to), options)
    if prose:
        yield _frame(title, "\n".join(prose))


def _figure_height(caption: str, lead: str) -> float:
    """The image's height (fraction of the text height) that leaves room for the words.

    A 16:9 frame at 11pt has 252 pt of text height, about 200 pt below the title; a caption
    line (footnotesize) takes 11 pt and holds about 90 characters, a lead line 14 pt and 75.
    """
    caption_lines = -(-len(caption) // 90)
    lead_lines = -(-len(lead) // 75)
    room = 200 - 11 * caption_lines - 14 * lead_lines - 12
    return max(0.3, min(0.7, room / 252))


def _derivation_frames(title: str, lead: str, block: Sequence[Equation]) -> Iterator[str]:
    r"""Frames whose lines appear one per overlay: ``\uncover<k->`` around both cells of a row."""
    rows = [(eq.lhs if n == 0 else "", rhs) for eq in block for n, rhs in enumerate(eq.rhs)]
    for start in _chunks(block):
        chunk = rows[start[0] : start[1]]
        lines = [
            f"\\uncover<{k}->{{{lhs}}} &\\uncover<{k}->{{{{}} = {fit_width(rhs)}}}"
            for k, (lhs, rhs) in enumerate(chunk, start=1)
        ]
        yield _frame(title, lead + align(lines))


def _chunks(block: Sequence[Equation]) -> list[tuple[int, int]]:
    """Line ranges of the frames: whole equations together, at most STEPS_PER_FRAME lines."""
    ranges: list[tuple[int, int]] = []
    start = end = 0
    for eq in block:
        if end - start + len(eq.rhs) > STEPS_PER_FRAME and end > start:
            ranges.append((start, end))
            start = end
        end += len(eq.rhs)
        while end - start > STEPS_PER_FRAME:  # one chain longer than a frame
            ranges.append((start, start + STEPS_PER_FRAME))
            start += STEPS_PER_FRAME
    if end > start:
        ranges.append((start, end))
    return ranges


def _code_frames(title: str, lead: str, code: Code) -> Iterator[str]:
    """Fragile frames of the listing, in pieces that fit a frame (:func:`_code_pieces`).

    Each piece is set in a box as wide as the source's longest line at render's largest
    listing size (a typewriter character is 0.525 em) and shrunk to the frame only when
    wider, so every piece of one listing has the same type size.
    """
    lines = code.source.rstrip().splitlines()
    longest = max(map(len, lines), default=0)
    lead = f"{lead}\\par\\medskip\n" if lead else ""
    for piece in _code_pieces(lines):
        listing = tex_part(Code(code.caption, "", "\n".join(piece)), None)
        body = (
            f"{lead}\\begin{{lrbox}}{{\\symgdlisting}}\\small\\ttfamily"
            f"\\begin{{minipage}}{{{0.525 * (longest + 1):.3f}em}}\n"
            f"{listing}\n\\end{{minipage}}\\end{{lrbox}}\n"
            "\\resizebox{\\ifdim\\wd\\symgdlisting>\\linewidth\\linewidth"
            "\\else\\wd\\symgdlisting\\fi}{!}{\\usebox{\\symgdlisting}}"
        )
        lead = ""
        yield _frame(title, body, "fragile")


def _code_pieces(lines: list[str]) -> list[list[str]]:
    """Pieces of at most ``_CODE_LINES`` lines, cut at a blank line in reach, else evenly.

    Cutting evenly leaves no function with a line or two on a frame of its own.

    Example:
        >>> [len(piece) for piece in _code_pieces(["x = 1"] * 22)]
        [11, 11]
        >>> [len(p) for p in _code_pieces(["a"] * 5 + [""] + ["b"] * 14)]
        [5, 14]
    """
    pieces, start = [], 0
    while len(lines) - start > _CODE_LINES:
        rest = len(lines) - start
        even = -(-rest // -(-rest // _CODE_LINES))
        blanks = [
            i for i in range(start + 2, start + _CODE_LINES + 1) if not lines[i].strip()
        ]  # fmt: skip
        cut = blanks[-1] if blanks else start + even
        pieces.append(lines[start:cut])
        start = cut
        while start < len(lines) and not lines[start].strip():
            start += 1
    pieces.append(lines[start:])
    return [piece for piece in pieces if any(line.strip() for line in piece)]
