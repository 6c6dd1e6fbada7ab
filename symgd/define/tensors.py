r"""Stage 1, define: vector and matrix objectives as a small graph over SymPy.

SymPy's ``MatrixSymbol`` calculus fails through element-wise functions, so symgd keeps its own
small tensor layer. A :class:`TensorGraph` holds the shapes of its symbols and a list of
*operations* (matrix product, transpose, sums, norm, trace, determinant, inverse, diag …),
each defining a new node symbol. Everything element-wise (``+ - * / **``, ``exp``, ``σ`` …)
stays an ordinary SymPy expression whose symbols stand for whole arrays, with NumPy's
broadcasting: SymPy's algebra is exact for element-wise expressions, so its simplification,
differentiation and the stable rewrites of :mod:`symgd.compile` all apply unchanged.

Shapes are tuples of shape letters (``m``, ``d`` …, positive integer symbols that stay symbolic)
or integers: ``()`` a scalar, ``(d,)`` a vector, ``(m, d)`` a matrix.

Example:
    >>> from symgd.define import tensor_objective
    >>> objective = tensor_objective("sum((X@w - y)**2)/(2*m)", "w[d]", "X[m,d], y[m]")
    >>> objective.loss
    _t2/(2*m)
    >>> objective.graph.nodes[objective.graph.symbol("_t1")]
    Operation(kind='matmul', args=(X, w), shape=(m,))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import sympy

from symgd.parse import ParseError

Shape = tuple[sympy.Expr, ...]

#: The operations of the tensor layer; everything else is element-wise.
OPERATIONS = (
    "matmul", "transpose", "sum", "norm", "trace", "det", "inv", "diag", "outer", "logsumexp",
    "softmax", "ones", "identity", "let",
)  # fmt: skip


@dataclass(frozen=True)
class Operation:
    """One node of a :class:`TensorGraph`: an operation on element-wise expressions.

    Attributes:
        kind: One of :data:`OPERATIONS`. ``let`` names an element-wise expression (a user's
            definition such as ``z = X@w + b``); ``ones`` and ``identity`` take no arguments.
        args: The arguments, element-wise SymPy expressions over the graph's symbols.
        shape: The shape of the result.
        axis: The axis of ``sum`` (``None``: all elements).
    """

    kind: str
    args: tuple[sympy.Expr, ...]
    shape: Shape
    axis: int | None = None

    def __repr__(self) -> str:
        axis = "" if self.axis is None else f", axis={self.axis}"
        return f"Operation(kind={self.kind!r}, args={self.args}, shape={self.shape}{axis})"


def shape_text(shape: Shape) -> str:
    """A shape as a user reads it: ``scalar``, ``(d,)``, ``(m, d)``."""
    if not shape:
        return "scalar"
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def broadcast(shapes: list[Shape], where: str = "") -> Shape:
    """The shape of an element-wise combination (NumPy rules for up to two axes).

    Raises:
        ParseError: The shapes do not broadcast; the message names both.

    Example:
        >>> m, d = sympy.symbols("m d", integer=True, positive=True)
        >>> broadcast([(), (m,), (m,)]), broadcast([(m, d), (d,)])
        ((m,), (m, d))
    """
    result: Shape = ()
    for shape in shapes:
        if len(shape) > len(result):
            result, shape = shape, result
        if shape and result[len(result) - len(shape) :] != shape:
            place = f" in {where}" if where else ""
            raise ParseError(
                f"shape mismatch{place}: {shape_text(result)} and {shape_text(shape)} do not "
                "match element-wise; use '@' for a matrix product or '.T' to transpose"
            )
    return result


@dataclass(frozen=True)
class TensorGraph:
    """The symbols with a shape and the operations of a tensor expression, in order.

    Attributes:
        shapes: The shape of every non-scalar symbol (leaves and nodes); symbols not listed
            are scalars.
        nodes: Node symbol to its :class:`Operation`, each after the nodes it uses.
    """

    shapes: Mapping[sympy.Symbol, Shape] = field(default_factory=dict)
    nodes: Mapping[sympy.Symbol, Operation] = field(default_factory=dict)

    def shape(self, expr: sympy.Expr, where: str = "") -> Shape:
        """The shape of an element-wise expression over the graph's symbols."""
        return broadcast([self.shapes.get(s, ()) for s in _symbols(expr)], where)

    def symbol(self, name: str) -> sympy.Symbol:
        """The graph symbol called ``name``."""
        for s in (*self.shapes, *self.nodes):
            if s.name == name:
                return s
        raise KeyError(name)

    def add(self, operation: Operation, name: str | None = None) -> sympy.Symbol:
        """A symbol for ``operation``, reusing the node of an identical operation."""
        for node, existing in self.nodes.items():
            if existing == operation and name is None and not node.name[:1].isalpha():
                return node
        node = sympy.Symbol(name or f"_t{len(self.nodes) + 1}", real=True)
        self.nodes[node] = operation  # type: ignore[index]
        if operation.shape:
            self.shapes[node] = operation.shape  # type: ignore[index]
        return node

    def copy(self) -> TensorGraph:
        """A graph that can grow without changing this one."""
        return TensorGraph(dict(self.shapes), dict(self.nodes))

    def inline(self, expr: sympy.Expr, keep: frozenset[sympy.Symbol] = frozenset()) -> sympy.Expr:
        """``expr`` with each ``let`` node (except those in ``keep``) replaced by its definition."""
        lets = {n: op.args[0] for n, op in self.nodes.items() if op.kind == "let" and n not in keep}
        for _ in range(len(lets) + 1):
            replaced = expr.xreplace(lets)
            if replaced == expr:
                return expr
            expr = replaced
        return expr

    def depends(self, expr: sympy.Expr, targets: frozenset[sympy.Symbol]) -> bool:
        """Whether ``expr`` depends on any of ``targets`` through the graph."""
        seen: set[sympy.Symbol] = set()
        stack = list(_symbols(expr))
        while stack:
            s = stack.pop()
            if s in targets:
                return True
            if s in seen or s not in self.nodes:
                continue
            seen.add(s)
            for arg in self.nodes[s].args:
                stack.extend(_symbols(arg))
        return False


def _symbols(expr: sympy.Expr) -> list[sympy.Symbol]:
    return [s for s in expr.free_symbols if isinstance(s, sympy.Symbol)]


@dataclass(frozen=True)
class TensorObjective:
    """A scalar objective over vector and matrix parameters and data.

    Attributes:
        text: The user's text of the objective.
        loss: The objective ``J``, a scalar element-wise expression over the graph's symbols.
        params: The parameters, in order.
        data: The data symbols, in order.
        graph: The :class:`TensorGraph` the loss refers to.
        letters: The shape letters, e.g. ``(m, d)``.
        examples: The shape letter of the example axis (``m``), or ``None``.
    """

    text: str
    loss: sympy.Expr
    params: tuple[sympy.Symbol, ...]
    data: tuple[sympy.Symbol, ...]
    graph: TensorGraph
    letters: tuple[sympy.Symbol, ...]
    examples: sympy.Symbol | None

    def shape(self, name: sympy.Symbol) -> Shape:
        """The shape of a parameter or data symbol."""
        return self.graph.shapes.get(name, ())

    def __repr__(self) -> str:
        def declared(symbols: tuple[sympy.Symbol, ...]) -> str:
            return ", ".join(
                s.name + ("[" + ",".join(map(str, self.shape(s))) + "]" if self.shape(s) else "")
                for s in symbols
            )

        return (
            f"TensorObjective({self.text!r}, params={declared(self.params)!r}, "
            f"data={declared(self.data)!r})"
        )
