"""Read a vector/matrix objective in NumPy notation into a :class:`TensorGraph`.

The safe parser of :mod:`symgd.parse` (``ast`` against a whitelist, within budgets, never
``eval``) builds the element-wise parts; this builder adds ``@``, ``.T`` and the array
functions, each as an operation node, and checks every shape as it goes.

Example:
    >>> objective = build_objective("0.5*x@A@x", "x[n]", "A[n,n]", ())
    >>> objective.loss, objective.graph.nodes[objective.graph.symbol("_t2")].kind
    (_t2, 'matmul')
"""

from __future__ import annotations

import ast
from collections.abc import Mapping

import sympy

from symgd.define.tensors import Operation, Shape, TensorGraph, TensorObjective, shape_text
from symgd.parse import (
    FUNCTIONS,
    ExpressionBuilder,
    ParseError,
    build_text,
    excerpt,
    parse_declarations,
    parse_definition,
    parse_name,
)

#: The array functions and how many arguments each takes.
ARRAY_FUNCTIONS = {
    "sum": "a sum (of all elements, or along axis=0/1)",
    "mean": "a mean (of all elements, or along axis=0/1)",
    "norm": "the 2-norm of a vector, the Frobenius norm of a matrix",
    "trace": "the trace of a square matrix",
    "det": "the determinant of a square matrix",
    "inv": "the inverse of a square matrix",
    "diag": "a vector's diagonal matrix, or a matrix's diagonal",
    "logsumexp": "log(sum(exp(.))) over the last axis, computed stably",
    "dot": "the inner product of two vectors",
    "outer": "the outer product of two vectors",
    "softmax": "exp(.)/sum(exp(.)) over the last axis, computed stably",
    "ones": "an array of ones with the given sizes, e.g. ones(m) or ones(m, d)",
    "eye": "the identity matrix of a size, e.g. eye(d)",
}

EXAMPLE_LETTER = "m"
"""The shape letter of the example axis: mini-batches slice the arrays along it."""


