"""Stage 3, render: a derivation as LaTeX, Markdown, a standalone document or text.

LaTeX comes from SymPy's printer, configured (term order, symbol names) rather
than edited: this module only places printed pieces on the lines of an
``align*`` block. Partial derivatives are written with ``\\partial`` and the
example index ``i`` runs from 1 to ``m``.

Example:
    >>> from symgd.define.objective import linear_regression
    >>> from symgd.derivation.scalar import derive
    >>> print(to_latex(derive(linear_regression())).splitlines()[1])
    \\hat{y} &= w x + b \\\\
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.str import StrPrinter

from symgd.derivation.scalar import LOSS_SYMBOL, ChainStep, Derivation
from symgd.display import display_latex
from symgd.render.listings import code_block, code_listing

__all__ = [
    "latex_printer",
    "latex",
    "partial",
    "text",
    "to_latex",
    "to_markdown",
    "to_text",
    "to_document",
    "document",
    "escape_tex",
    "descent_step_latex",
    "local_product",
    "align",
    "math_block",
    "code_listing",
    "code_block",
]


class _SubtractedLast:
    """symgd's term order: subtracted terms last (``\\hat{y} - y``, not ``-y + \\hat{y}``)."""

    def _as_ordered_terms(self, expr, order=None):
        terms = super()._as_ordered_terms(expr, order=order)
        return sorted(terms, key=lambda term: term.could_extract_minus_sign())


class _LatexPrinter(_SubtractedLast, LatexPrinter):
    """SymPy's LaTeX printer in symgd's term order.

    SymPy's ``symbol_names`` setting may also name a symbol by its name (a ``str`` key),
    whatever its assumptions: ``{"alpha": r"\\eta"}`` shows ``alpha`` and ``alpha``
    declared positive alike.
    """

    def _print_Symbol(self, expr: sympy.Symbol, style: str = "plain") -> str:
        shown = self._settings["symbol_names"].get(expr.name)
        return super()._print_Symbol(expr, style=style) if shown is None else shown

    def _print_Heaviside(self, expr: sympy.Heaviside, exp: object = None) -> str:
        # An indicator, not SymPy's θ (θ is the parameters in symgd's notation); H(0) = 0.
        text = rf"\mathbb{{1}}\left[{self._print(expr.args[0])} > 0\right]"
        return text if exp is None else rf"{text}^{{{exp}}}"

    def _print_Indexed(self, expr: sympy.Indexed) -> str:
        # TeX unwraps a group holding one accent atom, so {\hat{x}_{1}}_{i} is a double
        # subscript; an empty group {} after the base keeps the group an ordinary atom.
        text = super()._print_Indexed(expr)
        base = self._print(expr.base)
        if "_" in base:
            text = text.replace("{" + base + "}", "{" + base + "{}}", 1)
        return text


class _StrPrinter(_SubtractedLast, StrPrinter):
    """SymPy's plain-text printer with the same term order as :class:`_LatexPrinter`."""


def latex_printer(**settings: object) -> LatexPrinter:
    r"""symgd's LaTeX printer, configured with SymPy printer settings.

    Args:
        **settings: Settings of :class:`sympy.printing.latex.LatexPrinter` on top of
            symgd's (``order="grlex"``, no multiplication sign), e.g.
            ``symbol_names={"alpha": r"\eta"}`` or ``mat_symbol_style="bold"``.

    Returns:
        A printer; ``printer.doprint(expr)`` is the LaTeX.

    Example:
        >>> alpha = sympy.Symbol("alpha", positive=True)
        >>> latex_printer(symbol_names={"alpha": r"\eta"}).doprint(2 * alpha)
        '2 \\eta'
    """
    return _LatexPrinter({"order": "grlex", "mul_symbol": None, **settings})


_PRINTER = latex_printer()
_TEXT = _StrPrinter({"order": "grlex"})


def text(expr: sympy.Basic) -> str:
    """Plain SymPy syntax of an expression, in symgd's term order.

    Example:
        >>> y, yhat = sympy.symbols("y yhat")
        >>> text(yhat - y)
        'yhat - y'
    """
    return _TEXT.doprint(expr)


_ALPHA = sympy.Symbol("alpha")


def latex(expr: sympy.Basic) -> str:
    """LaTeX of a SymPy expression with symgd's printer settings.

    Example:
        >>> x, w, b = sympy.symbols("x w b")
        >>> latex(w * x + b)
        'w x + b'
    """
    return _PRINTER.doprint(expr)


def _factor(expr: sympy.Expr) -> str:
    return _PRINTER.parenthesize(expr, PRECEDENCE["Mul"], strict=False)


