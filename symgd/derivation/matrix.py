r"""Stage 2, derive: gradients and Hessians of vector and matrix objectives.

Reverse accumulation over a :class:`~symgd.define.tensors.TensorGraph`: each operation has its
own local rule in matrix form (the way micrograd gives each operation its own step), and the
element-wise parts are differentiated by SymPy, element by element. With
:math:`\bar{A} = \partial J / \partial A` (the layout convention: a gradient has the shape of
what it differentiates):

.. math::

    C = AB:\ \bar{A} = \bar{C} B^\top,\ \bar{B} = A^\top \bar{C} \qquad
    C = \operatorname{tr} A:\ \bar{A} = \bar{C} I \qquad
    C = \det A:\ \bar{A} = \bar{C}\, C\, A^{-\top} \qquad
    C = A^{-1}:\ \bar{A} = -C^\top \bar{C} C^\top

No size is ever expanded, so deriving takes the same time at d = 3 and d = 3000.

Example:
    >>> from symgd.define import tensor_objective
    >>> objective = tensor_objective("sum((X@w - y)**2)/(2*m)", "w[d]", "X[m,d], y[m]")
    >>> derive_tensor(objective).gradient
    {w: _t4/m}
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import sympy

from symgd.define import Operation, Shape, TensorGraph, TensorObjective
from symgd.derivation.scalar import without_impulses
from symgd.display import display_latex

_LINEAR = frozenset({"matmul", "outer", "transpose", "sum", "diag"})


def _zero(expr: sympy.Expr) -> bool:
    return expr == 0


def simplest(expr: sympy.Expr) -> sympy.Expr:
    """The shortest of a few equivalent forms of an element-wise expression.

    Example:
        >>> y, p = sympy.symbols("y p", real=True)
        >>> simplest(-(y*(1 - p) - (1 - y)*p))
        p - y
    """
    shallow = sympy.expand(expr, deep=False, power_exp=False, power_base=False, log=False)
    deep = sympy.expand(expr, power_exp=False, power_base=False, log=False)
    candidates = [expr, sympy.factor_terms(expr), shallow, sympy.factor_terms(shallow), deep]
    candidates.append(sympy.factor_terms(deep))
    return min(candidates, key=lambda e: (sympy.count_ops(e), len(str(e))))


class _Builder:
    """Operations on a growing graph, simplified as they are made."""

    def __init__(self, graph: TensorGraph):
        self.graph = graph

    def shape(self, expr: sympy.Expr) -> Shape:
        return self.graph.shape(expr)

    def op(self, kind: str, args: tuple, shape: Shape, axis: int | None = None) -> sympy.Expr:
        """The node of an operation; scalar factors of a linear operation's arguments go out."""
        args = tuple(simplest(a) for a in args)
        coefficient = sympy.Integer(1)
        if kind in _LINEAR:
            parts = [self.split(a) for a in args]
            coefficient = sympy.Mul(*(c for c, _ in parts))
            args = tuple(a for _, a in parts)
        return coefficient * self.graph.add(Operation(kind, args, tuple(shape), axis))

    def split(self, expr: sympy.Expr) -> tuple[sympy.Expr, sympy.Expr]:
        """``expr`` as (scalar coefficient, array part)."""
        scalar, array = [], []
        for factor in sympy.Mul.make_args(sympy.factor_terms(expr)):
            (array if self.shape(factor) else scalar).append(factor)
        return sympy.Mul(*scalar), sympy.Mul(*array)

    def merge_sums(self, expr: sympy.Expr) -> sympy.Expr:
        """``Σa + Σb`` (same axis) as ``Σ(a + b)``: one reduction over one expression."""
        groups: dict[tuple, list[sympy.Expr]] = {}
        rest = []
        for term in sympy.Add.make_args(expr):
            coefficient, array = self.split(term) if self.shape(term) else (term, None)
            node = self.node(array) if array is not None else None
            if node is not None and node.kind == "sum":
                groups.setdefault((node.axis, node.shape), []).append(coefficient * node.args[0])
            else:
                rest.append(term)
        for (axis, _), parts in groups.items():
            if len(parts) == 1:
                rest.append(self.total(parts[0], axis))
            else:
                rest.append(self.total(sympy.Add(*parts), axis))
        return sympy.Add(*rest)

    def node(self, expr: sympy.Expr) -> Operation | None:
        return self.graph.nodes.get(expr) if isinstance(expr, sympy.Symbol) else None

    def ones(self, shape: Shape) -> sympy.Expr:
        return self.op("ones", (), shape) if shape else sympy.Integer(1)

    def identity(self, n: sympy.Expr) -> sympy.Expr:
        return self.op("identity", (), (n, n))

    def transpose(self, a: sympy.Expr) -> sympy.Expr:
        shape = self.shape(a)
        if len(shape) < 2:
            return a
        node = self.node(a)
        if node is not None and node.kind == "transpose":
            return node.args[0]
        if node is not None and node.kind == "ones":
            return self.ones(shape[::-1])
        if node is not None and node.kind == "outer":
            return self.outer(node.args[1], node.args[0])
        if node is not None and node.kind == "matmul":
            factors = self.chain(a)
            marks = sum(self.transposed_cost(f) for f in factors)
            free = sum(self.symmetric(f) for f in factors)
            if len(factors) - marks - free <= marks + 1:  # (ABᵀC)ᵀ = CᵀBAᵀ when no longer
                product = self.transpose(factors[-1])
                for factor in reversed(factors[:-1]):
                    product = self.matmul(product, self.transpose(factor))
                return product
        if self.symmetric(a):
            return a
        if (
            node is None
            and isinstance(a, (sympy.Add, sympy.Mul))
            and all(len(self.shape(term)) < 2 or isinstance(term, sympy.Symbol) for term in a.args)
        ):
            # (cA + B)ᵀ = cAᵀ + Bᵀ: transpose each matrix symbol of an element-wise expression
            return a.xreplace(
                {s: self.transpose(s) for s in a.free_symbols if len(self.shape(s)) == 2}
            )
        return self.op("transpose", (a,), shape[::-1])

    def chain(self, a: sympy.Expr) -> list[sympy.Expr]:
        """The factors of a product of matrices ``A @ B @ C`` (nested matmul nodes), in order."""
        node = self.node(a)
        if node is None or node.kind != "matmul" or len(node.shape) != 2:
            return [a]
        left, right = node.args
        if len(self.shape(left)) != 2 or len(self.shape(right)) != 2:
            return [a]
        return self.chain(left) + self.chain(right)

    def symmetric(self, a: sympy.Expr) -> bool:
        """Whether ``a`` is its own transpose by construction (``I``, ``diag(v)``)."""
        node = self.node(a)
        return node is not None and (
            node.kind == "identity" or (node.kind == "diag" and len(node.shape) == 2)
        )

    def transposed_cost(self, a: sympy.Expr) -> int:
        """1 if ``a`` is printed with a transpose (its own transpose is then free), else 0."""
        node = self.node(a)
        return int(node is not None and node.kind == "transpose")

    def matmul(self, a: sympy.Expr, b: sympy.Expr) -> sympy.Expr:
        if _zero(a) or _zero(b):
            return sympy.Integer(0)
        left, right = self.node(a), self.node(b)
        if left is not None and left.kind == "identity":
            return b
        if right is not None and right.kind == "identity":
            return a
        sa, sb = self.shape(a), self.shape(b)
        if not sa or not sb:
            return a * b
        (pa, ta, ia), (pb, tb, ib) = self.base(a), self.base(b)
        if len(sa) == 2 and pa == pb and ta == tb and ia != ib:
            return self.identity(sa[0])  # A⁻¹A = I, and transposed
        return self.op("matmul", (a, b), sa[:-1] + sb[1:])

    def outer(self, a: sympy.Expr, b: sympy.Expr) -> sympy.Expr:
        return self.op("outer", (a, b), self.shape(a) + self.shape(b))

    def total(self, a: sympy.Expr, axis: int | None = None) -> sympy.Expr:
        shape = self.shape(a)
        if not shape:
            return a
        if axis is None:
            return self.op("sum", (a,), ())
        node = self.node(a)
        if axis == 0 and node is not None and node.kind == "matmul":
            first = self.node(node.args[0])
            if first is not None and first.kind == "diag" and len(first.shape) == 2:
                return self.matmul(first.args[0], node.args[1])  # 1ᵀ diag(c) B = cᵀB
        return self.op("sum", (a,), (shape[1 - axis],), axis)

    def columns(self, value: sympy.Expr, shape: Shape) -> sympy.Expr:
        """A vector of ``shape[0]`` entries repeated as the columns of a matrix of ``shape``."""
        return value if not self.shape(value) else self.outer(value, self.ones(shape[1:]))

    def base(self, a: sympy.Expr) -> tuple[sympy.Expr, bool, bool]:
        """``a`` as (matrix, transposed, inverted): ``A^{-T}`` is (A, True, True)."""
        transposed = inverted = False
        while (node := self.node(a)) is not None and node.kind in ("transpose", "inv"):
            if node.kind == "transpose":
                transposed = not transposed
            else:
                inverted = not inverted
            a = node.args[0]
        return a, transposed, inverted

    def inverse(self, a: sympy.Expr) -> sympy.Expr:
        node = self.node(a)
        if node is not None and node.kind == "inv":
            return node.args[0]
        return self.op("inv", (a,), self.shape(a))

    def broadcast_to(self, value: sympy.Expr, shape: Shape) -> sympy.Expr:
        have = self.shape(value)
        if have == shape:
            return value
        if len(shape) == 2 and len(have) == 1 and have[0] == shape[0] and have[0] != shape[1]:
            return self.outer(value, self.ones(shape[1:]))  # a column, repeated
        return value * self.ones(shape)

    def reduce_to(self, value: sympy.Expr, shape: Shape) -> sympy.Expr:
        have = self.shape(value)
        if have == shape:
            return value
        if not shape:
            return self.total(value)
        if len(have) == 2 and len(shape) == 1:
            return self.total(value, 0)
        return self.broadcast_to(value, shape)