class TensorBuilder(ExpressionBuilder):
    """:class:`~symgd.parse.ExpressionBuilder` plus ``@``, ``.T`` and the array functions."""

    def __init__(self, text: str, symbols: Mapping[str, sympy.Symbol], graph: TensorGraph):
        super().__init__(text, symbols)
        self.graph = graph

    def build(self, node: ast.AST) -> sympy.Expr:
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            value = self.matmul(self.build(node.left), self.build(node.right), node)
        elif isinstance(node, ast.Attribute):
            if node.attr != "T":
                raise self.reject(f"attribute '.{node.attr}'", "only '.T' (transpose) exists")
            value = self.transpose(self.build(node.value))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ARRAY_FUNCTIONS
        ):
            value = self.array_call(node)
        else:
            value = super().build(node)
        if value.free_symbols:  # a shape mismatch fails here, quoting the user's text
            self.graph.shape(value, self.segment(node))
        return value

    def name(self, name: str) -> sympy.Expr:
        if name in self.symbols or name in FUNCTIONS or name in ARRAY_FUNCTIONS:
            if name in ARRAY_FUNCTIONS:
                raise ParseError(f"'{name}' is a function; call it as {name}(...)")
            return super().name(name)
        value = super().name(name)  # reserved names and constants explain themselves
        if isinstance(value, sympy.Symbol):
            raise ParseError(
                f"unknown name '{name}' in {excerpt(self.text)}; declare it in the parameters "
                "or the data, e.g. 'w[d], b' or 'X[m,d], y[m]'"
            )
        return value

    def shape(self, expr: sympy.Expr) -> Shape:
        return self.graph.shape(expr)

    def operation(self, kind: str, args: tuple, shape: Shape, axis: int | None = None):
        return self.graph.add(Operation(kind, args, shape, axis))

    def matmul(self, left: sympy.Expr, right: sympy.Expr, node: ast.AST) -> sympy.Expr:
        a, b = self.shape(left), self.shape(right)
        if not a or not b:
            raise ParseError(
                f"'@' needs vectors or matrices on both sides in {excerpt(self.segment(node))}, "
                f"got {shape_text(a)} and {shape_text(b)}; write '*' to multiply by a scalar"
            )
        inner_left = a[-1]
        inner_right = b[0]
        if inner_left != inner_right:
            raise ParseError(
                f"shape mismatch in {excerpt(self.segment(node))}: {shape_text(a)} @ "
                f"{shape_text(b)} ({inner_left} ≠ {inner_right}); transpose one side with '.T'"
            )
        return self.operation("matmul", (left, right), a[:-1] + b[1:])

    def transpose(self, value: sympy.Expr) -> sympy.Expr:
        shape = self.shape(value)
        if len(shape) < 2:  # NumPy: a vector's (and a scalar's) .T is itself
            return value
        return self.operation("transpose", (value,), shape[::-1])

    def array_call(self, node: ast.Call) -> sympy.Expr:
        name = node.func.id  # type: ignore[attr-defined]
        if name in ("ones", "eye"):
            return self.filled(node, name)
        axis = self.axis(node)
        counts = {"dot": 2, "outer": 2}
        expected = counts.get(name, 1)
        if len(node.args) != expected:
            if name in ("sum", "mean", "logsumexp") and len(node.args) == 2 and axis is None:
                raise self.reject(f"a second argument of {name}(...)", "write axis=0 or axis=1")
            plural = "s" if expected > 1 else ""
            raise ParseError(
                f"{name} takes {expected} argument{plural}, got {len(node.args)} in "
                f"{excerpt(self.text)}"
            )
        args = [self.build(argument) for argument in node.args]
        if name in ("dot", "outer"):
            shapes = [self.shape(a) for a in args]
            if any(len(s) != 1 for s in shapes):
                raise ParseError(
                    f"{name} takes two vectors, got {', '.join(map(shape_text, shapes))}"
                )
            if name == "dot":
                return self.matmul(args[0], args[1], node)
            return self.operation("outer", tuple(args), (shapes[0][0], shapes[1][0]))
        value, shape = args[0], self.shape(args[0])
        if name in ("sum", "mean"):
            return self.reduce(value, shape, axis, mean=name == "mean")
        if name in ("logsumexp", "softmax") and axis is not None and axis == len(shape) - 1:
            axis = None  # the last axis is the one these work over
        if axis is not None:
            hint = (
                "only sum and mean take an axis"
                if name not in ("logsumexp", "softmax")
                else f"{name} works over the last axis; transpose with .T for the other"
            )
            raise self.reject(f"axis={axis} in {name}(...)", hint)
        if name == "norm":
            return sympy.Abs(value) if not shape else self.operation("norm", (value,), ())
        if name == "logsumexp":
            if not shape:
                return value
            return self.operation("logsumexp", (value,), shape[:-1])
        if name == "softmax":
            return self.operation("softmax", (value,), shape) if shape else sympy.Integer(1)
        if name == "diag":
            if len(shape) == 1:
                return self.operation("diag", (value,), (shape[0], shape[0]))
            if len(shape) == 2 and shape[0] == shape[1]:
                return self.operation("diag", (value,), (shape[0],))
            raise ParseError(f"diag takes a vector or a square matrix, got {shape_text(shape)}")
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ParseError(
                f"{name} takes a square matrix, got {shape_text(shape)} in {excerpt(self.text)}"
            )
        return self.operation(name, (value,), () if name in ("trace", "det") else shape)

    def filled(self, node: ast.Call, name: str) -> sympy.Expr:
        """``ones(m)``, ``ones(m, d)`` or ``eye(d)``: sizes are shape letters or integers."""
        counts = (1,) if name == "eye" else (1, 2)
        if node.keywords or len(node.args) not in counts:
            raise ParseError(
                f"{name} takes {' or '.join(map(str, counts))} sizes (shape letters or "
                f"integers) in {excerpt(self.segment(node))}, e.g. ones(m, d) or eye(d)"
            )
        shape = tuple(self.size_of(argument, name) for argument in node.args)
        if name == "eye":
            return self.operation("identity", (), shape * 2)
        return self.operation("ones", (), shape)

    def size_of(self, node: ast.AST, name: str) -> sympy.Expr:
        if isinstance(node, ast.Constant) and type(node.value) is int and 0 < node.value <= 10**6:
            return sympy.Integer(node.value)
        letter = self.symbols.get(node.id) if isinstance(node, ast.Name) else None
        if letter is None or not letter.is_integer:
            raise ParseError(
                f"a size in {name}(...) is a shape letter or an integer from 1 to 10^6, got "
                f"{excerpt(self.segment(node))}"
            )
        return letter

    def axis(self, node: ast.Call) -> int | None:
        axis = None
        for keyword in node.keywords:
            if keyword.arg != "axis" or not isinstance(keyword.value, ast.Constant):
                raise self.reject(f"keyword argument in {node.func.id}(...)", "only axis=0 or 1")  # type: ignore[attr-defined]
            if axis is not None:
                raise self.reject("axis= given twice", "give one axis")
            axis = keyword.value.value
            if type(axis) is not int or axis not in (0, 1):
                raise self.reject(f"axis={axis!r}", "write axis=0 (down columns) or axis=1 (rows)")
        return axis

    def reduce(self, value: sympy.Expr, shape: Shape, axis: int | None, *, mean: bool):
        if axis is not None and len(shape) != 2:
            if not (axis == 0 and len(shape) == 1):
                raise ParseError(f"axis={axis} needs a matrix, got {shape_text(shape)}")
            axis = None
        if not shape:
            return value
        if axis is None:
            count = sympy.Mul(*shape)
            total = self.operation("sum", (value,), ())
        else:
            count = shape[axis]
            total = self.operation("sum", (value,), (shape[1 - axis],), axis)
        return total / count if mean else total


