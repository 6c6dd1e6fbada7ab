r"""Stage 3, render: vector and matrix expressions as NumPy text and as LaTeX.

Both printers are SymPy's, configured for a :class:`~symgd.define.TensorGraph`: a graph
operation is printed where its node symbol occurs (``X.T @ r`` / :math:`X^\top \mathbf{r}`), a
user's named intermediate (``z = X@w + b``) by its name, vectors and matrices in bold, and an
element-wise product of two arrays with :math:`\odot`. The NumPy text is symgd's own input
language, so a printed gradient can be pasted back as an answer.

Example:
    >>> from symgd.define import tensor_objective
    >>> from symgd.derivation import derive_tensor
    >>> derivation = derive_tensor(
    ...     tensor_objective("sum(softplus(-y*(X@w + b)))/m", "w[d], b", "X[m,d], y[m]"))
    >>> w = derivation.objective.params[0]
    >>> tensor_text(derivation.graph, derivation.gradient[w])
    '-X.T @ (y*sigmoid(-y*(X @ w + b)))/m'
    >>> latex = tensor_latex(derivation.graph, derivation.gradient[w])
    >>> latex.startswith(r"- \frac{\boldsymbol{X}^{\top}"), r"\odot" in latex
    (True, True)
"""

from __future__ import annotations

import sympy
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE, precedence
from sympy.printing.str import StrPrinter

from symgd.define import TensorGraph
from symgd.render.printing import _SubtractedLast

_NAMES = {
    "trace": "\\operatorname{tr}",
    "det": "\\det",
    "diag": "\\operatorname{diag}",
    "logsumexp": "\\operatorname{logsumexp}",
    "softmax": "\\operatorname{softmax}",
}
_ATOM = PRECEDENCE["Atom"]
_PRODUCT = PRECEDENCE["Mul"]


class _GraphPrinting:
    """What both printers share: node lookup and the precedence of an inlined operation."""

    graph: TensorGraph

    def op(self, expr: sympy.Basic):
        if isinstance(expr, sympy.Symbol):
            node = self.graph.nodes.get(expr)
            if node is not None and node.kind != "let":
                return node
        return None

    def node_precedence(self, expr: sympy.Basic) -> int:
        op = self.op(expr)
        if op is None:
            return precedence(expr)
        return _PRODUCT if op.kind in ("matmul", "outer") else _ATOM

    def parenthesize(self, item, level, *args, strict=False, **kwargs):  # type: ignore[override]
        if self.op(item) is not None:
            value = self.node_precedence(item)
            printed = self._print(item)  # type: ignore[attr-defined]
            if value < level or (not strict and value <= level):
                return self.wrap(printed)  # type: ignore[attr-defined]
            return printed
        return super().parenthesize(item, level, *args, strict=strict, **kwargs)  # type: ignore[misc]

    def is_array(self, expr: sympy.Expr) -> bool:
        return bool(self.graph.shape(expr))

    def split(self, expr: sympy.Mul):
        """``expr`` as (negative, scalar factors, array factors, denominator) when its arrays
        would print before a scalar factor, or when several arrays meet; else ``None``."""
        c, rest = expr.as_coeff_Mul()
        factors = sympy.Mul.make_args(rest)
        scalars = [f for f in factors if not self.is_array(f) and not _in_denominator(f)]
        arrays = [f for f in factors if self.is_array(f) and not _in_denominator(f)]
        if not arrays:
            return None
        order = [f for f in expr.as_ordered_factors() if f in arrays or f in scalars]
        if len(arrays) < 2 and all(f in scalars for f in order[: len(scalars)]):
            return None  # SymPy's order already reads "scalar, then array"
        denominator = sympy.Mul(*(1 / f for f in factors if _in_denominator(f)))
        return c < 0, sympy.Mul(abs(c), *scalars), arrays, denominator


class _TextPrinter(_GraphPrinting, _SubtractedLast, StrPrinter):
    def __init__(self, graph: TensorGraph):
        super().__init__()
        self.graph = graph

    def wrap(self, text: str) -> str:
        return f"({text})"

    def side(self, expr: sympy.Expr, right: bool) -> str:
        value = self.node_precedence(expr)
        text = self._print(expr)
        hadamard = expr.is_Mul and sum(self.is_array(f) for f in expr.args) > 1
        wrap = value < _PRODUCT or (value == _PRODUCT and (right or hadamard))
        return f"({text})" if wrap else text

    def _print_Mul(self, expr: sympy.Mul) -> str:
        parts = self.split(expr)
        if parts is None:
            return super()._print_Mul(expr)
        negative, scalar, arrays, denominator = parts
        text = "*".join(self.parenthesize(f, _PRODUCT) for f in arrays)
        if scalar != 1:
            text = f"{self.parenthesize(scalar, _PRODUCT)}*{text}"
        if denominator != 1:
            text = f"{text}/{self.parenthesize(denominator, _PRODUCT)}"
        return ("-" if negative else "") + text

    def _print_Symbol(self, expr: sympy.Symbol) -> str:
        op = self.op(expr)
        if op is None:
            return expr.name
        args = op.args
        if op.kind == "matmul":
            return f"{self.side(args[0], False)} @ {self.side(args[1], True)}"
        if op.kind == "transpose":
            inner = args[0]
            atom = self.node_precedence(inner) >= _ATOM
            return f"{self._print(inner) if atom else self.side(inner, True)}.T"
        if op.kind == "ones":
            return f"ones({', '.join(map(str, op.shape))})"
        if op.kind == "identity":
            return f"eye({op.shape[0]})"
        axis = "" if op.axis is None else f", axis={op.axis}"
        return f"{op.kind}({', '.join(self._print(a) for a in args)}{axis})"