def _matmul_by_ones(b: _Builder, op: Operation, k: int, bar: sympy.Expr) -> sympy.Expr | None:
    r"""The adjoint of argument ``k`` of ``A @ C`` when the product's adjoint is ``bar`` everywhere.

    ``(s\mathbf{1}) C^\top`` repeats the row sums of ``C`` (a row broadcasts by itself) and
    ``A^\top (s\mathbf{1})`` is ``s`` times the column sums of ``A``.
    """
    a, c = op.args
    sa, sc = b.shape(a), b.shape(c)
    if k == 0:
        return bar * c if len(sc) == 1 else bar * b.total(c, 1)
    if len(sc) == 1:
        return bar * a if len(sa) == 1 else bar * b.total(a, 0)
    return b.columns(bar * (a if len(sa) == 1 else b.total(a, 0)), sc)


def _vjp(b: _Builder, node: sympy.Symbol, op: Operation, k: int, bar: sympy.Expr) -> sympy.Expr:
    """The adjoint of argument ``k`` of ``node = op(...)`` given the node's adjoint ``bar``."""
    args, kind = op.args, op.kind
    if kind == "matmul" and not b.shape(bar):
        ones = _matmul_by_ones(b, op, k, bar)  # s·1 as an adjoint: sums and rows, no ones(m)
        if ones is not None:
            return ones
    if kind in ("matmul", "outer", "transpose", "inv", "diag", "softmax"):
        bar = b.broadcast_to(bar, op.shape)  # these rules need the adjoint's full shape
    if kind == "let":
        return bar
    if kind == "transpose":
        return b.transpose(bar)
    if kind == "matmul":
        a, c = args
        sa, sc = b.shape(a), b.shape(c)
        if k == 0:
            if len(sa) == 1 and len(sc) == 1:
                return bar * c
            if len(sa) == 1:
                return b.matmul(c, bar)
            if len(sc) == 1:
                return b.outer(bar, c)
            return b.matmul(bar, b.transpose(c))
        if len(sa) == 1 and len(sc) == 1:
            return bar * a
        if len(sc) == 1:
            return b.matmul(b.transpose(a), bar)
        if len(sa) == 1:
            return b.outer(a, bar)
        return b.matmul(b.transpose(a), bar)
    if kind == "outer":
        return b.matmul(bar, args[1]) if k == 0 else b.matmul(b.transpose(bar), args[0])
    if kind == "sum":  # a scalar or row adjoint broadcasts by itself where it is used
        return b.columns(bar, b.shape(args[0])) if op.axis == 1 else bar
    if kind == "norm":
        return bar * args[0] / node
    if kind == "trace":
        return bar * b.identity(b.shape(args[0])[0])
    if kind == "det":
        return bar * node * b.transpose(b.inverse(args[0]))
    if kind == "inv":
        return -b.matmul(b.matmul(b.transpose(node), bar), b.transpose(node))
    if kind == "diag":
        shape = b.shape(args[0])
        return b.op("diag", (bar,), (shape[0],) if len(shape) == 2 else (shape[0], shape[0]))
    if kind == "logsumexp":
        shape = b.shape(args[0])
        if len(shape) == 1:
            return bar * sympy.exp(args[0] - node)
        return b.columns(bar, shape) * b.op("softmax", (args[0],), shape)
    if kind == "softmax":  # s ⊙ (s̄ − (s̄·s) per row)
        shape = b.shape(args[0])
        row = b.total(bar * node) if len(shape) == 1 else b.columns(b.total(bar * node, 1), shape)
        return node * (bar - row)
    raise ValueError(f"no derivative rule for the operation {kind!r}")


