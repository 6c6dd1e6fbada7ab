r"""Stage 3, render: a network's backprop chain as equations that know what they show.

Every displayed line is a :class:`ShownEquation`: the SymPy objects printed on each side of a
chain ``A = B = C`` (and, for notation such as :math:`\partial\ell/\partial z^{(L)}`, the SymPy
object it stands for), so a test can check every consecutive pair of sides.
:mod:`symgd.render.network` lays these equations out as LaTeX, Markdown and documents.

Example:
    >>> from symgd.define.network import network
    >>> from symgd.derivation.network import derive_network
    >>> print(dense_rules_latex(derive_network(network("2,2,1")).rules).splitlines()[1])
    {z}_{i} &= {b}_{i} + \sum_{j=1}^{k} {W}_{i,j} {a}_{j} \\
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sympy

from symgd.define import OUTPUT, PREACTIVATION, TARGET, Activation
from symgd.derivation import (
    LOSS_SYMBOL,
    DenseRules,
    NetworkDerivation,
    ScalarNetwork,
    WeightChain,
)
from symgd.derivation.network import gradient_entries, recursion_entry
from symgd.functions import sigmoid
from symgd.render.network_notation import index_latex, matrix, ordered_chain, vector
from symgd.render.printing import latex, partial

_INDEX = sympy.Symbol("i", integer=True, positive=True)


@dataclass(frozen=True)
class Side:
    """One side of a displayed equation: the LaTeX printed and the SymPy object it stands for.

    Attributes:
        latex: What is printed.
        meaning: Gives the SymPy object (an expression, or a ``Matrix`` for a vector) the
            printed side stands for; ``None`` on the defined side of a definition. Called only
            by checks, so rendering a large network derives nothing more.
    """

    latex: str
    meaning: Callable[[], sympy.Basic] | None = None


def _shown(expr: sympy.Basic) -> Side:
    """A side printed from a SymPy object: the object is its own meaning."""
    return Side(latex(expr), lambda: expr)


def _indexed(expr: sympy.Basic) -> Side:
    """A side in index notation (the Kronecker delta printed as an indicator)."""
    return Side(index_latex(expr), lambda: expr)


@dataclass(frozen=True)
class ShownEquation:
    r"""A displayed chain :math:`A = B = C`, the SymPy objects behind it and what it assumes.

    Attributes:
        sides: The sides, left to right.
        given: ``(symbol, expression)`` substitutions the equalities assume, applied in order
            (``a = σ(z)``; one-hot targets summing to one).
        definition: The left side is defined by the right one (nothing to check).
        left: How many sides stand left of the alignment point ``&``.
        rows: Each further side on its own row.
        note: LaTeX after the last side that is not an equality (an implication, a remark).

    Example:
        >>> a, y = sympy.symbols("a y")
        >>> ShownEquation((_shown(a - y), _shown(y - a))).lines()
        ['a - y &= y - a']
    """

    sides: tuple[Side, ...]
    given: tuple[tuple[sympy.Basic, sympy.Basic], ...] = ()
    definition: bool = False
    left: int = 1
    rows: bool = False
    note: str = ""

    def lines(self) -> list[str]:
        """The equation as rows of an ``align*`` block (``&`` before the first ``=``)."""
        texts = [side.latex for side in self.sides]
        head = " = ".join(texts[: self.left]) + " &= "
        rest = texts[self.left :]
        if not self.rows:
            return [head + " = ".join(rest) + self.note]
        rows = [head + rest[0]] + [f"&= {text}" for text in rest[1:]]
        rows[-1] += self.note
        return rows


def _equation(*sides: Side, **options: object) -> ShownEquation:
    """An equation without repeated sides (a side printed like the one before it is left out)."""
    kept = [sides[0]]
    for side in sides[1:]:
        if side.latex != kept[-1].latex:
            kept.append(side)
    return ShownEquation(tuple(kept), **options)


def _definition(lhs: str, rhs: str) -> ShownEquation:
    return ShownEquation((Side(lhs), Side(rhs)), definition=True)


def _lines(equations: Sequence[ShownEquation]) -> list[str]:
    return [line for equation in equations for line in equation.lines()]


def _aligned(lines: Sequence[str], environment: str) -> str:
    return f"\\begin{{{environment}}}\n" + " \\\\\n".join(lines) + f"\n\\end{{{environment}}}"


def dense_rule_equations(rules: DenseRules) -> list[ShownEquation]:
    r"""The index-notation derivation of the dense layer, one equation per line.

    Example:
        >>> from symgd.derivation.network import dense_rules
        >>> [len(e.sides) for e in dense_rule_equations(dense_rules())]
        [2, 3, 3, 3, 3, 2, 3]
    """
    z = sympy.IndexedBase("z", real=True)[_INDEX]
    ell = latex(LOSS_SYMBOL)
    equations = [_definition(index_latex(z), index_latex(rules.forward))]
    for rule in rules.rules:
        variable, forward = rule.variable, rules.forward
        evaluated = rule.local.doit() if rule.local.has(sympy.Sum) else rule.local
        equations.append(
            _equation(
                Side(
                    partial(index_latex(z), variable),
                    lambda v=variable, f=forward: sympy.diff(f, v),
                ),
                _indexed(rule.local),
                _indexed(evaluated),
            )
        )
        equations.append(
            _equation(
                Side(partial(ell, variable), lambda c=rule.chain: c),
                _indexed(rule.chain),
                _indexed(rule.result),
                note=rf" \quad\Longrightarrow\quad {rule.matrix_form}",
            )
        )
    return equations


def dense_rules_latex(rules: DenseRules) -> str:
    r"""The derivation as an ``align*`` block.

    Example:
        >>> from symgd.derivation.network import dense_rules
        >>> print(dense_rules_latex(dense_rules()).splitlines()[1])
        {z}_{i} &= {b}_{i} + \sum_{j=1}^{k} {W}_{i,j} {a}_{j} \\
    """
    return _aligned(_lines(dense_rule_equations(rules)), "align*")


def _parenthesized(expr: sympy.Expr) -> str:
    text = latex(expr)
    return rf"\left({text}\right)" if expr.is_Add else text


def _product(factors: Sequence[sympy.Expr]) -> Side:
    """Factors printed side by side with ``\\cdot``; their product is the meaning."""
    return Side(r" \cdot ".join(_parenthesized(f) for f in factors), lambda: sympy.Mul(*factors))


def weight_chain_equation(chain: WeightChain, scalar: ScalarNetwork | None = None) -> ShownEquation:
    r"""One weight's chain: :math:`\partial\ell/\partial w` = partials = local factors = simplified.

    Args:
        chain: The weight's chain, from :func:`symgd.derivation.expand_network`.
        scalar: The written-out network, which gives each side its meaning (``None``: printing
            only).

    Example:
        >>> from symgd.define.network import network
        >>> from symgd.derivation.network import derive_network
        >>> d = derive_network(network("1,1,1"), expanded=True)
        >>> len(weight_chain_equation(d.expanded[-1], d.scalar).sides)
        4
    """
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
    ordered, value = ordered_chain(chain.local_derivatives)
    return _equation(
        Side(
            partial(ell, chain.param),
            None if scalar is None else lambda: sympy.diff(scalar.expanded_loss, chain.param),
        ),
        Side(symbolic, None if scalar is None else lambda: scalar.by_definitions(chain.paths)),
        Side(factors, lambda: chain.product),
        Side(ordered, lambda: value),
        given=() if scalar is None else scalar.given,
        rows=True,
    )


def weight_chain_lines(chain: WeightChain) -> list[str]:
    """The chain as aligned LaTeX lines: partials, local factors, simplified."""
    return weight_chain_equation(chain).lines()


_DELTA = r"\delta"
_MEAN = r"\frac{1}{m} \sum_{i=1}^{m}"


def _layer(name: str, layer: int | str) -> str:
    return f"{name}^{{({layer})}}"


def _sum_over(term: sympy.Expr, k: sympy.Expr, n: int) -> sympy.Expr:
    """``Σ_{k=1}^{n} term``, or the term itself for one output unit (``k`` is then 1)."""
    return term if n == 1 else sympy.Sum(term, (k, 1, n))


def _written_out(sigma: Activation) -> sympy.Expr:
    """The activation written out: ``tanh`` and ``σ`` in exponentials, others as they are."""
    if isinstance(sigma.expression, (sympy.tanh, sigmoid)):
        return sigma.expression.rewrite(sympy.exp)
    return sigma.expression


def _forward_and_loss(derivation: NetworkDerivation) -> tuple[list, list]:
    """Forward pass and loss: definitions, nothing to check."""
    net = derivation.network
    L = net.depth
    hidden = net.activation
    forward = [_definition(vector("a", 0), r"\boldsymbol{x}")]
    for layer in range(1, L + 1):
        forward.append(
            _definition(
                vector("z", layer),
                f"{matrix('W', layer)} {vector('a', layer - 1)} + {vector('b', layer)}",
            )
        )
        if layer < L:
            forward.append(
                _definition(
                    vector("a", layer), rf"{hidden.latex_name}\left({vector('z', layer)}\right)"
                )
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
                _definition(
                    latex(p_k),
                    rf"\frac{{e^{{{latex(z_k)}}}}}{{\sum_{{j}} e^{{z^{{({L})}}_{{j}}}}}}",
                )
            )
            ell = -_sum_over(y_k * sympy.log(p_k), k, net.sizes[-1])
        else:
            prediction = net.loss.prediction.xreplace({PREACTIVATION: z_k})
            forward.append(_definition(latex(p_k), latex(prediction)))
            unit = net.loss.unit.xreplace({PREACTIVATION: z_k, TARGET: y_k})
            ell = _sum_over(unit, k, net.sizes[-1])
    else:
        out = net.output_activation
        forward.append(
            _definition(vector("a", L), rf"{out.latex_name}\left({vector('z', L)}\right)")
        )
        a_k = sympy.IndexedBase(_layer("a", L), real=True)[k]
        ell = _sum_over(net.loss.unit.xreplace({OUTPUT: a_k, TARGET: y_k}), k, net.sizes[-1])
    objective = [
        _definition(latex(LOSS_SYMBOL), latex(ell)),
        _definition("J", r"\frac{1}{m} \sum_{i=1}^{m} \ell_{i}"),
    ]
    if net.l2:
        norms = rf"\sum_{{l=1}}^{{{L}}} \left\lVert {matrix('W', 'l')} \right\rVert^{{2}}"
        penalty = rf" + \frac{{\lambda}}{{2}} {norms}"
        # λ is a number, not an equation: it is stated after the objective, in words.
        strength = rf" \quad \text{{with }} \lambda = {net.l2:g}"
        objective[1] = _definition("J", objective[1].sides[1].latex + penalty + strength)
    return forward, objective


def _real(name: str) -> sympy.Symbol:
    return sympy.Symbol(name, real=True)


def _output_error_equations(derivation: NetworkDerivation) -> list[ShownEquation]:
    r""":math:`\delta^{(L)} = \partial\ell/\partial z^{(L)} = \dots`, every step a true equality."""
    net, error = derivation.network, derivation.output_error
    L = net.depth
    delta_L = _layer(_DELTA, L)
    if net.loss.kind == "softmax":
        names = {z: _real(f"z^{{({L})}}_{{{k}}}") for k, (z, _) in enumerate(error.layer, 1)}
        zs, ys = [names[z] for z, _ in error.layer], [y for _, y in error.layer]
        ell = error.loss_in_z.xreplace(names)
        given = tuple((s, e.xreplace(names)) for s, e in error.given)
        z1 = names[dict(error.unit)[PREACTIVATION]]
        first = _equation(
            Side(rf"\delta^{{({L})}}_{{1}}", lambda: sympy.diff(ell, z1)),
            Side(partial(latex(LOSS_SYMBOL), z1), lambda: sympy.diff(ell, z1)),
            *(_shown(expr.xreplace(names)) for _, expr in error.steps),
            given=given,
            left=2,
            rows=True,
        )
        ps = [_real(f"p_{{{k}}}") for k in range(1, len(zs) + 1)]
        total = sympy.Add(*(sympy.exp(z) for z in zs))
        every_unit = ShownEquation(
            (
                Side(vector("delta", L), lambda: sympy.Matrix([sympy.diff(ell, z) for z in zs])),
                Side(
                    r"\boldsymbol{p} - \boldsymbol{y}",
                    lambda: sympy.Matrix([p - y for p, y in zip(ps, ys, strict=True)]),
                ),
            ),
            given=(
                *((s, e) for s, e in given if s in ys),
                *((p, sympy.exp(z) / total) for p, z in zip(ps, zs, strict=True)),
            ),
            note=rf" \quad \text{{(every unit alike; shown for {len(zs)} units)}}",
        )
        return [first, every_unit]
    z, a = _real(_layer("z", L)), _real(_layer("a", L))
    names = {PREACTIVATION: z, OUTPUT: a}
    given = tuple((s.xreplace(names), e.xreplace(names)) for s, e in error.given)
    ell = error.loss_in_z.xreplace(names)
    if net.loss.on_logits:
        middle = [_shown(expr.xreplace(names)) for _, expr in error.steps]
    else:
        out = error.output_activation
        unit = net.loss.unit.xreplace(names)
        middle = [
            Side(
                partial(latex(LOSS_SYMBOL), a) + " " + partial(a, z),
                lambda: sympy.diff(unit, a) * out.derivative.xreplace(names),
            ),
            _product([f.xreplace(names) for f in error.factors]),
            _shown(error.delta.xreplace(names)),
        ]
        given = ((a, out.expression.xreplace(names)),)
    return [
        _equation(
            Side(delta_L, lambda: sympy.diff(ell, z)),
            Side(partial(latex(LOSS_SYMBOL), z), lambda: sympy.diff(ell, z)),
            *middle,
            given=given,
            left=2,
            rows=True,
        )
    ]


def _activation_equations(hidden: Activation) -> list[ShownEquation]:
    """σ written out, and σ' derived, in ``z`` and (where it can be) in the output ``a``."""
    z, a, name = PREACTIVATION, OUTPUT, hidden.latex_name
    equations = [
        _equation(
            Side(rf"{name}\left({latex(z)}\right)", lambda: hidden.expression),
            _shown(_written_out(hidden)),
        ),
    ]
    sides = [
        Side(rf"{name}'\left({latex(z)}\right)", lambda: sympy.diff(hidden.expression, z)),
        _shown(hidden.derivative),
    ]
    note = ""
    in_output = hidden.derivative_in_output
    if in_output is not None and in_output != hidden.derivative:
        sides.append(_shown(in_output))
        note = rf" \quad (a = {name}(z))"
    equations.append(_equation(*sides, given=((a, hidden.expression),), rows=True, note=note))
    return equations


