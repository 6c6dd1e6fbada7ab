r"""Stage 2, derive: layer rules as chains of equalities, and their check at small sizes.

A layer rule (:mod:`symgd.derivation.layer_rules`) is written in index notation with symbolic
sizes: SymPy ``Indexed`` entries, ``Sum`` over index ranges, ``KroneckerDelta`` (printed as an
indicator :math:`\mathbb{1}[i = j]`) and unevaluated ``Derivative`` for notation such as
:math:`\partial\ell/\partial K_{o,c,p,q}`. A :class:`Chain` is one displayed line
:math:`A = B = C`; :func:`check_chains` gives every side its meaning at concrete sizes and
compares each consecutive pair:

* sizes become numbers and every ``Sum`` is written out term by term;
* an entry of an input or parameter array becomes a symbol (zero outside its range, which is
  how zero padding and "δ is zero outside its range" are written);
* an entry of a defined array (``z``, ``h``, ``δ`` of a recursion …) becomes its definition;
* :math:`\ell` is :math:`\sum g\cdot\text{out}` over the layer's output with a symbolic
  upstream gradient ``g`` (so :math:`\partial\ell/\partial\,\text{out} = g` exactly), and
  ``Derivative(f, v)`` is ``sympy.diff`` of the written-out ``f`` (a defined ``v`` is cut
  out of the graph: replaced by a symbol, differentiated, put back).

Sides that differ symbolically are compared at seeded random rational points (30 digits).

Example:
    >>> x = sympy.IndexedBase("x")
    >>> i = sympy.Symbol("i", integer=True)
    >>> n = sympy.Symbol("n", integer=True, positive=True)
    >>> ell = sympy.Symbol("ell", real=True)
    >>> chain = Chain(
    ...     (sympy.Derivative(ell, x[i]), 2 * x[i]), ((i, 0, n - 1),)
    ... )
    >>> case = CheckCase("n = 3", {n: 3}, {x: (3,)}, {ell: lambda e: sum(
    ...     e.entry(x, (k,)) ** 2 for k in range(3))})
    >>> check_chains("square", (chain,), (case,)).passed
    True
"""

from __future__ import annotations

import functools
import itertools
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import sympy

#: Digits of the numeric comparison, and how close to zero a difference must be.
_DIGITS = 30
_TOLERANCE = sympy.Float("1e-20", _DIGITS)

Base = sympy.IndexedBase | sympy.Symbol
Definition = Callable[..., sympy.Expr]


@dataclass(frozen=True)
class Chain:
    r"""One displayed chain of equalities :math:`s_0 = s_1 = \dots`, for every index in range.

    Attributes:
        sides: SymPy expressions in index notation, left to right.
        ranges: ``(index, first, last)`` of each free index, the bounds in the size symbols.
        rule: One sentence naming the compact rule (empty for a definition-like step).
        matrix_form: The rule for whole arrays, in LaTeX (may be empty).
        condition: LaTeX of where the chain holds, e.g. ``t < T`` (may be empty).
    """

    sides: tuple[sympy.Expr, ...]
    ranges: tuple[tuple[sympy.Symbol, sympy.Expr, sympy.Expr], ...]
    rule: str = ""
    matrix_form: str = ""
    condition: str = ""

    def __post_init__(self) -> None:
        # A side written like the one before it (relu: sigma' in z and in a) is shown once.
        kept = [side for n, side in enumerate(self.sides) if n == 0 or side != self.sides[n - 1]]
        object.__setattr__(self, "sides", tuple(kept))


@dataclass(frozen=True)
class CheckCase:
    """Concrete sizes and arrays at which the chains of a rule are checked.

    Attributes:
        name: The case in words, e.g. ``"valid, 2 channels, 4x4 input, 3x3 kernel"``.
        sizes: A number for each size symbol.
        arrays: Shape of each input, parameter and upstream array (``()``: a scalar symbol).
        definitions: Each defined array or symbol: a function ``(evaluator, *index)`` giving
            its entry through ``evaluator.entry``.
        values: Fixed values of some entries ``(base, index) -> number`` (a tie in a pooling
            window); every other entry is compared at random rational points.
        numeric: Give every input and parameter entry a 30-digit number before the sides are
            formed (derivatives by a symbol put in for the one entry differentiated by), for
            layers whose written-out sides grow too large to compare as formulas (the RNN).
    """

    name: str
    sizes: Mapping[sympy.Symbol, int]
    arrays: Mapping[Base, tuple[int, ...]]
    definitions: Mapping[Base, Definition] = field(default_factory=dict)
    values: Mapping[tuple[Base, tuple[int, ...]], sympy.Expr] = field(default_factory=dict)
    numeric: bool = False


