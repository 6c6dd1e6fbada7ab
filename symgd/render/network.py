r"""Stage 3, render: a network's backprop chain as LaTeX, Markdown and text.

LaTeX pieces come from :mod:`symgd.render.printing`; this module only lays out the lines.

Example:
    >>> from symgd.define.network import network
    >>> from symgd.derivation.network import derive_network
    >>> print(dense_rules_latex(derive_network(network("2,2,1")).rules).splitlines()[1])
    {z}_{i} &= {b}_{i} + \sum_{j=1}^{k} {W}_{i,j} {a}_{j} \\
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy

from symgd.define import OUTPUT, PREACTIVATION, TARGET, Activation
from symgd.derivation import LOSS_SYMBOL, DenseRules, NetworkDerivation, WeightChain
from symgd.display import display_latex
from symgd.functions import sigmoid
from symgd.render.printing import document, latex, partial

_INDEX = sympy.Symbol("i", integer=True, positive=True)


def dense_rules_latex(rules: DenseRules) -> str:
    r"""The derivation as an ``align*`` block.

    Example:
        >>> from symgd.derivation.network import dense_rules
        >>> print(dense_rules_latex(dense_rules()).splitlines()[1])
        {z}_{i} &= {b}_{i} + \sum_{j=1}^{k} {W}_{i,j} {a}_{j} \\
    """
    z = sympy.IndexedBase("z", real=True)[_INDEX]
    ell = latex(LOSS_SYMBOL)
    lines = [f"{latex(z)} &= {latex(rules.forward)}"]
    for rule in rules.rules:
        lhs = partial(ell, rule.variable)
        lines.append(
            rf"{partial(latex(z), rule.variable)} &= {latex(rule.local)} "
            rf"= {latex(rule.local.doit() if rule.local.has(sympy.Sum) else rule.local)}"
        )
        lines.append(
            rf"{lhs} &= {latex(rule.chain)} = {latex(rule.result)}"
            rf" \quad\Longrightarrow\quad {rule.matrix_form}"
        )
    return "\\begin{align*}\n" + " \\\\\n".join(lines) + "\n\\end{align*}"


def weight_chain_lines(chain: WeightChain) -> list[str]:
    """The chain as aligned LaTeX lines: partials, local factors, simplified."""
    ell = latex(LOSS_SYMBOL)

    def name(node: sympy.Symbol) -> str:
        return ell if node == LOSS_SYMBOL else latex(node)

    symbolic = " + ".join(
        " ".join(partial(name(u), v) for u, v in zip(path, path[1:], strict=False))
        for path in chain.paths
    )
    factors = " + ".join(
        r" \cdot ".join(_parenthesized(f) for f in local) for local in chain.local_derivatives
    )
    lines = [symbolic, factors, latex(chain.in_intermediates)]
    unique = list(dict.fromkeys(lines))
    return [f"{partial(ell, chain.param)} &= {unique[0]}"] + [f"&= {u}" for u in unique[1:]]


def _parenthesized(expr: sympy.Expr) -> str:
    text = latex(expr)
    return rf"\left({text}\right)" if expr.is_Add else text


_DELTA = r"\delta"
_MEAN = r"\frac{1}{m} \sum_{i=1}^{m}"


def _layer(name: str, layer: int | str) -> str:
    return f"{name}^{{({layer})}}"


def _sum_over(term: sympy.Expr, k: sympy.Expr, n: int) -> sympy.Expr:
    """``Σ_{k=1}^{n} term``, or the term itself for one output unit (``k`` is then 1)."""
    return term if n == 1 else sympy.Sum(term, (k, 1, n))


def _definition(sigma: Activation) -> sympy.Expr:
    """The activation written out: ``tanh`` and ``σ`` in exponentials, others as they are."""
    if isinstance(sigma.expression, (sympy.tanh, sigmoid)):
        return sigma.expression.rewrite(sympy.exp)
    return sigma.expression


def _general_lines(derivation: NetworkDerivation) -> list[list[str]]:
    """Layer-level equations in groups: forward, loss, output error, σ', recursion, gradients."""
    net = derivation.network
    L = net.depth
    hidden = net.activation
    forward = [rf"{_layer('a', 0)} &= x"]
    for layer in range(1, L + 1):
        forward.append(
            rf"{_layer('z', layer)} &= {_layer('W', layer)} {_layer('a', layer - 1)} + "
            rf"{_layer('b', layer)}"
        )
        if layer < L:
            forward.append(
                rf"{_layer('a', layer)} &= {hidden.latex_name}\left({_layer('z', layer)}\right)"
            )
    k = sympy.Symbol("k", integer=True)
    if net.sizes[-1] == 1:  # one output unit: index 1 and no sum over k = 1 … 1
        k = sympy.Integer(1)
    y_k = sympy.IndexedBase("y", real=True)[k]
    if net.loss.on_logits:
        p_k = sympy.IndexedBase("p", real=True)[k]
        z_k = sympy.IndexedBase(_layer("z", L), real=True)[k]
        if net.loss.kind == "softmax":
            forward.append(
                rf"{latex(p_k)} &= \frac{{e^{{{latex(z_k)}}}}}"
                rf"{{\sum_{{j}} e^{{z^{{({L})}}_{{j}}}}}}"
            )
            ell = -_sum_over(y_k * sympy.log(p_k), k, net.sizes[-1])
        else:
            forward.append(
                rf"{latex(p_k)} &= {latex(net.loss.prediction.xreplace({PREACTIVATION: z_k}))}"
            )
            unit = net.loss.unit.xreplace({PREACTIVATION: z_k, TARGET: y_k})
            ell = _sum_over(unit, k, net.sizes[-1])
    else:
        out = net.output_activation
        forward.append(rf"{_layer('a', L)} &= {out.latex_name}\left({_layer('z', L)}\right)")
        a_k = sympy.IndexedBase(_layer("a", L), real=True)[k]
        ell = _sum_over(net.loss.unit.xreplace({OUTPUT: a_k, TARGET: y_k}), k, net.sizes[-1])
    objective = [rf"{latex(LOSS_SYMBOL)} &= {latex(ell)}"]
    total = r"J &= \frac{1}{m} \sum_{i=1}^{m} \ell_{i}"
    if net.l2:
        total += (
            r" + \frac{\lambda}{2} \sum_{l=1}^{"
            + str(L)
            + r"} \left\lVert W^{(l)} \right\rVert^{2}"
        )
        objective.append(rf"\lambda &= {net.l2:g}")
    objective.insert(1, total)

    error = derivation.output_error
    delta_L = _layer(_DELTA, L)
    out_lines = [
        rf"{delta_L} = {partial(latex(LOSS_SYMBOL), sympy.Symbol(_layer('z', L)))} "
        rf"&= {latex(error.steps[0][1])}"
    ]
    out_lines += [f"&= {latex(expr)}" for _, expr in error.steps[1:]]
    out_lines = list(dict.fromkeys(out_lines))
    z, a = PREACTIVATION, OUTPUT
    sigma_lines = [
        rf"{hidden.latex_name}\left({latex(z)}\right) &= {latex(_definition(hidden))}",
        rf"{hidden.latex_name}'\left({latex(z)}\right) &= {latex(hidden.derivative)}",
    ]
    if hidden.derivative_in_output is not None and hidden.derivative_in_output != hidden.derivative:
        sigma_lines.append(
            rf"&= {latex(hidden.derivative_in_output)} \quad (a = {hidden.latex_name}(z))"
        )
    recursion = []
    for layer in range(L - 1, 0, -1):
        local = hidden.backward_form.xreplace(
            {
                z: sympy.Symbol(_layer("z", layer), real=True),
                a: sympy.Symbol(_layer("a", layer), real=True),
            }
        )
        recursion.append(
            rf"{_layer(_DELTA, layer)} &= \left({_layer('W', layer + 1)}\right)^{{\top}} "
            rf"{_layer(_DELTA, layer + 1)} \odot "
            rf"{hidden.latex_name}'\left({_layer('z', layer)}\right)"
            rf" = \left({_layer('W', layer + 1)}\right)^{{\top}} {_layer(_DELTA, layer + 1)} \odot "
            rf"\left({latex(local)}\right)"
        )
    gradients = []
    for layer in range(1, L + 1):
        decay = rf" + \lambda {_layer('W', layer)}" if net.l2 else ""
        gradients.append(
            rf"\frac{{\partial J}}{{\partial {_layer('W', layer)}}} &= {_MEAN} "
            rf"{_layer(_DELTA, layer)}_{{i}} "
            rf"\left({_layer('a', layer - 1)}_{{i}}\right)^{{\top}}{decay}"
        )
        gradients.append(
            rf"\frac{{\partial J}}{{\partial {_layer('b', layer)}}} &= {_MEAN} "
            rf"{_layer(_DELTA, layer)}_{{i}}"
        )
    return [forward, objective, out_lines, sigma_lines, recursion, gradients]


