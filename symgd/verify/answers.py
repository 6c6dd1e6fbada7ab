r"""Hand-computed gradients checked against the derivation: verdicts, counterexamples, hints.

An answer for a parameter :math:`\theta` is SymPy syntax, LaTeX, a SymPy expression or a
Python/NumPy function. An answer with a sum over the examples is *dataset level* and is compared
with :math:`\partial J/\partial\theta` (:meth:`~symgd.derive.Derivation.dataset_gradient`); an
answer without one is *per example* and is compared with
:math:`\partial \ell/\partial\theta` (plus :math:`\lambda\theta` for an L2 penalty, so that its
mean over the examples is :math:`\partial J/\partial\theta`). Answers may use the intermediates
(``yhat``, ``p``, ``z``), ``m`` and ``lamda``.

A dataset-level answer :math:`A = \sum_k c_k \sum_i f_k(x_i) + G` (linear in its sums) equals
:math:`\sum_i H(x_i)` with :math:`H = \sum_k c_k f_k + G/m`; two answers agree for every data set
of every size exactly when their :math:`H` agree, so both kinds reduce to comparing expressions.

The verdict: the difference is evaluated at random points in 50-digit arithmetic (mpmath). A
point where it is not zero is a counterexample: *wrong*. When every point agrees, ``simplify``
(under a time budget) proves it *correct* (method ``"symbolic"``); if simplification is
inconclusive the verdict is *correct* by a randomised identity test with confidence
:math:`1 - 2^{-N}` for :math:`N` points (a difference that is not zero on at least half of the
sampled box would have shown; an analytic nonzero difference vanishes only on a set of measure
zero). Too few points where the correct gradient is defined leave the verdict *undecided*.

Example:
    >>> from symgd.derive.scalar import derive
    >>> from symgd.define.objective import linear_regression
    >>> d = derive(linear_regression())
    >>> seed = r"\frac{1}{m}\sum_{i=1}^{m}(w x_i + b - y_i) x_i"
    >>> check_answer(d, "w", seed, form="latex").verdict
    'correct'
    >>> wrong = check_answer(d, "w", "(y - w*x - b)*x")
    >>> wrong.verdict, wrong.hint.mistake
    ('wrong', 'wrong sign')
"""

from __future__ import annotations

import inspect
import math
import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import mpmath
import numpy
import sympy

from symgd.derive.scalar import Derivation, is_zero
from symgd.functions import expand_named_functions
from symgd.parse.expressions import ParseError, symbol
from symgd.parse.latex import EXAMPLE_INDEX, parse_latex, parse_with_sums
from symgd.render.printing import latex

__all__ = [
    "AnswerCheck",
    "AnswerReport",
    "Counterexample",
    "Hint",
    "check_answer",
    "check_answers",
    "read_answer",
    "side_by_side",
]

Verdict = Literal["correct", "wrong", "undecided"]
Form = Literal["sympy", "latex", "expression", "python"]

_DIGITS = 50
_POINTS = 24
_MIN_POINTS = 8
_HINT_POINTS = 8
_RANGE = 2.0


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