def _recursion_equations(derivation: NetworkDerivation) -> list[ShownEquation]:
    r""":math:`\delta^{(l)} = (W^{(l+1)})^\top \delta^{(l+1)} \odot \sigma'(z^{(l)})`, entry ``q``
    of each side meant as :func:`symgd.derivation.network.recursion_entry` gives it."""
    hidden, equations = derivation.network.activation, []
    for layer in range(derivation.network.depth - 1, 0, -1):
        (chain, with_z, with_a), given = recursion_entry(hidden, layer)
        # The textbook's factored order: (W^T δ) ⊙ σ'(z), the error sent back, then σ'.
        W, delta = matrix("W", layer + 1, transposed=True), vector("delta", layer + 1)
        product = rf"\left({W} {delta}\right)"
        name = rf"{hidden.latex_name}'\left({vector('z', layer)}\right)"
        z_l, a_l = _real(vector("z", layer)), _real(vector("a", layer))
        local = hidden.backward_form.xreplace({PREACTIVATION: z_l, OUTPUT: a_l})
        equations.append(
            _equation(
                Side(vector("delta", layer), lambda e=chain: e),
                Side(rf"{product} \odot {name}", lambda e=with_z: e),
                Side(rf"{product} \odot {_parenthesized(local)}", lambda e=with_a: e),
                given=given,
            )
        )
    return equations


