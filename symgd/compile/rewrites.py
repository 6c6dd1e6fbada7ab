"""Numerically stable forms, applied just before compilation: the symbolic rewrites.

SymPy's derivatives are mathematically right but overflow as floating point:
``log(1 + exp(z))`` is ``inf`` at ``z = 800``, ``σ'`` written with ``exp`` is
``nan`` at ``z = −800`` and ``1 − tanh(z)²`` is ``0`` for ``z > 19`` where the true
value is ``4e^{−2z}``. This module holds the table :data:`REWRITES` of rewrites from
a textbook form to a stable one (one entry each; ``tests/test_rewrites.py`` has one
row per entry); the NumPy implementations the compiled code calls are in
:mod:`symgd.compile.numeric`. The derivation keeps the textbook form for display;
only the compiled code sees the stable form.

The rewrites recognise the patterns however they were written: ``σ(z)``,
``1/(1 + exp(−z))`` and ``exp(z)/(1 + exp(z))`` all become the stable sigmoid.

Example:
    >>> import sympy
    >>> from symgd.functions import sigmoid
    >>> z = sympy.Symbol("z", real=True)
    >>> stabilize(sympy.log(sigmoid(z)))
    -softplus(-z)
    >>> stabilize(-sympy.log(1 - 1 / (1 + sympy.exp(-z))))
    softplus(z)
    >>> stabilize(1 - sympy.tanh(z) ** 2)
    sech(z)**2
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy
from sympy.codegen.cfunctions import expm1, log1p

from symgd.functions import sigmoid, softplus


class logsumexp(sympy.Function):  # noqa: N801 -- SymPy functions are lower-case by convention
    r"""Log-sum-exp :math:`\log \sum_j e^{v_j}`, computed as :math:`m + \log(1 + \sum_{j \ne
    \arg\max} e^{v_j - m})` with :math:`m = \max_j v_j`.

    Example:
        >>> a, b = sympy.symbols("a b", real=True)
        >>> logsumexp(a, b).rewrite(sympy.exp)
        log(exp(a) + exp(b))
    """

    is_real = True

    def _eval_rewrite_as_exp(self, *args, **kwargs):
        return sympy.log(sympy.Add(*(sympy.exp(a) for a in args)))


class log_softmax(sympy.Function):  # noqa: N801
    r"""The log of a ratio of sums of exponentials, :math:`\log \frac{\sum_{a \in A} e^{a}}
    {\sum_{b \in B} e^{b}}`, with ``A`` and ``B`` given as tuples; with ``A = (z_k,)`` and
    ``z_k ∈ B`` it is log-softmax.

    Example:
        >>> a, b = sympy.symbols("a b", real=True)
        >>> log_softmax(sympy.Tuple(a), sympy.Tuple(a, b)).rewrite(sympy.exp)
        a - log(exp(a) + exp(b))
    """

    is_real = True

    def _eval_rewrite_as_exp(self, numerator, denominator, **kwargs):
        top = numerator[0] if len(numerator) == 1 else logsumexp(*numerator)
        return (top - logsumexp(*denominator)).rewrite(sympy.exp)


@dataclass(frozen=True)
class Rewrite:
    """One stabilising rewrite: where it applies and what it becomes.

    Attributes:
        name: Short name shown to users.
        applies: Whether the rewrite applies to a node.
        rewrite: The stable replacement for a node it applies to.
    """

    name: str
    applies: Callable[[sympy.Basic], bool]
    rewrite: Callable[[sympy.Basic], sympy.Basic]


# --- helpers recognising the patterns ---------------------------------------------------------


def _is_one_plus_exp(node: sympy.Basic) -> bool:
    """``1 + exp(u)``."""
    return (
        isinstance(node, sympy.Add)
        and len(node.args) == 2
        and sympy.S.One in node.args
        and any(isinstance(a, sympy.exp) for a in node.args)
    )


def _exp_argument(node: sympy.Add) -> sympy.Expr:
    return next(a for a in node.args if isinstance(a, sympy.exp)).args[0]


def _exp_sum(node: sympy.Basic) -> tuple[int, tuple[sympy.Expr, ...]] | None:
    """``±(e^{v_1} + … + e^{v_n})`` with n ≥ 2 as ``(±1, (v_1, …, v_n))``, else None."""
    if not isinstance(node, sympy.Add) or len(node.args) < 2:
        return None
    signs, exponents = set(), []
    for term in node.args:
        coefficient, rest = term.as_coeff_Mul()
        if not isinstance(rest, sympy.exp) or abs(coefficient) != 1:
            return None
        signs.add(int(coefficient))
        exponents.append(rest.args[0])
    return (signs.pop(), tuple(exponents)) if len(signs) == 1 else None


def _constant_pair(node: sympy.Basic, func: type) -> tuple[sympy.Expr, sympy.Expr] | None:
    """For ``c f(u) + k + rest`` with ``k = −c``: ``(c, f(u))``; else None."""
    if not isinstance(node, sympy.Add):
        return None
    constant = sum((a for a in node.args if a.is_Number), sympy.S.Zero)
    if constant == 0:
        return None
    for term in node.args:
        coefficient, rest = term.as_coeff_Mul()
        if isinstance(rest, func) and coefficient == -constant:
            return coefficient, rest
    return None


def _without(node: sympy.Add | sympy.Mul, *parts: sympy.Expr) -> sympy.Expr:
    """The sum (or product) ``node`` without the given terms (or factors)."""
    rest = list(node.args)
    for part in parts:
        rest.remove(part)
    return node.func(*rest)


def _sigmoid_times_exp(node: sympy.Basic) -> tuple[sympy.Expr, sympy.Expr, int, int] | None:
    """In ``e^{−n v} σ(v)^k`` (``1 ≤ n ≤ k``) the factors ``(e^{−nv}, σ(v)^k, n, k)``."""
    if not isinstance(node, sympy.Mul):
        return None
    for factor in node.args:
        base, k = factor.as_base_exp()
        if not (isinstance(base, sigmoid) and k.is_Integer and k > 0):
            continue
        v = base.args[0]
        for other in node.args:
            if isinstance(other, sympy.exp):
                n = sympy.simplify(-other.args[0] / v)
                if n.is_Integer and 1 <= n <= k:
                    return other, factor, int(n), int(k)
    return None


def _sigmoid_times_sum_with_exp(node: sympy.Basic) -> bool:
    """``σ(v)^k (… + a e^{−n v} + …)``: distributing lets each term cancel its exponential."""
    if not isinstance(node, sympy.Mul):
        return False
    for factor in node.args:
        base, k = factor.as_base_exp()
        if isinstance(base, sigmoid) and k.is_Integer and k > 0:
            for other in node.args:
                if isinstance(other, sympy.Add) and any(
                    _sigmoid_times_exp(sympy.Mul(term, factor, evaluate=False))
                    for term in other.args
                ):
                    return True
    return False


def _distribute(node: sympy.Mul) -> sympy.Expr:
    total = next(f for f in node.args if isinstance(f, sympy.Add))
    rest = _without(node, total)
    return sympy.Add(*(term * rest for term in total.args))


def _lse_and_rest(node: sympy.Basic) -> tuple[sympy.Expr, sympy.Expr] | None:
    """In ``±logsumexp(B) + R``: the signed logsumexp term and ``R``."""
    if not isinstance(node, sympy.Add):
        return None
    for term in node.args:
        coefficient, rest = term.as_coeff_Mul()
        if isinstance(rest, logsumexp) and abs(coefficient) == 1:
            return term, _without(node, term)
    return None


def _ratio(node: sympy.Add) -> sympy.Expr:
    term, rest = _lse_and_rest(node)
    coefficient, lse = term.as_coeff_Mul()
    sign = -int(coefficient)  # R − LSE(B) when the coefficient is −1
    numerator = rest.args if isinstance(rest, logsumexp) and sign == 1 else (sign * rest,)
    return sign * log_softmax(sympy.Tuple(*numerator), sympy.Tuple(*lse.args))


def _softmax_product(node: sympy.Basic) -> bool:
    """``N · e^{−logsumexp(B)}`` with ``N`` exponentials or a same-sign sum of them."""
    if not isinstance(node, sympy.Mul):
        return False
    pivots = [f for f in node.args if isinstance(f, sympy.exp) and _neg_lse(f.args[0])]
    if len(pivots) != 1:
        return False
    others = [f for f in node.args if f is not pivots[0]]
    return any(isinstance(f, sympy.exp) or _exp_sum(f) for f in others)


def _neg_lse(expr: sympy.Expr) -> bool:
    coefficient, rest = expr.as_coeff_Mul()
    return coefficient == -1 and isinstance(rest, logsumexp)


def _softmax_rewrite(node: sympy.Mul) -> sympy.Expr:
    pivot = next(f for f in node.args if isinstance(f, sympy.exp) and _neg_lse(f.args[0]))
    denominator = (-pivot.args[0]).args
    shift, sums, rest = sympy.S.Zero, [], []
    for f in node.args:
        if f is pivot:
            continue
        if isinstance(f, sympy.exp):
            shift += f.args[0]
        elif _exp_sum(f) and not sums:
            sums.append(_exp_sum(f))
        else:
            rest.append(f)
    if sums:
        sign, exponents = sums[0]
        numerator = tuple(v + shift for v in exponents)
        rest.append(sign)
    else:
        numerator = (shift,)
    ratio = log_softmax(sympy.Tuple(*numerator), sympy.Tuple(*denominator))
    return sympy.Mul(*rest, sympy.exp(ratio))


def _one_minus_tanh_squared(node: sympy.Basic) -> bool:
    pair = _constant_pair(node, sympy.Pow)
    if pair is None:
        return False
    base, exponent = pair[1].as_base_exp()
    return isinstance(base, sympy.tanh) and exponent == 2


def _pair_replaced(func: type, replacement: Callable) -> Callable[[sympy.Add], sympy.Expr]:
    """The rewrite of ``c f(u) − c + rest`` to ``replacement(c, f(u)) + rest``."""

    def rewrite(node: sympy.Add) -> sympy.Expr:
        coefficient, term = _constant_pair(node, func)
        return replacement(coefficient, term) + _without(node, coefficient * term, -coefficient)

    return rewrite


def _tanh_pair(node: sympy.Basic) -> tuple[sympy.Expr, sympy.Expr, sympy.Expr] | None:
    """For ``k + c tanh(u) + rest`` with ``|c| = |k|``: ``(k, c, u)``; else None."""
    if not isinstance(node, sympy.Add):
        return None
    constant = sum((a for a in node.args if a.is_Number), sympy.S.Zero)
    for term in node.args:
        coefficient, tanh = term.as_coeff_Mul()
        if constant != 0 and isinstance(tanh, sympy.tanh) and abs(coefficient) == abs(constant):
            return constant, coefficient, tanh.args[0]
    return None


def _tanh_to_sigmoid(node: sympy.Add) -> sympy.Expr:
    constant, coefficient, u = _tanh_pair(node)
    # k (1 ± tanh u) = 2k σ(±2u)
    rest = _without(node, constant, coefficient * sympy.tanh(u))
    return 2 * constant * sigmoid(2 * (coefficient / constant) * u) + rest


def _exp_sigmoid_rewrite(node: sympy.Mul) -> sympy.Expr:
    exponential, power, n, k = _sigmoid_times_exp(node)
    s = power.as_base_exp()[0]
    # e^{-n v} σ(v)^k = σ(-v)^n σ(v)^(k-n)
    return _without(node, exponential, power) * sigmoid(-s.args[0]) ** n * s ** (k - n)


def _log1p_applies(node: sympy.Basic) -> bool:
    return (
        isinstance(node, sympy.log)
        and isinstance(node.args[0], sympy.Add)
        and sympy.S.One in node.args[0].args
        and not _is_one_plus_exp(node.args[0])
    )


# --- the table ---------------------------------------------------------------------------------

REWRITES: tuple[Rewrite, ...] = (
    Rewrite(
        "sigmoid written with exp: 1/(1 + e^{−z}) = σ(z)",
        lambda n: isinstance(n, sympy.Pow) and n.exp.is_negative and _is_one_plus_exp(n.base),
        lambda n: sigmoid(-_exp_argument(n.base)) ** (-n.exp),
    ),
    Rewrite(
        "sigmoid written with exp: e^{z} σ(−z) = e^{z}/(1 + e^{z}) = σ(z)",
        lambda n: _sigmoid_times_exp(n) is not None,
        _exp_sigmoid_rewrite,
    ),
    Rewrite(
        "sigmoid times a sum with e^{z}: distribute so each e^{z} σ(−z) becomes σ(z)",
        _sigmoid_times_sum_with_exp,
        _distribute,
    ),
    Rewrite(
        "1 − σ(z) = σ(−z)",
        lambda n: _constant_pair(n, sigmoid) is not None,
        _pair_replaced(sigmoid, lambda c, s: -c * sigmoid(-s.args[0])),
    ),
    Rewrite(
        "log-sigmoid: log σ(z) = −softplus(−z)",
        lambda n: isinstance(n, sympy.log) and isinstance(n.args[0], sigmoid),
        lambda n: -softplus(-n.args[0].args[0]),
    ),
    Rewrite(
        "log(1 − σ(z)) = −softplus(z)",
        lambda n: isinstance(n, sympy.log) and isinstance(-(n.args[0] - 1), sigmoid),
        lambda n: -softplus((1 - n.args[0]).args[0]),
    ),
    Rewrite(
        "softplus: log(1 + e^{z}) = logaddexp(0, z)",
        lambda n: isinstance(n, sympy.log) and _is_one_plus_exp(n.args[0]),
        lambda n: softplus(_exp_argument(n.args[0])),
    ),
    Rewrite(
        "log-sum-exp: log Σ e^{v} = m + log Σ e^{v − m}, m = max v",
        lambda n: (
            isinstance(n, sympy.log)
            and _exp_sum(n.args[0]) is not None
            and _exp_sum(n.args[0])[0] == 1
        ),
        lambda n: logsumexp(*_exp_sum(n.args[0])[1]),
    ),
    Rewrite(
        "softmax denominator: 1/Σ e^{v} = e^{−logsumexp(v)}",
        lambda n: isinstance(n, sympy.Pow) and n.exp.is_negative and _exp_sum(n.base) is not None,
        lambda n: (lambda s, v: s**n.exp * sympy.exp(n.exp * logsumexp(*v)))(*_exp_sum(n.base)),
    ),
    Rewrite(
        "softmax: e^{z_k}/Σ e^{v} = e^{log_softmax}",
        _softmax_product,
        _softmax_rewrite,
    ),
    Rewrite(
        "log-softmax: z_k − logsumexp(v), the max subtracted once",
        lambda n: _lse_and_rest(n) is not None,
        _ratio,
    ),
    Rewrite(
        "log(1 + x) = log1p(x)",
        _log1p_applies,
        lambda n: log1p(n.args[0] - 1),
    ),
    Rewrite(
        "e^{x} − 1 = expm1(x)",
        lambda n: _constant_pair(n, sympy.exp) is not None,
        _pair_replaced(sympy.exp, lambda c, e: c * expm1(e.args[0])),
    ),
    Rewrite(
        "tanh': 1 − tanh(z)² = sech(z)²",
        _one_minus_tanh_squared,
        _pair_replaced(sympy.Pow, lambda c, square: -c * sympy.sech(square.base.args[0]) ** 2),
    ),
    Rewrite(
        "1/cosh(z)^k = sech(z)^k",
        lambda n: isinstance(n, sympy.Pow) and isinstance(n.base, sympy.cosh) and n.exp.is_negative,
        lambda n: sympy.sech(n.base.args[0]) ** (-n.exp),
    ),
    Rewrite(
        "1 ± tanh(z) = 2σ(±2z)",
        lambda n: _tanh_pair(n) is not None,
        _tanh_to_sigmoid,
    ),
)


def stabilize(expr: sympy.Expr) -> sympy.Expr:
    """Apply every rewrite in :data:`REWRITES`, bottom-up, until none applies.

    Args:
        expr: An expression in textbook form.

    Returns:
        The same mathematics in a form whose floating-point evaluation is stable.

    Example:
        >>> z = sympy.Symbol("z", real=True)
        >>> stabilize(sympy.exp(z) / (1 + sympy.exp(z)))
        sigmoid(z)
    """

    def visit(node: sympy.Basic, depth: int = 0) -> sympy.Basic:
        if node.args and not isinstance(node, sympy.Tuple | logsumexp | log_softmax):
            node = node.func(*(visit(arg, depth) for arg in node.args))
        for rule in REWRITES:
            if rule.applies(node):
                new = rule.rewrite(node)
                if new != node and depth < 50:
                    return visit(new, depth + 1)
        return node

    return _merge_softplus_pairs(visit(expr))


def _merge_softplus_pairs(expr: sympy.Expr) -> sympy.Expr:
    """Use ``softplus(−u) = softplus(u) − u`` so each ``u`` needs one ``logaddexp``.

    Binary cross-entropy ``y softplus(−z) + (1 − y) softplus(z)`` becomes
    ``softplus(z) − y z``: half the transcendental work, the same accuracy.
    """
    found = expr.atoms(softplus)
    negated = {node for node in found if softplus(-node.args[0]) in found}
    if not negated:
        return expr
    chosen = {node for node in negated if node.args[0].could_extract_minus_sign()}
    # Each argument u stands in as one symbol while the products are multiplied out, so
    # u itself (often a linear combination the compiler turns into one BLAS product)
    # stays whole.
    arguments = {-node.args[0]: sympy.Dummy("u", real=True) for node in chosen}
    stand_ins = {softplus(u): softplus(d) for u, d in arguments.items()}
    stand_ins |= {softplus(-u): softplus(d) - d for u, d in arguments.items()}
    merged = sympy.expand_mul(expr.xreplace(stand_ins))
    merged = merged.xreplace({dummy: u for u, dummy in arguments.items()})
    return merged if len(merged.atoms(softplus)) < len(found) else expr
