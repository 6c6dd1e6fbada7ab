r"""Stage 3, render: a network's backprop chain as LaTeX, Markdown and text.

The lines are the checked equations of :mod:`symgd.render.network_equations`; LaTeX pieces
come from :mod:`symgd.render.printing`; this module only lays the lines out.

Example:
    >>> from symgd.define.network import network
    >>> from symgd.derivation.network import derive_network
    >>> network_latex(derive_network(network("2,3,1"))).startswith("\\begin{align*}")
    True
"""

from __future__ import annotations

import sympy

from symgd.derivation import (
    NetworkDerivation,
)
from symgd.display import display_latex
from symgd.render.network_equations import (
    _EXPANDED,
    _RULES,
    _aligned,
    _lines,
    _written_out,
    network_equations,
)
from symgd.render.network_notation import parameter_mapping
from symgd.render.printing import document


def network_latex(derivation: NetworkDerivation, *, environment: str = "align*") -> str:
    """The backprop chain as one LaTeX ``align*`` (or ``aligned``) block.

    Example:
        >>> from symgd.define.network import network
        >>> from symgd.derivation.network import derive_network
        >>> text = network_latex(derive_network(network("2,3,1")))
        >>> text.splitlines()[0], r"\\odot" in text
        ('\\\\begin{align*}', True)
    """
    lines = [
        line
        for heading, blocks in network_equations(derivation)
        if heading != _RULES
        for block in blocks
        for line in _lines(block)
    ]
    return _aligned(lines, environment)


def _sections(derivation: NetworkDerivation, environment: str) -> list[tuple[str, list[str]]]:
    """``(heading, LaTeX blocks)`` of each section of the rendered chain, in order."""
    return [
        (heading, [_aligned(_lines(block), environment) for block in blocks])
        for heading, blocks in network_equations(derivation)
    ]


def network_markdown(derivation: NetworkDerivation, *, title: str | None = None) -> str:
    """The backprop chain as Markdown with ``$$`` math, one section per group.

    Example:
        >>> from symgd.define.network import network
        >>> from symgd.derivation.network import derive_network
        >>> network_markdown(derive_network(network("2,2,1"))).startswith("**Forward pass**")
        True
    """
    parts = [f"# {title}\n"] if title else []
    for heading, blocks in _sections(derivation, "aligned"):
        parts.append(f"**{heading}**\n")
        if heading == _EXPANDED:
            parts.append(parameter_mapping(derivation.network.depth) + "\n")
        parts += [f"$$\n{block}\n$$\n" for block in blocks]
    return "\n".join(parts)


def network_document(derivation: NetworkDerivation, *, title: str | None = None) -> str:
    """A standalone ``.tex`` document (compiles with ``pdflatex``).

    Example:
        >>> from symgd.define.network import network
        >>> from symgd.derivation.network import derive_network
        >>> network_document(derive_network(network("2,2,1"))).startswith("\\\\documentclass")
        True
    """
    net = derivation.network
    title = title or f"Backpropagation in a {'-'.join(map(str, net.sizes))} network"
    sections = []
    for heading, blocks in _sections(derivation, "align*"):
        sections.append(f"\\section*{{{heading}}}")
        if heading == _EXPANDED:
            sections.append(parameter_mapping(net.depth))
        sections += blocks
    return document("\n".join(sections), title=title)


def _plain(expr: sympy.Expr) -> str:
    """Plain text of an expression in LaTeX-named symbols: ``w^{(1)}_{12}`` -> ``w1_12``."""
    names = {
        s: sympy.Symbol(
            s.name.replace("^{(", "").replace(")}", "").replace("_{", "_").replace("}", "")
        )
        for s in expr.free_symbols
        if isinstance(s, sympy.Symbol)
    }
    return str(expr.xreplace(names))


def network_text(derivation: NetworkDerivation) -> str:
    """A plain-text summary of the backprop chain.

    Example:
        >>> from symgd.define.network import network
        >>> from symgd.derivation.network import derive_network
        >>> print(network_text(derive_network(network("2,3,1"))).splitlines()[0])
        network 2-3-1: hidden tanh, loss mse, output identity
    """
    net = derivation.network
    L = net.depth
    out = f", output {net.output_activation.name}" if net.output_activation else ""
    lines = [
        f"network {'-'.join(map(str, net.sizes))}: hidden {net.activation.name}, "
        f"loss {net.loss.name}{out}",
        "forward: z(l) = W(l) a(l-1) + b(l), a(l) = sigma(z(l)), a(0) = x",
        f"sigma(z) = {_written_out(net.activation)}",
        f"sigma'(z) = {net.activation.derivative}"
        + (
            f" = {net.activation.derivative_in_output} (in a = sigma(z))"
            if net.activation.derivative_in_output is not None
            else ""
        ),
        f"output error: delta({L}) = dl/dz({L}) = {derivation.output_error.delta}",
    ]
    for layer in range(L - 1, 0, -1):
        lines.append(f"delta({layer}) = W({layer + 1})^T delta({layer + 1}) * sigma'(z({layer}))")
    decay = f" + {net.l2:g} W(l)" if net.l2 else ""
    lines.append(
        f"dJ/dW(l) = 1/m Sum_i delta(l)_i a(l-1)_i^T{decay};  dJ/db(l) = 1/m Sum_i delta(l)_i"
    )
    if derivation.expanded:
        for chain in derivation.expanded:
            factors = " + ".join(
                " * ".join(f"({_plain(f)})" if f.is_Add else _plain(f) for f in local)
                for local in chain.local_derivatives
            )
            simplified = _plain(chain.in_intermediates)
            tail = f" = {simplified}" if simplified != factors else ""
            lines.append(f"dl/d{_plain(chain.param)} = {factors}{tail}")
    return "\n".join(lines)


@display_latex.register
def _display_network(derivation: NetworkDerivation) -> str:
    return "$$" + network_latex(derivation, environment="aligned") + "$$"