def _declare(text: str, role: str, letters: dict[str, sympy.Symbol], graph: TensorGraph):
    symbols = []
    for name, axes in parse_declarations(text):
        shape = []
        for axis in axes:
            if isinstance(axis, int):
                shape.append(sympy.Integer(axis))
            else:
                shape.append(
                    letters.setdefault(axis, sympy.Symbol(axis, integer=True, positive=True))
                )
        value = sympy.Symbol(name, real=True)
        if shape:
            graph.shapes[value] = tuple(shape)  # type: ignore[index]
        symbols.append(value)
    if not symbols and role == "parameters":
        raise ParseError("no parameters given; declare them, e.g. 'w[d], b'")
    return tuple(symbols)


def build_objective(loss: str, params: str, data: str, define: tuple[str, ...]) -> TensorObjective:
    """Parse the pieces of a :func:`tensor_objective` (see there)."""
    graph, letters = TensorGraph({}, {}), {}
    param_symbols = _declare(params, "parameters", letters, graph)
    data_symbols = _declare(data, "data", letters, graph)
    table: dict[str, sympy.Symbol] = {}
    for s in param_symbols + data_symbols:
        if s.name in table:
            raise ParseError(f"'{s.name}' is declared twice; a name is a parameter or data")
        table[s.name] = s
    for letter, value in letters.items():
        if letter in table:
            raise ParseError(f"'{letter}' is a shape letter and cannot also be a symbol name")
        table[letter] = value
    for name in table:
        if name in ARRAY_FUNCTIONS or name in FUNCTIONS:
            raise ParseError(f"'{name}' is the name of a function; choose another name")
    for text in define:
        name, _ = _definition(text, table, graph)
        table[name.name] = name
    value = _build(loss, table, graph)
    shape = graph.shape(value)
    if shape:
        raise ParseError(
            f"the objective {excerpt(loss)} has shape {shape_text(shape)}; it must be a "
            "scalar: reduce it with sum(...) or mean(...)"
        )
    used = graph.inline(value).free_symbols | {
        s for op in graph.nodes.values() for a in op.args for s in a.free_symbols
    }
    unused = [s.name for s in param_symbols if s not in used]
    if unused:
        raise ParseError(f"parameter {unused[0]!r} does not occur in the objective {excerpt(loss)}")
    example = letters.get(EXAMPLE_LETTER)
    return TensorObjective(
        loss.strip(), value, param_symbols, data_symbols, graph, tuple(letters.values()), example
    )


