"""The table of common mistakes: transformations of the correct derivation.

Each :class:`Mistake` row has a name (the hint's mistake class), the hint in a lecturer's words
(a template) and a function from the correct derivation (a :class:`View`) to the mistaken
gradients it predicts. :func:`symgd.verify.hints.find_hint` names the first row with a mistaken
gradient equal to the student's answer at the sample points.

Example:
    >>> [row.name for row in MISTAKES][:3]
    ['wrong sign', 'factor 1/m', 'constant factor']
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import sympy

from symgd.functions import sigmoid
from symgd.verify.reading import AnswerContext

Candidate = tuple[sympy.Expr, dict]
"""A mistaken gradient (same kind as the target ``s g + R``) and the fields of its hint."""


@dataclass
class View:
    """The correct derivation of one parameter's gradient, as the rows transform it.

    Attributes:
        context: The answer context.
        theta: The parameter.
        s, g, reg: The target is ``s g + reg`` (:meth:`AnswerContext.parts`).
        constants: Constant factors to try (common ones and the measured ratio, if any).
        square: Whether the loss squares something.
    """

    context: AnswerContext
    theta: sympy.Symbol
    s: sympy.Expr
    g: sympy.Expr
    reg: sympy.Expr
    constants: list[sympy.Expr]
    square: bool

    @property
    def target(self) -> sympy.Expr:
        return self.s * self.g + self.reg

    @property
    def step(self):
        return self.context.derivation.steps[self.context.params.index(self.theta)]

    def paths(self) -> list[tuple[tuple, list[sympy.Expr]]]:
        """The chain-rule paths and their local derivatives."""
        step = self.step
        return [(path, list(factors)) for path, factors in zip(step.paths, step.local_derivatives)]

    def sigmoids(self) -> list[sympy.Expr]:
        """The σ(z) calls in the gradient."""
        expanded = self.g.xreplace(self.context.substitutions)
        return sorted(
            (f for f in expanded.atoms(sympy.Function) if f.func == sigmoid),
            key=sympy.default_sort_key,
        )

    def is_sigmoid_prime(self, factor: sympy.Expr) -> bool:
        subs = self.context.substitutions
        value = sympy.expand(_expand_all(factor, subs))
        return any(sympy.expand(p * (1 - p)) == value for p in self.sigmoids())


def _expand_all(e: sympy.Expr, subs: dict) -> sympy.Expr:
    """Substitute intermediates until none is left."""
    for _ in range(10):
        new = e.xreplace(subs)
        if new == e:
            return e
        e = new
    return e


@dataclass(frozen=True)
class Mistake:
    """One row of the table."""

    name: str
    hint: str
    transform: Callable[[View], Iterator[Candidate]]


def _sign(v: View) -> Iterator[Candidate]:
    yield -v.target, {}
    if v.reg != 0:
        yield -v.s * v.g + v.reg, {"which": "of the loss part "}


def _factor_m(v: View) -> Iterator[Candidate]:
    m, t = v.context.m, v.theta
    if v.reg != 0:
        for data, reg, words in (
            (m, 1, "the data term is missing the factor 1/m of the mean (the penalty is right)"),
            (1, 1 / m, f"lamda*{t} was divided by m too: only the data term is a mean"),
            (1 / m, 1, "the data term is divided by m twice (the penalty is right)"),
            (1, m, f"the penalty term lamda*{t} is m times too large"),
        ):
            yield (
                data * v.s * v.g + reg * v.reg,
                {"words": f"one term has the wrong factor of m: {words}"},
            )
    for c in (m, -m, 1 / m, -1 / m, *(c for c in v.constants if c.has(m))):
        extra = "missing" if c in (m, -m) else "extra"
        words = f"your answer is {c} times the gradient: the factor 1/m "
        yield c * v.target, {"words": words + f"of the mean over the m examples is {extra}"}


def _factor_words(c: sympy.Expr, square: bool) -> str:
    if c == 2 and square:
        return (
            "an extra factor 2: the 1/2 in the loss cancels the 2 from differentiating the square"
        )
    if c == sympy.Rational(1, 2) and square:
        return "a factor 2 is missing: differentiating a square brings down a 2"
    return "check the constant factors"


def _constant(v: View) -> Iterator[Candidate]:
    for c in v.constants:
        if c.has(v.context.m) or c in (1, -1):
            continue
        fields = {"c": c, "detail": _factor_words(c, v.square)}
        yield c * v.target, fields
        if v.reg != 0:
            yield c * v.s * v.g + v.reg, fields


def _forgotten_reg(v: View) -> Iterator[Candidate]:
    if v.reg != 0:
        yield v.s * v.g, {}


def _reg_factor(v: View) -> Iterator[Candidate]:
    if v.reg != 0:
        for c in v.constants + [sympy.Integer(2), sympy.Rational(1, 2)]:
            if c != 1 and not c.has(v.context.m):
                yield v.s * v.g + c * v.reg, {"c": c}


def _chain(v: View) -> Iterator[Candidate]:
    paths = v.paths()
    products = [sympy.Mul(*factors) for _, factors in paths]
    # The same factor ending every path (the input x of z = w x + b): dropped from all of them.
    last = {factors[-1] for _, factors in paths}
    if len(last) == 1 and (f := last.pop()) != 1:
        path = paths[0][0]
        yield v.s * sympy.Add(*products) / f + v.reg, {"words": _link_words(v, path, -1, f)}
    for p, (path, factors) in enumerate(paths):
        for k, factor in enumerate(factors):
            if factor == 1:
                continue
            others = sympy.Mul(*(f for j, f in enumerate(factors) if j != k))
            pieces = [(sympy.Integer(1), _link_words(v, path, k, factor))]
            args = sympy.Mul.make_args(factor)
            if len(args) > 1:
                pieces += [
                    (factor / piece, f"the factor {piece} of d{path[k]}/d{path[k + 1]} = {factor}")
                    for piece in args
                    if not piece.is_Number
                ]
            for kept, words in pieces:
                candidate = sympy.Add(*products[:p], others * kept, *products[p + 1 :])
                yield v.s * candidate + v.reg, {"words": words}


def _link_words(v: View, path: tuple, k: int, factor: sympy.Expr) -> str:
    k = len(path) - 1 + k if k < 0 else k
    link = f"d{path[k]}/d{path[k + 1]} = {factor}"
    if factor in v.context.data:
        return f"your answer is missing the input {factor}: {link}"
    if v.is_sigmoid_prime(factor):
        return f"σ'(z) = σ(z)(1 - σ(z)) was dropped: {link}"
    return link


def _sigmoid_added(v: View) -> Iterator[Candidate]:
    for p in v.sigmoids():
        yield v.s * v.g * p * (1 - p) + v.reg, {}


def _missing_term(v: View) -> Iterator[Candidate]:
    products = [sympy.Mul(*factors) for _, factors in v.paths()]
    if len(products) > 1:
        for p, (path, _) in enumerate(v.paths()):
            rest = sympy.Add(*products[:p], *products[p + 1 :])
            yield v.s * rest + v.reg, {"path": " -> ".join(str(n) for n in path)}


def _wrong_power(v: View) -> Iterator[Candidate]:
    paths = v.paths()
    products = [sympy.Mul(*factors) for _, factors in paths]
    total = sympy.Add(*products)
    for power in sorted(total.atoms(sympy.Pow), key=sympy.default_sort_key):
        n = power.exp
        if not n.is_Integer or n in (-1, 0):
            continue
        for new in (n - 1, n + 1):
            if new == 0:
                continue
            changed = total.xreplace({power: power.base**new})
            yield v.s * changed + v.reg, {"old": power, "new": power.base**new}


def _swapped_prediction(v: View) -> Iterator[Candidate]:
    paths = v.paths()
    predictions = {path[1] for path, _ in paths if len(path) > 2}
    data = v.context.data
    for u in sorted(predictions, key=sympy.default_sort_key):
        for y in data:
            swap = {u: y, y: u}
            everywhere = sympy.Add(*(sympy.Mul(*factors).xreplace(swap) for _, factors in paths))
            first = sympy.Add(
                *(factors[0].xreplace(swap) * sympy.Mul(*factors[1:]) for _, factors in paths)
            )
            for changed in (first, everywhere):
                if changed != v.g:
                    yield v.s * changed + v.reg, {"y": y, "yhat": u}


def _other_param(v: View) -> Iterator[Candidate]:
    gradient = v.context.derivation.gradient
    for other in v.context.params:
        if other != v.theta:
            words = f"your answer is the gradient for {other}, not {v.theta}"
            yield v.s * gradient[other] + v.reg, {"words": words}
            words = f"your answer has an extra term that belongs to the gradient for {other}"
            yield v.target + v.s * gradient[other], {"words": words}


def _swapped_names(v: View) -> Iterator[Candidate]:
    names = [*v.context.params, *v.context.data]
    expanded = v.g.xreplace(v.context.substitutions)
    for j, a in enumerate(names):
        for b in names[j + 1 :]:
            swapped = expanded.xreplace({a: b, b: a})
            if swapped != expanded:
                yield v.s * swapped + v.reg, {"a": a, "b": b}


MISTAKES: list[Mistake] = [
    Mistake(
        "wrong sign",
        "the sign {which}is wrong: your answer is -1 times the gradient; "
        "check the order of the residual (yhat - y, not y - yhat) and the signs",
        _sign,
    ),
    Mistake("factor 1/m", "{words}", _factor_m),
    Mistake("constant factor", "your answer is {c} times the gradient: {detail}", _constant),
    Mistake(
        "forgotten regularisation",
        "the regularisation term is missing: the penalty (lamda/2) {theta}**2 adds "
        "lamda*{theta} to the gradient",
        _forgotten_reg,
    ),
    Mistake(
        "regularisation factor",
        "the regularisation term is {c} times what it should be: "
        "d/d{theta} (lamda/2) {theta}**2 = lamda*{theta}",
        _reg_factor,
    ),
    Mistake("missing chain-rule factor", "a chain-rule factor is missing: {words}", _chain),
    Mistake(
        "extra chain-rule factor",
        "an extra factor σ'(z) = p(1 - p): the chain rule has σ' once "
        "(with cross-entropy it cancels: dℓ/dz = p - y)",
        _sigmoid_added,
    ),
    Mistake(
        "missing term",
        "a term of the sum over chain-rule paths is missing: the path {path}",
        _missing_term,
    ),
    Mistake(
        "wrong power",
        "a power is off by one: {old} became {new}; d/du u**n = n u**(n - 1)",
        _wrong_power,
    ),
    Mistake(
        "swapped prediction",
        "{y} and the prediction {yhat} are swapped: the residual is {yhat} - {y}",
        _swapped_prediction,
    ),
    Mistake("another parameter", "{words}", _other_param),
    Mistake(
        "swapped variables",
        "{a} and {b} are swapped: your answer is the gradient with them exchanged",
        _swapped_names,
    ),
]
"""The rows, in order: the first row that reproduces the answer names the mistake."""