_TITLES = (
    "Forward pass",
    "Loss and objective",
    "Output error (derived by SymPy)",
    "Activation derivative (derived by SymPy)",
    "Backward recursion",
    "Parameter gradients",
)


def network_latex(derivation: NetworkDerivation, *, environment: str = "align*") -> str:
    """The backprop chain as one LaTeX ``align*`` (or ``aligned``) block.

    Example:
        >>> from symgd.define.network import network
        >>> from symgd.derivation.network import derive_network
        >>> text = network_latex(derive_network(network("2,3,1")))
        >>> text.splitlines()[0], r"\\odot" in text
        ('\\\\begin{align*}', True)
    """
    lines = [line for group in _general_lines(derivation) for line in group]
    if derivation.expanded:
        lines += [line for chain in derivation.expanded for line in weight_chain_lines(chain)]
    return _aligned(lines, environment)


def _aligned(lines: Sequence[str], environment: str) -> str:
    return f"\\begin{{{environment}}}\n" + " \\\\\n".join(lines) + f"\n\\end{{{environment}}}"


def _sections(
    derivation: NetworkDerivation, environment: str, rules_heading: str
) -> list[tuple[str, list[str]]]:
    """``(heading, LaTeX blocks)`` of each section of the rendered chain, in order."""
    sections = [
        (heading, [_aligned(lines, environment)])
        for heading, lines in zip(_TITLES, _general_lines(derivation), strict=True)
        if lines
    ]
    sections.append(
        (rules_heading, [dense_rules_latex(derivation.rules).replace("align*", environment)])
    )
    if derivation.expanded:
        chains = [_aligned(weight_chain_lines(c), environment) for c in derivation.expanded]
        sections.append(("Every weight through the chain rule", chains))
    return sections


def network_markdown(derivation: NetworkDerivation, *, title: str | None = None) -> str:
    """The backprop chain as Markdown with ``$$`` math, one section per group.

    Example:
        >>> from symgd.define.network import network
        >>> from symgd.derivation.network import derive_network
        >>> network_markdown(derive_network(network("2,2,1"))).startswith("**Forward pass**")
        True
    """
    parts = [f"# {title}\n"] if title else []
    for heading, blocks in _sections(derivation, "aligned", "Dense-layer rules (index notation)"):
        parts.append(f"**{heading}**\n")
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
    for heading, blocks in _sections(derivation, "align*", "Dense-layer rules in index notation"):
        sections += [f"\\section*{{{heading}}}", *blocks]
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
        f"sigma(z) = {_definition(net.activation)}",
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