def _gradient_equations(derivation: NetworkDerivation) -> list[ShownEquation]:
    r""":math:`\partial J/\partial W^{(l)}`, :math:`\partial J/\partial b^{(l)}`, meant entry by
    entry as :func:`symgd.derivation.network.gradient_entries` gives them."""
    net, equations = derivation.network, []
    for layer in range(1, net.depth + 1):
        (w_chain, w_mean), (b_chain, b_mean) = gradient_entries(layer, net.l2)
        decay = rf" + \lambda {matrix('W', layer)}" if net.l2 else ""
        delta = f"{_MEAN} {vector('delta', layer)}_{{i}}"
        equations += [
            ShownEquation(
                (
                    Side(
                        rf"\frac{{\partial J}}{{\partial {matrix('W', layer)}}}",
                        lambda e=w_chain: e,
                    ),
                    Side(
                        rf"{delta} \left({vector('a', layer - 1)}_{{i}}\right)^{{\top}}{decay}",
                        lambda e=w_mean: e,
                    ),
                )
            ),
            ShownEquation(
                (
                    Side(
                        rf"\frac{{\partial J}}{{\partial {vector('b', layer)}}}",
                        lambda e=b_chain: e,
                    ),
                    Side(delta, lambda e=b_mean: e),
                )
            ),
        ]
    return equations


