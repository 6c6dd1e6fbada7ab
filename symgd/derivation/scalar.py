"""Stage 2, derive: gradients and chain-rule steps, SymPy in and SymPy out.

Each named intermediate is a node of a small graph (``z = w x + b``,
``p = σ(z)``, ``ℓ = −y log p − (1−y) log(1−p)``). The derivative of the loss
with respect to a parameter is the sum over the paths from ``ℓ`` to the
parameter of the product of local derivatives (reverse accumulation, i.e.
backpropagation). Every chain is checked against ``sympy.diff`` of the fully
substituted loss, so a displayed step can never disagree with the result.

Example:
    >>> from symgd.define.objective import linear_regression
    >>> derivation = derive(linear_regression())
    >>> derivation.gradient[derivation.objective.params[0]]
    x*(b + w*x - y)
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import sympy

from symgd import limits
from symgd.define import Objective
from symgd.derivation.forms import EXPANSION_LIMIT, expanded_terms, lecturer_form
from symgd.display import display_latex
from symgd.functions import expand_named_functions

#: The symbol standing for the per-example loss in displayed steps.
LOSS_SYMBOL = sympy.Symbol("ell", real=True)

Path = tuple[sympy.Symbol, ...]


@dataclass(frozen=True)
class ChainStep:
    """The chain rule for one parameter, ``∂ℓ/∂θ = Σ_paths Π local derivatives``.

    Attributes:
        param: The parameter ``θ``.
        paths: Each path from ``ℓ`` through intermediates to ``θ``, e.g. ``(ℓ, ŷ, w)``.
        local_derivatives: For each path, the local derivative of each link
            ``∂a/∂b`` expressed in the intermediates (``σ' = p (1 − p)``).
        in_intermediates: The simplified result written with intermediates, e.g. ``x (p − y)``.
        result: The simplified result in parameters and data only.
    """

    param: sympy.Symbol
    paths: tuple[Path, ...]
    local_derivatives: tuple[tuple[sympy.Expr, ...], ...]
    in_intermediates: sympy.Expr
    result: sympy.Expr

    def __repr__(self) -> str:
        chains = " + ".join(
            " * ".join(f"d{a}/d{b}" for a, b in zip(path, path[1:], strict=False))
            for path in self.paths
        )
        return f"ChainStep(d{LOSS_SYMBOL}/d{self.param} = {chains} = {self.result})"


@dataclass(frozen=True)
class Derivation:
    """The derived gradient of an objective, with its chain-rule steps.

    Attributes:
        objective: What was differentiated.
        steps: One :class:`ChainStep` per parameter, in parameter order.
    """

    objective: Objective
    steps: tuple[ChainStep, ...]

    @property
    def gradient(self) -> dict[sympy.Symbol, sympy.Expr]:
        """Per-example gradient ``∂ℓ/∂θ`` for each parameter, in parameters and data."""
        return {step.param: step.result for step in self.steps}

    @property
    def index(self) -> sympy.Symbol:
        """The example index ``i`` running from 1 to ``m``."""
        return sympy.Symbol("i", integer=True, positive=True)

    def indexed(self, expr: sympy.Expr) -> sympy.Expr:
        """``expr`` with each data symbol ``x`` replaced by ``x_i``."""
        return expr.xreplace(
            {d: sympy.IndexedBase(d.name, real=True)[self.index] for d in self.objective.data}
        )

    def dataset_gradient(self, param: sympy.Symbol) -> sympy.Expr:
        """``∂J/∂θ = (1/m) Σ_i ∂ℓ_i/∂θ (+ λθ)`` as an unevaluated SymPy expression.

        Example:
            >>> from symgd.define.objective import linear_regression
            >>> d = derive(linear_regression())
            >>> d.dataset_gradient(d.objective.params[1])
            Sum(b + w*x[i] - y[i], (i, 1, m))/m
        """
        step = self.steps[self.objective.params.index(param)]
        total = sympy.Sum(self.indexed(step.result), (self.index, 1, self.objective.examples))
        if self.objective.reduction == "mean":
            total = total / self.objective.examples
        if self.objective.l2:
            total = total + self.objective.l2_symbol * param
        return total

    def _repr_latex_(self) -> str | None:
        return display_latex(self)

    def __repr__(self) -> str:
        grads = ", ".join(f"d/d{s.param}: {s.result}" for s in self.steps)
        return f"Derivation({grads})"


def is_zero(expr: sympy.Expr, *, expand: bool = False) -> bool:
    """Whether ``expr`` simplifies to zero, looking through sigmoid/softplus.

    Args:
        expr: The expression.
        expand: Multiply out first, unless that would be large (:func:`expanded_terms`).

    Example:
        >>> z = sympy.Symbol("z", real=True)
        >>> from symgd.functions import sigmoid
        >>> is_zero(sigmoid(z) - 1 / (1 + sympy.exp(-z)))
        True
    """
    if expand and expanded_terms(expr, EXPANSION_LIMIT + 1) <= EXPANSION_LIMIT:
        expr = sympy.expand(expr)
    if expr == 0:
        return True
    if sympy.simplify(expr) == 0:
        return True
    return sympy.simplify(expand_named_functions(expr)) == 0


def _cases_form(expr: sympy.Expr, *, simplify: bool = True) -> sympy.Expr:
    """:func:`lecturer_form`, case by case where ``expr`` has cases (shown as cases)."""
    expr = tidy_cases(expr)
    if not isinstance(expr, sympy.Piecewise):
        return lecturer_form(expr, simplify=simplify)
    return sympy.Piecewise(*((lecturer_form(v, simplify=simplify), c) for v, c in expr.args))


def _agrees(result: sympy.Expr, expected: sympy.Expr, symbols: Sequence[sympy.Symbol]) -> bool:
    """Whether two expressions are equal: by expansion, else at random points in 30 digits.

    ``expand`` settles the usual case at once; where it cannot (``1/cosh²`` against
    ``1 − tanh²``), or where multiplying out would be large (``(y − w x − b)^{31}``), the
    two sides are compared at eight random points in high precision, which a wrong chain
    fails with probability one.
    """
    difference = result - expected
    if difference == 0:
        return True
    small = expanded_terms(difference, EXPANSION_LIMIT + 1) <= EXPANSION_LIMIT
    if small and sympy.expand(difference) == 0:
        return True
    rng = random.Random(0)
    for _ in range(8):
        point = {s: sympy.Float(rng.uniform(-1.5, 1.5), 30) for s in symbols}
        a, b = result.xreplace(point).evalf(30), expected.xreplace(point).evalf(30)
        if not (a.is_number and b.is_number):
            return is_zero(difference)
        if abs(a - b) > sympy.Float("1e-20") * max(1, abs(a), abs(b)):
            return False
    return True


#: The links of a dependency graph: each node mapped to the nodes its definition reads.
Graph = Mapping[sympy.Symbol, Sequence[sympy.Symbol]]


def _paths(node: sympy.Symbol, param: sympy.Symbol, children: Graph) -> list[Path]:
    """All paths from ``node`` down to ``param`` through the nodes of the graph."""
    found: list[Path] = []
    for child in children[node]:
        if child == param:
            found.append((node, param))
        elif child in children:
            found.extend((node, *rest) for rest in _paths(child, param, children))
    return found


def sum_of_products(local_derivatives: Sequence[Sequence[sympy.Expr]]) -> sympy.Expr:
    """``Σ_paths Π local derivatives``: the chain rule once the local derivatives are known.

    Example:
        >>> a, b, c = sympy.symbols("a b c", real=True)
        >>> sum_of_products([(a, b), (c,)])
        a*b + c
    """
    return sympy.Add(*(sympy.Mul(*factors) for factors in local_derivatives))


def chain_rule(
    param: sympy.Symbol,
    children: Graph,
    local: Callable[[sympy.Symbol, sympy.Symbol], sympy.Expr],
    top: sympy.Symbol = LOSS_SYMBOL,
) -> tuple[tuple[Path, ...], tuple[tuple[sympy.Expr, ...], ...], sympy.Expr]:
    r"""Differentiate ``top`` by ``param`` through a dependency graph of named nodes.

    .. math:: \frac{\partial\, \text{top}}{\partial \theta} = \sum_{\text{paths}}
        \prod_{(a, b) \in \text{path}} \frac{\partial a}{\partial b}

    Scalar objectives (:func:`derive`) and expanded networks
    (:func:`symgd.derivation.derive_network`) both go through here.

    Args:
        param: The parameter ``θ``.
        children: Each node mapped to the nodes (and parameters) it reads, in display order.
        local: The local derivative ``∂a/∂b`` of one link ``(a, b)``.
        top: Where the paths start (the loss ``ℓ``).

    Returns:
        The paths from ``top`` to ``param``, the local derivatives of each path's links, and
        the sum of their products in its simplest form (:func:`lecturer_form`).

    Example:
        >>> ell, p, z, w, x = sympy.symbols("ell p z w x", real=True)
        >>> graph = {ell: (p, z), p: (z,), z: (w, x)}
        >>> links = {(ell, p): 2 * p, (ell, z): 1, (p, z): p * (1 - p), (z, w): x}
        >>> paths, factors, total = chain_rule(w, graph, lambda a, b: links[a, b], top=ell)
        >>> paths
        ((ell, p, z, w), (ell, z, w))
        >>> total
        2*p**2*x*(1 - p) + x
    """
    paths = tuple(_paths(top, param, children))
    factors = tuple(
        tuple(local(a, b) for a, b in zip(path, path[1:], strict=False)) for path in paths
    )
    return paths, factors, _cases_form(sum_of_products(factors))


def definition_graph(definitions: Mapping[sympy.Symbol, sympy.Expr]) -> dict:
    """The dependency graph of named definitions: each node's symbols, sorted by name.

    Example:
        >>> z, w, x, b = sympy.symbols("z w x b", real=True)
        >>> definition_graph({z: w * x + b})
        {z: [b, w, x]}
    """
    return {
        node: sorted(definition.free_symbols, key=lambda s: s.name)
        for node, definition in definitions.items()
    }


#: The convention at a kink, stated once: words with ``{n}`` where a formula goes, and the
#: formulas in LaTeX (the notes quote it) and in plain text (:data:`KINK_CONVENTION`).
KINK_CONVENTION_WORDS = (
    "At a kink, where two cases meet, the derivative is the one of the case that holds there: "
    "at {0} we take the subgradient 0 ({1}, the hinge, the step {2} with {3}, and {4} in the "
    "derivative of {5}), as PyTorch and JAX do for ReLU."
)
KINK_CONVENTION_LATEX = (
    "r = 0",
    r"\max(0, r)",
    "H",
    "H(0) = 0",
    r"\operatorname{sign}(0) = 0",
    r"\lvert r \rvert",
)
KINK_CONVENTION = KINK_CONVENTION_WORDS.format(
    "r = 0", "max(0, r)", "H", "H(0) = 0", "sign(0) = 0", "|r|"
)


def as_piecewise(expr: sympy.Expr) -> sympy.Expr:
    r"""``Max``, ``Min`` and ``Heaviside`` written as ``Piecewise``, ties to the numbers.

    :math:`H(u) = 1` for :math:`u > 0`, else 0. A case of ``Max``/``Min`` holds where its
    argument is strictly larger (smaller) than every later one, numbers last, so a tie goes to
    a number: ``Max(0, u)`` has the derivative 0 at :math:`u = 0`. ``Abs`` stays (its
    derivative is ``sign``, :math:`\operatorname{sign}(0) = 0`).

    Example:
        >>> u = sympy.Symbol("u", real=True)
        >>> as_piecewise(sympy.Max(0, u))
        Piecewise((u, u > 0), (0, True))
        >>> as_piecewise(sympy.Heaviside(u))
        Piecewise((1, u > 0), (0, True))
    """

    def exceeds(a: sympy.Expr, b: sympy.Expr) -> sympy.Basic:
        # Exact primitive part of a - b > 0: Floats in a condition (0.3 r > -0.7 r) sent
        # SymPy's Piecewise into endless recursion.
        _, primitive = sympy.nsimplify(a - b, rational=True).as_content_primitive()
        return sympy.StrictGreaterThan(primitive, 0)

    def cases(*args: sympy.Expr, larger: bool) -> sympy.Piecewise:
        ordered = sorted(args, key=lambda a: (bool(a.is_number), sympy.default_sort_key(a)))
        rows = [
            (a, sympy.And(*(exceeds(a, b) if larger else exceeds(b, a) for b in ordered[k + 1 :])))
            for k, a in enumerate(ordered[:-1])
        ]
        return sympy.Piecewise(*rows, (ordered[-1], True))

    expr = expr.replace(sympy.Heaviside, lambda u, *_: sympy.Piecewise((1, u > 0), (0, True)))
    expr = expr.replace(sympy.Max, lambda *a: cases(*a, larger=True))
    return expr.replace(sympy.Min, lambda *a: cases(*a, larger=False))


def tidy_cases(expr: sympy.Expr) -> sympy.Expr:
    """Cases folded to the top (``x·{a, b} = {x a, x b}``), conditions simplified, never-cases out.

    Example:
        >>> x, u = sympy.symbols("x u", real=True)
        >>> tidy_cases(x * sympy.Piecewise((1, u > 0), (0, True)))
        Piecewise((x, u > 0), (0, True))
    """
    folded = sympy.piecewise_fold(expr) if expr.has(sympy.Piecewise) else expr
    if not isinstance(folded, sympy.Piecewise):
        return folded
    rows = []
    for value, condition in folded.args:
        if condition is not sympy.true:
            condition = limits.attempt(limits.SIMPLIFY_SECONDS, condition.simplify, condition)
        if condition is not sympy.false:
            rows.append((value, condition))
    return sympy.Piecewise(*rows) if rows else sympy.S.Zero


def almost_everywhere_derivative(expr: sympy.Expr, variable: sympy.Symbol) -> sympy.Expr:
    """``∂expr/∂variable`` wherever it exists, piecewise losses as cases, never ``DiracDelta``.

    ``Max``/``Min``/``Heaviside`` become cases first (:func:`as_piecewise`); the derivative of
    a step is 0 wherever it is defined (SymPy's ``DiracDelta`` is 0). At a kink:
    :data:`KINK_CONVENTION`.

    Example:
        >>> r = sympy.Symbol("r", real=True)
        >>> almost_everywhere_derivative(sympy.Max(0, 1 - r), r)
        Piecewise((-1, r < 1), (0, True))
        >>> almost_everywhere_derivative(r * sympy.sign(r), r)
        sign(r)
    """
    return tidy_cases(without_impulses(sympy.diff(as_piecewise(expr), variable)))


def without_impulses(expr: sympy.Expr) -> sympy.Expr:
    """``expr`` with every ``DiracDelta`` set to 0: a step's derivative wherever it exists.

    Example:
        >>> z = sympy.Symbol("z", real=True)
        >>> without_impulses(sympy.diff(z * sympy.Heaviside(z), z))
        Heaviside(z)
    """
    return expr.replace(sympy.DiracDelta, lambda *_: sympy.S.Zero)


def local_derivative(
    node: sympy.Symbol, child: sympy.Symbol, definitions: Mapping[sympy.Symbol, sympy.Expr]
) -> sympy.Expr:
    """``∂node/∂child`` written, where possible, in terms of ``node`` itself (σ' = σ(1−σ)).

    Example:
        >>> from symgd.functions import sigmoid
        >>> p, z = sympy.symbols("p z", real=True)
        >>> local_derivative(p, z, {p: sigmoid(z)})
        p*(1 - p)
    """
    definition = definitions[node]
    local = almost_everywhere_derivative(definition, child)
    if node != LOSS_SYMBOL and not definition.is_Atom:
        local = local.xreplace({definition: node})
    return lecturer_form(local)


def _chain_step(objective: Objective, param: sympy.Symbol) -> ChainStep:
    nodes = dict(objective.intermediates)
    nodes[LOSS_SYMBOL] = objective.loss
    paths, locals_, in_intermediates = chain_rule(
        param, definition_graph(nodes), lambda a, b: local_derivative(a, b, nodes)
    )
    substitutions = objective.substitutions
    # The chain was simplified in the intermediates; substituting them back needs no
    # simplify (on nested functions it is slow and turns 1 - tanh² into 1/cosh²).
    result = _cases_form(in_intermediates.xreplace(substitutions), simplify=False)
    expected = almost_everywhere_derivative(objective.expanded_loss, param)
    if not _agrees(result, expected, objective.params + objective.data):
        # An internal consistency check: the displayed chain must equal sympy.diff.
        raise ArithmeticError(
            f"chain rule for {param} gave {result}, but sympy.diff gives {expected}"
        )
    return ChainStep(param, paths, locals_, in_intermediates, result)


def derive(objective: Objective) -> Derivation:
    """Derive ``∂ℓ/∂θ`` for every parameter through the chain rule.

    .. math::

        \\frac{\\partial \\ell}{\\partial \\theta} = \\sum_{\\text{paths}}
        \\prod_{(a, b) \\in \\text{path}} \\frac{\\partial a}{\\partial b}

    Args:
        objective: The objective from :func:`symgd.define.objective`.

    Returns:
        A :class:`Derivation` whose every step was checked against ``sympy.diff``.

    Raises:
        ArithmeticError: The chain rule disagrees with ``sympy.diff`` (a bug in symgd).
        symgd.limits.TooComplex: The derivation ran past :data:`symgd.limits.DERIVE_SECONDS`.

    Example:
        >>> from symgd.define.objective import logistic_regression
        >>> derive(logistic_regression()).steps[0].in_intermediates
        x*(p - y)
    """
    what = "deriving the gradient of the loss"
    try:
        with limits.deadline(limits.DERIVE_SECONDS, what):
            steps = tuple(_chain_step(objective, p) for p in objective.params)
    except (MemoryError, RecursionError):
        # mpmath and SymPy raise these on towers like x**x**x**…; nothing else is at fault.
        raise limits.TooComplex(what) from None
    return Derivation(objective, steps)
