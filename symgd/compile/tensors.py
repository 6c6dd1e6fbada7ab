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

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy
import sympy

from symgd.compile.codegen import Codegen, function_source, softplus_and_sigmoid
from symgd.compile.loader import load_source
from symgd.compile.printer import Printer
from symgd.compile.rewrites import stabilize
from symgd.define import TensorGraph
from symgd.derivation import Hessian, MatrixDerivation, derive_hessian
from symgd.functions import sigmoid, softplus

_CALLS = {
    "sum": "numpy.sum", "norm": "numpy.linalg.norm", "trace": "numpy.trace",
    "det": "numpy.linalg.det", "inv": "numpy.linalg.inv", "diag": "numpy.diag",
    "outer": "numpy.outer", "logsumexp": "_logsumexp_rows", "softmax": "_softmax_rows",
}  # fmt: skip

_NAME = re.compile(r"[A-Za-z_][A-Za-z_0-9]*(\.T)?")


def _wrap(code: str) -> str:
    """``code`` in parentheses unless it is a bare name (``X_``, ``_t4.T``)."""
    return code if _NAME.fullmatch(code) else f"({code})"


@dataclass(frozen=True)
class _Step:
    """One line of the generated body: the symbols it defines, what it reads, its template.

    ``template`` is filled with the printed ``reads`` by position (``{0}``, ``{1}`` …).
    """

    defines: tuple[sympy.Symbol, ...]
    reads: tuple[sympy.Expr, ...]
    template: str
    wrap: bool = True