def local_product(factors: Sequence[sympy.Expr], printer: LatexPrinter | None = None) -> str:
    r"""One path's local derivatives as a product ``a \cdot b``, factors equal to 1 left out.

    A fraction is its own bracket; a sum, a product or a negative factor is bracketed.

    Args:
        factors: The local derivatives along one path of the chain rule.
        printer: A configured printer (default: symgd's).

    Example:
        >>> p, y, x = sympy.symbols("p y x", real=True)
        >>> local_product([(p - y) / (p * (1 - p)), p * (1 - p), 1])
        '\\frac{p - y}{p \\left(1 - p\\right)} \\cdot \\left(p \\left(1 - p\\right)\\right)'
    """
    printer = printer or _PRINTER
    shown = [f for f in factors if f != 1] or [sympy.S.One]
    if len(shown) == 1:
        return printer.doprint(shown[0])

    def factor(f: sympy.Expr) -> str:
        numerator, denominator = sympy.fraction(f)
        if denominator != 1 and not f.could_extract_minus_sign():
            return printer.doprint(f)
        return printer.parenthesize(f, PRECEDENCE["Mul"], strict=False)

    return r" \cdot ".join(factor(f) for f in shown)


def partial(numerator: sympy.Symbol | str, denominator: sympy.Symbol) -> str:
    """``\\frac{\\partial a}{\\partial b}`` for two symbols (or a LaTeX numerator).

    Example:
        >>> partial(sympy.Symbol("J"), sympy.Symbol("w"))
        '\\\\frac{\\\\partial J}{\\\\partial w}'
    """
    top = numerator if isinstance(numerator, str) else latex(numerator)
    return rf"\frac{{\partial {top}}}{{\partial {latex(denominator)}}}"


def _chain_values(step: ChainStep, *, latex_output: bool) -> list[str]:
    """The right-hand sides of the chain rule for one parameter, without repeats.

    In order: the chain of partial derivatives, the product of the local
    derivatives, its simplification in the intermediates, the result in
    parameters and data. A line equal to an earlier one (or, for the chain, to
    the left-hand side ``∂ℓ/∂θ`` itself) is left out.
    """
    if not step.paths:
        return ["0"]
    show = latex if latex_output else text
    if latex_output:
        link, times = (lambda a, b: partial(a, b)), " "
        factor, dot = _factor, r" \cdot "
    else:
        link, times = (lambda a, b: f"d{_text_name(a)}/d{b}"), " * "
        factor, dot = (lambda f: _TEXT.parenthesize(f, PRECEDENCE["Mul"])), " * "
    symbolic = " + ".join(
        times.join(link(a, b) for a, b in zip(path, path[1:], strict=False)) for path in step.paths
    )
    if latex_output:
        local = " + ".join(local_product(fs) for fs in step.local_derivatives)
    else:
        local = " + ".join(
            dot.join(factor(f) for f in kept) if len(kept) > 1 else show(kept[0])
            for kept in (
                [f for f in fs if f != 1] or [sympy.S.One] for fs in step.local_derivatives
            )
        )
    products = sympy.Add(*(sympy.Mul(*factors) for factors in step.local_derivatives))
    # The simplified chain is shown only when it says more than the product of the factors.
    simplified = "" if products == step.in_intermediates else show(step.in_intermediates)
    seen = {link(LOSS_SYMBOL, step.param)}
    values = []
    for value in [symbolic, local, simplified, show(step.result)]:
        if value and value not in seen:
            seen.add(value)
            values.append(value)
    return values


def _chain_lines(step: ChainStep) -> list[str]:
    """The chain rule for one parameter as aligned LaTeX lines."""
    values = _chain_values(step, latex_output=True)
    lhs = partial(LOSS_SYMBOL, step.param)
    return [f"{lhs} &= {values[0]}"] + [f"&= {value}" for value in values[1:]]


def _objective_latex(derivation: Derivation) -> str:
    objective = derivation.objective
    params = ", ".join(latex(p) for p in objective.params)
    ell = latex(derivation.indexed(LOSS_SYMBOL)) + "_{i}"
    total = rf"\sum_{{i=1}}^{{{latex(objective.examples)}}} {ell}"
    if objective.reduction == "mean":
        total = rf"\frac{{1}}{{{latex(objective.examples)}}} {total}"
    if objective.l2:
        squares = " + ".join(f"{_factor(p)}^{{2}}" for p in objective.params)
        total += rf" + \frac{{{latex(objective.l2_symbol)}}}{{2}} \left({squares}\right)"
    return rf"J\left({params}\right) &= {total}"