@dataclass(frozen=True)
class RuleCheck:
    """The result of checking a rule's chains: comparisons made and any that failed.

    Attributes:
        kind: The layer kind checked.
        cases: The names of the cases.
        comparisons: How many consecutive pairs of sides were compared (all indices).
        failures: ``(case, chain number, side number, index, left, right)`` of each pair that
            differs; the numbers count from 0, the side number is the left one of the pair.
    """

    kind: str
    cases: tuple[str, ...]
    comparisons: int
    failures: tuple[tuple[str, int, int, tuple[int, ...], sympy.Expr, sympy.Expr], ...]

    @property
    def passed(self) -> bool:
        """Every compared pair agreed."""
        return not self.failures and self.comparisons > 0

    def __repr__(self) -> str:
        verdict = "passed" if self.passed else f"{len(self.failures)} failed"
        return f"RuleCheck({self.kind}: {self.comparisons} equalities, {verdict})"


@functools.cache
def _entry_symbol(base: Base, index: tuple[int, ...]) -> sympy.Symbol:
    name = base.name if isinstance(base, sympy.Symbol) else str(base.label)
    suffix = "_" + "_".join(map(str, index)) if index else ""
    return sympy.Symbol(f"{name}{suffix}", real=True)


def _diff(expr: sympy.Expr, variable: sympy.Symbol) -> sympy.Expr:
    """``sympy.diff``, with shortcuts for sums and for products the variable is a factor of."""
    if expr.is_Add:
        return sympy.Add(*(_diff(term, variable) for term in expr.args))
    if variable not in expr.free_symbols:
        return sympy.Integer(0)
    if expr == variable:
        return sympy.Integer(1)
    if expr.is_Mul and variable in expr.args:
        rest = list(expr.args)
        rest.remove(variable)
        if all(variable not in factor.free_symbols for factor in rest):
            return sympy.Mul(*rest)
    return sympy.diff(expr, variable)


