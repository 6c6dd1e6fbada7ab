"""Notes as files: ``.tex`` or ``.md`` with the figures, and a PDF through ``pdflatex``."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from symgd.limits import run_process
from symgd.notes.catalogue import build_notes
from symgd.notes.document import Notes, to_markdown, to_tex
from symgd.notes.slides import to_beamer

__all__ = ["compile_pdf", "figures_folder", "write_notes"]


#: The job name every document is compiled under: a file name never reaches TeX as input.
JOB_NAME = "notes"


def compile_pdf(tex: str | Path) -> Path:
    """Compile a ``.tex`` file with ``pdflatex`` (twice, for references) into a PDF beside it.

    The file is compiled as ``notes.tex`` in a temporary folder, so that its name (which may
    hold TeX such as ``\\input{...}``) is never read by TeX; figures are found relative to
    the ``.tex`` file's folder (``TEXINPUTS``). The ``.pdf`` and the log (``<name>.log``) come
    back beside the ``.tex``.

    Args:
        tex: The ``.tex`` file.

    Returns:
        The ``.pdf`` path.

    Raises:
        FileNotFoundError: ``pdflatex`` is not installed (one line, with the fix).
        ValueError: The document holds a character pdflatex cannot typeset (CJK, emoji …).
        RuntimeError: ``pdflatex`` reported another error (its first error line).
    """
    tex = Path(tex)
    if shutil.which("pdflatex") is None:
        raise FileNotFoundError(
            "pdflatex is not installed; install it (Debian: apt-get install texlive-latex-base "
            "texlive-latex-recommended) or write .tex and compile it elsewhere"
        )
    command = [
        "pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape",
        f"-jobname={JOB_NAME}", f"./{JOB_NAME}.tex",
    ]  # fmt: skip
    # The trailing separator keeps TeX's own search path after the document's folder.
    # The working folder first: a notes.tex beside the user's file must never be read instead.
    folders = [".", str(tex.parent.resolve()), ""]
    environment = dict(os.environ, TEXINPUTS=os.pathsep.join(folders))
    with tempfile.TemporaryDirectory(prefix="symgd-pdf-") as folder:
        work = Path(folder)
        shutil.copyfile(tex, work / f"{JOB_NAME}.tex")
        for _ in range(2):
            result = run_process(command, cwd=work, env=environment, timeout=300)
            log = work / f"{JOB_NAME}.log"
            if log.exists():
                shutil.copyfile(log, tex.with_suffix(".log"))
            if result.returncode != 0:
                raise _pdflatex_error(tex, result.stdout)
        pdf = tex.with_suffix(".pdf")
        shutil.move(work / f"{JOB_NAME}.pdf", pdf)
    return pdf


def _pdflatex_error(tex: Path, output: str) -> Exception:
    """The error of a failed run: a character it cannot typeset is bad input, not a failure."""
    lines = output.splitlines()
    errors = [line for line in lines if line.startswith("!")]
    first = (errors or ["see its log"])[0]
    unicode = re.search(r"Unicode character (.+?) \(U\+([0-9A-Fa-f]+)\)", output)
    if unicode:
        return ValueError(
            f"the notes contain the character U+{unicode.group(2).upper()} "
            f"({chr(int(unicode.group(2), 16))}), which pdflatex "
            f"cannot typeset with the installed LaTeX packages (CJK and emoji need other "
            f"fonts); remove it, or write .tex or .md and compile with xelatex or lualatex"
        )
    if "Invalid UTF-8" in first:
        return ValueError(f"the notes are not valid UTF-8 text ({first.lstrip('! ')})")
    return RuntimeError(f"pdflatex failed on {tex.name}: {first}")


def figures_folder(path: str | Path) -> Path:
    r"""Where the figures of the notes file ``path`` go: ``<stem>-figures`` beside it.

    Characters that TeX reads as commands in a file name (``\ { } % $ # & ^ ~``, spaces,
    control characters) are replaced by ``_`` in the folder's name, so that
    ``\includegraphics`` only ever sees a plain path.

    Example:
        >>> figures_folder("out/notes.pdf").as_posix()
        'out/notes-figures'
        >>> figures_folder("out/\\input{hostname}.pdf").as_posix()
        'out/_input_hostname_-figures'
    """
    path = Path(path)
    return path.parent / f"{re.sub(r'[^A-Za-z0-9._+-]', '_', path.stem)}-figures"


def write_notes(
    notes_or_topic: Notes | str, path: str | Path, *, pdf: bool = False, slides: bool = False
) -> list[Path]:
    """Write a note as ``.tex`` or ``.md`` (by suffix), with its figures; optionally a PDF.

    A topic name is built with its figures in ``<stem>-figures/`` next to ``path``
    (:func:`figures_folder`).

    Args:
        notes_or_topic: A :class:`~symgd.notes.document.Notes` or a key of the catalogue.
        path: ``FILE.tex``, ``FILE.md`` or ``FILE.pdf`` (the ``.tex`` is kept beside it).
        pdf: Also compile the ``.tex`` with ``pdflatex``.
        slides: Write Beamer slides (:func:`~symgd.notes.slides.to_beamer`) instead of an
            article; ``.tex`` or ``.pdf`` only.

    Returns:
        The files written (document first).

    Raises:
        ValueError: Another suffix, an unknown topic, or a character pdflatex cannot typeset.
        RuntimeError: ``pdflatex`` reported an error.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".tex", ".md", ".pdf"):
        raise ValueError(f"notes file {path.name!r} must end in .tex, .md or .pdf")
    if slides and suffix == ".md":
        raise ValueError(f"slides are Beamer LaTeX: write {path.stem}.tex or {path.stem}.pdf")
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(notes_or_topic, str):
        notes = build_notes(notes_or_topic, figures_folder(path))
    else:
        notes = notes_or_topic
    if suffix == ".md":
        path.write_text(to_markdown(notes, relative_to=path.parent), encoding="utf-8")
        return [path, *notes.figures]
    tex = path.with_suffix(".tex")
    writer = to_beamer if slides else to_tex
    tex.write_text(writer(notes, relative_to=path.parent), encoding="utf-8")
    written = [tex]
    if pdf or suffix == ".pdf":
        written.insert(0, compile_pdf(tex))
    return [*written, *notes.figures]
