r"""Verdicts on hand-computed matrix gradients: the element that differs, and the NumPy text.

A matrix answer's verdict is an :class:`~symgd.verify.report.AnswerCheck` that also carries the
answer and the correct gradient in NumPy notation (:class:`TensorAnswerCheck`); its
counterexample names the sizes and the element where the two differ
(:class:`TensorCounterexample`), e.g. ``∂J/∂w[1] at d=2, m=3: yours 0.41, correct 0.23``.

Example:
    >>> x = TensorCounterexample({}, 0.41, 0.23, element="w[1]", sizes={"d": 2, "m": 3})
    >>> x.sentence("w")
    '∂J/∂w[1] at d=2, m=3: yours 0.41, correct 0.23'
"""

from __future__ import annotations

from dataclasses import dataclass, field

from symgd.verify.report import AnswerCheck, AnswerReport, Counterexample


@dataclass(frozen=True)
class TensorCounterexample(Counterexample):
    """Where a wrong matrix answer differs: sizes, one element, both values, the arrays.

    Attributes:
        element: The element, e.g. ``"w[1]"`` (the parameter's name for a scalar).
        sizes: The size of each shape letter at the point.
    """

    element: str = ""
    sizes: dict[str, int] = field(default_factory=dict)

    def sentence(self, param: str) -> str:
        """One line: ``∂J/∂w[1] at d=2, m=3: yours 0.41, correct 0.23``."""
        where = ", ".join(f"{k}={n}" for k, n in self.sizes.items())
        at = f" at {where}" if where else ""
        return (
            f"∂J/∂{self.element or param}{at}: yours {self.answer:.6g}, correct {self.correct:.6g}"
        )

    def to_dict(self) -> dict:
        """A JSON-ready dictionary: the point's arrays, sizes, element and both values."""
        return {**super().to_dict(), "element": self.element, "sizes": dict(self.sizes)}


@dataclass(frozen=True)
class TensorAnswerCheck(AnswerCheck):
    """An :class:`~symgd.verify.report.AnswerCheck` with the NumPy text of both gradients.

    Attributes:
        answer_text: What was understood, in NumPy notation (the file's label for Python).
        correct_text: The correct gradient in NumPy notation (symgd's input language).
    """

    answer_text: str = ""
    correct_text: str = ""

    def to_dict(self) -> dict:
        """A JSON-ready dictionary: :meth:`AnswerCheck.to_dict` plus both NumPy texts."""
        return {**super().to_dict(), "answer": self.answer_text, "correct": self.correct_text}


@dataclass(frozen=True)
class TensorAnswerReport(AnswerReport):
    """Verdicts for several matrix answers; the derivation is a
    :class:`~symgd.derivation.MatrixDerivation`."""

    def table(self) -> str:
        """Plain text: one line per parameter; for a wrong answer the element that differs, the
        hint and the correct gradient in NumPy notation and LaTeX."""
        lines = []
        for c in self.checks:
            lines.append(f"d/d{c.param}: {c.verdict.upper()} ({c.method})")
            x = c.counterexample
            if isinstance(x, TensorCounterexample):
                lines.append(f"  counterexample {x.sentence(c.param)}")
            if c.hint is not None:
                lines.append(f"  hint ({c.hint.mistake}): {c.hint.message}")
            if c.verdict == "wrong" and isinstance(c, TensorAnswerCheck):
                lines.append(f"  correct: {c.correct_text}")
                lines.append(f"  LaTeX:   {c.correct_latex}")
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        return "\n\n".join(c._repr_markdown_() for c in self.checks)