class Evaluator:
    """Gives entries and sides their meaning in one :class:`CheckCase`.

    Args:
        case: The sizes, arrays and definitions.
        cut: Entries replaced by a symbol (to differentiate by a defined entry).
        seed: Numeric mode: entries are seeded 30-digit numbers (``None``: symbols).
    """

    def __init__(
        self,
        case: CheckCase,
        cut: Mapping[tuple[Base, tuple[int, ...]], sympy.Symbol] | None = None,
        seed: int | None = None,
    ) -> None:
        self.case = case
        self.cut = dict(cut or {})
        self.seed = seed
        self._memo: dict[tuple[Base, tuple[int, ...]], sympy.Expr] = {}

    def entry(self, base: Base, index: Sequence[int]) -> sympy.Expr:
        """The entry ``base[index]``: a symbol, its definition, or 0 outside the array."""
        index = tuple(int(k) for k in index)
        key = (base, index)
        if key in self.cut:
            return self.cut[key]
        if base in self.case.arrays:
            shape = self.case.arrays[base]
            inside = len(index) == len(shape) and all(
                0 <= k < n for k, n in zip(index, shape, strict=True)
            )
            if not inside:
                return sympy.Integer(0)
            if self.seed is None:
                return _entry_symbol(base, index)
            return _number(self.case, base, index, self.seed)
        if base not in self.case.definitions:
            raise KeyError(f"{base} is neither an array nor defined in case {self.case.name!r}")
        if key not in self._memo:
            self._memo[key] = sympy.sympify(self.case.definitions[base](self, *index))
        return self._memo[key]

    def meaning(
        self, expr: sympy.Expr, values: Mapping[sympy.Symbol, sympy.Expr] | None = None
    ) -> sympy.Expr:
        """The side ``expr`` in the arrays' symbols, sizes and free indices given ``values``.

        Sums are written out, entries replaced and derivatives taken in one pass.
        """
        sizes = {size: sympy.Integer(n) for size, n in self.case.sizes.items()}
        given = {index: sympy.sympify(value) for index, value in (values or {}).items()}
        return self._value(sympy.sympify(expr), {**sizes, **given})

    def _index(self, indexed: sympy.Expr, values: Mapping) -> tuple[Base, tuple[int, ...]]:
        if not isinstance(indexed, sympy.Indexed):
            return indexed, ()
        index = tuple(self._value(k, values) for k in indexed.indices)
        if not all(k.is_Integer for k in index):
            raise ValueError(f"{indexed} has an index that is not a number: {index}")
        return indexed.base, tuple(int(k) for k in index)

    def _value(self, e: sympy.Basic, values: Mapping) -> sympy.Basic:
        if isinstance(e, sympy.Indexed):  # before symbols: an Indexed is a Symbol too
            return self.entry(*self._index(e, values))
        if e.is_Symbol:
            if e in values:
                return values[e]
            defined = e in self.case.definitions or self.case.arrays.get(e, None) == ()
            return self.entry(e, ()) if defined else e
        if e.is_Atom:
            return e
        if isinstance(e, sympy.Sum):
            return self._sum(e.function, list(e.limits), values)
        if isinstance(e, sympy.Derivative):
            return self._derivative(e, values)
        if e.is_Mul:
            factors = []
            for arg in e.args:
                factor = self._value(arg, values)
                if factor == 0:
                    return sympy.Integer(0)
                factors.append(factor)
            return sympy.Mul(*factors)
        return e.func(*(self._value(arg, values) for arg in e.args))

    def _sum(self, term: sympy.Expr, limits: list, values: Mapping) -> sympy.Expr:
        (index, first, last), rest = limits[0], limits[1:]
        first, last = self._value(first, values), self._value(last, values)
        if not (first.is_Integer and last.is_Integer):
            raise ValueError(f"sum over {index} has non-numeric bounds {first}, {last}")
        terms = []
        for k in range(int(first), int(last) + 1):
            inner = {**values, index: sympy.Integer(k)}
            terms.append(self._sum(term, rest, inner) if rest else self._value(term, inner))
        return sympy.Add(*terms)

    def _derivative(self, derivative: sympy.Derivative, values: Mapping) -> sympy.Expr:
        (variable, order), *rest = derivative.variable_count
        if rest or order != 1:
            raise ValueError(f"only first derivatives by one entry are checked: {derivative}")
        base, index = self._index(variable, values)
        if base in self.case.arrays and self.seed is None:
            point = self.entry(base, index)
            if point == 0:  # outside the array: nothing depends on it
                return sympy.Integer(0)
            return _diff(self._value(derivative.expr, values), point)
        if base in self.case.arrays and self.entry(base, index) == 0:
            return sympy.Integer(0)
        cut = sympy.Dummy("cut", real=True)
        inner = Evaluator(self.case, {**self.cut, (base, index): cut}, self.seed)
        expr = inner._value(derivative.expr, values)
        return _diff(expr, cut).xreplace({cut: self.entry(base, index)})


def _random_value(rng: random.Random) -> sympy.Rational:
    return sympy.Rational(rng.choice([-1, 1]) * rng.randint(3, 60), rng.randint(7, 29))


def _number(case: CheckCase, base: Base, index: tuple[int, ...], seed: int) -> sympy.Float:
    """The seeded number an entry takes in numeric mode (a fixed value where the case has one)."""
    if (base, index) in case.values:
        return sympy.Float(case.values[(base, index)], _DIGITS)
    rng = random.Random(f"{seed}-{_entry_symbol(base, index)}")
    return sympy.Float(_random_value(rng), _DIGITS)


def _point(symbols: set[sympy.Symbol], case: CheckCase, rng: random.Random) -> dict:
    fixed = {_entry_symbol(base, index): value for (base, index), value in case.values.items()}
    point = {}
    for s in sorted(symbols, key=str):
        if s in fixed:
            point[s] = sympy.sympify(fixed[s])
        else:
            point[s] = _random_value(rng)
    return point


