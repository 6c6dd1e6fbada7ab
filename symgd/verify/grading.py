r"""A class graded at once: every student's answers, a summary and a gradebook.

Each distinct answer text is checked once per parameter (a class repeats its answers), so a
class of 200 costs as many derivations as it has distinct answers. An answer the parser cannot
read is graded *unreadable* with the parser's one-line message; the other students are graded
as usual.

Example:
    >>> from symgd.derivation import derive
    >>> from symgd.define import linear_regression
    >>> report = check_class(derive(linear_regression()), [
    ...     ("ann", {"b": "w*x + b - y"}), ("bob", {"b": "w*x + b - y)"})])
    >>> [grades["b"].verdict for _, grades in report.students]
    ['correct', 'unreadable']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from symgd import limits
from symgd.derivation import Derivation
from symgd.parse import ParseError
from symgd.verify.answers import check_answer
from symgd.verify.report import ClassReport, Grade


def check_class(
    derivation: Derivation,
    answers: Iterable[tuple[str, Mapping[str, str]]],
    *,
    form: str | None = None,
    seed: int = 0,
    time_budget: float | None = None,
) -> ClassReport:
    """Grade every student's answers; one unreadable answer never stops the others.

    Args:
        derivation: The correct derivation.
        answers: ``(student, {param: answer text})``; a parameter left out is *missing*.
        form: ``"latex"`` for LaTeX text; SymPy syntax otherwise.
        seed: Seed of the random points (the same for every student).
        time_budget: Seconds allowed for each ``simplify``.

    Returns:
        The :class:`~symgd.verify.report.ClassReport`, students in the given order.
    """
    params = tuple(p.name for p in derivation.objective.params)
    cache: dict[tuple[str, str], Grade] = {}

    def grade(param: str, text: str | None) -> Grade:
        if not text or not text.strip():
            return Grade("missing")
        key = (param, text.strip())
        if key not in cache:
            try:
                check = check_answer(
                    derivation, param, key[1], form=form, seed=seed, time_budget=time_budget
                )
                cache[key] = Grade.of(check)
            except ParseError as error:
                cache[key] = Grade("unreadable", str(error))
            except limits.TooComplex as error:
                cache[key] = Grade("undecided", str(error))
        return cache[key]

    students = tuple(
        (student, {p: grade(p, texts.get(p)) for p in params}) for student, texts in answers
    )
    return ClassReport(params, students)