class _Program:
    """Straight-line NumPy for some outputs over one graph.

    Every element-wise expression (the loss, the gradients, each node's arguments) goes
    through one ``sympy.cse``, so ``X@w + b`` or ``σ(z)`` is computed once for the loss and
    all gradients; ``softplus(a)`` with ``σ(a)`` and ``σ(a)σ(−a)`` take one exponential.
    """

    def __init__(self, graph: TensorGraph, printer: Printer, letters: tuple[sympy.Symbol, ...]):
        self.graph, self.printer, self.letters = graph, printer, set(letters)

    def name(self, s: sympy.Symbol) -> str:
        return self.printer.doprint(s)

    def node_step(self, s: sympy.Symbol) -> _Step:
        """The step computing node ``s`` (a product with ``diag(c)`` scales instead)."""
        op, graph = self.graph.nodes[s], self.graph
        args, name = op.args, self.name(s)
        if op.kind == "matmul":
            left, right = (graph.nodes.get(a) for a in args)
            if left is not None and left.kind == "diag" and len(left.shape) == 2:
                column = "[:, None]" if len(graph.shape(args[1])) == 2 else ""
                return _Step((s,), (left.args[0], args[1]), f"{name} = {{0}}{column} * {{1}}")
            if right is not None and right.kind == "diag" and len(right.shape) == 2:
                return _Step((s,), (args[0], right.args[0]), f"{name} = {{0}} * {{1}}")
            return _Step((s,), args, f"{name} = {{0}} @ {{1}}")
        if op.kind == "transpose":
            return _Step((s,), args, f"{name} = {{0}}.T")
        if op.kind == "let":
            return _Step((s,), args, f"{name} = {{0}}", wrap=False)
        if op.kind == "ones":
            return _Step((s,), (), f"{name} = numpy.ones({self.shape(op.shape)})")
        if op.kind == "identity":
            return _Step((s,), (), f"{name} = numpy.eye({self.name(op.shape[0])})")
        inner = ", ".join(
            f"numpy.broadcast_to({{{k}}}, {self.shape(graph.shape(a))})"
            if self.partial(a)
            else f"{{{k}}}"
            for k, a in enumerate(args)
        )
        axis = "" if op.axis is None else f", axis={op.axis}"
        return _Step((s,), args, f"{name} = {_CALLS[op.kind]}({inner}{axis})", wrap=False)

    def shape(self, shape: tuple) -> str:
        return "(" + "".join(f"{self.printer.doprint(n)}, " for n in shape) + ")"

    def partial(self, expr: sympy.Expr) -> bool:
        """Whether an argument holds no array of its full shape (a broadcast scalar)."""
        shape = self.graph.shape(expr)
        return bool(shape) and not any(self.graph.shapes.get(s) == shape for s in expr.free_symbols)

    def needed(self, exprs: list[sympy.Expr]) -> list[_Step]:
        """The steps of the nodes the expressions use, in graph order."""
        steps: dict[sympy.Symbol, _Step] = {}
        stack = [s for e in exprs for s in e.free_symbols]
        while stack:
            s = stack.pop()
            if s in self.graph.nodes and s not in steps:
                steps[s] = self.node_step(s)
                stack.extend(x for e in steps[s].reads for x in e.free_symbols)
        return self.fuse_rows([steps[s] for s in self.graph.nodes if s in steps])

    def fuse_rows(self, steps: list[_Step]) -> list[_Step]:
        """``logsumexp`` and ``softmax`` of the same rows from one call (one exponential)."""

        def kind(step: _Step) -> str:
            return self.graph.nodes[step.defines[0]].kind

        softmax = {step.reads: step for step in steps if kind(step) == "softmax"}
        fused, done = [], set()
        for step in steps:
            if kind(step) not in ("logsumexp", "softmax") or step.reads not in softmax:
                fused.append(step)
                continue
            lse = [s for s in steps if kind(s) == "logsumexp" and s.reads == step.reads]
            if not lse:
                fused.append(step)
            elif step.reads not in done:
                done.add(step.reads)
                defines = (lse[0].defines[0], softmax[step.reads].defines[0])
                names = ", ".join(self.name(s) for s in defines)
                template = f"{names} = _logsumexp_softmax_rows({{0}})"
                fused.append(_Step(defines, step.reads, template, wrap=False))
        return fused

    def lines(self, outputs: list[sympy.Expr]) -> tuple[list[str], list[str]]:
        """The body lines and the printed outputs (after the lines have run)."""
        nodes = self.needed(outputs)
        exprs = [stabilize(e) for step in nodes for e in step.reads]
        exprs += [stabilize(e) for e in outputs]
        codegen = Codegen((), (), self.printer)
        exprs, _ = codegen.opaque_piecewise(exprs)
        calls, exprs = _fused_calls(exprs)
        arguments = [a for _, _, a in calls]
        shared, reduced = sympy.cse(
            [*arguments, *exprs], symbols=sympy.numbered_symbols("_c"), optimizations="basic"
        )
        # Sizes stay inline: ``J/m``, not ``_c1 = m**(-1.0)`` and ``_c1*J``.
        sizes = {s: e for s, e in shared if not e.free_symbols - self.letters}
        for _ in sizes:
            reduced = [e.xreplace(sizes) for e in reduced]
            shared = [(s, e.xreplace(sizes)) for s, e in shared if s not in sizes]
        arguments, reduced = reduced[: len(arguments)], reduced[len(arguments) :]
        steps = [_Step((s,), (e,), f"{self.name(s)} = {{0}}", wrap=False) for s, e in shared]
        for (defines, template, _), argument in zip(calls, arguments, strict=True):
            names = ", ".join(self.name(s) for s in defines)
            steps.append(_Step(defines, (argument,), f"{names} = {template}", wrap=False))
        for s, piece in codegen.piecewise.items():
            steps.append(_Step((s,), (piece,), f"{self.name(s)} = {{0}}", wrap=False))
        k = 0
        for step in nodes:
            reads, k = tuple(reduced[k : k + len(step.reads)]), k + len(step.reads)
            steps.append(replace(step, reads=reads))
        outputs = reduced[k:]
        return self.ordered(steps, outputs), [self.printer.doprint(e) for e in outputs]

    def ordered(self, steps: list[_Step], outputs: list[sympy.Expr]) -> list[str]:
        """The lines of the steps the outputs use, each just before its first use."""
        by_symbol = {s: step for step in steps for s in step.defines}
        position = {s: k for k, step in enumerate(steps) for s in step.defines}
        done: set[sympy.Symbol] = set()
        lines: list[str] = []

        def visit(exprs: tuple[sympy.Expr, ...]) -> None:
            used = {s for e in exprs for s in e.free_symbols if s in by_symbol and s not in done}
            for s in sorted(used, key=position.__getitem__):
                if s in done:
                    continue
                step = by_symbol[s]
                done.update(step.defines)
                visit(step.reads)
                printed = [self.printer.doprint(e) for e in step.reads]
                printed = [_wrap(p) for p in printed] if step.wrap else printed
                lines.append(step.template.format(*printed))

        visit(tuple(outputs))
        return lines


