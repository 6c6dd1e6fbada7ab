r"""Stage 3, render: a layered architecture's backward rules as LaTeX, Markdown, a document, text.

Each layer shows its forward pass in index notation, every gradient as a chain of equalities
(each consecutive pair checked by :func:`symgd.derivation.layer_check.verify_rule`) and one
sentence naming the compact rule. A Kronecker delta is printed as an indicator
:math:`\mathbb{1}[i = j]`, as :mod:`symgd.render.printing` prints a Heaviside step.

Example:
    >>> from symgd.define.architecture import architecture
    >>> from symgd.derivation.architecture import derive_architecture
    >>> d = derive_architecture(architecture("dense(2),tanh,dense(1)", (2,), loss="mse"))
    >>> "mathbb{1}" in architecture_latex(d)
    True
"""

from __future__ import annotations

from collections.abc import Callable

import sympy
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.pretty.pretty_symbology import pretty_symbol
from sympy.printing.str import StrPrinter

from symgd.derivation.architecture import ArchitectureDerivation
from symgd.derivation.layer_check import Chain, LayerRule
from symgd.render.printing import document, escape_tex, latex_printer

#: Arrays that carry the gradient arriving from above: a textbook writes them first in a product.
_UPSTREAM = frozenset({"delta", "g"})


def _factor_rank(factor: sympy.Expr) -> int:
    """Numbers, then scalars (``m``, ``gamma``), then δ or g, then derivatives, then the rest."""
    if factor.is_Number:
        return 0
    if isinstance(factor, sympy.Indexed):
        return 2 if str(factor.base) in _UPSTREAM else 4
    if factor.is_Symbol:
        return 1
    return 3 if isinstance(factor, sympy.Derivative) else 4


def _textbook_factors(expr: sympy.Mul) -> list[sympy.Expr] | None:
    r"""The factors with :math:`\delta` (or ``g``) first, then derivatives, then the rest.

    ``None`` where SymPy's own printing should stay: a quotient or a sign to pull out.
    """
    if expr.could_extract_minus_sign() or sympy.fraction(expr)[1] != 1:
        return None
    factors = expr.as_ordered_factors()
    ranked = sorted(factors, key=_factor_rank)  # stable: SymPy's order within a rank
    return None if ranked == factors else ranked


class _IndexPrinter(type(latex_printer())):
    """symgd's printer, with indicators for Kronecker deltas and ∂-fractions for derivatives."""

    def _print_KroneckerDelta(self, expr: sympy.KroneckerDelta, exp: object = None) -> str:
        left, right = (self._print(arg) for arg in expr.args)
        shown = rf"\mathbb{{1}}\left[{left} = {right}\right]"
        return shown if exp is None else rf"{shown}^{{{exp}}}"

    def _print_Derivative(self, expr: sympy.Derivative) -> str:
        (variable, _), *_ = expr.variable_count
        return rf"\frac{{\partial {self._print(expr.expr)}}}{{\partial {self._print(variable)}}}"

    def _print_Mul(self, expr: sympy.Mul) -> str:
        numerator, denominator = sympy.fraction(expr)
        summed = isinstance(numerator, sympy.Sum) or (
            numerator.is_Mul and any(isinstance(f, sympy.Sum) for f in numerator.args)
        )
        if summed and denominator != 1 and not expr.could_extract_minus_sign():
            # A sum over s^2 reads as an average: 1/s^2 in front, not a sum squeezed on a bar.
            return rf"\frac{{1}}{{{self._print(denominator)}}} {self._print(numerator)}"
        factors = _textbook_factors(expr)
        if factors is None:
            return super()._print_Mul(expr)
        shown = []
        for number, factor in enumerate(factors):
            part = self._print(factor)
            if self._needs_mul_brackets(factor, first=number == 0, last=number == len(factors) - 1):
                part = rf"\left({part}\right)"
            shown.append(part)
        return " ".join(shown)


_PRINTER = _IndexPrinter({"order": "grlex", "mul_symbol": None})

#: Names the text form spells differently from :func:`pretty_symbol`.
_TEXT_NAMES = {"ell": "ℓ", "p^{*}": "p*", "q^{*}": "q*"}


