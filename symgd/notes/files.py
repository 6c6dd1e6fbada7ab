"""Notes as files: ``.tex`` or ``.md`` with the figures, and a PDF through ``pdflatex``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from symgd.notes.catalogue import build_notes
from symgd.notes.document import Notes, to_markdown, to_tex

__all__ = ["compile_pdf", "write_notes"]


def compile_pdf(tex: str | Path) -> Path:
    """Compile a ``.tex`` file with ``pdflatex`` (twice, for references) next to it.

    Args:
        tex: The ``.tex`` file.

    Returns:
        The ``.pdf`` path.

    Raises:
        FileNotFoundError: ``pdflatex`` is not installed (one line, with the fix).
        RuntimeError: ``pdflatex`` reported an error (its first error line).
    """
    tex = Path(tex)
    if shutil.which("pdflatex") is None:
        raise FileNotFoundError(
            "pdflatex is not installed; install it (Debian: apt-get install texlive-latex-base "
            "texlive-latex-recommended) or write .tex and compile it elsewhere"
        )
    command = ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape"]
    for _ in range(2):
        result = subprocess.run(
            [*command, tex.name], cwd=tex.parent, capture_output=True, text=True, timeout=300
        )
        if result.returncode != 0:
            errors = [line for line in result.stdout.splitlines() if line.startswith("!")]
            raise RuntimeError(f"pdflatex failed on {tex.name}: {(errors or ['see its log'])[0]}")
    return tex.with_suffix(".pdf")


def write_notes(notes_or_topic: Notes | str, path: str | Path, *, pdf: bool = False) -> list[Path]:
    """Write a note as ``.tex`` or ``.md`` (by suffix), with its figures; optionally a PDF.

    A topic name is built with its figures in ``<stem>-figures/`` next to ``path``.

    Args:
        notes_or_topic: A :class:`~symgd.notes.document.Notes` or a key of the catalogue.
        path: ``FILE.tex``, ``FILE.md`` or ``FILE.pdf`` (the ``.tex`` is kept beside it).
        pdf: Also compile the ``.tex`` with ``pdflatex``.

    Returns:
        The files written (document first).

    Raises:
        ValueError: Another suffix, or an unknown topic.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".tex", ".md", ".pdf"):
        raise ValueError(f"notes file {path.name!r} must end in .tex, .md or .pdf")
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(notes_or_topic, str):
        notes = build_notes(notes_or_topic, path.parent / f"{path.stem}-figures")
    else:
        notes = notes_or_topic
    if suffix == ".md":
        path.write_text(to_markdown(notes, relative_to=path.parent), encoding="utf-8")
        return [path, *notes.figures]
    tex = path.with_suffix(".tex")
    tex.write_text(to_tex(notes, relative_to=path.parent), encoding="utf-8")
    written = [tex]
    if pdf or suffix == ".pdf":
        written.insert(0, compile_pdf(tex))
    return [*written, *notes.figures]
