r"""Stage 5, train: what a trained vector/matrix model predicts, and how well.

A linear model's objective contains its *score*: the first matrix product whose left operand is
a data matrix with the example axis, with the terms of the sum it sits in that do not involve
the target,

.. math:: z = X w + b \qquad\text{or}\qquad Z = X W^\top + \mathbf{1} b^\top ,

and the *target* is the data array with the example axis that is not an operand of ``@``
(``y`` or a one-hot ``Y``). Targets in :math:`\{0, 1\}` or :math:`\{-1, 1\}` (or one-hot rows)
make a classifier, :math:`\hat y = [z > 0]` (or :math:`\arg\max_j Z_{ij}`); any other target a
regression, :math:`\hat y = z`. The score is compiled by :mod:`symgd.compile`, like the
objective; the metrics are scikit-learn's.

Example:
    >>> from symgd.define import tensor_objective
    >>> objective = tensor_objective("sum((X@w + b - y)**2)/(2*m)", "w[d], b", "X[m,d], y[m]")
    >>> found = find_score(objective)
    >>> found.score, found.target, found.features
    (_t1 + b, y, (X,))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy
import sympy

from symgd.compile import CompiledTensor, compile_tensor, load_source
from symgd.define import TensorObjective, shape_text
from symgd.derivation import MatrixDerivation
from symgd.training.state import TrainResult

#: The label sets of a binary classifier, ``(negative, positive)``.
LABEL_SETS = ((0.0, 1.0), (-1.0, 1.0))

Standardization = dict[str, tuple[numpy.ndarray, numpy.ndarray]]


@dataclass(frozen=True)
class Score:
    """Where a linear model's prediction sits in its objective.

    Attributes:
        score: The score :math:`z` (an element-wise expression over the objective's graph), or
            ``None`` when the objective has no ``X@w`` form.
        target: The target data symbol, or ``None``.
        features: The data matrices that are operands of ``@`` with the example axis first.
    """

    score: sympy.Expr | None
    target: sympy.Symbol | None
    features: tuple[sympy.Symbol, ...]


def find_score(objective: TensorObjective) -> Score:
    """Find the score, the target and the feature matrices of a linear model's objective.

    Args:
        objective: From :func:`~symgd.define.tensor_objective`.

    Returns:
        The :class:`Score`.

    Example:
        >>> from symgd.define import tensor_objective
        >>> find_score(tensor_objective("sum(w**2)", "w[d]", "")).score is None
        True
    """
    graph, examples = objective.graph, objective.examples
    by_example = [s for s in objective.data if objective.shape(s)[:1] == (examples,)]
    products = [op for op in graph.nodes.values() if op.kind in ("matmul", "transpose")]
    operands = {s for op in products for a in op.args for s in a.free_symbols}
    target = next((s for s in by_example if s not in operands), None)
    features = tuple(s for s in by_example if s in operands and len(objective.shape(s)) == 2)
    node = next(
        (
            n
            for n, op in graph.nodes.items()
            if op.kind == "matmul" and op.args[0] in by_example and op.args[0] in features
        ),
        None,
    )
    if node is None:
        return Score(None, target, features)
    return Score(_with_bias(objective, node, target), target, features)


def _with_bias(
    objective: TensorObjective, node: sympy.Symbol, target: sympy.Symbol | None
) -> sympy.Expr:
    """``node`` plus the terms of the innermost sum it is a term of that leave out the target."""
    graph = objective.graph

    def involves_target(expr: sympy.Expr) -> bool:
        return target is not None and graph.depends(expr, frozenset({target}))

    expressions = [a for op in graph.nodes.values() for a in op.args] + [objective.loss]
    for expr in expressions:
        for sub in sympy.postorder_traversal(expr):
            if not isinstance(sub, sympy.Add):
                continue
            terms = [t for t in sub.args if not involves_target(t)]
            if any(t.has(node) for t in terms):
                return sympy.Add(*terms)
    return node


def compile_score(derivation: MatrixDerivation, score: sympy.Expr) -> tuple[Callable, tuple]:
    """The score as a NumPy function ``(params…, data…) -> z`` and the data names it reads.

    The score goes through :func:`~symgd.compile.compile_tensor` as the "loss" of an objective
    over the data it uses (no gradient): the same printer and the same BLAS calls.
    """
    objective = derivation.objective
    used = tuple(s for s in objective.data if objective.graph.depends(score, frozenset({s})))
    scored = dataclasses.replace(
        objective, loss=score, data=used, text=f"the score of {objective.text}"
    )
    zero = {p: sympy.Integer(0) for p in objective.params}
    source = compile_tensor(MatrixDerivation(scored, derivation.graph, zero, ())).source
    function = load_source(source)["loss_and_gradient"]
    return (lambda *arguments: function(*arguments)[0]), tuple(s.name for s in used)


def classification_labels(target: numpy.ndarray) -> tuple[float, ...] | None:
    """The label set of a classification target, or ``None`` for a regression target.

    Example:
        >>> classification_labels(numpy.array([1.0, -1.0, 1.0]))
        (-1.0, 1.0)
        >>> classification_labels(numpy.eye(3)[[0, 2, 1]]), classification_labels(numpy.ones(2) / 2)
        ((0.0, 1.0, 2.0), None)
    """
    values = set(numpy.unique(target).tolist())
    if target.ndim == 2:
        one_hot = values <= {0.0, 1.0} and bool(numpy.all(target.sum(axis=1) == 1))
        return tuple(float(j) for j in range(target.shape[1])) if one_hot else None
    for labels in LABEL_SETS:
        if values <= set(labels):
            return labels
    return None


def standardization(
    data: Mapping[str, numpy.ndarray], names: tuple[str, ...], rows: slice | numpy.ndarray
) -> Standardization:
    r"""Mean and standard deviation of each column of the named matrices over ``rows``.

    .. math:: \mu_j = \tfrac{1}{|R|} \sum_{i \in R} X_{ij}, \qquad
        \sigma_j = \sqrt{\tfrac{1}{|R|} \sum_{i \in R} (X_{ij} - \mu_j)^2}

    A constant column gets :math:`\sigma_j = 1` (and its own value as mean), so it becomes 0,
    not NaN.

    Example:
        >>> X = numpy.array([[1.0, 5.0], [3.0, 5.0], [100.0, 5.0]])
        >>> mean, std = standardization({"X": X}, ("X",), slice(0, 2))["X"]
        >>> mean.tolist(), std.tolist()
        ([2.0, 5.0], [1.0, 1.0])
    """
    statistics = {}
    for name in names:
        training = data[name][rows]
        mean, std = training.mean(axis=0), training.std(axis=0)
        constant = numpy.all(training == training[:1], axis=0)
        statistics[name] = (
            numpy.where(constant, training[0], mean),
            numpy.where(constant, 1.0, std),
        )
    return statistics


def standardized(data: Mapping[str, numpy.ndarray], statistics: Standardization | None) -> dict:
    """``data`` with each standardised matrix replaced by :math:`(X - \\mu) / \\sigma`."""
    result = dict(data)
    for name, (mean, std) in (statistics or {}).items():
        if name in result:
            result[name] = (numpy.asarray(result[name], dtype=float) - mean) / std
    return result


@dataclass(frozen=True)
class TensorTrainResult:
    """A trained vector/matrix objective: the run, the parameters, predictions and metrics.

    Attributes:
        result: The runner's :class:`~symgd.training.state.TrainResult` (histories, message).
        params: The trained parameters as arrays of their declared shapes.
        standardization: Per standardised data matrix, ``(mean, std)`` of its columns over the
            training rows; ``None`` without ``standardize=True``.
        task: ``"classification"`` or ``"regression"``.
        compiled: The compiled objective.
        labels: The label set of a classifier (class indices for one-hot targets), else ``()``.
        target: The name of the target data array, or ``None``.
        sizes: The sizes the shape letters had in training (the example axis left out).
    """

    result: TrainResult
    params: dict[str, numpy.ndarray]
    standardization: Standardization | None
    task: str
    compiled: CompiledTensor = field(repr=False)
    labels: tuple[float, ...] = ()
    target: str | None = None
    sizes: dict = field(default_factory=dict, repr=False)
    _score: Callable | None = field(default=None, repr=False)
    _score_data: tuple[str, ...] = field(default=(), repr=False)

    def scores(self, data: Mapping[str, numpy.ndarray]) -> numpy.ndarray:
        """The score :math:`z` on new data (standardised with the training statistics).

        Raises:
            ValueError: The objective has no ``X@w`` form, or data are missing or misshapen.
        """
        if self._score is None:
            raise ValueError(
                "the objective has no X@w form (a data matrix with the example axis times the "
                "parameters), so it makes no prediction"
            )
        objective = self.compiled.derivation.objective
        arrays = []
        for name in self._score_data:
            if name not in data:
                raise ValueError(f"no data for {name!r}: prediction needs {self._score_data}")
            value = numpy.asarray(data[name], dtype=float)
            declared = next(objective.shape(s) for s in objective.data if s.name == name)
            expected = tuple(self.sizes.get(n, n) for n in declared)
            fits = value.ndim == len(declared) and all(
                e == objective.examples or a == e for a, e in zip(value.shape, expected)
            )
            if not fits:
                shape = shape_text(tuple(expected))
                raise ValueError(f"{name!r} must have shape {shape}, not {value.shape}")
            arrays.append(value)
        arrays = list(
            standardized(dict(zip(self._score_data, arrays)), self.standardization).values()
        )
        return numpy.asarray(self._score(*self.params.values(), *arrays))

    def predict(self, data: Mapping[str, numpy.ndarray]) -> numpy.ndarray:
        """Predictions on new data: labels for a classifier, the score for a regression.

        Raises:
            ValueError: As :meth:`scores`.
        """
        z = self.scores(data)
        if self.task == "regression":
            return z
        if z.ndim == 2:
            return numpy.argmax(z, axis=1).astype(float)
        negative, positive = self.labels
        return numpy.where(z > 0, positive, negative)

    def metrics(self, data: Mapping[str, numpy.ndarray]) -> dict[str, float]:
        """scikit-learn's metrics of the predictions against the target in ``data``.

        Classification: accuracy, precision, recall and F1 (binary, or macro-averaged over
        ``k`` classes); regression: mean squared error and :math:`R^2`.

        Raises:
            ValueError: The objective has no target or ``data`` lacks it, or as :meth:`scores`.
        """
        from sklearn import metrics

        if self.target is None or self.target not in data:
            raise ValueError(
                f"metrics need the target {self.target!r} in the data"
                if self.target
                else "the objective has no target (data with the example axis outside '@')"
            )
        predicted, truth = self.predict(data), numpy.asarray(data[self.target], dtype=float)
        if self.task == "regression":
            return {
                "mse": float(metrics.mean_squared_error(truth, predicted)),
                "r2": float(metrics.r2_score(truth, predicted)),
            }
        if truth.ndim == 2:
            truth = numpy.argmax(truth, axis=1).astype(float)
        options: dict = {"average": "macro", "zero_division": 0.0}
        if len(self.labels) == 2:  # binary: the positive label is the larger one
            options.update(average="binary", pos_label=self.labels[1])
        return {
            "accuracy": float(metrics.accuracy_score(truth, predicted)),
            "precision": float(metrics.precision_score(truth, predicted, **options)),
            "recall": float(metrics.recall_score(truth, predicted, **options)),
            "f1": float(metrics.f1_score(truth, predicted, **options)),
        }

    def __repr__(self) -> str:
        params = ", ".join(f"{n}{list(v.shape) if v.shape else ''}" for n, v in self.params.items())
        run = self.result
        return (
            f"TensorTrainResult({params}, loss={run.final_loss:.6g}, epochs={run.epochs}, "
            f"{self.task}, {run.message!r})"
        )