def _dataset_gradient_latex(derivation: Derivation, param: sympy.Symbol) -> str:
    objective = derivation.objective
    step = derivation.steps[objective.params.index(param)]
    m = latex(objective.examples)
    body = latex(derivation.indexed(step.result))
    if step.result.is_Add:
        body = rf"\left({body}\right)"
    text = rf"\sum_{{i=1}}^{{{m}}} {body}"
    if objective.reduction == "mean":
        text = rf"\frac{{1}}{{{m}}} {text}"
    if objective.l2:
        text += rf" + {latex(objective.l2_symbol)} {_factor(param)}"
    return text


def descent_step_latex(derivation: Derivation, param: sympy.Symbol) -> str:
    r"""The gradient-descent update of one parameter, ``θ^{(t+1)} = θ^{(t)} − α ∂J/∂θ``.

    The step is a bracketed superscript (symgd's notation, docs/notation.md), so that a
    subscript stays free for an index: :math:`w_{1}^{(t+1)}`.

    Example:
        >>> from symgd.define.objective import linear_regression
        >>> from symgd.derivation.scalar import derive
        >>> shown = descent_step_latex(derive(linear_regression()), sympy.Symbol("w", real=True))
        >>> print(shown.split(r"\left(")[0])
        w^{(t+1)} &= w^{(t)} - \alpha \frac{\partial J}{\partial w}
        >>> shown.endswith(r"\left(\boldsymbol{\theta}^{(t)}\right)")
        True
    """
    name = latex(param)
    new, old, theta = f"{name}^{{(t+1)}}", f"{name}^{{(t)}}", r"\boldsymbol{\theta}^{(t)}"
    return rf"{new} &= {old} - \alpha {partial('J', param)}\left({theta}\right)"


def _lines(derivation: Derivation) -> list[list[str]]:
    """The derivation in groups of aligned lines: model, then one group per parameter."""
    objective = derivation.objective
    model = [
        f"{latex(name)} &= {latex(definition)}" for name, definition in objective.intermediates
    ]
    model.append(f"{latex(LOSS_SYMBOL)} &= {latex(objective.loss)}")
    model.append(_objective_latex(derivation))
    if objective.l2:
        model.append(rf"{latex(objective.l2_symbol)} &= {objective.l2:g}")
    groups = [model]
    for step in derivation.steps:
        group = _chain_lines(step)
        group.append(
            f"{partial('J', step.param)} &= {_dataset_gradient_latex(derivation, step.param)}"
        )
        group.append(descent_step_latex(derivation, step.param))
        groups.append(group)
    return groups


def to_latex(derivation: Derivation, *, environment: str = "align*") -> str:
    """The whole derivation as one LaTeX ``align*`` (or ``aligned``) block.

    Args:
        derivation: From :func:`symgd.derivation.derive`.
        environment: ``"align*"`` for documents, ``"aligned"`` inside ``$$``.

    Returns:
        LaTeX source; requires ``amsmath``.
    """
    return align([line for group in _lines(derivation) for line in group], environment=environment)


def to_markdown(derivation: Derivation, *, title: str | None = None) -> str:
    """The derivation as Markdown with ``$$`` math (Jupyter, GitHub, most sites).

    Args:
        derivation: From :func:`symgd.derivation.derive`.
        title: Optional heading.

    Returns:
        Markdown text.
    """
    groups = _lines(derivation)
    parts = [f"# {title}\n"] if title else []
    parts.append("**Model and objective**\n")
    parts.append(math_block(groups[0]))
    for step, group in zip(derivation.steps, groups[1:], strict=True):
        parts.append(f"**Gradient with respect to ${latex(step.param)}$** (chain rule)\n")
        parts.append(math_block(group))
    return "\n".join(parts)


def math_block(lines: Sequence[str]) -> str:
    """Aligned lines (``lhs &= rhs``) as Markdown display math: ``$$`` around ``aligned``."""
    return f"$$\n{align(lines, environment='aligned')}\n$$\n"


#: The packages and definitions every symgd LaTeX document loads (articles and slides).
PACKAGES = (
    "\\usepackage[utf8]{inputenc}\n"
    "\\usepackage[T1]{fontenc}\n"
    "\\usepackage{amsmath,amssymb}\n"
    # amssymb has no blackboard 1: the indicator \mathbb{1} is drawn as a 1 with a stroke.
    "\\let\\symgdmathbb\\mathbb\\def\\symgdone{1}\n"
    "\\renewcommand{\\mathbb}[1]{\\def\\symgdarg{#1}\\ifx\\symgdarg\\symgdone"
    "\\mathrm{1\\mkern-4mu l}\\else\\symgdmathbb{#1}\\fi}\n"
    "\\usepackage{graphicx}\n"
)