class _Context:
    """The symbols and targets of one derivation."""

    def __init__(self, derivation: Derivation) -> None:
        objective = derivation.objective
        self.derivation = derivation
        self.params = objective.params
        self.data = objective.data
        self.m = objective.examples
        self.lamda = objective.l2_symbol
        self.l2 = sympy.Rational(repr(objective.l2)) if objective.l2 else sympy.Integer(0)
        self.table = {s.name: s for s in (*self.params, *self.data)}
        self.table.update({name.name: name for name, _ in objective.intermediates})
        self.table.update({"m": self.m, "lamda": self.lamda})
        self.substitutions = {**objective.substitutions, self.lamda: self.l2}
        self.order = (*self.params, *self.data, self.m)

    def param(self, name: str | sympy.Symbol) -> sympy.Symbol:
        name = name.name if isinstance(name, sympy.Symbol) else name
        for p in self.params:
            if p.name == name:
                return p
        raise ParseError(f"{name!r} is not a parameter (parameters: {_names(self.params)})")

    def parts(self, param: sympy.Symbol, kind: str) -> tuple[sympy.Expr, sympy.Expr, sympy.Expr]:
        """``(s, g, R)`` with the target ``T = s g + R`` of the given kind."""
        objective = self.derivation.objective
        g = self.derivation.gradient[param]
        if kind == "dataset":
            s = 1 / self.m if objective.reduction == "mean" else sympy.Integer(1)
            return s, g, self.l2 * param / self.m
        reg = self.l2 * param if objective.reduction == "mean" else self.l2 * param / self.m
        return sympy.Integer(1), g, reg

    def correct(self, param: sympy.Symbol, kind: str) -> sympy.Expr:
        if kind == "dataset":
            return self.derivation.dataset_gradient(param)
        gradient = self.derivation.gradient[param]
        if not self.derivation.objective.l2:
            return gradient
        scale = 1 if self.derivation.objective.reduction == "mean" else 1 / self.m
        return gradient + scale * self.lamda * param

    def resolve(self, expression: sympy.Expr) -> tuple[sympy.Expr, str]:
        """The answer as a per-example expression ``H`` (or ``P``) and its kind."""
        unknown = {
            s
            for s in expression.free_symbols
            if s not in set(self.table.values())
            and s != EXAMPLE_INDEX
            and not (isinstance(s, sympy.Indexed) and s.base.label.name in self.table)
        }
        if unknown:
            raise ParseError(
                f"the answer uses {_names(unknown)}, which is not a parameter, data symbol, "
                f"intermediate, m or lamda (known: {', '.join(sorted(self.table))})"
            )
        sums = sorted(expression.atoms(sympy.Sum), key=sympy.default_sort_key)
        if not sums:
            return expression.xreplace(self.substitutions), "per-example"
        return self.reduce(expression, sums).xreplace(self.substitutions), "dataset"

    def reduce(self, expression: sympy.Expr, sums: list[sympy.Sum]) -> sympy.Expr:
        markers = [sympy.Dummy(f"s{k}") for k in range(len(sums))]
        linear = expression.xreplace(dict(zip(sums, markers)))
        data = set(self.data)
        if linear.free_symbols & data:
            raise ParseError(
                "a data symbol appears outside the sum over the examples; put every x_i inside "
                "the sum, or write a per-example answer without a sum"
            )
        rest = linear.xreplace({s: 0 for s in markers})
        total = rest / self.m
        for marker, term in zip(markers, sums):
            coefficient = sympy.diff(linear, marker)
            if coefficient.free_symbols & (set(markers) | data) or coefficient.has(EXAMPLE_INDEX):
                raise ParseError(
                    "the answer is not a linear combination of sums over the examples; "
                    "write e.g. (1/m)*Sum(..., i)"
                )
            body = term.function.replace(
                lambda e: isinstance(e, sympy.Indexed), lambda e: symbol(e.base.label.name)
            )
            total += coefficient * body
        return total


def _names(symbols) -> str:
    return ", ".join(sorted(str(s) for s in symbols))


def read_answer(
    derivation: Derivation, answer: str | sympy.Expr, *, form: str | None = None
) -> sympy.Expr:
    r"""Read an answer (SymPy syntax, LaTeX or a SymPy expression) safely.

    Args:
        derivation: What the answer is for (its symbols are known names).
        answer: The text or expression.
        form: ``"sympy"`` or ``"latex"`` for text (default: SymPy syntax).

    Returns:
        The expression; sums over examples as ``sympy.Sum`` over ``x[i]``.

    Raises:
        ParseError: The text is unsafe or unreadable.

    Example:
        >>> from symgd.derive.scalar import derive
        >>> from symgd.define.objective import linear_regression
        >>> read_answer(derive(linear_regression()), r"\sum_i (\hat{y}_i - y_i)", form="latex")
        Sum(yhat - y[i], (i, 1, m))
    """
    context = _Context(derivation)
    data = [d.name for d in context.data]
    if isinstance(answer, sympy.Basic):
        return answer
    if not isinstance(answer, str):
        raise ParseError(f"an answer is text or a SymPy expression, not {type(answer).__name__}")
    if form == "latex":
        return parse_latex(answer, symbols=context.table, data=data)
    return parse_with_sums(answer, symbols=context.table, data=data)


