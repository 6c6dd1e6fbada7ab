r"""Stage 2, derive: max and average pooling's backward rules (``s × s`` windows, stride ``s``).

Max pooling routes δ to the arg-max of each window; a tie goes to the FIRST maximum in
row-major order, and the check differentiates a written-out maximum that breaks ties that way.
Average pooling spreads δ evenly, divided by :math:`s^2`.

Example:
    >>> verify_rule(pooling_rule("maxpool")).passed
    True
"""

from __future__ import annotations

import functools

import sympy

from symgd.derivation.layer_check import Chain, CheckCase, Evaluator, LayerRule, verify_rule
from symgd.derivation.layer_rules import (
    _ELL,
    H2,
    W2,
    C,
    H,
    W,
    _base,
    _defined,
    _integers,
    _sizes,
    _upstream_loss,
    a,
    c,
    c2,
    delta,
    i,
    j,
    p,
    p2,
    q,
    q2,
    z,
)

__all__ = ["pooling_rule", "verify_rule"]


s_window = _sizes("s")
p_star, q_star = _base("p^{*}"), _base("q^{*}")
i2, j2 = _integers("i' j'")


def _first_maximum(window: list[sympy.Expr]) -> sympy.Expr:
    """The maximum written out so that a tie takes the first entry (row-major order)."""
    pieces = []
    for n, entry in enumerate(window[:-1]):
        pieces.append((entry, sympy.And(*(entry >= other for other in window[n + 1 :]))))
    return sympy.Piecewise(*pieces, (window[-1], True))


#: The pooling check's input: 2 channels of 4x4 with ties inside windows.
_POOL_INPUT = (
    ((5, 5, 1, 2), (1, 2, 7, 3), (4, 0, 6, 6), (4, 2, 6, 6)),
    ((1, 3, 2, 2), (3, 2, 2, 1), (0, 1, 9, 8), (1, 0, 7, 9)),
)


def _argmax(values, channel: int, row: int, col: int, window: int) -> tuple[int, int]:
    entries = [
        (values[channel][window * row + dr][window * col + dc], dr, dc)
        for dr in range(window)
        for dc in range(window)
    ]
    best = max(e for e, _, _ in entries)
    return next((dr, dc) for e, dr, dc in entries if e == best)  # the first maximum