def document(body: str, *, title: str = "Derivation") -> str:
    """Wrap LaTeX body text in a standalone article that compiles with ``pdflatex``.

    Args:
        body: LaTeX for the document body.
        title: The document title (plain text; LaTeX special characters are escaped).

    Returns:
        The complete ``.tex`` source.
    """
    safe_title = escape_tex(" ".join(title.split()))  # a blank line would end \title early
    return (
        "\\documentclass[11pt]{article}\n"
        f"{PACKAGES}"
        "\\usepackage[margin=2cm]{geometry}\n"
        # Figures close to the text that introduces them, not gathered pages later.
        "\\renewcommand{\\topfraction}{0.9}\\renewcommand{\\bottomfraction}{0.8}\n"
        "\\renewcommand{\\textfraction}{0.07}\\renewcommand{\\floatpagefraction}{0.75}\n"
        "\\allowdisplaybreaks\n"
        f"\\title{{{safe_title}}}\n"
        "\\date{}\n"
        "\\begin{document}\n"
        "\\maketitle\n"
        f"{body}\n"
        "\\end{document}\n"
    )


_TEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "^": r"\^{}",
    "_": r"\_",
    "%": r"\%",
    "~": r"\~{}",
}
# Control characters (C0 but tab, newline and return; DEL; C1) have no glyph and stop pdflatex:
# they are shown as Python writes them, e.g. DEL as \x7f.
_TEX_ESCAPES.update(
    {
        chr(code): f"\\textbackslash{{}}x{code:02x}"
        for code in (*range(0x20), *range(0x7F, 0xA0))
        if chr(code) not in "\t\n\r"
    }
)


def to_document(derivation: Derivation, *, title: str = "Gradient derivation") -> str:
    """A standalone ``.tex`` document of the derivation.

    Example:
        >>> from symgd.define.objective import linear_regression
        >>> from symgd.derivation.scalar import derive
        >>> to_document(derive(linear_regression())).startswith("\\\\documentclass")
        True
    """
    groups = _lines(derivation)
    sections = ["\\section*{Model and objective}", align(groups[0])]
    for step, group in zip(derivation.steps, groups[1:], strict=True):
        sections.append(f"\\section*{{Gradient with respect to ${latex(step.param)}$}}")
        sections.append(
            "By the chain rule through the named intermediates, then summed over the examples:"
        )
        sections.append(align(group))
    return document("\n".join(sections), title=title)


def align(lines: Sequence[str], *, environment: str = "align*") -> str:
    """Aligned lines (``lhs &= rhs``) as a LaTeX ``align*`` block (``align``: numbered)."""
    body = " \\\\\n".join(lines)
    return f"\\begin{{{environment}}}\n{body}\n\\end{{{environment}}}"


def to_text(derivation: Derivation) -> str:
    """A plain-text summary: the per-example and dataset gradients, the chains.

    Example:
        >>> from symgd.define.objective import linear_regression
        >>> from symgd.derivation.scalar import derive
        >>> print(to_text(derive(linear_regression())).splitlines()[0])
        loss: (y - yhat)**2/2   where yhat = w*x + b
    """
    objective = derivation.objective
    where = ", ".join(f"{n} = {text(d)}" for n, d in objective.intermediates)
    loss = text(objective.loss)
    lines = [f"loss: {loss}" + (f"   where {where}" if where else "")]
    reduction = "1/m * Sum_i" if objective.reduction == "mean" else "Sum_i"
    for step in derivation.steps:
        values = _chain_values(step, latex_output=False)
        lines.append(f"dl/d{step.param} = {values[0]}")
        lines.extend(f"      = {value}" for value in values[1:])
        penalty = f" + {objective.l2:g}*{step.param}" if objective.l2 else ""
        summand = text(derivation.indexed(step.result))
        summand = f"({summand})" if step.result.is_Add else summand
        lines.append(f"dJ/d{step.param} = {reduction} {summand}{penalty}")
    lines.append("update: theta <- theta - alpha * dJ/dtheta")
    return "\n".join(lines)


def _text_name(node: sympy.Symbol) -> str:
    return "l" if node == LOSS_SYMBOL else node.name


def escape_tex(text: str) -> str:
    r"""Plain text made safe for LaTeX: every special character escaped.

    Control characters (DEL, ``\x00`` …) are written out as ``\x7f`` …; tab, newline and
    return stay (TeX reads them as spaces).

    Example:
        >>> print(escape_tex(r"50% of \input{x}"))
        50\% of \textbackslash{}input\{x\}
        >>> print(escape_tex("a\x7fb\x00"))
        a\textbackslash{}x7fb\textbackslash{}x00
    """
    return "".join(_TEX_ESCAPES.get(ch, ch) for ch in text)


@display_latex.register
def _display_derivation(derivation: Derivation) -> str:
    return "$$" + to_latex(derivation, environment="aligned") + "$$"