class _Evaluator:
    """Expressions in params, data and ``m`` evaluated at random points in 50 digits."""

    def __init__(self, context: _Context, seed: int) -> None:
        self.context = context
        rng = numpy.random.default_rng(seed)
        count = 3 * _POINTS
        self.values = rng.uniform(-_RANGE, _RANGE, (count, len(context.order)))
        self.values[:, -1] = rng.integers(1, 10, count)  # m, a number of examples

    def function(self, expression: sympy.Expr) -> Callable:
        expanded = expand_named_functions(expression)
        return sympy.lambdify(self.context.order, expanded, modules="mpmath")

    def evaluate(self, expression: sympy.Expr, rows: range | list[int]) -> list:
        function = self.function(expression)
        results = []
        with mpmath.workdps(_DIGITS):
            for row in rows:
                try:
                    value = mpmath.mpmathify(function(*[mpmath.mpf(v) for v in self.values[row]]))
                except (ZeroDivisionError, ValueError, OverflowError, TypeError):
                    value = None
                if value is not None and (
                    not isinstance(value, mpmath.mpf) or not mpmath.isfinite(value)
                ):
                    value = None
                results.append(value)
        return results


def _tolerance(*expressions: sympy.Expr) -> float:
    # A float written by the student carries 16 digits, not 50.
    return 1e-9 if any(e.has(sympy.Float) for e in expressions) else 1e-25