def equal(left: sympy.Expr, right: sympy.Expr, case: CheckCase, seed: int = 0) -> bool:
    """``left == right`` at two seeded random points (fixed entries of ``case`` kept).

    Example:
        >>> x = sympy.Symbol("x", real=True)
        >>> case = CheckCase("", {}, {})
        >>> equal(sympy.tanh(x).diff(x), 1 - sympy.tanh(x) ** 2, case)
        True
    """
    difference = left - right
    if difference == 0:
        return True
    rng = random.Random(seed)
    for _ in range(2):
        point = _point(difference.free_symbols, case, rng)
        value = sympy.sympify(difference.xreplace(point)).evalf(_DIGITS)
        if not value.is_number or abs(value) > _TOLERANCE:
            return False
    return True


def _close(left: sympy.Expr, right: sympy.Expr) -> bool:
    difference = sympy.sympify(left - right).evalf(_DIGITS)
    scale = max(1, abs(sympy.sympify(left).evalf(_DIGITS)))
    return difference.is_number and abs(difference) <= _TOLERANCE * scale


def check_chains(
    kind: str, chains: Sequence[Chain], cases: Sequence[CheckCase], seed: int = 0
) -> RuleCheck:
    """Check every consecutive pair of sides of every chain, at every index, in every case.

    Args:
        kind: The layer kind (for the report).
        chains: The displayed chains, in the size symbols.
        cases: Concrete sizes and arrays.
        seed: Seed of the random points.

    Returns:
        The :class:`RuleCheck`.
    """
    failures, comparisons = [], 0
    runs = [
        (one, Evaluator(one, seed=point))
        for one in cases
        for point in ((seed,) if one.numeric else (None,))
    ]
    for case, evaluator in runs:
        for number, chain in enumerate(chains):
            symbols = [s for s, _, _ in chain.ranges]
            bounds = [
                range(
                    int(sympy.sympify(first).xreplace(case.sizes)),
                    int(sympy.sympify(last).xreplace(case.sizes)) + 1,
                )
                for _, first, last in chain.ranges
            ]
            for index in itertools.product(*bounds):
                values = dict(zip(symbols, map(sympy.Integer, index)))
                sides = [evaluator.meaning(side, values) for side in chain.sides]
                for k, (left, right) in enumerate(itertools.pairwise(sides)):
                    comparisons += 1
                    if not (
                        _close(left, right) if case.numeric else equal(left, right, case, seed)
                    ):
                        failures.append((case.name, number, k, index, left, right))
    return RuleCheck(kind, tuple(c.name for c in cases), comparisons, tuple(failures))


@dataclass(frozen=True)
class LayerRule:
    r"""The backward rule of one layer kind, derived in index notation.

    Attributes:
        kind: ``conv-valid``, ``conv-same``, ``maxpool``, ``avgpool``, ``flatten``, ``dense``,
            ``activation-<name>``, ``batchnorm`` or ``rnn``.
        title: The layer in words.
        forward: The forward pass as ``sympy.Eq`` definitions in index notation.
        chains: Each gradient as a chain of equalities (the last side is the compact rule).
        notes: Sentences a reader needs: index ranges, padding, the tie rule.
        cases: The small concrete sizes the chains are checked at.
    """

    kind: str
    title: str
    forward: tuple[sympy.Eq, ...]
    chains: tuple[Chain, ...]
    notes: tuple[str, ...] = ()
    cases: tuple[CheckCase, ...] = field(default=(), repr=False, compare=False)

    def __repr__(self) -> str:
        return f"LayerRule({self.kind}: {len(self.chains)} chains)"


def verify_rule(rule: LayerRule, chains: Sequence[Chain] | None = None) -> RuleCheck:
    """Check every displayed equality of a rule (or of other chains) at the rule's sizes.

    Args:
        rule: From :mod:`symgd.derivation.layer_rules`.
        chains: Chains to check instead of the rule's own (a test's deliberately wrong rule).

    Returns:
        The :class:`RuleCheck`.
    """
    return check_chains(rule.kind, rule.chains if chains is None else chains, rule.cases)
