r"""Answers given as Python/NumPy functions, checked numerically in float64.

A function's arguments are named after the parameters, the data symbols (arrays of examples)
and ``m``; it returns :math:`\partial J/\partial\theta` (a number) or one value per example.
It is compared with the compiled derived gradient and with central differences of the compiled
loss at seeded random points.

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

_FUNCTION_SAMPLES = 6
_FUNCTION_EXAMPLES = 5


def _signature(context: AnswerContext, function: Callable) -> list[str]:
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


def check_function_answer(
    context: AnswerContext, theta: sympy.Symbol, function: Callable, *, seed: int
) -> AnswerCheck:
    """Check a NumPy gradient function against the derived gradient and central differences.

    Args:
        context: The derivation's symbols and targets.
        theta: The parameter the function's gradient is for.
        function: Arguments named after parameters, data symbols and ``m``; returns
            :math:`\\partial J/\\partial\\theta` or one value per example.
        seed: Seed of the random points and data sets.

    Returns:
        The verdict (``"undecided"`` when the function raises).

    Raises:
        ParseError: The arguments are not known names, or the result has the wrong shape.
    """
    names = _signature(context, function)
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
    try:
        answer_latex = _function_latex(function)
    except Exception:  # latexify cannot read every function; the source is shown instead
        answer_latex = r"\text{" + getattr(function, "__name__", "function") + "}"
    kind = "dataset"
    for _ in range(_FUNCTION_SAMPLES):
        point = rng.uniform(-SAMPLE_RANGE, SAMPLE_RANGE, len(context.params))
        data = rng.uniform(-SAMPLE_RANGE, SAMPLE_RANGE, (_FUNCTION_EXAMPLES, len(context.data)))
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
    evaluator = Evaluator(context, seed)
    rows = list(range(HINT_POINTS))
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

    def part(k: int, name: str) -> Callable:
        def gradient(**arguments):
            result = function(**arguments)
            return result[name] if isinstance(result, Mapping) else result[k]

        gradient.__signature__ = inspect.signature(function)
        gradient.__name__ = getattr(function, "__name__", "gradient")
        gradient.__wrapped__ = function
        return gradient

    return {name: part(k, name) for k, name in enumerate(params)}