class _LatexTensorPrinter(_GraphPrinting, _SubtractedLast, LatexPrinter):
    def __init__(self, graph: TensorGraph):
        super().__init__({"mul_symbol": None})
        self.graph = graph

    def wrap(self, text: str) -> str:
        return f"\\left({text}\\right)"

    def operand(self, expr: sympy.Expr) -> str:
        text = self._print(expr)
        atom = self.node_precedence(expr) >= _ATOM or (
            self.op(expr) is not None and self.op(expr).kind == "matmul"
        )
        return text if atom and not expr.is_Add else self.wrap(text)

    def transposed(self, expr: sympy.Expr) -> str:
        op = self.op(expr)
        if op is not None and op.kind == "ones" and len(op.shape) == 2:
            return self._print(expr)  # all ones, transposed
        if op is not None and op.kind == "inv" and isinstance(op.args[0], sympy.Symbol):
            return f"{self._print(op.args[0])}^{{-\\top}}"
        if expr.is_Mul:  # (c x)ᵀ = c xᵀ for a scalar c
            scalars = [f for f in expr.args if not self.is_array(f)]
            arrays = [f for f in expr.args if self.is_array(f)]
            if len(arrays) == 1 and isinstance(arrays[0], sympy.Symbol):
                scalar = sympy.Mul(*scalars)
                sign = "- " if scalar.could_extract_minus_sign() else ""
                scalar = -scalar if sign else scalar
                coefficient = (
                    "" if scalar == 1 else self.parenthesize(scalar, _PRODUCT, strict=True) + " "
                )
                return f"{sign}{coefficient}{self.transposed(arrays[0])}"
        text = self._print(expr)
        simple = isinstance(expr, sympy.Symbol) and (op is None or op.kind in ("ones",))
        return (text if simple else self.wrap(text)) + "^{\\top}"

    def _print_Symbol(self, expr: sympy.Symbol, style: str = "plain") -> str:
        op = self.graph.nodes.get(expr)
        if op is None or op.kind == "let":
            text = super()._print_Symbol(expr, style=style)
            return f"\\boldsymbol{{{text}}}" if expr in self.graph.shapes else text
        a = op.args
        kind = op.kind
        if kind == "matmul":
            left = self.transposed(a[0]) if len(self.graph.shape(a[0])) == 1 else self.operand(a[0])
            return f"{left} {self.operand(a[1])}"
        if kind == "transpose":
            return self.transposed(a[0])
        if kind == "outer":
            return f"{self.operand(a[0])} {self.transposed(a[1])}"
        if kind == "ones":
            return "\\mathbf{1}" if len(op.shape) == 1 else "\\mathbf{1} \\mathbf{1}^{\\top}"
        if kind == "identity":
            return "I"
        if kind == "inv":
            return f"{self.operand(a[0])}^{{-1}}"
        if kind == "sum":
            inner = self.operand(a[0])
            if op.axis == 1:
                return f"{inner} \\mathbf{{1}}"
            if op.axis == 0:
                return f"{self.transposed(a[0])} \\mathbf{{1}}"
            ones = " \\mathbf{1}" if len(self.graph.shape(a[0])) == 2 else ""
            return f"\\mathbf{{1}}^{{\\top}} {inner}{ones}"
        if kind == "norm":
            frobenius = "_{F}" if len(self.graph.shape(a[0])) == 2 else ""
            return f"\\left\\|{self._print(a[0])}\\right\\|{frobenius}"
        return f"{_NAMES[kind]}\\left({self._print(a[0])}\\right)"

    def node_precedence(self, expr: sympy.Basic) -> int:
        op = self.op(expr)
        if op is not None and op.kind == "sum":  # printed as a product with a vector of ones
            return _PRODUCT
        if op is not None and op.kind == "ones" and len(op.shape) == 2:
            return _PRODUCT
        return super().node_precedence(expr)

    def _print_Mul(self, expr: sympy.Mul) -> str:
        parts = self.split(expr)
        if parts is None:
            return super()._print_Mul(expr)
        negative, scalar, arrays, denominator = parts
        # ⊙ binds less tightly than the juxtaposed matrix product, so products are bracketed
        product = " \\odot ".join(self.parenthesize(f, _PRODUCT, strict=False) for f in arrays)
        if len(arrays) == 1:
            product = self.operand(arrays[0])
        if scalar != 1:
            product = f"{self.parenthesize(scalar, _PRODUCT)} {product}"
        if denominator != 1:
            product = f"\\frac{{{product}}}{{{self._print(denominator)}}}"
        return ("- " if negative else "") + product


def _in_denominator(factor: sympy.Expr) -> bool:
    return factor.is_Pow and factor.exp.is_negative


def tensor_text(graph: TensorGraph, expr: sympy.Expr) -> str:
    """``expr`` in NumPy notation (symgd's input language), operations inlined."""
    return _TextPrinter(graph).doprint(expr)


def tensor_latex(graph: TensorGraph, expr: sympy.Expr) -> str:
    """``expr`` in LaTeX: bold arrays, :math:`^\\top`, :math:`\\odot`, operations inlined."""
    return _LatexTensorPrinter(graph).doprint(expr)
