r"""Hand-computed gradients checked against the derivation: verdicts, counterexamples, hints.

An answer for a parameter :math:`\theta` is SymPy syntax, LaTeX, a SymPy expression or a
Python/NumPy function. An answer with a sum over the examples is *dataset level* and is compared
with :math:`\partial J/\partial\theta` (:meth:`~symgd.derivation.Derivation.dataset_gradient`); an
answer without one is *per example* and is compared with
:math:`\partial \ell/\partial\theta` (plus :math:`\lambda\theta` for an L2 penalty, so that its
mean over the examples is :math:`\partial J/\partial\theta`). Answers may use the intermediates
(``yhat``, ``p``, ``z``), ``m`` and ``lamda``.

A dataset-level answer :math:`A = \sum_k c_k \sum_i f_k(x_i) + G` (linear in its sums) equals
:math:`\sum_i H(x_i)` with :math:`H = \sum_k c_k f_k + G/m`; two answers agree for every data set
of every size exactly when their :math:`H` agree, so both kinds reduce to comparing expressions.

The verdict: the difference is evaluated in 50-digit arithmetic (mpmath) at random points, at
extreme points and beside every kink of either expression, with data inside its declared domain
(:mod:`symgd.verify.sampling`); numbers the student wrote are read as exact decimals. A point
where it is not zero is a counterexample: *wrong*. When every point agrees, ``simplify`` (under
a time budget, with ``Min``/``Max``/``Abs``/``Heaviside`` rewritten as ``Piecewise``) decides:
a difference of 0 is *correct* (method ``"symbolic"``), a nonzero constant, however small, is
*wrong*. If simplification is inconclusive the verdict is *correct* by sampling: for an analytic
difference with confidence :math:`1 - 2^{-N}` for :math:`N` random points (a nonzero analytic
difference vanishes only on a set of measure zero); for a difference with kinks or steps with
no bound at all, and the method says so. Too few points where the correct gradient is defined
leave the verdict *undecided*.

Example:
    >>> from symgd.derivation import derive
    >>> from symgd.define import linear_regression
    >>> d = derive(linear_regression())
    >>> seed = r"\frac{1}{m}\sum_{i=1}^{m}(w x_i + b - y_i) x_i"
    >>> check_answer(d, "w", seed, form="latex").verdict
    'correct'
    >>> wrong = check_answer(d, "w", "(y - w*x - b)*x")
    >>> wrong.verdict, wrong.hint.mistake
    ('wrong', 'wrong sign')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import sympy

from symgd import limits
from symgd.derivation import Derivation, is_zero
from symgd.render import latex
from symgd.verify.function_answers import check_function_answer, split_function
from symgd.verify.hints import find_hint
from symgd.verify.reading import AnswerContext, read_answer
from symgd.verify.report import AnswerCheck, AnswerReport
from symgd.verify.sampling import (
    DIGITS,
    HINT_POINTS,
    MIN_SAMPLE_POINTS,
    SAMPLE_POINTS,
    Evaluator,
    comparison_tolerance,
    find_counterexample,
    is_analytic,
    values_close,
)


def check_answer(
    derivation: Derivation,
    param: str | sympy.Symbol,
    answer: str | sympy.Expr | Callable,
    *,
    form: str | None = None,
    seed: int = 0,
    time_budget: float | None = None,
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
        time_budget: Seconds allowed for ``simplify`` (default
            :data:`symgd.limits.PROOF_SECONDS`).

    Returns:
        The :class:`AnswerCheck`.

    Raises:
        ParseError: The answer is unsafe, unreadable or uses unknown symbols.
        symgd.limits.TooComplex: The check ran past :data:`symgd.limits.VERIFY_SECONDS`.

    Example:
        >>> from symgd.derivation import derive
        >>> from symgd.define import logistic_regression
        >>> d = derive(logistic_regression())
        >>> check_answer(d, "w", "(1/(1 + exp(-(w*x + b))) - y)*x").verdict
        'correct'
        >>> check_answer(d, "w", "p - y").hint.mistake
        'missing chain-rule factor'
    """
    context = AnswerContext(derivation)
    theta = context.param(param)
    with limits.deadline(limits.VERIFY_SECONDS, f"checking the answer for {theta.name}"):
        return _check_answer(context, theta, answer, form, seed, time_budget)


