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
        difference: ``answer - correct`` computed in 50 digits (visible when it is too small
            for the two floats to differ), or ``None``.
    """

    point: dict[str, Any]
    answer: float
    correct: float
    difference: float | None = None

    def to_dict(self) -> dict:
        """A JSON-ready dictionary."""
        data = {"point": self.point, "answer": self.answer, "correct": self.correct}
        if self.difference is not None:
            data["difference"] = self.difference
        return data


@dataclass(frozen=True)
class Hint:
    """A common mistake the wrong answer matches.

    Attributes:
        mistake: The name of the row of :data:`symgd.verify.mistakes.MISTAKES` that reproduces the
            answer: ``"wrong sign"``, ``"factor 1/m"``, ``"constant factor"``,
            ``"forgotten regularisation"``, ``"regularisation factor"``,
            ``"missing chain-rule factor"``, ``"extra chain-rule factor"``, ``"missing term"``,
            ``"wrong power"``, ``"swapped prediction"``, ``"another parameter"`` or
            ``"swapped variables"``.
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
        confidence: For a sampled verdict on an analytic difference, :math:`1 - 2^{-N}` for
            :math:`N` random points; ``None`` for a symbolic verdict and for a difference with
            kinks or steps (sampling gives no bound there).
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


GRADES = ("correct", "wrong", "unreadable", "undecided", "missing")
"""The verdicts a class gradebook uses: a check's verdict, or why there is none."""


@dataclass(frozen=True)
class Grade:
    """One student's grade for one parameter.

    Attributes:
        verdict: One of :data:`GRADES`.
        reason: The hint (wrong), the parser's message (unreadable), the method (undecided).
        check: The full verdict, when the answer could be read.
    """

    verdict: str
    reason: str = ""
    check: AnswerCheck | None = field(default=None, repr=False)

    @classmethod
    def of(cls, check: AnswerCheck) -> Grade:
        """The grade of a verdict: the hint as the reason for a wrong answer."""
        if check.verdict == "wrong":
            reason = check.hint.message if check.hint else ""
        else:
            reason = "" if check.verdict == "correct" else check.method
        return cls(check.verdict, reason, check)

    @property
    def mistake(self) -> str | None:
        """The mistake a wrong answer matches (``"no hint"`` when none does), else ``None``."""
        if self.verdict != "wrong":
            return None
        hint = self.check.hint if self.check is not None else None
        return hint.mistake if hint else "no hint"

    def to_dict(self) -> dict:
        """A JSON-ready dictionary: the full verdict, or the verdict and its reason."""
        if self.check is not None:
            return self.check.to_dict()
        return {"verdict": self.verdict, "reason": self.reason}


@dataclass(frozen=True)
class ClassReport:
    """A class graded at once: one :class:`Grade` per student and parameter, and a summary.

    Attributes:
        params: The parameters, in gradebook order.
        students: ``(student, {param: Grade})`` in the order of the answers file.
    """

    params: tuple[str, ...]
    students: tuple[tuple[str, dict[str, Grade]], ...]

    @property
    def passed(self) -> bool:
        """Whether every student answered every parameter correctly."""
        return all(
            grades[p].verdict == "correct" for _, grades in self.students for p in self.params
        )

    def summary(self) -> dict:
        """Counts per verdict and per mistake, for each parameter.

        Returns:
            ``{"students": n, "all correct": k, "verdicts": {param: {verdict: count}},
            "mistakes": {param: {mistake: count}}}`` (mistakes most frequent first).
        """
        verdicts = {p: dict.fromkeys(GRADES, 0) for p in self.params}
        mistakes: dict[str, dict[str, int]] = {p: {} for p in self.params}
        for _, grades in self.students:
            for p in self.params:
                verdicts[p][grades[p].verdict] += 1
                if grades[p].mistake is not None:
                    mistakes[p][grades[p].mistake] = mistakes[p].get(grades[p].mistake, 0) + 1
        return {
            "students": len(self.students),
            "all correct": sum(
                self._correct(grades) == len(self.params) for _, grades in self.students
            ),
            "verdicts": verdicts,
            "mistakes": {
                p: dict(sorted(m.items(), key=lambda kv: (-kv[1], kv[0])))
                for p, m in mistakes.items()
            },
        }

    def _correct(self, grades: dict[str, Grade]) -> int:
        return sum(grades[p].verdict == "correct" for p in self.params)

    def gradebook(self) -> list[list[str]]:
        """Rows of a gradebook CSV, the header first: student, verdicts, reasons, total."""
        header = ["student", *self.params, *(f"{p} reason" for p in self.params), "total correct"]
        rows = [header]
        for student, grades in self.students:
            rows.append(
                [
                    student,
                    *(grades[p].verdict for p in self.params),
                    *(grades[p].reason for p in self.params),
                    str(self._correct(grades)),
                ]
            )
        return rows

    def to_dict(self) -> dict:
        """A JSON-ready dictionary: ``passed``, every student's verdicts, the summary."""
        return {
            "passed": self.passed,
            "students": {
                student: {p: grades[p].to_dict() for p in self.params}
                for student, grades in self.students
            },
            "summary": self.summary(),
        }

    def table(self) -> str:
        """Plain text: one line per student, then the summary."""
        width = max([len("student")] + [len(s) for s, _ in self.students])
        lines = [f"{'student':<{width}}  " + "  ".join(f"{p:<10}" for p in self.params) + "  hints"]
        for student, grades in self.students:
            notes = "; ".join(
                f"{p}: {grades[p].mistake or grades[p].reason}"
                for p in self.params
                if grades[p].verdict in ("wrong", "unreadable", "undecided")
            )
            verdicts = "  ".join(f"{grades[p].verdict:<10}" for p in self.params)
            lines.append(f"{student:<{width}}  {verdicts}  {notes}".rstrip())
        summary = self.summary()
        lines += [
            "",
            f"summary: {summary['students']} students, {summary['all correct']} all correct",
        ]
        lines.append(f"{'parameter':<10}  " + "  ".join(f"{g:>10}" for g in GRADES))
        for p in self.params:
            counts = summary["verdicts"][p]
            lines.append(f"{p:<10}  " + "  ".join(f"{counts[g]:>10}" for g in GRADES))
        for p in self.params:
            for mistake, number in summary["mistakes"][p].items():
                lines.append(f"mistake {p}: {mistake}: {number}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def summary_markdown(self) -> str:
        """The summary as Markdown tables: verdicts per parameter, then mistakes."""
        summary = self.summary()
        lines = [
            f"**{summary['students']} students, {summary['all correct']} all correct**",
            "",
            "| parameter | " + " | ".join(GRADES) + " |",
            "| --- |" + " ---: |" * len(GRADES),
        ]
        for p in self.params:
            counts = summary["verdicts"][p]
            lines.append(f"| {p} | " + " | ".join(str(counts[g]) for g in GRADES) + " |")
        mistakes = [(p, m, n) for p in self.params for m, n in summary["mistakes"][p].items()]
        if mistakes:
            lines += ["", "| parameter | mistake | students |", "| --- | --- | ---: |"]
            lines += [f"| {p} | {m} | {n} |" for p, m, n in mistakes]
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        return self.summary_markdown()