def backward(
    graph: TensorGraph, output: sympy.Expr, wrt: tuple[sympy.Symbol, ...]
) -> tuple[dict[sympy.Symbol, sympy.Expr], dict[sympy.Symbol, sympy.Expr]]:
    """Reverse accumulation of the scalar ``output`` over ``graph`` (which grows).

    Returns:
        The adjoint of each symbol in ``wrt``, and the adjoint of every node on the way.
    """
    b, targets = _Builder(graph), frozenset(wrt)
    adjoints: dict[sympy.Symbol, sympy.Expr] = defaultdict(lambda: sympy.Integer(0))

    def into(expr: sympy.Expr, bar: sympy.Expr) -> None:
        shape = b.shape(expr)
        for s in sorted(expr.free_symbols, key=str):
            if not isinstance(s, sympy.Symbol) or not graph.depends(s, targets):
                continue
            contribution = bar * without_impulses(sympy.diff(expr, s))
            if _zero(contribution):
                continue
            target = graph.shapes.get(s, ())
            if target != shape:  # s was broadcast: sum its adjoint over the broadcast axes
                have = b.shape(contribution)
                if have == target[len(target) - len(have) :]:  # the same for every copy of s
                    contribution *= sympy.Mul(*shape[: len(shape) - len(target)])
                else:
                    contribution = b.reduce_to(b.broadcast_to(contribution, shape), target)
            adjoints[s] += contribution  # may stay a scalar or a row: it broadcasts

    into(output, sympy.Integer(1))
    for node in reversed(list(graph.nodes)):
        bar = adjoints.get(node)
        if bar is None or _zero(bar):
            continue
        op = graph.nodes[node]
        for k, arg in enumerate(op.args):
            if graph.depends(arg, targets):
                into(arg, _vjp(b, node, op, k, bar))
    return {p: adjoints.get(p, sympy.Integer(0)) for p in wrt}, dict(adjoints)