def _close(a, b, tolerance: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= tolerance * max(1, abs(a), abs(b))


def _within(seconds: float, work: Callable[[], bool]) -> bool | None:
    """``work()``, or ``None`` when it takes longer than ``seconds`` (main thread only)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(
        signal, "setitimer"
    ):
        return work()

    class _Timeout(Exception):
        pass

    def alarm(signum, frame):
        raise _Timeout

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return work()
    except _Timeout:
        return None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_answer(
    derivation: Derivation,
    param: str | sympy.Symbol,
    answer: str | sympy.Expr | Callable,
    *,
    form: str | None = None,
    seed: int = 0,
    time_budget: float = 5.0,
) -> AnswerCheck:
    r"""Check one hand-computed gradient.

    .. math:: \text{correct} \iff H_{\text{answer}} - H_{\text{derived}} \equiv 0

    Args:
        derivation: The correct derivation.
        param: The parameter the answer is for.
        answer: SymPy syntax or LaTeX text, a SymPy expression, or a Python function whose
            arguments are named after parameters, data symbols (arrays) and ``m``.
        form: ``"latex"`` for LaTeX text; SymPy syntax otherwise.
        seed: Seed of the random points.
        time_budget: Seconds allowed for ``simplify``.

    Returns:
        The :class:`AnswerCheck`.

    Raises:
        ParseError: The answer is unsafe, unreadable or uses unknown symbols.

    Example:
        >>> from symgd.derive.scalar import derive
        >>> from symgd.define.objective import logistic_regression
        >>> d = derive(logistic_regression())
        >>> check_answer(d, "w", "(1/(1 + exp(-(w*x + b))) - y)*x").verdict
        'correct'
        >>> check_answer(d, "w", "p - y").hint.mistake
        'missing chain-rule factor'
    """
    context = _Context(derivation)
    theta = context.param(param)
    if callable(answer) and not isinstance(answer, sympy.Basic):
        return _check_function(context, theta, answer, seed=seed)
    expression = read_answer(derivation, answer, form=form)
    shown = form if form in ("latex", "sympy") else "expression"
    if isinstance(answer, str) and form is None:
        shown = "sympy"
    resolved, kind = context.resolve(expression)
    s, g, reg = context.parts(theta, kind)
    target = (s * g + reg).xreplace(context.substitutions)
    answer_latex = latex(expression)
    correct_latex = latex(context.correct(theta, kind))
    make = {
        "param": theta.name,
        "form": shown,
        "kind": kind,
        "answer_latex": answer_latex,
        "correct_latex": correct_latex,
    }
    evaluator = _Evaluator(context, seed)
    tolerance = _tolerance(resolved, target)
    rows = list(range(len(evaluator.values)))
    answers = evaluator.evaluate(resolved, rows)
    targets = evaluator.evaluate(target, rows)
    valid = [k for k in rows if targets[k] is not None][:_POINTS]
    for k in valid:
        if not _close(answers[k], targets[k], tolerance):
            example = _counterexample(context, evaluator, resolved, target, kind, k)
            observed = evaluator.evaluate(resolved, valid[:_HINT_POINTS])
            hint = _hint(context, evaluator, theta, kind, observed, valid, tolerance)
            return AnswerCheck(
                **make,
                verdict="wrong",
                method=f"counterexample at a random point ({_DIGITS}-digit arithmetic)",
                counterexample=example,
                hint=hint,
            )
    if len(valid) < _MIN_POINTS:
        return AnswerCheck(
            **make,
            verdict="undecided",
            method=f"the correct gradient is defined at only {len(valid)} random points",
        )
    if _within(time_budget, lambda: is_zero(sympy.expand(resolved - target))):
        return AnswerCheck(
            **make, verdict="correct", method="symbolic: simplify(answer - derived) == 0"
        )
    return AnswerCheck(
        **make,
        verdict="correct",
        method=(
            f"randomised identity test at {len(valid)} random points ({_DIGITS}-digit "
            "arithmetic); simplify was inconclusive"
        ),
        confidence=1 - 0.5 ** len(valid),
    )


def _point(context: _Context, values, kind: str) -> dict[str, Any]:
    names = [s.name for s in context.order]
    point = {n: float(v) for n, v in zip(names, values, strict=True)}
    if kind != "dataset":
        point.pop("m")
    return point


def _counterexample(context, evaluator, answer, target, kind, row) -> Counterexample:
    if kind != "dataset":
        a, t = (evaluator.evaluate(e, [row])[0] for e in (answer, target))
        return Counterexample(
            _point(context, evaluator.values[row], kind),
            float(a) if a is not None else math.nan,
            float(t),
        )
    # A small data set of m examples: the dataset-level values are sums of H over it.
    values = evaluator.values[row]
    m = int(values[-1])
    rng = numpy.random.default_rng(10_000 + row)
    params = len(context.params)
    examples = rng.uniform(-_RANGE, _RANGE, (m, len(context.data)))
    total_a, total_t = mpmath.mpf(0), mpmath.mpf(0)
    fa, ft = evaluator.function(answer), evaluator.function(target)
    with mpmath.workdps(_DIGITS):
        for example in examples:
            arguments = [mpmath.mpf(v) for v in (*values[:params], *example, m)]
            try:
                total_a += fa(*arguments)
            except (ZeroDivisionError, ValueError, OverflowError):
                total_a = mpmath.nan
            total_t += ft(*arguments)
    point: dict[str, Any] = {p.name: float(v) for p, v in zip(context.params, values)}
    point.update({d.name: examples[:, j].tolist() for j, d in enumerate(context.data)})
    point["m"] = m
    return Counterexample(point, float(total_a), float(total_t))


def _hint(context, evaluator, theta, kind, observed, rows, tolerance) -> Hint | None:
    """The first common mistake whose wrong gradient equals the answer at the sample points.

    ``observed`` holds the answer's per-example values ``H`` at the first rows.
    """
    rows = rows[:_HINT_POINTS]
    subs = context.substitutions
    s, g, reg = context.parts(theta, kind)
    target = (s * g + reg).xreplace(subs)

    def matches(candidate: sympy.Expr) -> bool:
        values = evaluator.evaluate(candidate.xreplace(subs), rows)
        return all(_close(a, b, tolerance) for a, b in zip(observed, values))

    def ratio(numerator_values, denominator: sympy.Expr) -> sympy.Expr | None:
        """A constant c, c*m or c/m with numerator = ratio * denominator at every point."""
        below = evaluator.evaluate(denominator.xreplace(subs), rows)
        ms = [evaluator.values[r][-1] for r in rows]
        pairs = [
            (a / b, m)
            for a, b, m in zip(numerator_values, below, ms)
            if a is not None and b is not None and abs(b) > 1e-12
        ]
        if len(pairs) < 3:
            return None
        for power in (0, 1, -1):
            scaled = [r / mpmath.mpf(m) ** power for r, m in pairs]
            if all(_close(v, scaled[0], max(tolerance, 1e-20)) for v in scaled):
                c = sympy.nsimplify(float(scaled[0]), rational=True, tolerance=1e-12)
                if c != 1 or power:
                    return c * context.m**power
        return None

    whole = ratio(observed, target)
    if whole == -1:
        return Hint(
            "wrong sign",
            "the sign is wrong: your answer is -1 times the gradient; "
            "check the order of the residual (yhat - y, not y - yhat) and the signs",
        )
    if whole is not None and whole.has(context.m):
        extra = "missing" if whole == context.m or whole == -context.m else "extra"
        return Hint(
            "factor 1/m",
            f"your answer is {whole} times the gradient: the factor 1/m "
            f"of the mean over the m examples is {extra}",
        )
    if whole is not None:
        return _factor_hint(whole)
    if reg != 0:
        if matches(s * g):
            return Hint(
                "forgotten regularisation",
                "the regularisation term is missing: "
                f"the penalty (lamda/2) {theta}**2 adds lamda*{theta} to the gradient",
            )
        rest = [
            None if a is None or b is None else a - b
            for a, b in zip(observed, evaluator.evaluate((s * g).xreplace(subs), rows))
        ]
        c = ratio(rest, reg)
        if c is not None:
            return Hint(
                "regularisation factor",
                f"the regularisation term is {c} times what it "
                f"should be: d/d{theta} (lamda/2) {theta}**2 = lamda*{theta}",
            )
        part = [
            None if a is None else a - b
            for a, b in zip(observed, evaluator.evaluate(reg.xreplace(subs), rows))
        ]
        c = ratio(part, s * g)
        if c is not None:
            return _factor_hint(c)
    step = context.derivation.steps[context.params.index(theta)]
    products = [sympy.Mul(*factors) for factors in step.local_derivatives]
    for p, (path, factors) in enumerate(zip(step.paths, step.local_derivatives)):
        for k, factor in enumerate(factors):
            if factor == 1:
                continue
            others = sympy.Mul(*(f for j, f in enumerate(factors) if j != k))
            link = f"d{path[k]}/d{path[k + 1]} = {factor}"
            # The whole local derivative, or one factor of it (tanh' inside d h/d a = x (1 - h^2)).
            pieces = [(sympy.Integer(1), "")] + [
                (factor / piece, f"the factor {piece} of ")
                for piece in sympy.Mul.make_args(factor)
                if len(sympy.Mul.make_args(factor)) > 1 and not piece.is_Number
            ]
            for kept, words in pieces:
                candidate = sympy.Add(*products[:p], others * kept, *products[p + 1 :])
                if matches(s * candidate + reg):
                    return Hint(
                        "missing chain-rule factor",
                        f"a chain-rule factor is missing: {words}{link}",
                    )
    gradient = context.derivation.gradient
    for other in context.params:
        if other == theta:
            continue
        for candidate, words in (
            (s * gradient[other] + reg, f"your answer is the gradient for {other}, not {theta}"),
            (
                target + s * gradient[other],
                f"your answer has an extra term that belongs to the gradient for {other}",
            ),
        ):
            if matches(candidate):
                return Hint("another parameter", words)
    names = [*context.params, *context.data]
    expanded = g.xreplace(subs)
    for j, u in enumerate(names):
        for v in names[j + 1 :]:
            swapped = expanded.xreplace({u: v, v: u})
            if swapped != expanded and matches(s * swapped + reg):
                return Hint(
                    "swapped variables",
                    f"{u} and {v} are swapped: your answer is the gradient with them exchanged",
                )
    return None


def _factor_hint(c: sympy.Expr) -> Hint:
    if c == 2:
        detail = (
            "an extra factor 2: the 1/2 in the loss cancels the 2 from differentiating the square"
        )
    elif c == sympy.Rational(1, 2):
        detail = "a factor 2 is missing: differentiating a square brings down a 2"
    elif c == -1:
        return Hint("wrong sign", "the sign of the loss part is wrong")
    else:
        detail = "check the constant factors"
    return Hint("constant factor", f"your answer is {c} times the gradient: {detail}")


def check_answers(
    derivation: Derivation,
    answers: Mapping[str, str | sympy.Expr | Callable] | Callable,
    *,
    form: str | None = None,
    seed: int = 0,
    time_budget: float = 5.0,
) -> AnswerReport:
    r"""Check answers for several parameters.

    Args:
        derivation: The correct derivation.
        answers: Parameter name to answer (see :func:`check_answer`), or one Python function
            returning every gradient (a tuple in parameter order, or a dict by name).
        form: ``"latex"`` for LaTeX text.
        seed: Seed of the random points.
        time_budget: Seconds allowed for each ``simplify``.

    Returns:
        The :class:`AnswerReport`, in the order of ``answers``.

    Example:
        >>> from symgd.derive.scalar import derive
        >>> from symgd.define.objective import linear_regression
        >>> report = check_answers(derive(linear_regression()),
        ...     {"w": "Sum((w*x_i + b - y_i)*x_i, (i, 1, m))/m", "b": "w*x + b - y"})
        >>> report.passed
        True
    """
    if callable(answers) and not isinstance(answers, Mapping):
        answers = _split_function(derivation, answers)
    checks = tuple(
        check_answer(derivation, name, answer, form=form, seed=seed, time_budget=time_budget)
        for name, answer in answers.items()
    )
    return AnswerReport(checks, derivation)


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
        >>> from symgd.derive.scalar import derive
        >>> from symgd.define.objective import linear_regression
        >>> report = check_answers(derive(linear_regression()), {"b": "2*(w*x + b - y)"})
        >>> print(side_by_side(report).splitlines()[4])
        | $2 w x + 2 b - 2 y$ | $w x + b - y$ |
    """
    from symgd.render.printing import to_latex

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


_FUNCTION_SAMPLES = 6
_FUNCTION_EXAMPLES = 5


def _signature(context: _Context, function: Callable) -> list[str]:
    try:
        names = list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        raise ParseError("cannot read the arguments of the Python function") from None
    allowed = [s.name for s in (*context.params, *context.data)] + ["m"]
    for name in names:
        if name not in allowed:
            raise ParseError(
                f"the Python function takes {name!r}; its arguments must be named after the "
                f"parameters, data symbols or m ({', '.join(allowed)})"
            )
    return names


def _call(function: Callable, names, theta: numpy.ndarray, data: numpy.ndarray, context):
    values = {p.name: float(v) for p, v in zip(context.params, theta)}
    values.update({d.name: data[:, j].copy() for j, d in enumerate(context.data)})
    values["m"] = data.shape[0]
    with numpy.errstate(all="ignore"):
        return numpy.asarray(function(**{n: values[n] for n in names}), dtype=numpy.float64)


def _check_function(context: _Context, theta: sympy.Symbol, function: Callable, *, seed: int):
    """A NumPy gradient function against the derived gradient and central differences."""
    from symgd.compile.scalar import compile_objective
    from symgd.verify.gradcheck import TOLERANCES, central_difference

    names = _signature(context, function)
    rtol, atol = TOLERANCES[numpy.float64]
    derivation = context.derivation
    compiled = compile_objective(derivation)
    index = context.params.index(theta)
    s, g, reg = context.parts(theta, "per-example")
    per_example = sympy.lambdify(
        context.order, expand_named_functions((g + reg).xreplace(context.substitutions)), "numpy"
    )
    rng = numpy.random.default_rng(seed)
    try:
        answer_latex = _function_latex(function)
    except Exception:  # latexify cannot read every function; the source is shown instead
        answer_latex = r"	ext{" + getattr(function, "__name__", "function") + "}"
    kind = "dataset"
    for _ in range(_FUNCTION_SAMPLES):
        point = rng.uniform(-_RANGE, _RANGE, len(context.params))
        data = rng.uniform(-_RANGE, _RANGE, (_FUNCTION_EXAMPLES, len(context.data)))
        X = compiled.prepare({d.name: data[:, j] for j, d in enumerate(context.data)})
        try:
            value = _call(function, names, point, data, context)
        except Exception as error:  # the student's code: any failure is reported, not raised
            return AnswerCheck(
                theta.name,
                "python",
                kind,
                "undecided",
                f"the function raised {type(error).__name__}: {error}",
                answer_latex,
                "",
            )
        expected = per_example(*point, *data.T, _FUNCTION_EXAMPLES)
        expected = numpy.broadcast_to(expected, (_FUNCTION_EXAMPLES,)).astype(numpy.float64)
        dataset = float(compiled.gradient_function(point, X)[index])
        numeric = float(
            central_difference(lambda t, X=X: compiled.loss_function(t, X), point)[index]
        )
        if value.shape == (_FUNCTION_EXAMPLES,):
            kind = "per-example"
            reduced = value.mean() if derivation.objective.reduction == "mean" else value.sum()
            good = numpy.allclose(value, expected, rtol=rtol, atol=atol) and math.isclose(
                float(reduced), numeric, rel_tol=1e-5, abs_tol=1e-7
            )
            shown_answer, shown_correct = float(reduced), dataset
        elif value.shape == ():
            good = math.isclose(float(value), dataset, rel_tol=rtol, abs_tol=atol)
            shown_answer, shown_correct = float(value), dataset
        else:
            raise ParseError(
                f"the Python function for {theta} returned shape {value.shape}; return a number "
                f"(dJ/d{theta}) or one value per example"
            )
        if not good:
            point_dict: dict[str, Any] = {p.name: float(v) for p, v in zip(context.params, point)}
            point_dict.update({d.name: data[:, j].tolist() for j, d in enumerate(context.data)})
            return AnswerCheck(
                theta.name,
                "python",
                kind,
                "wrong",
                f"numeric: derived gradient and central differences at a random point "
                f"(float64, rtol={rtol:g})",
                answer_latex,
                latex(context.correct(theta, kind)),
                counterexample=Counterexample(point_dict, shown_answer, shown_correct),
                hint=_function_hint(context, theta, function, names, kind, seed),
            )
    return AnswerCheck(
        theta.name,
        "python",
        kind,
        "correct",
        f"numeric: equals the derived gradient and central differences at {_FUNCTION_SAMPLES} "
        f"random points (float64, rtol={rtol:g})",
        answer_latex,
        latex(context.correct(theta, kind)),
    )


def _function_hint(context, theta, function, names, kind, seed) -> Hint | None:
    """Per-point values H of the function (a data set of m equal examples), then the hints."""
    evaluator = _Evaluator(context, seed)
    rows = list(range(_HINT_POINTS))
    observed = []
    params = len(context.params)
    for row in rows:
        values = evaluator.values[row]
        m = int(values[-1])
        data = numpy.tile(values[params:-1], (m, 1))
        try:
            value = _call(function, names, values[:params], data, context)
        except Exception:  # the student's code
            return None
        observed.append(float(value.reshape(-1)[0]) / (m if kind == "dataset" else 1))
    return _hint(context, evaluator, theta, kind, observed, rows, 1e-7)


def _function_latex(function: Callable) -> str:
    import latexify

    return str(latexify.get_latex(function))


def _split_function(derivation: Derivation, function: Callable) -> dict[str, Callable]:
    """One function per parameter from a function returning every gradient."""
    params = [p.name for p in derivation.objective.params]

    def part(k: int, name: str) -> Callable:
        def gradient(**arguments):
            result = function(**arguments)
            return result[name] if isinstance(result, Mapping) else result[k]

        gradient.__signature__ = inspect.signature(function)
        gradient.__name__ = getattr(function, "__name__", "gradient")
        gradient.__wrapped__ = function
        return gradient

    return {name: part(k, name) for k, name in enumerate(params)}
