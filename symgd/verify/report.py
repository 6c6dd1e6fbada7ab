r"""Verdicts on hand-computed gradients, and how they show themselves.

:class:`AnswerCheck` is one parameter's verdict, :class:`AnswerReport` several; both are frozen
and render in Jupyter as Markdown. :func:`side_by_side` sets the student's answers next to the
correct ones and the chain-rule derivation, as Markdown or as a LaTeX ``align*`` block.

Example:
    >>> check = AnswerCheck("b", "sympy", "per-example", "correct", "symbolic", "b", "b")
    >>> check.to_dict()["verdict"]
    'correct'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from symgd.derivation import Derivation
from symgd.render import to_latex

Verdict = Literal["correct", "wrong", "undecided"]


@dataclass(frozen=True)
class Counterexample:
    """Where a wrong answer differs: the point (or small data set) and both values.

    Attributes:
        point: Parameter values, and data values (a list per data symbol for a data set).
        answer: The answer's value there (``nan`` where it is undefined).
        correct: The correct gradient's value.
    """

    point: dict[str, Any]
    answer: float
    correct: float

    def to_dict(self) -> dict:
        """A JSON-ready dictionary."""
        return {"point": self.point, "answer": self.answer, "correct": self.correct}


@dataclass(frozen=True)
class Hint:
    """A common mistake the wrong answer matches.

    Attributes:
        mistake: One of ``"wrong sign"``, ``"constant factor"``, ``"factor 1/m"``,
            ``"missing chain-rule factor"``, ``"another parameter"``,
            ``"forgotten regularisation"``, ``"regularisation factor"``, ``"swapped variables"``.
        message: One sentence for the student.
    """

    mistake: str
    message: str


@dataclass(frozen=True)
class AnswerCheck:
    """The verdict on one parameter's answer.

    Attributes:
        param: The parameter name.
        form: ``"sympy"``, ``"latex"``, ``"expression"`` or ``"python"``.
        kind: ``"per-example"`` or ``"dataset"``.
        verdict: ``"correct"``, ``"wrong"`` or ``"undecided"``.
        method: How it was decided.
        confidence: For a randomised identity test, :math:`1 - 2^{-N}`; else ``None``.
        answer_latex: What was understood, as LaTeX (the function's LaTeX for Python).
        correct_latex: The correct gradient of the same kind, as LaTeX.
        counterexample: For a wrong answer.
        hint: For a wrong answer matching a common mistake.
    """

    param: str
    form: str
    kind: str
    verdict: Verdict
    method: str
    answer_latex: str
    correct_latex: str
    confidence: float | None = None
    counterexample: Counterexample | None = None
    hint: Hint | None = None

    def to_dict(self) -> dict:
        """A JSON-ready dictionary."""
        data = {
            "verdict": self.verdict,
            "method": self.method,
            "form": self.form,
            "kind": self.kind,
            "answer_latex": self.answer_latex,
            "correct_latex": self.correct_latex,
        }
        if self.confidence is not None:
            data["confidence"] = self.confidence
        if self.verdict == "wrong":
            data["counterexample"] = self.counterexample and self.counterexample.to_dict()
            data["hint"] = self.hint.message if self.hint else None
            data["mistake"] = self.hint.mistake if self.hint else None
        return data

    def _repr_markdown_(self) -> str:
        return _check_markdown(self)


@dataclass(frozen=True)
class AnswerReport:
    """Verdicts for several parameters, with the derivation they were checked against."""

    checks: tuple[AnswerCheck, ...]
    derivation: Derivation = field(repr=False)

    @property
    def passed(self) -> bool:
        """Whether every answer is correct."""
        return all(c.verdict == "correct" for c in self.checks)

    def to_dict(self) -> dict:
        """A JSON-ready dictionary, one entry per parameter."""
        return {"passed": self.passed, "parameters": {c.param: c.to_dict() for c in self.checks}}

    def table(self) -> str:
        """Plain text: one line per parameter, then counterexamples and hints."""
        lines = []
        for c in self.checks:
            lines.append(f"d/d{c.param}: {c.verdict.upper()} ({c.method})")
            if c.counterexample is not None:
                x = c.counterexample
                lines.append(
                    f"  counterexample {x.point}: your answer {x.answer:.10g}, "
                    f"correct {x.correct:.10g}"
                )
            if c.hint is not None:
                lines.append(f"  hint ({c.hint.mistake}): {c.hint.message}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def _repr_markdown_(self) -> str:
        return side_by_side(self)


def _check_markdown(check: AnswerCheck) -> str:
    mark = {"correct": "✅", "wrong": "❌", "undecided": "❔"}[check.verdict]
    lines = [
        f"**∂/∂{check.param}: {mark} {check.verdict}** — {check.method}",
        "",
        "| your answer | correct |",
        "| --- | --- |",
        f"| ${check.answer_latex}$ | ${check.correct_latex}$ |",
    ]
    if check.counterexample is not None:
        x = check.counterexample
        lines += [
            "",
            f"Counterexample at `{x.point}`: your answer {x.answer:.8g}, correct {x.correct:.8g}.",
        ]
    if check.hint is not None:
        lines += ["", f"Hint: {check.hint.message}."]
    return "\n".join(lines)


def side_by_side(report: AnswerReport, *, format: str = "markdown") -> str:
    r"""The student's answers next to the correct ones, then the chain-rule derivation.

    Args:
        report: From :func:`check_answers`.
        format: ``"markdown"`` (Jupyter, GitHub) or ``"latex"`` (an ``align*`` block).

    Returns:
        The text.

    Example:
        >>> from symgd.derivation import derive
        >>> from symgd.define import linear_regression
        >>> from symgd.verify import check_answers
        >>> report = check_answers(derive(linear_regression()), {"b": "2*(w*x + b - y)"})
        >>> print(side_by_side(report).splitlines()[4])
        | $2 w x + 2 b - 2 y$ | $w x + b - y$ |
    """
    derivation = to_latex(report.derivation, environment="aligned")
    if format == "latex":
        rows = []
        for c in report.checks:
            rows.append(
                rf"\text{{your }} \partial/\partial {c.param} &= {c.answer_latex} "
                rf"\quad \text{{({c.verdict})}} \\"
            )
            rows.append(rf"\text{{correct}} &= {c.correct_latex} \\")
        return (
            "\\begin{align*}\n"
            + "\n".join(rows)
            + "\n\\end{align*}\n"
            + ("\\[\n" + derivation + "\n\\]\n")
        )
    parts = [_check_markdown(c) for c in report.checks]
    parts.append("The correct derivation:\n\n$$\n" + derivation + "\n$$")
    return "\n\n".join(parts)
