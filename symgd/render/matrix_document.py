r"""Stage 3, render: a matrix-form derivation as LaTeX, Markdown, a standalone document or text.

The pieces come from the tensor printers of :mod:`symgd.render.tensors` (bold arrays,
:math:`^\top`, :math:`\odot`); this module only places them on lines, in five groups: the
shapes, the objective with its named intermediates, the backward pass through the
intermediates (:math:`\partial J / \partial \boldsymbol{z}`), the gradients and, when given,
the Hessian blocks. The layout convention is stated once: a gradient has the shape of what it
differentiates, so :math:`\nabla_{\boldsymbol{w}} J \in \mathbb{R}^{d}` for
:math:`\boldsymbol{w} \in \mathbb{R}^{d}`.

A sub-expression can be shown by a name (``names={"p": "sigmoid(z)"}``): each is read by the
safe tensor parser against the objective and replaces that sub-expression everywhere it occurs.

Example:
    >>> from symgd.define import tensor_objective
    >>> from symgd.derivation import derive_tensor
    >>> derivation = derive_tensor(tensor_objective(
    ...     "-sum(y*log(sigmoid(z)) + (1 - y)*log(1 - sigmoid(z)))/m", "w[d], b",
    ...     "X[m,d], y[m]", define=["z = X@w + b"]))
    >>> text = matrix_text(derivation, names={"p": "sigmoid(z)"})
    >>> print("\n".join(text.splitlines()[:6]))
    parameters: w (d,), b scalar
    data: X (m, d), y (m,)
    z = X @ w + b
    p = sigmoid(z)
    J(w, b) = -sum(y*log(p) + (1 - y)*log(1 - p))/m
    layout: a gradient has the shape of what it differentiates
    >>> "dJ/dw = " in text and "X.T @ (p - y)" in text
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import sympy

from symgd.define import Operation, TensorGraph, shape_text, tensor_expression
from symgd.derivation import Hessian, MatrixDerivation
from symgd.display import display_latex
from symgd.parse import parse_name
from symgd.render.printing import align, document, escape_tex, math_block
from symgd.render.tensors import tensor_latex, tensor_text

__all__ = ["matrix_document", "matrix_latex", "matrix_markdown", "matrix_text"]

#: The layout convention, stated once in every rendering.
CONVENTION = "a gradient has the shape of what it differentiates"

_HEADINGS = ("Shapes", "Objective", "Backward through the intermediates", "Gradients", "Hessian")


@dataclass(frozen=True)
class _Shown:
    """The graph every shown expression refers to, and the sub-expressions shown by a name."""

    graph: TensorGraph
    names: tuple[tuple[sympy.Symbol, sympy.Expr], ...]

    def named(self, expr: sympy.Expr) -> sympy.Expr:
        """``expr`` with each named sub-expression replaced by its name, in order."""
        for name, definition in self.names:
            expr = expr.xreplace({definition: name})
        return expr

    def latex(self, expr: sympy.Expr) -> str:
        return tensor_latex(self.graph, self.named(expr))

    def text(self, expr: sympy.Expr) -> str:
        return tensor_text(self.graph, self.named(expr))


def _shown(
    derivation: MatrixDerivation, hessian: Hessian | None, names: Mapping[str, str] | None
) -> _Shown:
    """The graph of the results with a ``let`` node for every name to show.

    Every operation of the graph (but a name's own definition) refers to the names, so that a
    named sub-expression inside a sum or a product is shown by its name too.
    """
    graph = (hessian.graph if hessian is not None else derivation.graph).copy()
    objective = derivation.objective
    taken = {s.name for s in (*graph.shapes, *graph.nodes, *objective.data, *objective.params)}
    taken |= {s.name for s in objective.letters}
    added: list[tuple[sympy.Symbol, sympy.Expr]] = []
    for name, text in (names or {}).items():
        name = parse_name(name)
        if name in taken:
            raise ValueError(f"cannot show an expression as {name!r}: that name is taken")
        expr, _ = tensor_expression(objective, text, graph)
        added.append((graph.add(Operation("let", (expr,), graph.shape(expr)), name), expr))
        taken.add(name)
    nodes = dict(graph.nodes)
    for name, definition in added:
        for node, op in nodes.items():
            if node != name:
                args = tuple(a.xreplace({definition: name}) for a in op.args)
                nodes[node] = replace(op, args=args)
    return _Shown(TensorGraph(dict(graph.shapes), nodes), tuple(added))


def _space(shape: tuple[sympy.Expr, ...], graph: TensorGraph) -> str:
    if not shape:
        return r"\mathbb{R}"
    sizes = r" \times ".join(tensor_latex(graph, n) for n in shape)
    return rf"\mathbb{{R}}^{{{sizes}}}"


def _node_latex(shown: _Shown, node: sympy.Symbol) -> str:
    """A node as the denominator of a partial derivative: a name, or a bracketed product."""
    text = shown.latex(node)
    op = shown.graph.nodes.get(node)
    return text if op is None or op.kind == "let" else rf"\left({text}\right)"


def _partial(shown: _Shown, node: sympy.Symbol) -> str:
    """``∇_w J`` for a vector or matrix parameter, ``∂J/∂b`` and ``∂J/∂z`` otherwise."""
    if shown.graph.shapes.get(node) and node not in shown.graph.nodes:
        return rf"\nabla_{{{shown.latex(node)}}} J"
    return rf"\frac{{\partial J}}{{\partial {_node_latex(shown, node)}}}"


def _second(shown: _Shown, q: sympy.Symbol, p: sympy.Symbol) -> str:
    """The left-hand side of the Hessian block ``∂²J/∂q∂p``."""
    if not shown.graph.shapes.get(q) and not shown.graph.shapes.get(p):
        if q == p:
            return rf"\frac{{\partial^{{2}} J}}{{\partial {shown.latex(q)}^{{2}}}}"
        return (
            rf"\frac{{\partial^{{2}} J}}{{\partial {shown.latex(q)}\, \partial {shown.latex(p)}}}"
        )
    return rf"\nabla^{{2}}_{{{shown.latex(q)} {shown.latex(p)}}} J"


def _steps(derivation: MatrixDerivation, shown: _Shown) -> list[tuple[sympy.Symbol, sympy.Expr]]:
    """The adjoints of the vector and matrix intermediates, each value shown once."""
    seen: set[sympy.Expr] = set()
    steps = []
    for step in derivation.steps:
        value = shown.named(step.adjoint)
        if not shown.graph.shapes.get(step.node) or value in seen:
            continue  # a scalar node's adjoint is a number; Xw inside z = Xw + b repeats ∂J/∂z
        seen.add(value)
        steps.append((step.node, step.adjoint))
    return steps


def _blocks(hessian: Hessian | None) -> list[tuple[sympy.Symbol, sympy.Symbol, sympy.Expr]]:
    """The blocks on and above the diagonal (the others are their transposes)."""
    if hessian is None:
        return []
    params = hessian.derivation.objective.params
    return [
        (q, p, hessian.blocks[q, p])
        for i, q in enumerate(params)
        for p in params[i:]
        if (q, p) in hessian.blocks
    ]


def _groups(
    derivation: MatrixDerivation, hessian: Hessian | None, names: Mapping[str, str] | None
) -> list[tuple[str, list[str]]]:
    """``(heading, aligned LaTeX lines)`` of each non-empty group, in reading order."""
    shown = _shown(derivation, hessian, names)
    objective = derivation.objective
    graph = shown.graph

    def declared(symbols: tuple[sympy.Symbol, ...]) -> str:
        return r",\quad ".join(
            rf"{shown.latex(s)} \in {_space(objective.shape(s), graph)}" for s in symbols
        )

    shapes = [rf"\text{{parameters:}}\quad & {declared(objective.params)}"]
    if objective.data:
        shapes.append(rf"\text{{data:}}\quad & {declared(objective.data)}")
    model = [
        f"{shown.latex(node)} &= {shown.latex(op.args[0])}"
        for node, op in objective.graph.nodes.items()
        if op.kind == "let"
    ]
    for name, _ in shown.names:
        model.append(f"{shown.latex(name)} &= {tensor_latex(graph, graph.nodes[name].args[0])}")
    arguments = ", ".join(shown.latex(p) for p in objective.params)
    model.append(rf"J\left({arguments}\right) &= {shown.latex(objective.loss)}")
    convention = rf"&\text{{({CONVENTION})}}"
    steps = [
        f"{_partial(shown, n)} &= {shown.latex(value)}" for n, value in _steps(derivation, shown)
    ]
    gradients = [
        f"{_partial(shown, p)} &= {shown.latex(derivation.gradient[p])}" for p in objective.params
    ]
    if steps:
        steps.insert(0, convention)
    else:
        gradients.insert(0, convention)
    second = [f"{_second(shown, q, p)} &= {shown.latex(block)}" for q, p, block in _blocks(hessian)]
    groups = zip(_HEADINGS, (shapes, model, steps, gradients, second), strict=True)
    return [(heading, lines) for heading, lines in groups if lines]


def matrix_latex(
    derivation: MatrixDerivation,
    hessian: Hessian | None = None,
    *,
    names: Mapping[str, str] | None = None,
    environment: str = "align*",
) -> str:
    r"""The matrix-form derivation as one LaTeX ``align*`` (or ``aligned``) block.

    In order: the shapes, the named intermediates and the objective :math:`J`, the adjoints
    :math:`\partial J / \partial \boldsymbol{z}` of the intermediates, the gradients
    :math:`\nabla_{\boldsymbol{w}} J` (:math:`\partial J / \partial b` for a scalar) and the
    Hessian blocks :math:`\nabla^2_{\boldsymbol{w}\boldsymbol{w}} J` on and above the diagonal.

    Args:
        derivation: From :func:`~symgd.derivation.derive_tensor`.
        hessian: From :func:`~symgd.derivation.derive_hessian`, or ``None``.
        names: Sub-expressions to show by a name, ``{"p": "sigmoid(z)"}`` (NumPy notation,
            read against the objective's declarations).
        environment: ``"align*"`` for documents, ``"aligned"`` inside ``$$``.

    Returns:
        LaTeX source; requires ``amsmath`` and ``amssymb``.

    Raises:
        ParseError: A name or its expression is not valid.
        ValueError: A name is already taken by a symbol of the objective.

    Example:
        >>> from symgd.define import tensor_objective
        >>> from symgd.derivation import derive_tensor
        >>> derivation = derive_tensor(
        ...     tensor_objective("sum((X@w - y)**2)/(2*m)", "w[d]", "X[m,d], y[m]"))
        >>> print(matrix_latex(derivation).splitlines()[1])
        \text{parameters:}\quad & \boldsymbol{w} \in \mathbb{R}^{d} \\
    """
    groups = _groups(derivation, hessian, names)
    return align([line for _, lines in groups for line in lines], environment=environment)


def matrix_markdown(
    derivation: MatrixDerivation,
    hessian: Hessian | None = None,
    *,
    names: Mapping[str, str] | None = None,
    title: str | None = None,
) -> str:
    """The matrix-form derivation as Markdown with ``$$`` math, one block per group.

    Example:
        >>> from symgd.define import tensor_objective
        >>> from symgd.derivation import derive_tensor
        >>> derivation = derive_tensor(
        ...     tensor_objective("sum((X@w - y)**2)/(2*m)", "w[d]", "X[m,d], y[m]"))
        >>> matrix_markdown(derivation).startswith("**Shapes**")
        True
    """
    parts = [f"# {title}\n"] if title else []
    for heading, lines in _groups(derivation, hessian, names):
        parts += [f"**{heading}**\n", math_block(lines)]
    return "\n".join(parts)


def matrix_document(
    derivation: MatrixDerivation,
    hessian: Hessian | None = None,
    *,
    names: Mapping[str, str] | None = None,
    title: str = "Gradient derivation in matrix form",
) -> str:
    """A standalone ``.tex`` document of the matrix-form derivation (compiles with ``pdflatex``).

    Example:
        >>> from symgd.define import tensor_objective
        >>> from symgd.derivation import derive_tensor
        >>> derivation = derive_tensor(
        ...     tensor_objective("sum((X@w - y)**2)/(2*m)", "w[d]", "X[m,d], y[m]"))
        >>> matrix_document(derivation).startswith("\\\\documentclass")
        True
    """
    sections = []
    for heading, lines in _groups(derivation, hessian, names):
        sections += [f"\\section*{{{escape_tex(heading)}}}", align(lines)]
    return document("\n".join(sections), title=title)


def _text_lines(
    derivation: MatrixDerivation, hessian: Hessian | None, names: Mapping[str, str] | None
) -> list[str]:
    shown = _shown(derivation, hessian, names)
    objective = derivation.objective

    def declared(symbols: tuple[sympy.Symbol, ...]) -> str:
        return ", ".join(f"{s.name} {shape_text(objective.shape(s))}" for s in symbols)

    def partial(node: sympy.Symbol) -> str:
        op = shown.graph.nodes.get(node)
        text = shown.text(node)
        return f"dJ/d{text}" if op is None or op.kind == "let" else f"dJ/d({text})"

    lines = [f"parameters: {declared(objective.params)}"]
    if objective.data:
        lines.append(f"data: {declared(objective.data)}")
    lines += [
        f"{node.name} = {shown.text(op.args[0])}"
        for node, op in objective.graph.nodes.items()
        if op.kind == "let"
    ]
    for name, _ in shown.names:
        lines.append(f"{name.name} = {tensor_text(shown.graph, shown.graph.nodes[name].args[0])}")
    arguments = ", ".join(p.name for p in objective.params)
    lines.append(f"J({arguments}) = {shown.text(objective.loss)}")
    lines.append(f"layout: {CONVENTION}")
    lines += [f"{partial(n)} = {shown.text(value)}" for n, value in _steps(derivation, shown)]
    lines += [f"{partial(p)} = {shown.text(derivation.gradient[p])}" for p in objective.params]
    lines += [f"d2J/d{q.name}d{p.name} = {shown.text(b)}" for q, p, b in _blocks(hessian)]
    return lines


def matrix_text(
    derivation: MatrixDerivation,
    hessian: Hessian | None = None,
    *,
    names: Mapping[str, str] | None = None,
) -> str:
    """The matrix-form derivation as plain text in NumPy notation (symgd's input language).

    Example:
        >>> from symgd.define import tensor_objective
        >>> from symgd.derivation import derive_tensor
        >>> derivation = derive_tensor(
        ...     tensor_objective("sum((X@w - y)**2)/(2*m)", "w[d]", "X[m,d], y[m]"))
        >>> matrix_text(derivation).splitlines()[-1].startswith("dJ/dw = ")
        True
    """
    return "\n".join(_text_lines(derivation, hessian, names))


@display_latex.register
def _display_matrix(derivation: MatrixDerivation) -> str:
    return "$$" + matrix_latex(derivation, environment="aligned") + "$$"


@display_latex.register
def _display_hessian(hessian: Hessian) -> str:
    return "$$" + matrix_latex(hessian.derivation, hessian, environment="aligned") + "$$"