def _fused_calls(
    exprs: list[sympy.Expr],
) -> tuple[list[tuple[tuple[sympy.Symbol, ...], str, sympy.Expr]], list[sympy.Expr]]:
    """Name the functions computed together: ``σ(a)σ(−a)`` and ``softplus(a)`` with ``σ(a)``.

    Returns:
        ``(names, call template, argument)`` for each fused call, and the expressions with
        the names in place of the functions.
    """
    calls, derivatives = [], {}

    def pair(node: sympy.Basic) -> sympy.Basic:
        if node.is_Atom:
            return node
        node = node.func(*(pair(a) for a in node.args))
        if not isinstance(node, sympy.Mul):
            return node
        for factor in node.args:
            if isinstance(factor, sigmoid) and sigmoid(-factor.args[0]) in node.args:
                a = min(factor.args[0], -factor.args[0], key=sympy.default_sort_key)
                if a not in derivatives:
                    derivatives[a] = sympy.Symbol(f"_dsigma{len(derivatives)}", real=True)
                    calls.append(((derivatives[a],), "_sigmoid_derivative({0})", a))
                rest = [f for f in node.args if f not in (factor, sigmoid(-factor.args[0]))]
                return pair(sympy.Mul(*rest, derivatives[a]))
        return node

    exprs = [pair(e) for e in exprs]
    names = {}
    for k, a in enumerate(softplus_and_sigmoid(exprs)):
        names[softplus(a)] = sympy.Symbol(f"_softplus{k}", real=True)
        names[sigmoid(a)] = sympy.Symbol(f"_sigma{k}", real=True)
        calls.append(((names[softplus(a)], names[sigmoid(a)]), "_softplus_sigmoid({0})", a))
    return calls, [e.xreplace(names) for e in exprs]


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
    params = objective.params
    outputs = [objective.loss, *(derivation.gradient[p] for p in params)]
    lines, (loss, *gradients) = _Program(graph, printer, objective.letters).lines(outputs)
    body = _letters(derivation, printer) + lines
    body += [f"loss = {loss}"]
    body += [f"grad_{k} = {g}" for k, g in enumerate(gradients)]
    body.append("return loss, (" + "".join(f"grad_{k}, " for k in range(len(gradients))) + ")")
    wrt = ", ".join(names[: len(params)])
    doc = f"J = {objective.text} and its gradient with respect to {wrt}."
    source = function_source(
        f"loss_and_gradient({', '.join(names)})", body, doc.replace("\\", "/").replace('"', "'")
    )
    if blocks is not None:
        # H[q][p] = H[p][q]^T: each block below the diagonal is a transpose, not a product.
        upper = [(q, p) for p in range(len(params)) for q in range(p + 1)]
        lines, printed = _Program(graph, printer, objective.letters).lines(
            [blocks.blocks[params[q], params[p]] for q, p in upper]
        )
        lines = _letters(derivation, printer) + lines
        lines += [f"h_{q}_{p} = {code}" for (q, p), code in zip(upper, printed, strict=True)]
        rows = [
            [f"h_{q}_{p}" if q <= p else f"numpy.transpose(h_{p}_{q})" for p in range(len(params))]
            for q in range(len(params))
        ]
        lines.append("return [" + ", ".join("[" + ", ".join(row) + "]" for row in rows) + "]")
        source += "\n\n" + function_source(
            f"hessian({', '.join(names)})", lines, "The Hessian blocks H[q][p]."
        )
    return CompiledTensor(
        derivation,
        source,
        tuple(s.name for s in params),
        tuple(s.name for s in objective.data),
        blocks,
        load_source(source),
    )
