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

import contextlib
import random
from collections.abc import Sequence
from dataclasses import dataclass

import sympy

from symgd.define.objective import Objective
from symgd.display import display_latex
from symgd.functions import expand_named_functions

__all__ = ["ChainStep", "Derivation", "derive", "lecturer_form", "is_zero", "LOSS_SYMBOL"]

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


def is_zero(expr: sympy.Expr) -> bool:
    """Whether ``expr`` simplifies to zero, looking through sigmoid/softplus.

    Example:
        >>> z = sympy.Symbol("z", real=True)
        >>> from symgd.functions import sigmoid
        >>> is_zero(sigmoid(z) - 1 / (1 + sympy.exp(-z)))
        True
    """
    if expr == 0:
        return True
    if sympy.simplify(expr) == 0:
        return True
    return sympy.simplify(expand_named_functions(expr)) == 0


#: Above this many operations ``simplify`` is not tried: it can take minutes on nested
#: functions (a 3-deep tanh chain took 10 s), while ``cancel``/``factor`` stay fast.
SIMPLIFY_LIMIT = 40


def lecturer_form(expr: sympy.Expr, *, simplify: bool = True) -> sympy.Expr:
    """The simplest factored form of ``expr``, as a lecturer would write it.

    Candidates are ``expr`` itself, ``cancel`` (rational functions in the
    intermediates, e.g. ``σ'`` times ``∂ℓ/∂p``), ``factor``, ``factor_terms`` and,
    for small expressions, ``simplify``; the one with the fewest operations wins,
    preferring no leading minus sign.

    Args:
        expr: The expression.
        simplify: Also try ``sympy.simplify`` (only ever on small expressions).

    Example:
        >>> x, p, y = sympy.symbols("x p y", real=True)
        >>> lecturer_form(x * p - x * y)
        x*(p - y)
    """
    candidates = [expr, sympy.factor_terms(expr)]
    # The polynomial tools give up on some functions; the other candidates remain.
    with contextlib.suppress(sympy.PolynomialError, NotImplementedError):
        cancelled = sympy.cancel(expr)
        candidates += [cancelled, sympy.factor_terms(cancelled), sympy.factor(cancelled)]
    if simplify and sympy.count_ops(expr) <= SIMPLIFY_LIMIT:
        simplified = sympy.simplify(expr)
        candidates += [simplified, sympy.factor_terms(simplified)]
        with contextlib.suppress(sympy.PolynomialError, NotImplementedError):
            candidates.append(sympy.factor(simplified))

    def cost(candidate: sympy.Expr) -> tuple[int, int]:
        negative = int(candidate.could_extract_minus_sign())
        return sympy.count_ops(candidate), negative

    return min(candidates, key=cost)


def _agrees(result: sympy.Expr, expected: sympy.Expr, symbols: Sequence[sympy.Symbol]) -> bool:
    """Whether two expressions are equal: by expansion, else at random points in 30 digits.

    ``expand`` settles the usual case at once; where it cannot (``1/cosh²`` against
    ``1 − tanh²``), the two sides are compared at eight random points in high
    precision, which a wrong chain fails with probability one.
    """
    difference = result - expected
    if difference == 0 or sympy.expand(difference) == 0:
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


def _dependencies(objective: Objective) -> dict[sympy.Symbol, sympy.Expr]:
    """Each node (the loss and every intermediate) mapped to its defining expression."""
    nodes = {name: definition for name, definition in objective.intermediates}
    nodes[LOSS_SYMBOL] = objective.loss
    return nodes


def _paths(
    node: sympy.Symbol, param: sympy.Symbol, nodes: dict[sympy.Symbol, sympy.Expr]
) -> list[Path]:
    """All paths from ``node`` down to ``param`` through the intermediates."""
    found: list[Path] = []
    for child in sorted(nodes[node].free_symbols, key=lambda s: s.name):
        if child == param:
            found.append((node, param))
        elif child in nodes:
            found.extend((node, *rest) for rest in _paths(child, param, nodes))
    return found


def _local_derivative(
    node: sympy.Symbol, child: sympy.Symbol, nodes: dict[sympy.Symbol, sympy.Expr]
) -> sympy.Expr:
    """``∂node/∂child`` written, where possible, in terms of ``node`` itself (σ' = σ(1−σ))."""
    definition = nodes[node]
    local = sympy.diff(definition, child)
    if node != LOSS_SYMBOL and not definition.is_Atom:
        local = local.xreplace({definition: node})
    return lecturer_form(local)


def _chain_step(objective: Objective, param: sympy.Symbol) -> ChainStep:
    nodes = _dependencies(objective)
    paths = tuple(_paths(LOSS_SYMBOL, param, nodes))
    locals_ = tuple(
        tuple(_local_derivative(a, b, nodes) for a, b in zip(path, path[1:], strict=False))
        for path in paths
    )
    chained = sympy.Add(*(sympy.Mul(*factors) for factors in locals_))
    in_intermediates = lecturer_form(chained)
    substitutions = objective.substitutions
    # The chain was simplified in the intermediates; substituting them back needs no
    # simplify (on nested functions it is slow and turns 1 - tanh² into 1/cosh²).
    result = lecturer_form(in_intermediates.xreplace(substitutions), simplify=False)
    expected = sympy.diff(objective.expanded_loss, param)
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
        objective: The objective from :func:`symgd.model.objective`.

    Returns:
        A :class:`Derivation` whose every step was checked against ``sympy.diff``.

    Raises:
        ArithmeticError: The chain rule disagrees with ``sympy.diff`` (a bug in symgd).

    Example:
        >>> from symgd.define.objective import logistic_regression
        >>> derive(logistic_regression()).steps[0].in_intermediates
        x*(p - y)
    """
    return Derivation(objective, tuple(_chain_step(objective, p) for p in objective.params))