_TITLES = (
    "Forward pass",
    "Loss and objective",
    "Output error (derived by SymPy)",
    "Activation derivative (derived by SymPy)",
    "Backward recursion",
    "Parameter gradients",
)
_RULES = "Dense-layer rules in index notation"
_EXPANDED = "Every weight through the chain rule"


def network_equations(derivation: NetworkDerivation) -> list[tuple[str, list[list[ShownEquation]]]]:
    """Every displayed equation of the derivation: ``(heading, blocks of equations)``.

    Example:
        >>> from symgd.define.network import network
        >>> from symgd.derivation.network import derive_network
        >>> [h for h, _ in network_equations(derive_network(network("2,2,1")))][2]
        'Output error (derived by SymPy)'
    """
    forward, objective = _forward_and_loss(derivation)
    groups = [
        forward,
        objective,
        _output_error_equations(derivation),
        _activation_equations(derivation.network.activation),
        _recursion_equations(derivation),
        _gradient_equations(derivation),
    ]
    sections = [(t, [g]) for t, g in zip(_TITLES, groups, strict=True) if g]
    sections.append((_RULES, [dense_rule_equations(derivation.rules)]))
    if derivation.expanded:
        blocks = [[weight_chain_equation(c, derivation.scalar)] for c in derivation.expanded]
        sections.append((_EXPANDED, blocks))
    return sections
