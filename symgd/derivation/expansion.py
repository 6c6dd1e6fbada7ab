"""Check matrix-form results against ``sympy.diff`` of the objective written out element by element.

Each shape letter gets a small size (3, 2, 4 … so that a transposition bug changes a shape),
every array becomes a NumPy object array of real SymPy symbols, and every operation is carried
out on them: the objective becomes one scalar SymPy expression of the elements. Each element of
a derived gradient (or Hessian) must equal ``sympy.diff`` of that expression, evaluated with
30 significant digits at seeded random points.

Example:
    >>> from symgd.define import tensor_objective
    >>> from symgd.derivation.matrix import derive_tensor
    >>> derivation = derive_tensor(tensor_objective("0.5*x@A@x", "x[n]", "A[n,n]"))
    >>> check_expanded_gradient(derivation).worst < 1e-20
    True
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

import numpy
import sympy

from symgd.define import Shape, TensorGraph, TensorObjective

SIZES = (3, 2, 4)
"""The sizes given to shape letters, in the order the letters were declared."""


class Expander:
    """Values of graph symbols as NumPy object arrays of SymPy expressions of the elements."""

    def __init__(self, graph: TensorGraph, sizes: Mapping[sympy.Symbol, int]):
        self.graph, self.sizes = graph, dict(sizes)
        self.values: dict[sympy.Symbol, object] = {}

    def size(self, shape: Shape) -> tuple[int, ...]:
        return tuple(int(n.xreplace(self.sizes)) for n in shape)

    def leaf(self, s: sympy.Symbol) -> object:
        shape = self.size(self.graph.shapes.get(s, ()))
        if not shape:
            return s
        array = numpy.empty(shape, dtype=object)
        for index in numpy.ndindex(*shape):
            array[index] = sympy.Symbol(f"{s.name}[{','.join(map(str, index))}]", real=True)
        return array

    def value(self, s: sympy.Symbol) -> object:
        if s not in self.values:
            if s in self.sizes:
                self.values[s] = sympy.Integer(self.sizes[s])
            elif s in self.graph.nodes:
                self.values[s] = self.operation(s)
            else:
                self.values[s] = self.leaf(s)
        return self.values[s]

    def __call__(self, expr: sympy.Expr) -> object:
        symbols = sorted(expr.free_symbols, key=str)
        values = [self.value(s) for s in symbols]
        if not any(isinstance(v, numpy.ndarray) for v in values):
            return expr.xreplace(dict(zip(symbols, values, strict=True)))
        function = numpy.frompyfunc(
            lambda *vs: expr.xreplace(dict(zip(symbols, vs, strict=True))), len(symbols), 1
        )
        return function(*values)

    def operation(self, node: sympy.Symbol) -> object:
        op = self.graph.nodes[node]
        args = [self(a) for a in op.args]
        shape = self.size(op.shape)
        kind = op.kind
        if kind == "let":
            return args[0]
        if kind == "ones":
            return numpy.full(shape, sympy.Integer(1), dtype=object)
        if kind == "identity":
            return numpy.array(sympy.eye(shape[0]).tolist(), dtype=object)
        a = args[0]
        if kind in ("matmul", "outer"):
            a, c = (numpy.broadcast_to(v, self.size(self.graph.shape(e))) for v, e in
                    zip(args, op.args, strict=True))  # fmt: skip
            return numpy.matmul(a, c) if kind == "matmul" else numpy.multiply.outer(a, c)
        if kind == "transpose":
            return a.T
        if kind == "sum":
            full = numpy.broadcast_to(a, self.size(self.graph.shape(op.args[0])))
            return numpy.sum(full, axis=op.axis) if op.axis is not None else sympy.Add(*full.flat)
        if kind == "norm":
            return sympy.sqrt(sympy.Add(*(v**2 for v in numpy.asarray(a).flat)))
        if kind == "trace":
            return sympy.Add(*numpy.diag(a))
        if kind in ("det", "inv"):
            matrix = sympy.Matrix(a.tolist())
            return (
                matrix.det() if kind == "det" else numpy.array(matrix.inv().tolist(), dtype=object)
            )
        if kind == "diag":
            if a.ndim == 2:
                return numpy.diag(a).copy()
            out = numpy.full((a.size, a.size), sympy.Integer(0), dtype=object)
            numpy.fill_diagonal(out, a)
            return out
        if kind == "softmax":
            rows = numpy.atleast_2d(a)
            out = numpy.array([[sympy.exp(v) / sympy.Add(*(sympy.exp(u) for u in row)) for v in row]
                               for row in rows], dtype=object)  # fmt: skip
            return out.reshape(a.shape)
        if kind == "logsumexp":
            rows = a.reshape(-1, a.shape[-1])
            out = [sympy.log(sympy.Add(*(sympy.exp(v) for v in row))) for row in rows]
            return out[0] if a.ndim == 1 else numpy.array(out, dtype=object)
        raise ValueError(f"cannot expand the operation {kind!r}")


@dataclass(frozen=True)
class ExpansionCheck:
    """How far the matrix-form results are from ``sympy.diff`` of the expanded objective.

    Attributes:
        sizes: The size given to each shape letter.
        elements: How many elements were compared.
        worst: The largest relative difference found.
        where: Where it was found, e.g. ``"∂J/∂w[1]"``.
    """

    sizes: dict[str, int]
    elements: int
    worst: float
    where: str

    @property
    def passed(self) -> bool:
        return self.worst < 1e-12


def _sizes(objective: TensorObjective) -> dict[sympy.Symbol, int]:
    return {letter: SIZES[k % len(SIZES)] for k, letter in enumerate(objective.letters)}


def _point(expander: Expander, rng: random.Random) -> dict[sympy.Symbol, sympy.Float]:
    point = {}
    for s in expander.values:
        value = expander.values[s]
        if s in expander.graph.nodes or s in expander.sizes:
            continue
        for element in numpy.asarray(value, dtype=object).flat:
            if isinstance(element, sympy.Symbol):
                point[element] = sympy.Float(rng.uniform(0.2, 1.2) * rng.choice((1, -1)), 30)
    return point


def _relative(a: sympy.Expr, b: sympy.Expr, point: dict) -> float:
    x = complex(sympy.N(a.xreplace(point), 30))
    y = complex(sympy.N(b.xreplace(point), 30))
    return abs(x - y) / max(abs(x), abs(y), 1e-30)


def compare(
    objective: TensorObjective,
    graph: TensorGraph,
    results: Mapping[str, tuple[sympy.Expr, tuple[sympy.Symbol, ...]]],
    *,
    points: int = 2,
    seed: int = 0,
) -> ExpansionCheck:
    """Compare expressions over ``graph`` with derivatives of the expanded objective.

    Args:
        objective: The objective.
        graph: The graph the expressions live on (the objective's, grown).
        results: A label to ``(expression, variables)``: the expression must equal the
            derivative of the objective with respect to ``variables`` (one for a gradient, two
            for a Hessian block), element by element.
        points: How many random points to compare at.
        seed: The seed of the points.
    """
    sizes = _sizes(objective)
    expander = Expander(graph, sizes)
    loss = expander(objective.loss)
    rng = random.Random(seed)
    worst, where, elements = 0.0, "", 0
    for label, (expr, variables) in results.items():
        value = expander(expr)
        first = numpy.asarray(expander.value(variables[0]), dtype=object)
        expected = numpy.empty(first.shape, dtype=object)
        for index in numpy.ndindex(*first.shape):
            expected[index] = sympy.diff(loss, first[index])
        if len(variables) == 2:
            second = numpy.asarray(expander.value(variables[1]), dtype=object)
            expected = numpy.array(
                [[sympy.diff(e, s) for s in second.flat] for e in expected.flat], dtype=object
            ).reshape(first.shape + second.shape)
        value = numpy.broadcast_to(numpy.asarray(value, dtype=object), expected.shape)
        for _ in range(points):
            point = _point(expander, rng)
            for index in numpy.ndindex(*expected.shape):
                difference = _relative(sympy.sympify(value[index]), expected[index], point)
                elements += 1
                if difference > worst or not where:
                    worst, where = difference, f"{label}[{','.join(map(str, index))}]"
    return ExpansionCheck({s.name: n for s, n in sizes.items()}, elements, worst, where)


def check_expanded_gradient(derivation, *, points: int = 2, seed: int = 0) -> ExpansionCheck:
    """Check every gradient of a :class:`~symgd.derivation.matrix.MatrixDerivation`."""
    results = {f"∂J/∂{p}": (g, (p,)) for p, g in derivation.gradient.items()}
    return compare(derivation.objective, derivation.graph, results, points=points, seed=seed)


def check_expanded_hessian(hessian, *, points: int = 2, seed: int = 0) -> ExpansionCheck:
    """Check every block of a :class:`~symgd.derivation.hessian.Hessian`."""
    results = {f"∂²J/∂{q}∂{p}": (h, (q, p)) for (q, p), h in hessian.blocks.items()}
    objective = hessian.derivation.objective
    return compare(objective, hessian.graph, results, points=points, seed=seed)
