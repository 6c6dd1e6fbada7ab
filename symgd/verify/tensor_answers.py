r"""Hand-computed gradients of vector/matrix objectives: a verdict per parameter.

An answer for a parameter :math:`\theta` is NumPy notation (``X.T @ (p - y)/m``), LaTeX
(``\frac{1}{m} X^\top(\sigma(Xw + b) - y)``, see :mod:`symgd.parse.latex_tensors`) or a
NumPy function of the parameters and data returning :math:`\nabla_\theta J` with
:math:`\theta`'s shape. Text is read by the safe parser against the objective's declarations;
an answer whose shape is not :math:`\theta`'s is a one-line :class:`~symgd.parse.ParseError`.

The verdict compares the answer with the derived gradient :math:`\nabla_\theta J` element by
element, twice:

* numerically: both compiled to NumPy (:func:`~symgd.compile.compile_tensor`) and evaluated in
  float64 at seeded random points, at small sizes (3, 2, 4 …) and at realistic ones;
* exactly: every element against ``sympy.diff`` of the objective written out element by
  element at the small sizes (:func:`symgd.derivation.expansion.compare`, 30 digits).

A difference is a counterexample: the sizes, the element and both values. A function runs
in-process when it is a Python object, in a separate limited process when it is a student's
file (:class:`~symgd.verify.sandbox.StudentFunction`).

Example:
    >>> from symgd.define import tensor_objective
    >>> from symgd.derivation import derive_tensor
    >>> d = derive_tensor(tensor_objective(
    ...     "sum(softplus(-y*(X@w + b)))/m", "w[d], b", "X[m,d], y[m]"))
    >>> check_tensor_answer(d, "w", "X.T @ (-y*sigmoid(-y*(X@w + b)))/m").verdict
    'correct'
    >>> wrong = check_tensor_answer(d, "w", "X.T @ (-y*sigmoid(-y*(X@w + b)))")
    >>> wrong.verdict, wrong.hint.mistake
    ('wrong', 'factor 1/m')
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import numpy
import sympy

from symgd import limits
from symgd.compile import compile_tensor
from symgd.define import TensorGraph, shape_text, tensor_expression
from symgd.derivation import MatrixDerivation
from symgd.derivation.expansion import SIZES, compare
from symgd.parse import ParseError, excerpt
from symgd.parse.latex_tensors import latex_tensor_translation
from symgd.render.tensors import tensor_latex, tensor_text
from symgd.verify.function_answers import split_function
from symgd.verify.report import Hint
from symgd.verify.sandbox import StudentFailure, StudentFunction
from symgd.verify.tensor_report import TensorAnswerCheck, TensorAnswerReport, TensorCounterexample

#: Sizes of the shape letters at the realistic points (the small ones are the expansion's).
LARGE_SIZES = (7, 5, 6)
#: Random points at the small sizes, then at the large ones.
POINTS = (3, 2)
#: Relative tolerance of the float64 comparison (relative to the largest element).
RTOL = 1e-7
_RANGE = 1.5


@dataclasses.dataclass(frozen=True)
class _Point:
    sizes: dict[str, int]
    params: dict[str, Any]
    data: dict[str, Any]

    def arguments(self) -> dict[str, Any]:
        return {**self.params, **self.data, **self.sizes}

    def shown(self) -> dict[str, Any]:
        return {k: numpy.asarray(v).tolist() for k, v in {**self.params, **self.data}.items()}


class _Judge:
    """The points, the compiled derived gradient there, and the comparisons."""

    def __init__(self, derivation: MatrixDerivation, seed: int) -> None:
        self.derivation, self.seed = derivation, seed
        self.objective = objective = derivation.objective
        rng = numpy.random.default_rng(seed)
        self.points = []
        for table, count in zip((SIZES, LARGE_SIZES), POINTS):
            sizes = {letter: table[k % len(table)] for k, letter in enumerate(objective.letters)}

            def draw(s: sympy.Symbol, sizes=sizes) -> Any:
                shape = tuple(int(n.xreplace(sizes)) for n in objective.shape(s))
                return rng.uniform(-_RANGE, _RANGE, shape) if shape else float(rng.uniform(-1, 1))

            for _ in range(count):
                self.points.append(
                    _Point(
                        {letter.name: n for letter, n in sizes.items()},
                        {p.name: draw(p) for p in objective.params},
                        {x.name: draw(x) for x in objective.data},
                    )
                )
        self.reference = self.values(derivation)

    def values(self, derivation: MatrixDerivation) -> list[dict[str, numpy.ndarray]]:
        compiled = compile_tensor(derivation)
        with numpy.errstate(all="ignore"):
            return [compiled.gradient(p.params, p.data) for p in self.points]

    def shape(self, theta: sympy.Symbol, point: _Point) -> tuple[int, ...]:
        sizes = {letter: point.sizes[letter.name] for letter in self.objective.letters}
        return tuple(int(n.xreplace(sizes)) for n in self.objective.shape(theta))

    def verdict(
        self, theta: sympy.Symbol, answers: list[numpy.ndarray], make: dict, numeric: str
    ) -> TensorAnswerCheck | None:
        """A *wrong* check at the first point where ``answers`` differ, or ``None``."""
        valid = 0
        for point, reference, answer in zip(self.points, self.reference, answers):
            correct = numpy.asarray(reference[theta.name], dtype=float)
            if not numpy.all(numpy.isfinite(correct)):
                continue  # the objective is not differentiable here
            valid += 1
            answer = numpy.broadcast_to(numpy.asarray(answer, dtype=float), correct.shape)
            gap = numpy.abs(answer - correct)
            gap = numpy.where(numpy.isfinite(gap), gap, numpy.inf)
            scale = max(1.0, float(numpy.max(numpy.abs(correct), initial=0.0)))
            if numpy.all(gap <= RTOL * scale):
                continue
            index = numpy.unravel_index(int(numpy.argmax(gap)), gap.shape)
            element = theta.name + (f"[{','.join(map(str, index))}]" if index else "")
            example = TensorCounterexample(
                point.shown(),
                float(answer[index]),
                float(correct[index]),
                element=element,
                sizes=point.sizes,
            )
            return TensorAnswerCheck(
                **make,
                verdict="wrong",
                method=f"{numeric}: differs from the compiled derived gradient at a random "
                f"point (float64, rtol={RTOL:g})",
                counterexample=example,
                hint=self.hint(theta, answers),
            )
        if valid < 2:
            return TensorAnswerCheck(
                **make,
                verdict="undecided",
                method=f"the correct gradient is finite at only {valid} random points",
            )
        return None

    def hint(self, theta: sympy.Symbol, answers: list[numpy.ndarray]) -> Hint | None:
        """A common mistake when the answer is a constant multiple of the gradient everywhere."""
        factors, examples = [], []
        for point, reference, answer in zip(self.points, self.reference, answers):
            correct = numpy.asarray(reference[theta.name], dtype=float).reshape(-1)
            answer = numpy.broadcast_to(numpy.asarray(answer, dtype=float), correct.shape)
            norm = float(correct @ correct)
            if not numpy.all(numpy.isfinite(answer)) or not norm > 1e-12:
                continue
            c = float(answer @ correct) / norm
            if not numpy.allclose(answer, c * correct, rtol=1e-6, atol=1e-9):
                return None
            factors.append(c)
            letter = self.objective.examples
            examples.append(point.sizes.get(letter.name) if letter is not None else None)
        if len(factors) < 2:
            return None
        if numpy.allclose(factors, -1, rtol=1e-6):
            return Hint("wrong sign", "the sign is flipped; J grows along your answer")
        if None not in examples:
            if numpy.allclose(factors, examples, rtol=1e-6):
                return Hint("factor 1/m", "the factor 1/m of the mean is missing")
            if numpy.allclose(factors, [1 / m for m in examples], rtol=1e-6):
                return Hint("factor 1/m", "an extra factor 1/m: the mean divides once")
        if numpy.allclose(factors, factors[0], rtol=1e-6):
            return Hint("constant factor", f"off by the constant factor {factors[0]:.6g}")
        return None


def _param(derivation: MatrixDerivation, param: str | sympy.Symbol) -> sympy.Symbol:
    name = param.name if isinstance(param, sympy.Symbol) else param
    for p in derivation.objective.params:
        if p.name == name:
            return p
    names = ", ".join(p.name for p in derivation.objective.params)
    raise ParseError(f"{name!r} is not a parameter ({names})")


def read_tensor_answer(
    derivation: MatrixDerivation,
    param: str | sympy.Symbol,
    answer: str,
    *,
    form: str | None = None,
    graph: TensorGraph | None = None,
) -> tuple[sympy.Expr, TensorGraph]:
    r"""Read a matrix answer for one parameter, checking its shape.

    Args:
        derivation: The correct derivation.
        param: The parameter the answer is for.
        answer: NumPy notation, or LaTeX when ``form == "latex"``.
        form: ``"latex"`` or ``None``.
        graph: The graph to grow (default: a copy of the derivation's).

    Returns:
        The element-wise expression and its graph.

    Raises:
        ParseError: The text is unsafe or unreadable, or its shape is not the parameter's.

    Example:
        >>> from symgd.define import tensor_objective
        >>> from symgd.derivation import derive_tensor
        >>> d = derive_tensor(tensor_objective("sum((X@w - y)**2)/(2*m)", "w[d]", "X[m,d], y[m]"))
        >>> read_tensor_answer(d, "w", "(X@w - y)/m")
        Traceback (most recent call last):
        ...
        symgd.parse.errors.ParseError: the answer for w has shape (m,), the gradient of J with ...
    """
    theta = _param(derivation, param)
    objective = derivation.objective
    graph = derivation.graph.copy() if graph is None else graph
    text = answer
    if form == "latex":
        names = (*objective.params, *objective.data, *objective.letters)
        names += tuple(s for s, op in graph.nodes.items() if op.kind == "let")
        ranks = {s.name: len(graph.shapes.get(s, ())) for s in names}
        text = latex_tensor_translation(answer, ranks=ranks)
    try:
        expr, graph = tensor_expression(objective, text, graph)
    except ParseError as error:
        if form != "latex":
            raise
        raise ParseError(f"LaTeX {excerpt(answer)} read as {excerpt(text)}: {error}") from None
    shape, expected = graph.shape(expr), objective.shape(theta)
    if shape != expected:
        raise ParseError(
            f"the answer for {theta.name} has shape {shape_text(shape)}, the gradient of J with "
            f"respect to {theta.name} has shape {shape_text(expected)}"
        )
    return expr, graph


def check_tensor_answer(
    derivation: MatrixDerivation,
    param: str | sympy.Symbol,
    answer: str | Callable,
    *,
    form: str | None = None,
    seed: int = 0,
    judge: _Judge | None = None,
) -> TensorAnswerCheck:
    r"""Check one hand-computed gradient of a vector/matrix objective.

    .. math:: \text{correct} \iff A_{ij\ldots} = \frac{\partial J}{\partial \theta_{ij\ldots}}
        \text{ for every element}

    Args:
        derivation: From :func:`~symgd.derivation.derive_tensor`.
        param: The parameter the answer is for.
        answer: NumPy-notation or LaTeX text, or a function whose arguments are named after
            parameters, data and shape letters, returning the gradient with the parameter's
            shape.
        form: ``"latex"`` for LaTeX text.
        seed: Seed of the random points.
        judge: Shared points and reference values (:func:`check_tensor_answers` passes one).

    Returns:
        The :class:`~symgd.verify.tensor_report.TensorAnswerCheck`.

    Raises:
        ParseError: The text is unreadable or has the wrong shape.
        symgd.limits.TooComplex: The check ran past :data:`symgd.limits.VERIFY_SECONDS`.

    Example:
        >>> from symgd.define import tensor_objective
        >>> from symgd.derivation import derive_tensor
        >>> d = derive_tensor(tensor_objective("sum((X@w - y)**2)/(2*m)", "w[d]", "X[m,d], y[m]"))
        >>> check_tensor_answer(d, "w", r"\frac{1}{m} X^\top (Xw - y)", form="latex").verdict
        'correct'
    """
    theta = _param(derivation, param)
    with limits.deadline(limits.VERIFY_SECONDS, f"checking the answer for {theta.name}"):
        judge = judge or _Judge(derivation, seed)
        correct = derivation.gradient[theta]
        make = {
            "param": theta.name,
            "kind": "dataset",
            "correct_latex": tensor_latex(derivation.graph, correct),
            "correct_text": tensor_text(derivation.graph, correct),
        }
        if callable(answer) and not isinstance(answer, sympy.Basic):
            return _check_function(judge, theta, answer, make)
        return _check_text(judge, theta, answer, form, make)


def _check_text(
    judge: _Judge, theta: sympy.Symbol, answer: str, form: str | None, make: dict
) -> TensorAnswerCheck:
    derivation, objective = judge.derivation, judge.objective
    expr, graph = read_tensor_answer(derivation, theta, answer, form=form)
    make.update(
        form="latex" if form == "latex" else "numpy",
        answer_latex=tensor_latex(graph, expr),
        answer_text=tensor_text(graph, expr),
    )
    gradient = {**derivation.gradient, theta: expr}
    answers = judge.values(dataclasses.replace(derivation, graph=graph, gradient=gradient))
    wrong = judge.verdict(theta, [a[theta.name] for a in answers], make, "numeric")
    if wrong is not None:
        return wrong
    label = f"∂J/∂{theta.name}"
    exact = limits.attempt(
        limits.PROOF_SECONDS,
        lambda: compare(objective, graph, {label: (expr, (theta,))}, seed=judge.seed),
        None,
        "the element-wise comparison",
    )
    sizes = ", ".join(f"{k}={n}" for k, n in judge.points[0].sizes.items())
    points = f"{len(judge.points)} random points (float64)"
    if exact is None:
        return TensorAnswerCheck(
            **make,
            verdict="correct",
            method=f"numeric: equals the compiled derived gradient at {points}; the exact "
            "element-wise comparison ran out of time",
        )
    if not exact.passed:
        return TensorAnswerCheck(
            **make,
            verdict="wrong",
            method=f"exact: differs from sympy.diff of the objective expanded at {sizes} at "
            f"{exact.where} (relative difference {exact.worst:.3g})",
        )
    return TensorAnswerCheck(
        **make,
        verdict="correct",
        method=f"exact: every element equals sympy.diff of the objective expanded at {sizes} "
        f"(30 digits); numeric: equals the compiled derived gradient at {points}",
    )


def _check_function(
    judge: _Judge, theta: sympy.Symbol, function: Callable, make: dict
) -> TensorAnswerCheck:
    label = getattr(function, "label", None) or getattr(function, "__name__", "function")
    make.update(
        form="python", answer_latex=r"\text{" + label.replace("_", r"\_") + "}", answer_text=label
    )

    def undecided(reason: str) -> TensorAnswerCheck:
        return TensorAnswerCheck(**make, verdict="undecided", method=reason)

    try:
        values = _evaluate(judge, function)
    except StudentFailure as failure:
        return undecided(failure.reason)
    answers = []
    for point, value in zip(judge.points, values):
        if isinstance(value, StudentFailure):
            return undecided(value.reason)
        shape = judge.shape(theta, point)
        if value.shape != shape and not (shape == () and value.size == 1):
            expected = shape_text(judge.objective.shape(theta))
            return undecided(
                f"returned shape {value.shape} for {theta.name}; return an array of shape "
                f"{expected} ({shape} here)"
            )
        answers.append(value.reshape(shape))
    wrong = judge.verdict(theta, answers, make, "numeric")
    if wrong is not None:
        return wrong
    return TensorAnswerCheck(
        **make,
        verdict="correct",
        method=f"numeric: equals the compiled derived gradient at {len(judge.points)} random "
        f"points (float64, rtol={RTOL:g})",
    )


def _evaluate(judge: _Judge, function: Callable) -> list[numpy.ndarray | StudentFailure]:
    """The function at every point: one child process for a student's file, else in-process."""
    objective = judge.objective
    allowed = [s.name for s in (*objective.params, *objective.data, *objective.letters)]
    calls = [point.arguments() for point in judge.points]
    if isinstance(function, StudentFunction):
        names, values = function.evaluate(calls)
    else:
        try:
            names = list(inspect.signature(function).parameters)
        except (TypeError, ValueError):
            raise ParseError("cannot read the arguments of the Python function") from None
        values = []
        for call in calls:
            try:
                with numpy.errstate(all="ignore"):
                    result = numpy.asarray(function(**{n: call[n] for n in names if n in call}))
            except Exception as error:  # the student's code: any failure is reported
                values.append(StudentFailure(f"raised {type(error).__name__}: {error}"))
                continue
            if result.dtype.kind not in "iufb":
                values.append(StudentFailure(f"returned {result.dtype} values, not real numbers"))
            else:
                values.append(result.astype(numpy.float64))
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise StudentFailure(
            f"the function takes {unknown[0]!r}; its arguments must be named after the "
            f"parameters, data or shape letters ({', '.join(allowed)})"
        )
    return values


def check_tensor_answers(
    derivation: MatrixDerivation,
    answers: Mapping[str, str | Callable] | Callable,
    *,
    form: str | None = None,
    seed: int = 0,
) -> TensorAnswerReport:
    r"""Check answers for several parameters of a vector/matrix objective.

    Every text is read before any checking, so unreadable text stops everything.

    Args:
        derivation: From :func:`~symgd.derivation.derive_tensor`.
        answers: Parameter name to answer (see :func:`check_tensor_answer`), or one function
            returning every gradient (a tuple in parameter order, or a dict by name).
        form: ``"latex"`` for LaTeX text.
        seed: Seed of the random points.

    Returns:
        The :class:`~symgd.verify.tensor_report.TensorAnswerReport`, in the order of
        ``answers``.

    Raises:
        ParseError: A text is unreadable or has the wrong shape.

    Example:
        >>> from symgd.define import tensor_objective
        >>> from symgd.derivation import derive_tensor
        >>> d = derive_tensor(tensor_objective(
        ...     "sum(softplus(-y*(X@w + b)))/m", "w[d], b", "X[m,d], y[m]"))
        >>> report = check_tensor_answers(d, {"w": "-X.T @ (y*sigmoid(-y*(X@w + b)))/m",
        ...                                   "b": "-mean(y*sigmoid(-y*(X@w + b)))"})
        >>> report.passed
        True
    """
    if callable(answers) and not isinstance(answers, Mapping):
        answers = split_function(derivation, answers)  # type: ignore[arg-type]
    for name, answer in answers.items():
        if isinstance(answer, str):
            read_tensor_answer(derivation, name, answer, form=form)
    judge = _Judge(derivation, seed)
    checks = tuple(
        check_tensor_answer(derivation, name, answer, form=form, seed=seed, judge=judge)
        for name, answer in answers.items()
    )
    return TensorAnswerReport(checks, derivation)  # type: ignore[arg-type]