class _IndexText(StrPrinter):
    """SymPy syntax with ∂ℓ/∂K[o, c, p, q] derivatives, Σ sums, 1[i = j] indicators, Greek."""

    def _print_Symbol(self, expr: sympy.Symbol) -> str:
        return _TEXT_NAMES.get(expr.name) or pretty_symbol(expr.name)

    def _print_Derivative(self, expr: sympy.Derivative) -> str:
        (variable, _), *_ = expr.variable_count
        return f"∂{self._print(expr.expr)}/∂{self._print(variable)}"

    def _print_KroneckerDelta(self, expr: sympy.KroneckerDelta) -> str:
        left, right = (self._print(arg) for arg in expr.args)
        return f"1[{left} = {right}]"

    def _print_Sum(self, expr: sympy.Sum) -> str:
        limits = ", ".join(
            f"{self._print(index)}={self._print(first)}..{self._print(last)}"
            for index, first, last in expr.limits
        )
        return f"Σ_{{{limits}}} {self.parenthesize(expr.function, PRECEDENCE['Mul'], strict=True)}"

    def _print_Mul(self, expr: sympy.Mul) -> str:
        if expr.could_extract_minus_sign() or sympy.fraction(expr)[1] != 1:
            return super()._print_Mul(expr)
        factors = _textbook_factors(expr) or expr.as_ordered_factors()
        return "*".join(self._factor(factor) for factor in factors)

    def _factor(self, factor: sympy.Expr) -> str:
        if isinstance(factor, sympy.Derivative | sympy.Sum):
            return f"({self._print(factor)})"
        return self.parenthesize(factor, PRECEDENCE["Mul"])


_TEXT = _IndexText({"order": "grlex"})


def _latex(expr: sympy.Basic) -> str:
    return _PRINTER.doprint(expr)


def _text(expr: sympy.Basic) -> str:
    return _TEXT.doprint(expr)


def _shape(shape: tuple[int, ...]) -> str:
    return r" \times ".join(map(str, shape))


def _chain_lines(chain: Chain) -> list[str]:
    sides = [_latex(side) for side in chain.sides]
    lines = [f"{sides[0]} &= {sides[1]}"] + [f"&= {side}" for side in sides[2:]]
    if chain.condition:
        lines[0] += rf" \qquad ({chain.condition})"
    return lines


def _align(lines: list[str], environment: str = "align*") -> str:
    return f"\\begin{{{environment}}}\n" + " \\\\\n".join(lines) + f"\n\\end{{{environment}}}"


def _rule_blocks(rule: LayerRule, environment: str) -> list[tuple[str, str]]:
    """``(kind, text)`` pieces of one rule: ``"math"`` blocks and ``"text"`` sentences.

    The sentences (a rule's notes, each chain's compact rule) are LaTeX with inline math.
    """
    pieces = [("text", note) for note in rule.notes]
    forward = [f"{_latex(eq.lhs)} &= {_latex(eq.rhs)}" for eq in rule.forward]
    pieces.append(("math", _align(forward, environment)))
    for chain in rule.chains:
        pieces.append(("math", _align(_chain_lines(chain), environment)))
        if chain.rule:
            pieces.append(("text", f"Compact rule: {chain.rule}."))
        if chain.matrix_form:
            pieces.append(("math", _align([chain.matrix_form.replace("=", "&=", 1)], environment)))
    return pieces


def _tex_code(words: str) -> str:
    return rf"\texttt{{{escape_tex(words)}}}"


def _markdown_code(words: str) -> str:
    return f"`{words}`"


def _plain(words: str) -> str:
    return words


def _heading(number: int, layer, code: Callable[[str], str]) -> str:
    return f"Layer {number}: {code(layer.text)}"


def _shapes(layer) -> str:
    return f"${_shape(layer.input_shape)} \\to {_shape(layer.output_shape)}$"


def _output_error_latex(derivation: ArchitectureDerivation) -> str:
    delta = _latex(derivation.output_error.delta)
    return _align([rf"\delta^{{(L)}} = \frac{{\partial \ell}}{{\partial z^{{(L)}}}} &= {delta}"])


def architecture_latex(derivation: ArchitectureDerivation, *, environment: str = "align*") -> str:
    """Every layer's forward pass and gradient chains as LaTeX blocks (no document around).

    Args:
        derivation: From :func:`symgd.derivation.derive_architecture`.
        environment: ``"align*"`` for documents, ``"aligned"`` inside ``$$``.

    Returns:
        LaTeX source (needs ``amsmath`` and ``amssymb``).
    """
    parts = []
    for number, (layer, rule) in enumerate(derivation.layers, 1):
        parts.append(f"% {_heading(number, layer, _plain)}")
        parts += [block for kind, block in _rule_blocks(rule, environment) if kind == "math"]
    return "\n".join(parts)


def _checked_sentence(derivation: ArchitectureDerivation, code: Callable[[str], str]) -> str:
    total = sum(check.comparisons for check in derivation.checks)
    return (
        f"Every displayed equality was checked against {code('sympy.diff')} of the written-out "
        f"layer at small sizes: {total} comparisons over {len(derivation.checks)} layer kinds."
    )


def _introduction(derivation: ArchitectureDerivation, code: Callable[[str], str]) -> str:
    """The opening paragraph (LaTeX with inline math; ``code`` typesets a spec or a name)."""
    arch = derivation.architecture
    return (
        f"Architecture {code(arch.text)}, one example of shape ${_shape(arch.input_shape)}$, "
        f"loss {code(arch.loss.name)}. "
        r"$\delta = \partial\ell/\partial z$ is the gradient of the loss by a layer's output; "
        r"an indicator $\mathbb{1}[i = j]$ is 1 when $i = j$ and 0 otherwise. "
        + _checked_sentence(derivation, code)
    )


