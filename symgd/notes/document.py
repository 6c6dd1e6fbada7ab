r"""The document model of a lecture note, and how it is written as LaTeX and as Markdown.

A :class:`Notes` is a title, a notation table and :class:`Section`\ s of parts: prose,
blocks of numbered equations, figures, code, and blocks rendered by another stage. The
LaTeX in the parts comes from render's printer, configured by :class:`Notation`;
:func:`to_tex` places the parts in render's one document preamble and :func:`to_markdown`
writes ``$$`` math and fenced code.

Notation: one convention for every note, written once in :data:`CONVENTIONS` (and as a
table in ``docs/notation.md``); each note states it under its own notation table. Display
names can be changed through :class:`Notation`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import sympy
from sympy.printing.latex import LatexPrinter

from symgd.derivation import Derivation
from symgd.parse import parse_name, symbol
from symgd.render import document, latex
from symgd.render.printing import (
    align,
    code_block,
    code_listing,
    escape_tex,
    latex_printer,
    math_block,
)

__all__ = [
    "CONVENTIONS",
    "Code",
    "Equation",
    "Figure",
    "Notation",
    "Notes",
    "PartialDerivative",
    "Prose",
    "Rendered",
    "Section",
    "fit_width",
    "tex_part",
    "to_markdown",
    "to_tex",
]


#: symgd's notation, stated once: (symbol, meaning, example), symbols and examples in LaTeX.
#: Every note shows it under its own notation table; ``docs/notation.md`` is the same table.
CONVENTIONS: tuple[tuple[str, str, str], ...] = (
    (
        r"\boldsymbol{x}_{i},\ y_{i}",
        "data of one example, its index a subscript",
        r"i = 1, \dots, m",
    ),
    (r"\boldsymbol{w}", "vector: bold lower case", r"\boldsymbol{w} \in \mathbb{R}^{d}"),
    (
        r"\boldsymbol{X}",
        "matrix: bold upper case; one example per row of the data matrix",
        r"\boldsymbol{X} \in \mathbb{R}^{m \times d}",
    ),
    (
        r"\boldsymbol{W}^{(l)}",
        "layer: a bracketed superscript",
        r"\boldsymbol{a}^{(l)},\ \delta^{(l)}",
    ),
    (
        r"\boldsymbol{\theta}^{(t)}",
        "step of gradient descent: a bracketed superscript",
        r"\boldsymbol{\theta}^{(t+1)} = \boldsymbol{\theta}^{(t)} - "
        r"\alpha \nabla J(\boldsymbol{\theta}^{(t)})",
    ),
    (r"\boldsymbol{\theta}", "all the parameters", r"\boldsymbol{\theta} = (\boldsymbol{w}, b)"),
    (r"\alpha", "learning rate", r"\alpha = 0.1"),
    (
        r"\ell,\ J",
        "loss of one example; the objective, their mean",
        r"J = \frac{1}{m} \sum_{i=1}^{m} \ell_{i}",
    ),
    (
        r"\delta",
        "error signal: the derivative of the loss by a pre-activation",
        r"\delta_{k} = \frac{\partial \ell}{\partial z_{k}} = p_{k} - y_{k}",
    ),
    (
        r"\mathbb{1}[\cdot]",
        "indicator: 1 where the condition holds, else 0; also the Kronecker delta, "
        "so that no $\\delta$ clashes with an error signal",
        r"\operatorname{ReLU}'(z) = \mathbb{1}[z > 0],\ \mathbb{1}[j = k]",
    ),
    (
        r"\lambda",
        "strength of a penalty, on the weights: the bias is not penalised unless asked",
        r"J + \frac{\lambda}{2} \lVert \boldsymbol{w} \rVert^{2}",
    ),
    (r"\odot", "element-wise product", r"\boldsymbol{p} \odot (1 - \boldsymbol{p})"),
)


@dataclass(frozen=True)
class Notation:
    r"""Display names, applied by configuring the printer (never by editing LaTeX).

    Attributes:
        renames: Symbol name -> the name to show instead, e.g. ``{"alpha": "eta"}``
            shows the learning rate as :math:`\eta`. Both must be valid symbol names
            (``[A-Za-z][A-Za-z0-9_]*``); the shown LaTeX is SymPy's for the new name.
    """

    renames: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        checked = {parse_name(old): parse_name(new) for old, new in self.renames.items()}
        object.__setattr__(self, "renames", checked)

    def printer(self) -> LatexPrinter:
        """render's LaTeX printer with the renamed symbols (by name, whatever their assumptions)."""
        names = {old: latex(symbol(new)) for old, new in self.renames.items()}
        return latex_printer(symbol_names=names, long_frac_ratio=1)


