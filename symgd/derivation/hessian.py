r"""Stage 2, derive: Hessians of vector objectives in matrix form.

The block :math:`H_{qp} = \partial^2 J / \partial q\, \partial p` comes from one more reverse
pass: :math:`\nabla_q (\nabla_p J \cdot \mathbf{v}) = H_{qp} \mathbf{v}` for a symbolic
direction :math:`\mathbf{v}`, and the matrix is read off the expression, which is linear in
:math:`\mathbf{v}`: :math:`\mathbf{c} \odot (A\mathbf{v})` is :math:`\operatorname{diag}(\mathbf{c})
A\,\mathbf{v}`, :math:`A(\dots)` composes, :math:`\mathbf{1}^\top(\dots)` sums. For logistic
regression this gives :math:`\frac{1}{m} X^\top \operatorname{diag}(\mathbf{p} \odot
(\mathbf{1} - \mathbf{p})) X`.

Example:
    >>> from symgd.define import tensor_objective
    >>> from symgd.derivation.matrix import derive_tensor
    >>> derivation = derive_tensor(tensor_objective("0.5*x@A@x", "x[n]", "A[n,n]"))
    >>> [(q.name, p.name) for q, p in derive_hessian(derivation).blocks]
    [('x', 'x')]
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from symgd.define import Shape, TensorGraph
from symgd.derivation.matrix import MatrixDerivation, _Builder, _tidy, backward
from symgd.derivation.scalar import without_impulses
from symgd.display import display_latex

DIRECTION = "_v"


@dataclass(frozen=True)
class Hessian:
    """The blocks ``H[(q, p)] = ∂²J/∂q∂p`` (shape: ``q``'s then ``p``'s) over ``graph``."""

    derivation: MatrixDerivation
    graph: TensorGraph
    blocks: dict[tuple[sympy.Symbol, sympy.Symbol], sympy.Expr]

    def _repr_latex_(self) -> str | None:
        return display_latex(self)


class _Extract:
    """The coefficient ``M`` of an expression ``M v`` that is linear in the direction ``v``."""

    def __init__(self, builder: _Builder, v: sympy.Symbol):
        self.b, self.v = builder, v
        self.n = builder.graph.shapes[v][0]

    def depends(self, expr: sympy.Expr) -> bool:
        return self.b.graph.depends(expr, frozenset({self.v}))

    def __call__(self, expr: sympy.Expr) -> sympy.Expr:
        b, total = self.b, sympy.Integer(0)
        shape = b.shape(expr)
        for node in sorted(expr.free_symbols, key=str):
            if not isinstance(node, sympy.Symbol) or not self.depends(node):
                continue
            factor = without_impulses(sympy.diff(expr, node))
            if self.depends(factor):
                raise ValueError("the Hessian expression is not linear in its direction")
            inner = self.symbol(node)
            node_shape = b.shape(node)
            if node_shape == shape and shape and b.shape(factor) == shape:
                total += b.matmul(b.op("diag", (factor,), (shape[0], shape[0])), inner)
            elif node_shape == shape or not b.shape(factor) and not node_shape:
                total += factor * inner
            elif not node_shape:
                total += b.outer(b.broadcast_to(factor, shape), inner)
            else:
                raise ValueError(f"no Hessian rule for shapes {shape} and {node_shape}")
        return total

    def symbol(self, node: sympy.Symbol) -> sympy.Expr:
        b = self.b
        if node == self.v:
            return b.identity(self.n)
        op = b.graph.nodes.get(node)
        if op is None:
            raise ValueError(f"{node} depends on the direction but is not a node")
        if op.kind == "let":
            return self(op.args[0])
        if op.kind == "sum" and op.axis is None:
            inner = self(op.args[0])
            return b.total(inner, 0) if b.shape(op.args[0]) else inner
        if op.kind == "matmul":
            left, right = op.args
            if self.depends(right) and not self.depends(left):
                return b.matmul(left, self(right))
            if self.depends(left) and not self.depends(right) and len(b.shape(left)) == 1:
                return b.matmul(b.transpose(right), self(left))
        raise ValueError(f"no Hessian rule through the operation {op.kind!r}")


def _shape(derivation: MatrixDerivation, p: sympy.Symbol) -> Shape:
    return derivation.objective.shape(p)


def derive_hessian(derivation: MatrixDerivation) -> Hessian:
    """All blocks of the Hessian of a vector objective.

    Args:
        derivation: From :func:`~symgd.derivation.derive_tensor`.

    Returns:
        The :class:`Hessian`; its blocks are checked by
        :func:`~symgd.derivation.expansion.check_expanded_hessian`.

    Raises:
        ValueError: A parameter is a matrix (its Hessian is a 4-way tensor), or the objective
            uses an operation the Hessian has no rule for.
    """
    params = derivation.objective.params
    for p in params:
        if len(_shape(derivation, p)) == 2:
            raise ValueError(
                f"Hessians are available for scalar and vector parameters; {p.name} is a matrix"
            )
    graph = derivation.graph.copy()
    builder = _Builder(graph)
    blocks: dict[tuple[sympy.Symbol, sympy.Symbol], sympy.Expr] = {}
    for p in params:
        gradient = derivation.gradient[p]
        if not _shape(derivation, p):
            columns, _ = backward(graph, gradient, params)
            for q in params:
                blocks[q, p] = builder.broadcast_to(_tidy(columns[q]), _shape(derivation, q))
            continue
        v = sympy.Symbol(f"{DIRECTION}{p.name}", real=True)
        graph.shapes[v] = _shape(derivation, p)  # type: ignore[index]
        products, _ = backward(graph, builder.matmul(gradient, v), params)
        extract = _Extract(builder, v)
        for q in params:
            block = extract(_tidy(products[q]))
            blocks[q, p] = builder.broadcast_to(
                block, _shape(derivation, q) + _shape(derivation, p)
            )
    return Hessian(derivation, graph, blocks)