#: Each layer kind in words, for a title.
_KIND_WORDS = {
    "conv": "convolution",
    "maxpool": "max-pooling",
    "avgpool": "average-pooling",
    "flatten": "flatten",
    "dense": "dense",
    "batchnorm": "batch-norm",
    "rnn": "recurrent",
    "lstm": "LSTM",
}


def _title(derivation: ArchitectureDerivation) -> str:
    """The architecture in words (a title is plain text): the layer kinds in order."""
    words = [
        layer.activation.name if layer.kind == "activation" else _KIND_WORDS[layer.kind]
        for layer in derivation.architecture.layers
    ]
    listed = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    return f"Backpropagation through a {listed} network"


def architecture_document(derivation: ArchitectureDerivation, *, title: str | None = None) -> str:
    """A standalone ``.tex`` document (compiles with ``pdflatex``).

    Example:
        >>> from symgd.define.architecture import architecture
        >>> from symgd.derivation.architecture import derive_architecture
        >>> d = derive_architecture(architecture("dense(2),tanh,dense(1)", (2,), loss="mse"))
        >>> architecture_document(d).startswith("\\\\documentclass")
        True
    """
    body = [
        # A spec in typewriter type cannot be hyphenated: let that paragraph's spaces stretch.
        "{\\sloppy " + _introduction(derivation, _tex_code) + "\\par}",
        "\\section*{Output error}",
        _output_error_latex(derivation),
    ]
    for number, (layer, rule) in enumerate(derivation.layers, 1):
        body.append(f"\\section*{{{_heading(number, layer, _tex_code)}, {_shapes(layer)}}}")
        for kind, piece in _rule_blocks(rule, "align*"):
            body.append(piece if kind == "math" else piece + "\n")
    return document("\n".join(body), title=title or _title(derivation))


def architecture_markdown(derivation: ArchitectureDerivation, *, title: str | None = None) -> str:
    """The derivation as Markdown with ``$$`` math, one section per layer.

    Example:
        >>> from symgd.define.architecture import architecture
        >>> from symgd.derivation.architecture import derive_architecture
        >>> d = derive_architecture(architecture("dense(2),tanh,dense(1)", (2,), loss="mse"))
        >>> "**Output error**" in architecture_markdown(d).splitlines()
        True
    """
    parts = [f"# {title}\n"] if title else []
    parts += [_introduction(derivation, _markdown_code) + "\n", "**Output error**\n"]
    parts.append(f"$$\n{_output_error_latex(derivation)}\n$$\n".replace("align*", "aligned"))
    for number, (layer, rule) in enumerate(derivation.layers, 1):
        parts.append(f"**{_heading(number, layer, _markdown_code)}**, {_shapes(layer)}\n")
        for kind, piece in _rule_blocks(rule, "aligned"):
            parts.append(f"$$\n{piece}\n$$\n" if kind == "math" else piece + "\n")
    return "\n".join(parts)


def architecture_text(derivation: ArchitectureDerivation) -> str:
    """A plain-text summary: each layer's shapes, forward pass and gradient chains.

    One line per chain step, in SymPy syntax with ``∂ℓ/∂K[o, c, p, q]`` derivatives,
    ``Σ_{i=0..n}`` sums and ``1[i = j]`` indicators.

    Example:
        >>> from symgd.define.architecture import architecture
        >>> from symgd.derivation.architecture import derive_architecture
        >>> d = derive_architecture(architecture("dense(2),tanh,dense(1)", (2,), loss="mse"))
        >>> print(architecture_text(d).splitlines()[0])
        architecture dense(2),tanh,dense(1), input 2, loss mse
    """
    arch = derivation.architecture
    shape = "x".join(map(str, arch.input_shape))
    lines = [
        f"architecture {arch.text}, input {shape}, loss {arch.loss.name}",
        f"output error: δ(L) = ∂ℓ/∂z(L) = {_text(derivation.output_error.delta)}",
    ]
    for number, (layer, rule) in enumerate(derivation.layers, 1):
        shapes = (
            f"{'x'.join(map(str, layer.input_shape))} -> {'x'.join(map(str, layer.output_shape))}"
        )
        lines.append(f"\nlayer {number}: {layer.text}, {shapes}")
        lines += [f"  {_text(eq.lhs)} = {_text(eq.rhs)}" for eq in rule.forward]
        for chain in rule.chains:
            first, *rest = (_text(side) for side in chain.sides)
            where = f"   (for {chain.condition})" if chain.condition else ""
            lines.append(f"  {first}{where}")
            lines += [f"      = {side}" for side in rest]
    lines.append("\n" + _checked_sentence(derivation, _plain))
    return "\n".join(lines)
