"""Lecture notes on top of the stages: document model, builder, topics, writers."""

from symgd.notes.catalogue import (
    TOPICS as TOPICS,
    Topic as Topic,
    build_notes as build_notes,
    custom_notes as custom_notes,
)
from symgd.notes.code import loop_code as loop_code
from symgd.notes.document import (
    Code as Code,
    Equation as Equation,
    Figure as Figure,
    Notation as Notation,
    Notes as Notes,
    PartialDerivative as PartialDerivative,
    Prose as Prose,
    Rendered as Rendered,
    Section as Section,
    to_markdown as to_markdown,
    to_tex as to_tex,
)
from symgd.notes.files import (
    compile_pdf as compile_pdf,
    figures_folder as figures_folder,
    write_notes as write_notes,
)
from symgd.notes.runs import descent_runs as descent_runs
from symgd.notes.slides import to_beamer as to_beamer

__all__ = [
    "figures_folder",
    "TOPICS",
    "Topic",
    "build_notes",
    "custom_notes",
    "loop_code",
    "Notation",
    "Notes",
    "Section",
    "Prose",
    "Equation",
    "Figure",
    "Code",
    "Rendered",
    "PartialDerivative",
    "to_tex",
    "to_markdown",
    "to_beamer",
    "compile_pdf",
    "write_notes",
    "descent_runs",
]