@functools.cache
def pooling_rule(kind: str = "maxpool") -> LayerRule:
    r"""Derive max or average pooling's backward rule (``s × s`` windows, stride ``s``).

    .. math:: \frac{\partial\ell}{\partial a_{c,si+p,sj+q}} =
        \delta_{c,i,j}\,\mathbb{1}[p = p^*_{c,i,j}]\,\mathbb{1}[q = q^*_{c,i,j}]
        \quad\text{or}\quad \frac{\delta_{c,i,j}}{s^2}

    A tie routes δ to the *first* maximum of the window in row-major order (the offsets
    :math:`p^*, q^*`). Rows and columns past the last whole window get no gradient.

    Args:
        kind: ``"maxpool"`` or ``"avgpool"``.

    Returns:
        The rule, checked on 4×4 inputs with 2×2 windows (2 channels; max: 1 channel with ties).

    Raises:
        ValueError: An unknown kind.

    Example:
        >>> pooling_rule("avgpool").chains[0].sides[-1]
        delta[c, i, j]/s**2
    """
    if kind not in ("maxpool", "avgpool"):
        raise ValueError(f"pooling is 'maxpool' or 'avgpool', not {kind!r}")
    window = ((p, 0, s_window - 1), (q, 0, s_window - 1))
    entry = a[c, s_window * i + p, s_window * j + q]
    outputs = ((c2, 0, C - 1), (i2, 0, H2 - 1), (j2, 0, W2 - 1))
    if kind == "avgpool":
        forward = sympy.Sum(a[c, s_window * i + p, s_window * j + q], *window) / s_window**2
        window2 = ((p2, 0, s_window - 1), (q2, 0, s_window - 1))
        local = sympy.diff(
            sympy.Sum(a[c2, s_window * i2 + p2, s_window * j2 + q2], *window2) / s_window**2,
            entry,
        )
        compact = delta[c, i, j] / s_window**2
        rule = r"$\delta$ spread evenly over each window, divided by $s^2$"
    else:
        forward = a[c, s_window * i + p_star[c, i, j], s_window * j + q_star[c, i, j]]
        local = (
            sympy.KroneckerDelta(c, c2)
            * sympy.KroneckerDelta(s_window * i + p, s_window * i2 + p_star[c2, i2, j2])
            * sympy.KroneckerDelta(s_window * j + q, s_window * j2 + q_star[c2, i2, j2])
        )
        compact = (
            delta[c, i, j]
            * sympy.KroneckerDelta(p, p_star[c, i, j])
            * sympy.KroneckerDelta(q, q_star[c, i, j])
        )
        rule = (
            r"each window's $\delta_{c,i,j}$ goes to its maximum, the entry at offset "
            r"$(p^{*}, q^{*})$; the other entries of the window get 0"
        )
    chain = Chain(
        (
            sympy.Derivative(_ELL, entry),
            sympy.Sum(delta[c2, i2, j2] * sympy.Derivative(z[c2, i2, j2], entry), *outputs),
            sympy.Sum(delta[c2, i2, j2] * local, *outputs),
            compact,
        ),
        ((c, 0, C - 1), (i, 0, H2 - 1), (j, 0, W2 - 1), (p, 0, s_window - 1), (q, 0, s_window - 1)),
        rule,
    )
    notes = [
        r"Shapes: the input $a$ is $C \times H \times W$, the output $z$ is "
        r"$C \times H' \times W'$ with $H' = \lfloor H/s \rfloor$ and $W' = \lfloor W/s \rfloor$.",
        r"An input entry is written $a_{c,si+p,sj+q}$: window $(i, j)$, offset $(p, q)$ inside "
        r"it, $0 \le p, q < s$, all counted from 0. Rows and columns past the last whole window "
        "get no gradient.",
    ]
    if kind == "maxpool":
        notes.append(
            r"$(p^{*}, q^{*})$ is the offset of the maximum of window $(i, j)$ of channel $c$ "
            r"(it depends on $c, i, j$); a tie goes to the first maximum in row-major order, and "
            "the check differentiates a written-out maximum that breaks ties that way."
        )
    channels = 1 if kind == "maxpool" else 2  # max: the written-out max is slow to differentiate
    sizes = {C: channels, H: 4, W: 4, s_window: 2, H2: 2, W2: 2}
    values = {
        (a, (ch, rw, cl)): sympy.Integer(_POOL_INPUT[ch][rw][cl])
        for ch in range(channels)
        for rw in range(4)
        for cl in range(4)
    }
    if kind == "maxpool":

        def pooled(e: Evaluator, ch: int, rw: int, cl: int) -> sympy.Expr:
            return _first_maximum(
                [e.entry(a, (ch, 2 * rw + dr, 2 * cl + dc)) for dr in range(2) for dc in range(2)]
            )

        definitions = {
            z: pooled,
            p_star: lambda e, ch, rw, cl: _argmax(_POOL_INPUT, ch, rw, cl, 2)[0],
            q_star: lambda e, ch, rw, cl: _argmax(_POOL_INPUT, ch, rw, cl, 2)[1],
        }
    else:
        definitions = {z: _defined(forward, sizes, (c, i, j))}
        values = {}
    definitions[_ELL] = _upstream_loss((channels, 2, 2), z, delta)
    case = CheckCase(
        f"{channels} channel(s), 4x4 input, 2x2 windows" + (", ties in windows" if values else ""),
        sizes,
        {a: (channels, 4, 4), delta: (channels, 2, 2)},
        definitions,
        values,
    )
    title = "max pooling" if kind == "maxpool" else "average pooling"
    return LayerRule(
        kind,
        rf"{title}, $s \times s$ windows with stride $s$",
        (sympy.Eq(z[c, i, j], forward),),
        (chain,),
        tuple(notes),
        (case,),
    )
