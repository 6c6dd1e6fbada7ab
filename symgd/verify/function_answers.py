r"""Answers given as Python/NumPy functions, checked numerically in float64.

A function's arguments are named after the parameters, the data symbols (arrays of examples)
and ``m``; it returns :math:`\partial J/\partial\theta` (a number) or one value per example.
It is compared with the compiled derived gradient and with central differences of the compiled
loss at seeded random points.

A function object is trusted and called in-process (a notebook's own code). A student's file
(``symgd check --python FILE.py:FUNC``) arrives as a :class:`~symgd.verify.sandbox.StudentFunction`
and runs in a separate process with a timeout and a memory limit, all points in one run; only
the returned numbers come back, and every comparison happens here, with the grader's NumPy.

Example:
    >>> from symgd.derivation import derive
    >>> from symgd.define import linear_regression
    >>> parts = split_function(derive(linear_regression()), lambda w, b: (2 * w, 3 * b))
    >>> sorted(parts), parts["b"](w=1.0, b=2.0)
    (['b', 'w'], 6.0)
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy
import sympy

from symgd.compile import compile_objective
from symgd.derivation import Derivation
from symgd.parse import ParseError
from symgd.render import latex
from symgd.verify.gradcheck import TOLERANCES, central_difference
from symgd.verify.hints import find_hint
from symgd.verify.reading import AnswerContext
from symgd.verify.report import AnswerCheck, Counterexample, Hint
from symgd.verify.sampling import HINT_POINTS, SAMPLE_RANGE, Evaluator, named_functions
from symgd.verify.sandbox import StudentFailure, StudentFunction

_FUNCTION_SAMPLES = 6
_FUNCTION_EXAMPLES = 5


def _signature(context: AnswerContext, function: Callable) -> list[str]:
    try:
        names = list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        raise ParseError("cannot read the arguments of the Python function") from None
    if problem := _unknown_argument(context, names):
        raise ParseError(f"the Python function {problem}")
    return names


def _unknown_argument(context: AnswerContext, names: list[str]) -> str | None:
    """Why the argument names do not fit the objective (``takes 'q'; …``), or ``None``."""
    allowed = [s.name for s in (*context.params, *context.data)] + ["m"]
    for name in names:
        if name not in allowed:
            return (
                f"takes {name!r}; its arguments must be named after the parameters, data "
                f"symbols or m ({', '.join(allowed)})"
            )
    return None


def _arguments(theta: numpy.ndarray, data: numpy.ndarray, context) -> dict[str, Any]:
    values: dict[str, Any] = {p.name: float(v) for p, v in zip(context.params, theta)}
    values.update({d.name: data[:, j].copy() for j, d in enumerate(context.data)})
    values["m"] = data.shape[0]
    return values


def _evaluate(
    context: AnswerContext, function: Callable, calls: list[dict[str, Any]]
) -> list[numpy.ndarray | StudentFailure]:
    """The function's values at every call: in a child process for a :class:`StudentFunction`,
    in-process (trusted) otherwise; a failure per call instead of an exception.

    Raises:
        StudentFailure: A student's file gave nothing usable (timeout, exit, import …).
        ParseError: An in-process function's arguments are not known names.
    """
    if isinstance(function, StudentFunction):
        names, values = function.evaluate(calls)
        _check_names(context, names)
        return values
    names = _signature(context, function)
    values: list[numpy.ndarray | StudentFailure] = []
    for call in calls:
        try:
            with numpy.errstate(all="ignore"):
                result = numpy.asarray(function(**{n: call[n] for n in names}))
        except Exception as error:  # the student's code: any failure is reported, not raised
            values.append(StudentFailure(f"raised {type(error).__name__}: {error}"))
            continue
        if numpy.iscomplexobj(result):
            values.append(StudentFailure("returned complex values"))
        elif result.dtype.kind not in "iufb":
            values.append(StudentFailure(f"returned {type(result).__name__}, not numbers"))
        else:
            values.append(result.astype(numpy.float64))
    return values


def check_function_answer(
    context: AnswerContext, theta: sympy.Symbol, function: Callable, *, seed: int
) -> AnswerCheck:
    """Check a NumPy gradient function against the derived gradient and central differences.

    A :class:`~symgd.verify.sandbox.StudentFunction` (``FILE.py:FUNC`` on the command line)
    runs in a separate, limited process, every point in one run; any other callable is trusted
    and called in-process. Either way the comparison happens here, with the grader's NumPy.

    Args:
        context: The derivation's symbols and targets.
        theta: The parameter the function's gradient is for.
        function: Arguments named after parameters, data symbols and ``m``; returns
            :math:`\\partial J/\\partial\\theta` or one value per example.
        seed: Seed of the random points and data sets.

    Returns:
        The verdict: ``"undecided"`` with a one-line reason when the function raises, exits,
        times out, runs out of memory, or returns complex values or the wrong shape.

    Raises:
        ParseError: The arguments of an in-process function are not known names.
    """
    rtol, atol = TOLERANCES[numpy.float64]
    derivation = context.derivation
    compiled = compile_objective(derivation)
    index = context.params.index(theta)
    s, g, reg = context.parts(theta, "per-example")
    per_example = sympy.lambdify(
        context.order,
        (g + reg).xreplace(context.substitutions),
        [named_functions("numpy"), "numpy"],
    )
    rng = numpy.random.default_rng(seed)
    if isinstance(function, StudentFunction):
        answer_latex = r"\text{" + function.label.replace("_", r"\_") + "}"
    else:
        try:
            answer_latex = _function_latex(function)
        except Exception:  # latexify cannot read every function; the name is shown instead
            answer_latex = r"\text{" + getattr(function, "__name__", "function") + "}"
    samples = []
    for _ in range(_FUNCTION_SAMPLES):
        point = rng.uniform(-SAMPLE_RANGE, SAMPLE_RANGE, len(context.params))
        data = rng.uniform(-SAMPLE_RANGE, SAMPLE_RANGE, (_FUNCTION_EXAMPLES, len(context.data)))
        samples.append((point, data))
    # The hint's inputs go in the same run: one process per student file, not per point.
    evaluator = Evaluator(context, seed)
    params = len(context.params)
    hint_inputs = []
    for row in range(HINT_POINTS):
        values = evaluator.values[row]
        hint_inputs.append((values[:params], numpy.tile(values[params:-1], (int(values[-1]), 1))))
    calls = [_arguments(point, data, context) for point, data in (*samples, *hint_inputs)]

    def undecided(kind: str, reason: str, failure: StudentFailure | None = None) -> AnswerCheck:
        if failure is not None and failure.printed:
            reason += f" (it printed {failure.printed} bytes: {_excerpt(failure.output)})"
        return AnswerCheck(theta.name, "python", kind, "undecided", reason, answer_latex, "")

    try:
        values = _evaluate(context, function, calls)
    except StudentFailure as failure:
        return undecided("dataset", failure.reason, failure)
    kind = "dataset"
    for (point, data), value in zip(samples, values):
        if isinstance(value, StudentFailure):
            return undecided(kind, value.reason, value)
        X = compiled.prepare({d.name: data[:, j] for j, d in enumerate(context.data)})
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
            return undecided(
                kind,
                f"returned shape {value.shape} for the parameter {theta}; return a number "
                f"(dJ/d{theta}) or one value per example ({_FUNCTION_EXAMPLES} here)",
            )
        if not good:
            point_dict: dict[str, Any] = {p.name: float(v) for p, v in zip(context.params, point)}
            point_dict.update({d.name: data[:, j].tolist() for j, d in enumerate(context.data)})
            finite = "" if numpy.all(numpy.isfinite(value)) else "; it returned non-finite values"
            return AnswerCheck(
                theta.name,
                "python",
                kind,
                "wrong",
                f"numeric: derived gradient and central differences at a random point "
                f"(float64, rtol={rtol:g}){finite}",
                answer_latex,
                latex(context.correct(theta, kind)),
                counterexample=Counterexample(point_dict, shown_answer, shown_correct),
                hint=_function_hint(context, evaluator, theta, values[len(samples) :], kind),
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


def _excerpt(output: str) -> str:
    text = " ".join(output.split())
    return repr(text if len(text) <= 60 else text[:59] + "…")


def _check_names(context: AnswerContext, names: list[str]) -> None:
    if problem := _unknown_argument(context, names):
        raise StudentFailure(f"the function {problem}")


def _function_hint(context, evaluator, theta, values, kind) -> Hint | None:
    """Per-point values H of the function (a data set of m equal examples), then the hints."""
    rows = list(range(HINT_POINTS))
    observed = []
    for row, value in zip(rows, values):
        if isinstance(value, StudentFailure) or value.size == 0:
            return None
        m = int(evaluator.values[row][-1])
        observed.append(float(value.reshape(-1)[0]) / (m if kind == "dataset" else 1))
    return find_hint(context, evaluator, theta, kind, observed, rows, 1e-7)


def _function_latex(function: Callable) -> str:
    import latexify

    return str(latexify.get_latex(function))


def split_function(derivation: Derivation, function: Callable) -> dict[str, Callable]:
    """One gradient function per parameter from a function that returns every gradient.

    Each part keeps the signature of ``function`` (its arguments are named after parameters,
    data symbols and ``m``), so it can be checked like a per-parameter answer.

    Args:
        derivation: Gives the parameters and their order.
        function: Returns every gradient, as a sequence in parameter order or a mapping by
            parameter name.

    Returns:
        Parameter name to a function returning that parameter's gradient.

    Example:
        >>> from symgd.derivation import derive
        >>> from symgd.define import linear_regression
        >>> parts = split_function(derive(linear_regression()), lambda w, b: {"w": w, "b": b})
        >>> parts["b"](w=1.0, b=2.0)
        2.0
    """
    params = [p.name for p in derivation.objective.params]
    if isinstance(function, StudentFunction):  # picks its part from the one run in a child
        return {name: function.part(name, k) for k, name in enumerate(params)}

    def part(k: int, name: str) -> Callable:
        def gradient(**arguments):
            result = function(**arguments)
            return result[name] if isinstance(result, Mapping) else result[k]

        gradient.__signature__ = inspect.signature(function)
        gradient.__name__ = getattr(function, "__name__", "gradient")
        gradient.__wrapped__ = function
        return gradient

    return {name: part(k, name) for k, name in enumerate(params)}
