r"""Stage 3, render: the notation of network derivations, in one place.

Bold lower-case vectors (:math:`\boldsymbol{a}^{(l)}`, :math:`\boldsymbol{\delta}^{(l)}`),
bold upper-case matrices (:math:`\mathbf{W}^{(l)}`), a superscript :math:`(l)` for the layer
and a subscript for a unit; the Kronecker delta as an indicator :math:`\mathbb{1}[i = p]`, so
it never clashes with the error signal :math:`\delta`; a written-out weight's chain in the
order a textbook writes it: the error from above, the weight, the local derivative, the input.

Example:
    >>> matrix("W", 2), vector("delta", 1)
    ('\\mathbf{W}^{(2)}', '\\boldsymbol{\\delta}^{(1)}')
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy

from symgd.render.printing import latex, latex_printer


class _IndexPrinter(type(latex_printer())):  # symgd's printer, one method added
    """symgd's printer with the Kronecker delta written as an indicator."""

    def _print_KroneckerDelta(self, expr: sympy.KroneckerDelta, exp: object = None) -> str:
        i, j = (self._print(index) for index in expr.args[:2])
        text = rf"\mathbb{{1}}\left[{i} = {j}\right]"
        return text if exp is None else rf"{text}^{{{exp}}}"


_INDEX_PRINTER = _IndexPrinter({"order": "grlex", "mul_symbol": None})


def index_latex(expr: sympy.Basic) -> str:
    r"""LaTeX in index notation, the Kronecker delta written :math:`\mathbb{1}[i = p]`.

    Example:
        >>> i, p = sympy.symbols("i p", integer=True)
        >>> index_latex(sympy.KroneckerDelta(i, p))
        '\\mathbb{1}\\left[i = p\\right]'
    """
    return _INDEX_PRINTER.doprint(expr)


def vector(name: str, layer: int | str) -> str:
    r"""A layer's vector in bold: ``vector("a", 1)`` is :math:`\boldsymbol{a}^{(1)}`.

    Example:
        >>> vector("a", "l")
        '\\boldsymbol{a}^{(l)}'
    """
    symbol = "\\" + name if name == "delta" else name
    return rf"\boldsymbol{{{symbol}}}^{{({layer})}}"


def matrix(name: str, layer: int | str, *, transposed: bool = False) -> str:
    r"""A layer's matrix in upright bold: ``matrix("W", 1)`` is :math:`\mathbf{W}^{(1)}`.

    Example:
        >>> matrix("W", 1), matrix("W", 2, transposed=True)
        ('\\mathbf{W}^{(1)}', '\\mathbf{W}^{(2)\\top}')
    """
    top = r"\top" if transposed else ""
    return rf"\mathbf{{{name}}}^{{({layer}){top}}}"


def _factor(expr: sympy.Expr, first: bool) -> str:
    """One factor of a product, in brackets where it is a sum or (not first) has a sign."""
    if expr.is_Add or (not first and expr.could_extract_minus_sign()):
        return rf"\left({latex(expr)}\right)"
    return latex(expr)


def _product(factors: Sequence[sympy.Expr]) -> str:
    kept = [f for f in factors if f != 1] or [sympy.Integer(1)]
    return " ".join(_factor(f, n == 0) for n, f in enumerate(kept))


def ordered_chain(local_derivatives: Sequence[Sequence[sympy.Expr]]) -> tuple[str, sympy.Expr]:
    r"""A weight's chain with the factors in the order of the path (ones left out).

    One path reads :math:`(a - y)\, w\, (1 - a_1^2)\, x_1`: the error from above, the weight,
    the activation's local derivative, the input. Paths that end alike share their common last
    factors: :math:`\left((a_1 - y_1) w_{11} + (a_2 - y_2) w_{21}\right) (1 - a^2)\, x`.

    Returns:
        ``(LaTeX, the SymPy value)``.

    Example:
        >>> a, y, w, x = sympy.symbols("a y w x")
        >>> ordered_chain([(a - y, 1, w, 1 - a**2, x)])[0]
        '\\left(a - y\\right) w \\left(1 - a^{2}\\right) x'
    """
    paths = [[f for f in local if f != 1] for local in local_derivatives]
    value = sympy.Add(*(sympy.Mul(*p) for p in paths))
    tail: list[sympy.Expr] = []
    while len(paths) > 1 and all(len(p) > 1 and p[-1] == paths[0][-1] for p in paths):
        tail.insert(0, paths[0][-1])
        paths = [p[:-1] for p in paths]
    heads = " + ".join(_product(p) for p in paths)
    if not tail:
        return heads, value
    return rf"\left({heads}\right) {_product(tail)}", value


def parameter_mapping(depth: int) -> str:
    r"""The sentence that ties a written-out network's scalars to its vectors and matrices.

    Example:
        >>> parameter_mapping(2).startswith("Written out")
        True
    """
    layers = ", ".join(f"${matrix('W', l)}$" for l in range(1, depth + 1))
    return (
        r"Written out, $w^{(l)}_{jk} = \mathbf{W}^{(l)}_{jk}$ is the weight from unit $k$ of "
        rf"layer $l - 1$ to unit $j$ of layer $l$ (the entries of {layers}), and "
        r"$b^{(l)}_{j}$, $z^{(l)}_{j}$, $a^{(l)}_{j}$ are entry $j$ of "
        rf"${vector('b', 'l')}$, ${vector('z', 'l')}$, ${vector('a', 'l')}$, with "
        r"$x_{k} = a^{(0)}_{k}$. Each chain multiplies, in order, the error from above "
        r"(its first factors make the output error $\delta^{(" + str(depth) + r")}_{k}$), "
        "the weight it passes back through, the local derivative of the activation and the "
        r"input; by the backward recursion, $\partial \ell / \partial w^{(l)}_{jk} = "
        r"\delta^{(l)}_{j} a^{(l-1)}_{k}$."
    )
