"""Stage 4, compile: a matrix derivation as straight-line BLAS NumPy.

Each graph operation becomes one NumPy call (``X.T @ r`` is a view and one matrix-vector
product: no per-feature loops, no copy of ``X``; ``diag(c) @ X`` is ``c[:, None] * X``), the
element-wise parts go through symgd's stable printer (softplus as ``logaddexp``, σ without
overflow), and common subexpressions of the loss, the gradients and the Hessian are computed
once. Shape letters are read off the arrays when the function is called.

Example:
    >>> import numpy
    >>> from symgd.define import tensor_objective
    >>> from symgd.derivation import derive_tensor
    >>> compiled = compile_tensor(derive_tensor(
    ...     tensor_objective("sum((X@w - y)**2)/(2*m)", "w[d]", "X[m,d], y[m]")))
    >>> data = {"X": numpy.eye(2), "y": numpy.array([1.0, 2.0])}
    >>> loss, gradient = compiled.loss_and_gradient({"w": numpy.zeros(2)}, data)
    >>> float(loss), gradient["w"].tolist()
    (1.25, [-0.5, -1.0])
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy
import sympy

from symgd.compile.codegen import function_source
from symgd.compile.loader import load_source
from symgd.compile.printer import Printer
from symgd.compile.rewrites import stabilize
from symgd.define import TensorGraph
from symgd.derivation import Hessian, MatrixDerivation, derive_hessian

_CALLS = {
    "sum": "numpy.sum", "norm": "numpy.linalg.norm", "trace": "numpy.trace",
    "det": "numpy.linalg.det", "inv": "numpy.linalg.inv", "diag": "numpy.diag",
    "outer": "numpy.outer", "logsumexp": "_logsumexp_rows", "softmax": "_softmax_rows",
}  # fmt: skip


class _Emitter:
    """Lines of NumPy for the nodes and expressions of one graph."""

    def __init__(self, graph: TensorGraph, printer: Printer):
        self.graph, self.printer = graph, printer
        self.lines: list[str] = []
        self.done: set[sympy.Symbol] = set()

    def name(self, s: sympy.Symbol) -> str:
        return self.printer.doprint(s)

    def expr(self, expr: sympy.Expr) -> str:
        self.need(expr)
        return self.printer.doprint(stabilize(expr))

    def need(self, expr: sympy.Expr) -> None:
        for s in sorted(expr.free_symbols, key=str):
            if s in self.graph.nodes and s not in self.done:
                self.node(s)

    def node(self, s: sympy.Symbol) -> None:
        op = self.graph.nodes[s]
        self.done.add(s)
        args = op.args
        if op.kind == "matmul":
            left, right = (self.graph.nodes.get(a) for a in args)
            if left is not None and left.kind == "diag" and len(left.shape) == 2:
                code = f"({self.expr(left.args[0])})[:, None] * ({self.expr(args[1])})"
            elif right is not None and right.kind == "diag" and len(right.shape) == 2:
                code = f"({self.expr(args[0])}) * ({self.expr(right.args[0])})"
            else:
                code = f"({self.expr(args[0])}) @ ({self.expr(args[1])})"
        elif op.kind == "transpose":
            code = f"({self.expr(args[0])}).T"
        elif op.kind == "let":
            code = self.expr(args[0])
        elif op.kind == "ones":
            sizes = ", ".join(self.expr(n) for n in op.shape)
            code = f"numpy.ones(({sizes},))"
        elif op.kind == "identity":
            code = f"numpy.eye({self.expr(op.shape[0])})"
        else:
            inner = ", ".join(
                f"numpy.broadcast_to({self.expr(a)}, {self.shape(a)})"
                if self.partial(a)
                else self.expr(a)
                for a in args
            )
            axis = "" if op.axis is None else f", axis={op.axis}"
            code = f"{_CALLS[op.kind]}({inner}{axis})"
        self.lines.append(f"{self.name(s)} = {code}")

    def shape(self, expr: sympy.Expr) -> str:
        return "(" + "".join(f"{self.expr(n)}, " for n in self.graph.shape(expr)) + ")"

    def partial(self, expr: sympy.Expr) -> bool:
        """Whether an argument holds no array of its full shape (a broadcast scalar)."""
        shape = self.graph.shape(expr)
        return bool(shape) and not any(self.graph.shapes.get(s) == shape for s in expr.free_symbols)


@dataclass(frozen=True)
class CompiledTensor:
    """A vector/matrix objective compiled to NumPy: loss, gradients and (on request) Hessian.

    Attributes:
        derivation: What was compiled.
        source: The generated Python source (``loss_and_gradient`` and, when compiled,
            ``hessian``).
        params: The parameter names, in order.
        data: The data names, in order.
    """

    derivation: MatrixDerivation
    source: str
    params: tuple[str, ...]
    data: tuple[str, ...]
    hessian_blocks: Hessian | None = None
    _namespace: dict = field(default_factory=dict, repr=False)

    def _arguments(self, params: Mapping, data: Mapping) -> list:
        missing = [n for n in self.params if n not in params] + [
            n for n in self.data if n not in data
        ]
        if missing:
            raise ValueError(f"no value for {missing[0]!r}")
        return [numpy.asarray(params[n], dtype=float) for n in self.params] + [
            numpy.asarray(data[n], dtype=float) for n in self.data
        ]

    def loss_and_gradient(self, params: Mapping, data: Mapping) -> tuple[float, dict]:
        """``(J, {name: ∂J/∂name})`` at ``params`` on ``data`` (arrays by name)."""
        loss, gradients = self._namespace["loss_and_gradient"](*self._arguments(params, data))
        return float(loss), dict(zip(self.params, gradients, strict=True))

    def loss(self, params: Mapping, data: Mapping) -> float:
        """The objective ``J``."""
        return self.loss_and_gradient(params, data)[0]

    def gradient(self, params: Mapping, data: Mapping) -> dict:
        """``{name: ∂J/∂name}``."""
        return self.loss_and_gradient(params, data)[1]

    def hessian(self, params: Mapping, data: Mapping) -> numpy.ndarray:
        """The full Hessian over the flattened parameters (in :attr:`params` order)."""
        if "hessian" not in self._namespace:
            raise ValueError("compiled without a Hessian; compile_tensor(..., hessian=True)")
        blocks = self._namespace["hessian"](*self._arguments(params, data))
        shapes = [numpy.shape(params[n]) for n in self.params]
        rows = [
            [
                numpy.broadcast_to(numpy.asarray(blocks[q][p], dtype=float), sq + sp).reshape(
                    int(numpy.prod(sq)), int(numpy.prod(sp))
                )
                for p, sp in enumerate(shapes)
            ]
            for q, sq in enumerate(shapes)
        ]
        return numpy.block(rows)

    def __repr__(self) -> str:
        return f"CompiledTensor({self.derivation.objective.text!r})"


def _letters(derivation: MatrixDerivation, printer: Printer) -> list[str]:
    objective, lines = derivation.objective, []
    for letter in objective.letters:
        for s in objective.data + objective.params:
            shape = objective.shape(s)
            if letter in shape:
                lines.append(
                    f"{printer.doprint(letter)} = {printer.doprint(s)}.shape[{shape.index(letter)}]"
                )
                break
    return lines


def compile_tensor(derivation: MatrixDerivation, *, hessian: bool = False) -> CompiledTensor:
    """Compile a :class:`~symgd.derivation.MatrixDerivation` to NumPy.

    Args:
        derivation: From :func:`~symgd.derivation.derive_tensor`.
        hessian: Also compile the Hessian (scalar and vector parameters only).

    Returns:
        The :class:`CompiledTensor`.

    Raises:
        ValueError: ``hessian=True`` and a parameter is a matrix.
    """
    objective = derivation.objective
    blocks = derive_hessian(derivation) if hessian else None
    graph = blocks.graph if blocks is not None else derivation.graph
    printer = Printer()
    names = [printer.doprint(s) for s in objective.params + objective.data]
    signature = f"loss_and_gradient({', '.join(names)})"
    emitter = _Emitter(graph, printer)
    body = _letters(derivation, printer)
    loss = emitter.expr(objective.loss)
    gradients = [emitter.expr(derivation.gradient[p]) for p in objective.params]
    body += emitter.lines
    body += [f"loss = {loss}"]
    body += [f"grad_{k} = {g}" for k, g in enumerate(gradients)]
    body.append("return loss, (" + "".join(f"grad_{k}, " for k in range(len(gradients))) + ")")
    wrt = ", ".join(names[: len(objective.params)])
    doc = f"J = {objective.text} and its gradient with respect to {wrt}."
    source = function_source(signature, body, doc.replace("\\", "/").replace('"', "'"))
    if blocks is not None:
        emitter = _Emitter(graph, printer)
        rows = [
            [emitter.expr(blocks.blocks[q, p]) for p in objective.params] for q in objective.params
        ]
        lines = _letters(derivation, printer) + emitter.lines
        lines.append("return [" + ", ".join("[" + ", ".join(row) + "]" for row in rows) + "]")
        source += "\n\n" + function_source(
            f"hessian({', '.join(names)})", lines, "The Hessian blocks H[q][p]."
        )
    return CompiledTensor(
        derivation,
        source,
        tuple(s.name for s in objective.params),
        tuple(s.name for s in objective.data),
        blocks,
        load_source(source),
    )