def _build(text: str, table: Mapping[str, sympy.Symbol], graph: TensorGraph) -> sympy.Expr:
    return build_text(text, TensorBuilder(text, table, graph))


def _definition(text: str, table: dict, graph: TensorGraph) -> tuple[sympy.Symbol, sympy.Expr]:
    name_text, equals, expression_text = text.partition("=")
    if not equals:
        parse_definition(text)  # raises its one-line message
    name = parse_name(name_text)
    if name in table:
        raise ParseError(f"definition {name!r} reuses the name of another symbol")
    value = _build(expression_text, table, graph)
    node = graph.add(Operation("let", (value,), graph.shape(value)), name)
    return node, value


def tensor_objective(
    loss: str,
    params: str,
    data: str = "",
    *,
    define: tuple[str, ...] | list[str] = (),
) -> TensorObjective:
    """Build a :class:`~symgd.define.tensors.TensorObjective` from text in NumPy notation.

    Shapes are declared with brackets: ``"w[d], b"``, ``"X[m,d], y[m]"``. ``@`` is the matrix
    product, ``*`` ``/`` ``**`` and every function are element-wise, ``.T`` transposes;
    ``sum``, ``mean`` (optionally ``axis=0/1``), ``norm`` (2-norm, Frobenius for matrices),
    ``trace``, ``det``, ``inv``, ``diag``, ``logsumexp`` and ``softmax`` (over the last axis),
    ``dot``, ``outer``, ``ones(m, d)`` and ``eye(d)`` (sizes: shape letters or integers)
    exist. The shape letter ``m`` is the example axis (mini-batches slice it) and may be used
    as a number.

    Args:
        loss: The objective, e.g. ``"sum(softplus(-y*(X@w + b)))/m"``.
        params: Parameter declarations, e.g. ``"w[d], b"``.
        data: Data declarations, e.g. ``"X[m,d], y[m]"``; scalars such as ``lamda`` too.
        define: Named intermediates in order, ``"z = X@w + b"``.

    Returns:
        The objective.

    Raises:
        ParseError: The text is not in the accepted language, a shape does not fit, or the
            result is not a scalar.

    Example:
        >>> tensor_objective("sum(softplus(-y*(X@w + b)))/m", "w[d], b", "X[m,d], y[m]")
        TensorObjective('sum(softplus(-y*(X@w + b)))/m', params='w[d], b', data='X[m,d], y[m]')
    """
    return build_objective(loss, params, data, tuple(define))


def tensor_expression(
    objective: TensorObjective, text: str, graph: TensorGraph | None = None
) -> tuple[sympy.Expr, TensorGraph]:
    """Parse more text (an answer, a prediction) against an objective's declarations.

    Args:
        objective: Whose parameters, data, shape letters and definitions the text may use.
        text: NumPy notation, e.g. ``"X.T @ (sigmoid(X@w + b) - y)/m"``.
        graph: The graph to add operations to (default: a copy of the objective's).

    Returns:
        The element-wise expression and the graph it refers to.

    Raises:
        ParseError: As :func:`tensor_objective`.

    Example:
        >>> objective = tensor_objective("sum((X@w - y)**2)/(2*m)", "w[d]", "X[m,d], y[m]")
        >>> expr, graph = tensor_expression(objective, "X.T @ (X@w - y)/m")
        >>> graph.shape(expr)
        (d,)
    """
    graph = objective.graph.copy() if graph is None else graph
    table = {s.name: s for s in (*objective.params, *objective.data, *objective.letters)}
    table.update({s.name: s for s, op in graph.nodes.items() if op.kind == "let"})
    return _build(text, table, graph), graph