class PartialDerivative(sympy.Function):
    r"""``∂a/∂b`` shown as :math:`\frac{\partial a}{\partial b}`, a symbol inside printed formulas.

    A third argument is the point where the derivative is taken, shown in brackets after it.

    Example:
        >>> latex(PartialDerivative(sympy.Symbol("J"), sympy.Symbol("w")))
        '\\frac{\\partial J}{\\partial w}'
        >>> latex(PartialDerivative(sympy.Symbol("J"), sympy.Symbol("w"), sympy.Symbol("theta")))
        '\\frac{\\partial J}{\\partial w}\\left(\\theta\\right)'
    """

    def _latex(self, printer, exp=None):
        top, bottom, *point = (printer._print(a) for a in self.args)
        shown = rf"\frac{{\partial {top}}}{{\partial {bottom}}}"
        if point:
            shown += rf"\left({point[0]}\right)"
        return shown if exp is None else rf"\left({shown}\right)^{{{exp}}}"


@dataclass(frozen=True)
class Prose:
    """A paragraph. ``math`` pieces (LaTeX from the printer) replace ``{0}``, ``{1}`` …"""

    text: str
    math: tuple[str, ...] = ()


@dataclass(frozen=True)
class Equation:
    """One numbered equation ``lhs = rhs[0] = rhs[1] …`` with a label."""

    label: str
    lhs: str
    rhs: tuple[str, ...]


@dataclass(frozen=True)
class Figure:
    """A figure file (PNG) with its caption, relative to the document's folder."""

    path: Path
    caption: str
    label: str
    width: float = 0.8


@dataclass(frozen=True)
class Code:
    """Code shown in the note: Python ``source``, and ``latex`` when it is shown as math.

    Without ``latex`` (the loss and gradient) the source is a listing: ``verbatim`` in LaTeX,
    a fenced ``python`` block in Markdown. With it (the descent loop, by latexify-py) the
    LaTeX is set as math in both, and the source is kept for the tests that run it.
    """

    caption: str
    latex: str
    source: str


@dataclass(frozen=True)
class Rendered:
    """A block rendered by another symgd module: its LaTeX (document body) and Markdown."""

    tex: str
    markdown: str


Part = Prose | tuple[Equation, ...] | Figure | Code | Rendered


@dataclass(frozen=True)
class Section:
    """A titled part of the notes."""

    heading: str
    parts: tuple[Part, ...]


@dataclass(frozen=True)
class Notes:
    """A lecture note: sections built from derivations, plus what the tests check.

    Attributes:
        topic: The catalogue key (``"custom"`` for custom notes).
        title: Plain-text title.
        notation: ``(LaTeX symbol, meaning)`` rows of the notation table.
        sections: The body.
        formulas: Named SymPy results shown in the note, e.g. ``"dJ/dw"``.
        derivations: The derivations the note shows.
        figures: The figure files written while building.
    """

    topic: str
    title: str
    notation: tuple[tuple[str, str], ...]
    sections: tuple[Section, ...]
    formulas: Mapping[str, sympy.Expr]
    derivations: tuple[Derivation, ...]
    figures: tuple[Path, ...] = ()

    def _repr_markdown_(self) -> str:
        return to_markdown(self)

    def __repr__(self) -> str:
        return f"Notes({self.topic!r}, sections={len(self.sections)}, figures={len(self.figures)})"


# ---------------------------------------------------------------------------- writers


def _fill(prose: Prose, escape: Callable[[str], str]) -> str:
    """The paragraph with its math pieces in ``$…$`` and the words escaped."""
    out = []
    for piece in re.split(r"(\{\d+\})", prose.text):
        found = re.fullmatch(r"\{(\d+)\}", piece)
        out.append(f"${prose.math[int(found.group(1))]}$" if found else escape(piece))
    return "".join(out)


def words_and_math(text: str) -> str:
    r"""Text for LaTeX: the words escaped, the ``$…$`` pieces (inline maths) kept as they are.

    Notation meanings and figure captions may hold inline maths this way.

    Example:
        >>> words_and_math(r"weight of class $k$ & its bias $b_{k}$")
        'weight of class $k$ \\& its bias $b_{k}$'
    """
    pieces = re.split(r"(\$[^$]*\$)", text)
    return "".join(p if p.startswith("$") and p.endswith("$") else escape_tex(p) for p in pieces)


def _lines(block: Sequence[Equation], *, tex: bool) -> list[str]:
    """``lhs &= rhs`` lines of an equation block; in LaTeX, each equation numbered once."""
    lines = []
    for eq in block:
        for n, rhs in enumerate(eq.rhs):
            line = f"{eq.lhs if n == 0 else ''} &= {fit_width(rhs) if tex else rhs}"
            if tex:  # the number (and label) goes on the equation's last line
                line += f" \\label{{{eq.label}}}" if n == len(eq.rhs) - 1 else r" \notag"
            lines.append(line)
    return lines


#: Longest right-hand side (LaTeX characters) set at natural size; longer ones are scaled to fit.
_FIT = 70


