"""The pieces of generated source shared by the compilers of :mod:`symgd.compile`.

:class:`Codegen` collects the lines of one generated function while it is generated:
a linear combination of many data rows becomes one BLAS product, a piecewise function
with a branch that can fail is computed up front (so common-subexpression elimination
cannot hoist the branch out of it). The functions below split gradients by their common
factor, write the gradient lines, order the shared lines and format a function.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy
import sympy

from symgd.compile.printer import Printer, is_total
from symgd.functions import sigmoid, softplus

#: Fewest data rows in a linear combination before it is computed as one BLAS product.
_BLAS_MIN_TERMS = 3


@dataclass
class Codegen:
    """Collects the lines of the generated function (mutable while generating only)."""

    params: tuple[sympy.Symbol, ...]
    data: tuple[sympy.Symbol, ...]
    printer: Printer = field(default_factory=Printer)
    blas: dict[sympy.Symbol, str] = field(default_factory=dict)
    piecewise: dict[sympy.Symbol, sympy.Expr] = field(default_factory=dict)

    def name(self, s: sympy.Symbol) -> str:
        return self.printer._print(s)

    def rows(self, symbols: Sequence[sympy.Symbol]) -> str | None:
        """``X[a:b]`` when the symbols are consecutive data rows in order, else None."""
        index = [self.data.index(s) for s in symbols]
        if index == list(range(index[0], index[0] + len(index))):
            return f"X[{index[0]}:{index[-1] + 1}]"
        return None

    def coefficients(self, coefs: Sequence[sympy.Expr]) -> str:
        """``theta[a:b]`` when the coefficients are consecutive parameters, else a literal."""
        if all(c in self.params for c in coefs):
            index = [self.params.index(c) for c in coefs]
            if index == list(range(index[0], index[0] + len(index))):
                return f"theta[{index[0]}:{index[-1] + 1}]"
        return "numpy.array([" + ", ".join(self.printer.doprint(c) for c in coefs) + "])"

    def linear_combinations(self, exprs: list[sympy.Expr]) -> list[sympy.Expr]:
        """Replace each ``Σ c_k x_k`` over many consecutive data rows by one BLAS product."""
        data = set(self.data)

        def visit(node: sympy.Basic) -> sympy.Basic:
            if node.is_Atom:
                return node
            node = node.func(*(visit(a) for a in node.args))
            if not isinstance(node, sympy.Add):
                return node
            linear, rest = [], []
            for term in node.args:
                coef, rows = term.as_independent(*data, as_Add=False)
                if rows in data and not (coef.free_symbols & data):
                    linear.append((rows, coef))
                else:
                    rest.append(term)
            if len(linear) < _BLAS_MIN_TERMS:
                return node
            linear.sort(key=lambda pair: self.data.index(pair[0]))
            rows = self.rows([r for r, _ in linear])
            if rows is None:
                return node
            code = f"{self.coefficients([c for _, c in linear])} @ {rows}"
            # The same combination in the loss and the gradient is computed once.
            known = {text: name for name, text in self.blas.items()}
            placeholder = known.get(code) or sympy.Symbol(f"_lin{len(self.blas)}", real=True)
            self.blas[placeholder] = code
            return sympy.Add(placeholder, *rest)

        return [visit(e) for e in exprs]

    def opaque_piecewise(self, exprs: list[sympy.Expr]) -> tuple[list[sympy.Expr], list[str]]:
        """Replace each piecewise with a branch that can fail by a name computed up front.

        Common-subexpression elimination would otherwise hoist a branch (``log z``) out
        of its ``Piecewise`` and evaluate it everywhere.
        """
        lines: list[str] = []
        if not self.printer.stable:
            return exprs, lines
        names: dict[sympy.Basic, sympy.Symbol] = {}

        def visit(node: sympy.Basic) -> sympy.Basic:
            if isinstance(node, sympy.Piecewise) and not all(
                is_total(e) and is_total(c) for e, c in node.args
            ):
                if node not in names:
                    names[node] = sympy.Symbol(f"_pw{len(names)}", real=True)
                    self.piecewise[names[node]] = node
                    lines.append(f"{self.name(names[node])} = {self.printer.doprint(node)}")
                return names[node]
            if node.is_Atom:
                return node
            return node.func(*(visit(a) for a in node.args))

        return [visit(e) for e in exprs], lines


def common_factor(gradients: list[sympy.Expr]) -> tuple[sympy.Expr, list[sympy.Expr]]:
    """Split each gradient as ``r · c_θ`` with ``r`` the factor they all share.

    Example:
        >>> w, b, x, y = sympy.symbols("w b x y", real=True)
        >>> residual = w * x + b - y
        >>> common_factor([x * residual, residual])
        (b + w*x - y, [x, 1])
    """
    powers = [g.as_powers_dict() for g in gradients]
    common = {}
    for base in powers[0]:
        if base.is_Number or not all(base in p for p in powers):
            continue
        shared = [p[base] for p in powers]
        if all(e.is_Integer and e > 0 for e in shared):
            common[base] = min(shared)
    r = sympy.Mul(*(b**e for b, e in common.items()))
    rest = [sympy.Mul(*(b ** (e - common.get(b, 0)) for b, e in p.items())) for p in powers]
    return r, rest


def blas_gradient_lines(
    gen: Codegen, rest: list[sympy.Expr], r_name: str, m: str, varying: set[sympy.Symbol]
) -> list[str]:
    """Lines computing ``grad[k] = Σ_i r_i c_k,i / m`` with BLAS where the data allows.

    ``varying`` holds every symbol whose value differs between examples (data rows,
    BLAS products, piecewise values and common subexpressions built from them).
    """
    data = set(gen.data)
    lines = []
    by_row = [(k, c) for k, c in enumerate(rest) if c in data]
    # Consecutive parameters whose factor is a consecutive block of data rows: one gemv.
    blocks: list[list[tuple[int, sympy.Symbol]]] = []
    for k, c in by_row:
        last = blocks[-1][-1] if blocks else None
        if last and last[0] == k - 1 and gen.data.index(last[1]) == gen.data.index(c) - 1:
            blocks[-1].append((k, c))
        else:
            blocks.append([(k, c)])
    done = set()
    for block in blocks:
        if len(block) >= 2:
            first, last = block[0][0], block[-1][0]
            rows = gen.rows([c for _, c in block])
            lines.append(f"grad[{first}:{last + 1}] = {rows} @ {r_name}{m}")
            done.update(k for k, _ in block)
    for k, c in enumerate(rest):
        if k in done:
            continue
        if c in data:
            lines.append(f"grad[{k}] = {gen.name(c)} @ {r_name}{m}")
        elif c == 1:
            lines.append(f"grad[{k}] = numpy.sum({r_name}){m}")
        elif not (c.free_symbols & varying):
            lines.append(f"grad[{k}] = ({gen.printer.doprint(c)}) * numpy.sum({r_name}){m}")
        else:
            lines.append(f"grad[{k}] = numpy.dot({gen.printer.doprint(c)}, {r_name}){m}")
    return lines


def softplus_and_sigmoid(exprs: list[sympy.Expr]) -> list[sympy.Expr]:
    """The arguments ``a`` of which both ``softplus(a)`` and ``σ(a)`` occur (logistic loss).

    Example:
        >>> z = sympy.Symbol("z", real=True)
        >>> softplus_and_sigmoid([softplus(z) - z, sigmoid(z) - 1, sigmoid(2 * z)])
        [z]
    """
    found = set().union(*(e.atoms(softplus, sigmoid) for e in exprs))
    both = {f.args[0] for f in found if isinstance(f, softplus)}
    both &= {f.args[0] for f in found if isinstance(f, sigmoid)}
    return sorted(both, key=sympy.default_sort_key)


def in_dependency_order(steps: list[tuple[tuple, sympy.Expr, str]]) -> list[tuple]:
    """``(defined symbols, expression, line)`` steps, each after the steps it reads from.

    Example:
        >>> a, b, x = sympy.symbols("a b x", real=True)
        >>> steps = [((b,), 2 * a, "b = 2*a"), ((a,), x + 1, "a = x + 1")]
        >>> [line for _, _, line in in_dependency_order(steps)]
        ['a = x + 1', 'b = 2*a']
    """
    pending, done, ordered = list(steps), set(), []
    defined_by_steps = {s for defined, _, _ in steps for s in defined}
    while pending:
        ready = next(
            step for step in pending if not (step[1].free_symbols & defined_by_steps) - done
        )
        pending.remove(ready)
        done.update(ready[0])
        ordered.append(ready)
    return ordered


def check_dtype(dtype: type) -> type:
    """``dtype`` itself when the generated code supports it.

    Raises:
        ValueError: ``dtype`` is neither ``numpy.float64`` nor ``numpy.float32``.

    Example:
        >>> check_dtype(numpy.float32).__name__
        'float32'
    """
    if dtype not in (numpy.float64, numpy.float32):
        raise ValueError(f"dtype must be numpy.float64 or numpy.float32, not {dtype!r}")
    return dtype


def function_source(signature: str, lines: list[str], doc: str | None = None) -> str:
    """One generated function: ``def`` line, docstring, body lines indented by four spaces.

    Example:
        >>> print(function_source("square(x)", ["return x * x"], "x squared."))
        def square(x):
            \"\"\"x squared.\"\"\"
            return x * x
        <BLANKLINE>
    """
    body = [f'"""{doc}"""', *lines] if doc else lines
    return f"def {signature}:\n" + "".join(f"    {line}\n" for line in body)