def _check_answer(
    context: AnswerContext,
    theta: sympy.Symbol,
    answer: str | sympy.Expr | Callable,
    form: str | None,
    seed: int,
    time_budget: float | None,
) -> AnswerCheck:
    derivation = context.derivation
    if callable(answer) and not isinstance(answer, sympy.Basic):
        return check_function_answer(context, theta, answer, seed=seed)
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
    resolved = exact_numbers(resolved)
    evaluator = Evaluator(context, seed)
    tolerance = comparison_tolerance(resolved, target)
    rows = list(range(evaluator.bulk))
    answers = evaluator.evaluate(resolved, rows)
    targets = evaluator.evaluate(target, rows)
    valid = [k for k in rows if targets[k] is not None][:SAMPLE_POINTS]

    def wrong(k: int, method: str) -> AnswerCheck:
        example = find_counterexample(context, evaluator, resolved, target, kind, k)
        observed = evaluator.evaluate(resolved, valid[:HINT_POINTS])
        hint = find_hint(context, evaluator, theta, kind, observed, valid, tolerance)
        return AnswerCheck(
            **make, verdict="wrong", method=method, counterexample=example, hint=hint
        )

    for k in valid:
        if not values_close(answers[k], targets[k], tolerance):
            return wrong(k, f"counterexample at a random point ({DIGITS}-digit arithmetic)")
    probes = evaluator.probe((resolved, target))
    answers += evaluator.evaluate(resolved, probes)
    targets += evaluator.evaluate(target, probes)
    # At a probe, an answer undefined where the target is defined is rounding at an extreme.
    probed = [k for k in probes if targets[k] is not None and answers[k] is not None]
    for k in probed:
        if not values_close(answers[k], targets[k], tolerance):
            where = "an extreme or kink point"
            return wrong(k, f"counterexample at {where} ({DIGITS}-digit arithmetic)")
    if len(valid) < MIN_SAMPLE_POINTS:
        return AnswerCheck(
            **make,
            verdict="undecided",
            method=f"the correct gradient is defined at only {len(valid)} random points",
        )
    seconds = limits.PROOF_SECONDS if time_budget is None else time_budget
    difference = limits.attempt(
        seconds, lambda: symbolic_difference(resolved - target), None, "simplify"
    )
    if difference == 0:
        return AnswerCheck(
            **make, verdict="correct", method="symbolic: simplify(answer - derived) == 0"
        )
    if difference is not None and difference.is_number and difference.evalf(DIGITS) != 0:
        shown = sympy.N(difference, 6)
        return wrong(valid[0], f"symbolic: answer - derived is the nonzero constant {shown}")
    checked = f"{len(valid)} random and {len(probed)} extreme/kink points ({DIGITS}-digit)"
    if is_analytic(resolved, target):
        return AnswerCheck(
            **make,
            verdict="correct",
            method=(
                f"sampled (analytic: probability bound 1 - 2^-{len(valid)}): agrees at "
                f"{checked}; simplify was inconclusive"
            ),
            confidence=1 - 0.5 ** len(valid),
        )
    return AnswerCheck(
        **make,
        verdict="correct",
        method=(
            f"sampled (non-analytic: no bound): agrees at {checked}; simplify was "
            "inconclusive and a kinked difference may vanish on a region only"
        ),
    )


def exact_numbers(expression: sympy.Expr) -> sympy.Expr:
    """Floats as the exact decimals they were written as (``0.1`` is 1/10, ``1e-12`` stays).

    Example:
        >>> exact_numbers(sympy.Float(0.1) * sympy.Symbol("w"))
        w/10
    """
    return expression.xreplace({f: sympy.Rational(str(f)) for f in expression.atoms(sympy.Float)})


def symbolic_difference(difference: sympy.Expr) -> sympy.Expr:
    """``difference`` simplified; kinks (``Min``, ``Max``, ``Abs``, ``Heaviside``) as
    ``Piecewise`` first, so that equal piecewise forms cancel.

    Example:
        >>> x = sympy.Symbol("x", real=True)
        >>> symbolic_difference(sympy.Max(x, 0) - x * sympy.Heaviside(x, 0))
        0
    """
    if is_zero(difference, expand=True):
        return sympy.Integer(0)
    if is_analytic(difference):
        simplified = sympy.simplify(difference)
        return sympy.Integer(0) if simplified == 0 else simplified
    kinds = (sympy.Min, sympy.Max, sympy.Abs, sympy.Heaviside, sympy.sign)
    rewritten = difference.replace(
        lambda e: isinstance(e, kinds), lambda e: e.rewrite(sympy.Piecewise)
    )
    return sympy.simplify(sympy.piecewise_fold(rewritten))


def check_answers(
    derivation: Derivation,
    answers: Mapping[str, str | sympy.Expr | Callable] | Callable,
    *,
    form: str | None = None,
    seed: int = 0,
    time_budget: float | None = None,
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
        >>> from symgd.derivation import derive
        >>> from symgd.define import linear_regression
        >>> report = check_answers(derive(linear_regression()),
        ...     {"w": "Sum((w*x_i + b - y_i)*x_i, (i, 1, m))/m", "b": "w*x + b - y"})
        >>> report.passed
        True
    """
    if callable(answers) and not isinstance(answers, Mapping):
        answers = split_function(derivation, answers)
    checks = tuple(
        check_answer(derivation, name, answer, form=form, seed=seed, time_budget=time_budget)
        for name, answer in answers.items()
    )
    return AnswerReport(checks, derivation)