def fit_width(rhs: str) -> str:
    """``rhs`` as it is, or shrunk to fit the line when longer than :data:`_FIT` characters."""
    if len(rhs) <= _FIT:
        return rhs
    return (
        r"\resizebox{\ifdim\width>0.78\linewidth 0.78\linewidth\else\width\fi}{!}"
        rf"{{$\displaystyle {rhs}$}}"
    )


def _relative(path: Path, folder: str | Path | None) -> str:
    if folder is None:
        return path.as_posix()
    try:
        return path.resolve().relative_to(Path(folder).resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def to_tex(notes: Notes, *, relative_to: str | Path | None = None) -> str:
    """The note as a standalone LaTeX document (render's preamble: amsmath, graphicx).

    Args:
        notes: From :func:`symgd.notes.build_notes` or :func:`symgd.notes.custom_notes`.
        relative_to: Folder of the ``.tex`` file; figure paths are written relative to it.

    Returns:
        The ``.tex`` source.
    """
    parts = ["\\section*{Notation}", "\\begin{center}", "\\begin{tabular}{cl}", "\\hline"]
    parts += [f"${shown}$ & {words_and_math(meaning)} \\\\" for shown, meaning in notes.notation]
    parts += ["\\hline", "\\end{tabular}", "\\end{center}"]
    parts += [
        "The conventions of all symgd notes (docs/notation.md in symgd):",
        "\\begin{center}",
        "\\small",
        "\\begin{tabular}{cp{6.2cm}l}",
        "\\hline",
    ]
    parts += [
        f"${shown}$ & {words_and_math(meaning)} & ${example}$ \\\\"
        for shown, meaning, example in CONVENTIONS
    ]
    parts += ["\\hline", "\\end{tabular}", "\\end{center}"]
    for section in notes.sections:
        parts.append(f"\\section{{{escape_tex(section.heading)}}}")
        parts += [tex_part(part, relative_to) for part in section.parts]
    return document("\n".join(parts), title=notes.title)


def tex_part(part: Part, relative_to: str | Path | None) -> str:
    """One part of a section as LaTeX (figure paths relative to ``relative_to``)."""
    if isinstance(part, Prose):
        return _fill(part, escape_tex) + "\n"
    if isinstance(part, tuple):
        return align(_lines(part, tex=True), environment="align")
    if isinstance(part, Rendered):
        return part.tex
    if isinstance(part, Figure):
        path = _relative(part.path, relative_to)
        if re.search(r"[\\{}%$#&^~\x00-\x1f\x7f]", path):
            raise ValueError(
                f"figure path {path!r} holds characters TeX reads as commands "
                f"(\\ {{ }} % $ # & ^ ~ or control characters); choose a name without them"
            )
        return (
            "\\begin{figure}[htbp]\n\\centering\n"
            f"\\includegraphics[width={part.width:g}\\linewidth]{{{path}}}\n"
            f"\\caption{{{words_and_math(part.caption)}}}\n\\label{{{part.label}}}\n\\end{{figure}}"
        )
    if not part.latex:
        return code_listing(part.source)
    return (
        "\\begin{center}\n"
        r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}"
        f"{{$\\displaystyle {part.latex}$}}\n"
        "\\end{center}\n"
    )


def to_markdown(notes: Notes, *, relative_to: str | Path | None = None) -> str:
    """The note as Markdown with ``$$`` math (Jupyter, GitHub and most Markdown sites).

    Args:
        notes: From :func:`symgd.notes.build_notes` or :func:`symgd.notes.custom_notes`.
        relative_to: Folder of the ``.md`` file; image paths are written relative to it.

    Returns:
        Markdown text.
    """
    parts = [f"# {notes.title}\n", "## Notation\n", "| symbol | meaning |", "| --- | --- |"]
    parts += [f"| ${shown}$ | {meaning} |" for shown, meaning in notes.notation]
    parts += ["", "The conventions of all symgd notes (docs/notation.md in symgd):", ""]
    parts += ["| symbol | meaning | example |", "| --- | --- | --- |"]
    parts += [f"| ${shown}$ | {meaning} | ${example}$ |" for shown, meaning, example in CONVENTIONS]
    parts.append("")
    for section in notes.sections:
        parts.append(f"## {section.heading}\n")
        parts += [_markdown_part(part, relative_to) for part in section.parts]
    return "\n".join(parts)


def _markdown_part(part: Part, relative_to: str | Path | None) -> str:
    if isinstance(part, Prose):
        return _fill(part, str) + "\n"
    if isinstance(part, tuple):
        return math_block(_lines(part, tex=False))
    if isinstance(part, Figure):
        return f"![{part.caption}]({_relative(part.path, relative_to)})\n"
    if isinstance(part, Rendered):
        return part.markdown + "\n"
    # Code shown as math (the descent loop) is shown once, as in the PDF: not also as source.
    return f"$$\n{part.latex}\n$$\n" if part.latex else code_block(part.source)