@dataclass(frozen=True)
class MatrixStep:
    """One step of a matrix derivation: the adjoint ``∂J/∂node`` of an intermediate."""

    node: sympy.Symbol
    adjoint: sympy.Expr


@dataclass(frozen=True)
class MatrixDerivation:
    """Gradients of a :class:`~symgd.define.TensorObjective` in matrix form.

    Attributes:
        objective: What was derived.
        graph: The objective's graph grown by the operations of the gradients.
        gradient: Parameter to ``∂J/∂parameter`` (an element-wise expression over ``graph``,
            with the parameter's shape).
        steps: The adjoints of the named intermediates, output first.
    """

    objective: TensorObjective
    graph: TensorGraph
    gradient: dict[sympy.Symbol, sympy.Expr]
    steps: tuple[MatrixStep, ...]

    def _repr_latex_(self) -> str | None:
        return display_latex(self)

    def __repr__(self) -> str:
        return f"MatrixDerivation({self.objective.text!r}, gradient={self.gradient})"


def _tidy(expr: sympy.Expr) -> sympy.Expr:
    return simplest(expr)


def derive_tensor(objective: TensorObjective) -> MatrixDerivation:
    """Derive ``∇J`` for every parameter of a vector/matrix objective, in matrix form.

    Args:
        objective: From :func:`~symgd.define.tensor_objective`.

    Returns:
        The :class:`MatrixDerivation`; check it with
        :func:`~symgd.derivation.check_expanded_gradient`.

    Example:
        >>> from symgd.define import tensor_objective
        >>> derivation = derive_tensor(tensor_objective("0.5*x@A@x", "x[n]", "A[n,n]"))
        >>> [op.kind for op in derivation.graph.nodes.values()]
        ['matmul', 'matmul', 'matmul']
    """
    graph = objective.graph.copy()
    gradient, adjoints = backward(graph, objective.loss, objective.params)
    builder = _Builder(graph)
    gradient = {
        p: builder.broadcast_to(_tidy(builder.merge_sums(g)), objective.shape(p))
        for p, g in gradient.items()
    }
    steps = tuple(
        MatrixStep(node, _tidy(adjoints[node]))
        for node in reversed(list(objective.graph.nodes))
        if node in adjoints and objective.graph.nodes[node].kind in ("let", "matmul")
    )
    return MatrixDerivation(objective, graph, gradient, steps)
