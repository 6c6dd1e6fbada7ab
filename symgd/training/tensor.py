r"""Stage 5, train: a compiled vector/matrix objective on real data, with the one runner.

:func:`train_tensor` flattens the parameter arrays into the runner's :math:`\theta` (in the
order of ``compiled.params``), slices every data array whose first axis is the example axis
``m`` by the runner's mini-batch and passes the rest (``lamda``, a matrix ``A[n,n]``) whole:

.. math:: \theta_{t+1} = \theta_t + \operatorname{update}\big(\nabla J(\theta_t;\ X_{B_t},
    y_{B_t}, \lambda)\big)

With ``optimizer="newton"`` the runner also gets the compiled Hessian of the same batch loss;
with ``standardize=True`` the feature matrices are standardised with the mean and standard
deviation of the training rows, which the result keeps and applies when it predicts.

Example:
    >>> import numpy
    >>> from symgd.define import tensor_objective
    >>> from symgd.derivation import derive_tensor
    >>> from symgd.compile import compile_tensor
    >>> compiled = compile_tensor(derive_tensor(tensor_objective(
    ...     "sum((X@w + b - y)**2)/(2*m)", "w[d], b", "X[m,d], y[m]")), hessian=True)
    >>> X = numpy.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [2.0, 1.0]])
    >>> fit = train_tensor(compiled, {"X": X, "y": X @ [2.0, -1.0] + 3}, optimizer="newton",
    ...                    steps=1)
    >>> {name: value.round(6).tolist() for name, value in fit.params.items()}
    {'w': [2.0, -1.0], 'b': 3.0}
    >>> fit.task, fit.predict({"X": [[1.0, 2.0]]}).round(6).tolist()
    ('regression', [3.0])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy
import sympy

from symgd.compile import CompiledTensor
from symgd.define import TensorObjective, shape_text
from symgd.training.config import Plan, TrainConfig
from symgd.training.diagnostics import first_bad_example, scale_advice
from symgd.training.newton import Newton
from symgd.training.prediction import (
    TensorTrainResult,
    classification_labels,
    compile_score,
    find_score,
    standardization,
    standardized,
)
from symgd.training.runner import gradient_descent


def _declared(objective: TensorObjective, name: str) -> tuple:
    """The declared shape of the parameter or data array called ``name``."""
    return next(objective.shape(s) for s in objective.params + objective.data if s.name == name)


class _Sizes:
    """The sizes of the shape letters, read off arrays and checked against each other."""

    def __init__(self, objective: TensorObjective):
        self.objective = objective
        self.values: dict[sympy.Expr, int] = {}
        self.source: dict[sympy.Expr, str] = {}

    def read(self, what: str, name: str, value: numpy.ndarray) -> None:
        declared = _declared(self.objective, name)
        if value.ndim != len(declared) or any(
            letter.is_Integer and int(letter) != n for letter, n in zip(declared, value.shape)
        ):
            raise ValueError(
                f"{what} {name!r} must have shape {shape_text(declared)}, not {value.shape}"
            )
        for letter, n in zip(declared, value.shape):
            if letter in self.values and self.values[letter] != n:
                raise ValueError(
                    f"{what} {name!r} has shape {value.shape}, so {letter} = {n}, but "
                    f"{self.source[letter]} makes {letter} = {self.values[letter]}"
                )
            self.values.setdefault(letter, n)
            self.source.setdefault(letter, f"{name!r} of shape {value.shape}")

    def shape(self, name: str) -> tuple[int, ...]:
        declared = _declared(self.objective, name)
        for letter in declared:
            if letter not in self.values and not letter.is_Integer:
                raise ValueError(
                    f"the size {letter} of {name}{list(declared)} appears in no data array: "
                    f"give init={{{name!r}: an array of shape {shape_text(declared)}}}"
                )
        return tuple(int(self.values.get(letter, letter)) for letter in declared)


def _arrays(compiled: CompiledTensor, data: Mapping, init: Mapping | None):
    """The data and starting parameters as float arrays, every shape checked."""
    objective = compiled.derivation.objective
    sizes = _Sizes(objective)
    unknown = [name for name in (init or {}) if name not in compiled.params]
    if unknown:
        raise ValueError(f"init names {unknown[0]!r}, not a parameter of {compiled.params}")
    arrays = {}
    for name in compiled.data:
        if name not in data:
            raise ValueError(
                f"no data for {name!r}; the objective needs {', '.join(compiled.data)}"
            )
        arrays[name] = numpy.asarray(data[name], dtype=float)
        sizes.read("data", name, arrays[name])
    given = {name: numpy.asarray(value, dtype=float) for name, value in (init or {}).items()}
    for name, value in given.items():
        if value.ndim:  # a scalar broadcasts to whatever shape the parameter has
            sizes.read("init", name, value)
    params = {}
    for name in compiled.params:
        shape = sizes.shape(name)
        params[name] = numpy.broadcast_to(given.get(name, numpy.zeros(())), shape).astype(float)
    return arrays, params, sizes


def flat_parameters(params: Mapping[str, numpy.ndarray]) -> tuple:
    """Parameters as one flat vector ``θ`` (in order), and the maps between the two forms.

    Returns:
        ``(theta, unflatten, flatten)``: ``unflatten(θ)`` gives the arrays by name,
        ``flatten(arrays)`` the vector (a scalar broadcasts to its parameter's shape).

    Example:
        >>> theta, unflatten, flatten = flat_parameters({"w": numpy.zeros(2), "b": numpy.ones(())})
        >>> theta.tolist(), flatten({"w": 1.0, "b": 2.0}).tolist()
        ([0.0, 0.0, 1.0], [1.0, 1.0, 2.0])
    """
    shapes = {name: numpy.shape(value) for name, value in params.items()}
    bounds = numpy.cumsum([0] + [int(numpy.prod(shape)) for shape in shapes.values()])
    spans = [(n, int(a), int(b)) for n, a, b in zip(shapes, bounds[:-1], bounds[1:], strict=True)]
    theta = numpy.concatenate([numpy.ravel(value).astype(float) for value in params.values()])

    def unflatten(theta: numpy.ndarray) -> dict[str, numpy.ndarray]:
        return {n: theta[a:b].reshape(shapes[n]) for n, a, b in spans}

    def flatten(arrays: Mapping[str, Any]) -> numpy.ndarray:
        return numpy.concatenate([numpy.broadcast_to(arrays[n], shapes[n]).ravel() for n in shapes])

    return theta, unflatten, flatten


def tensor_start(
    compiled: CompiledTensor, data: Mapping[str, Any], init: Mapping[str, Any] | None = None
) -> tuple[dict[str, numpy.ndarray], dict[str, numpy.ndarray]]:
    """The data and the starting parameters as float arrays, every shape checked.

    Raises:
        ValueError: Missing or misshapen data or values, or a size that nothing gives.
    """
    arrays, params, _ = _arrays(compiled, data, init)
    return arrays, params


def train_tensor(
    compiled: CompiledTensor,
    data: Mapping[str, Any],
    init: Mapping[str, Any] | None = None,
    *,
    standardize: bool = False,
    **options: Any,
) -> TensorTrainResult:
    """Train a compiled vector/matrix objective with :func:`~symgd.training.gradient_descent`.

    Args:
        compiled: From :func:`~symgd.compile.compile_tensor` (with ``hessian=True`` for
            Newton's method).
        data: One array per data name; the shape letters are read off them.
        init: Starting values by parameter name (a scalar broadcasts to the parameter's
            shape); the others start at zero. An array also gives the size of a letter that
            appears in no data array.
        standardize: Standardise the feature matrices (data with the example axis first that
            are operands of ``@``) with the mean and standard deviation of the training rows.
        **options: Every keyword of :func:`~symgd.training.gradient_descent` (``learning_rate``,
            ``epochs`` or ``steps``, ``batch_size``, ``optimizer`` (``"newton"`` too),
            ``validation_split``, ``tolerance`` …); ``names`` and ``blocks`` default to the
            flattened elements and one block per parameter.

    Returns:
        A :class:`~symgd.training.prediction.TensorTrainResult`.

    Raises:
        ValueError: Missing or misshapen data or starting values, a size that nothing gives,
            mini-batches without an example axis, Newton's method without a compiled Hessian,
            a loss that is not finite at the start, or a setting out of range.
    """
    objective = compiled.derivation.objective
    arrays, params, sizes = _arrays(compiled, data, init)
    examples = objective.examples
    sliced = {n for n in compiled.data if _declared(objective, n)[:1] == (examples,)}
    if not sliced:
        for option in ("batch_size", "validation_split"):
            if options.get(option):
                raise ValueError(
                    f"{option} needs an example axis (data of shape ({examples or 'm'}, …)); "
                    f"this objective's data have none, so every step uses all of it"
                )
    n_examples = int(sizes.values[examples]) if sliced else 1
    optimizer = options.get("optimizer")
    if (optimizer == "newton" or isinstance(optimizer, Newton)) and compiled.hessian_blocks is None:
        raise ValueError(
            "Newton's method needs the Hessian: compile with compile_tensor(derivation, "
            "hessian=True)"
        )
    theta, unflatten, flatten = flat_parameters(params)
    shapes = {name: value.shape for name, value in params.items()}
    bounds = numpy.cumsum([0] + [value.size for value in params.values()])
    options.setdefault("names", _element_names(shapes))
    options.setdefault(
        "blocks", [(n, slice(int(a), int(b))) for n, a, b in zip(shapes, bounds, bounds[1:])]
    )

    def batch(rows: slice | numpy.ndarray) -> dict[str, numpy.ndarray]:
        if not sliced or (isinstance(rows, slice) and rows == slice(0, n_examples)):
            return arrays
        return {n: value[rows] if n in sliced else value for n, value in arrays.items()}

    def loss_and_gradient(theta, rows):
        loss, gradient = compiled.loss_and_gradient(unflatten(theta), batch(rows))
        return loss, flatten(gradient)

    found = find_score(objective)
    statistics = None
    if standardize:
        config = TrainConfig(**{**options, "hessian": lambda theta, rows: None})
        rows = Plan.make(config, theta.size, n_examples).training  # the runner's own split
        statistics = standardization(arrays, tuple(s.name for s in found.features), rows)
        arrays = standardized(arrays, statistics)
    if compiled.hessian_blocks is not None:
        options.setdefault(
            "hessian", lambda theta, rows: compiled.hessian(unflatten(theta), batch(rows))
        )
    _check_start(loss_and_gradient, theta, n_examples)
    result = gradient_descent(loss_and_gradient, theta, n_examples, **options)
    if result.diverged and not standardize:
        columns = {
            f"{s.name}[:, {j}]": column
            for s in found.features
            for j, column in enumerate(arrays[s.name].T)
        }
        if advice := scale_advice(columns):
            result = dataclasses.replace(
                result, message=f"{result.message}; {advice}; or pass standardize=True"
            )
    return _result(compiled, result, unflatten(result.theta), statistics, arrays, sizes, found)


def _element_names(shapes: Mapping[str, tuple[int, ...]]) -> tuple[str, ...]:
    """``w[0]``, ``w[1]`` … ``W[0,1]`` …, ``b``: one name per element of ``theta``."""
    return tuple(
        name + (f"[{','.join(map(str, index))}]" if shape else "")
        for name, shape in shapes.items()
        for index in numpy.ndindex(*shape)
    )


def _check_start(loss_and_gradient, theta: numpy.ndarray, n_examples: int) -> None:
    """Refuse a loss that is not a finite real number at the start, naming the first bad row."""
    found = first_bad_example(loss_and_gradient, theta, n_examples)
    if found is not None:
        where = "on the whole data" if found[0] < 0 else f"at example {found[0] + 1}"
        raise ValueError(
            f"the loss is not a finite real number {where} at the starting values "
            f"({found[1]}); fix that row, the starting values or the loss"
        )


def _result(compiled, result, params, statistics, arrays, sizes, found) -> TensorTrainResult:
    objective = compiled.derivation.objective
    target = found.target.name if found.target is not None else None
    labels = classification_labels(arrays[target]) if target is not None else None
    score = data_names = None
    if found.score is not None:
        score, data_names = compile_score(compiled.derivation, found.score)
        shape = objective.graph.shape(found.score)
        if labels is not None and len(shape) != arrays[target].ndim:
            labels = None  # the score and the target do not pair up as a classifier's do
    return TensorTrainResult(
        result,
        params,
        statistics,
        "regression" if labels is None else "classification",
        compiled,
        labels or (),
        target,
        {k: v for k, v in sizes.values.items() if k != objective.examples},
        score,
        data_names or (),
    )
