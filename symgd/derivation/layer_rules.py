r"""Stage 2, derive: backward rules of convolution, pooling, flatten, dense and activation layers.

Each rule is a :class:`~symgd.derivation.layer_check.LayerRule`: the forward pass in index
notation and, for each gradient, a chain of equalities from :math:`\partial\ell/\partial v`
through the chain rule over the layer's outputs (the local derivative by ``sympy.diff``, its
Kronecker deltas printed as indicators :math:`\mathbb{1}[i = j]`) to the compact rule. Every
consecutive pair of sides is checked by :func:`~symgd.derivation.layer_check.verify_rule` at
small sizes against ``sympy.diff`` of the written-out layer.

Image indices are offsets and count from 0; :math:`\delta` (the gradient arriving at the
layer's output) and the input are zero outside their ranges, which is how zero padding and the
edges of the full convolution are written.

Example:
    >>> rule = convolution_rule("valid")
    >>> print(rule.chains[0].rule)
    the cross-correlation of the input with $\delta$
    >>> verify_rule(rule).passed
    True
"""

from __future__ import annotations

import functools
import itertools

import sympy

from symgd.define import OUTPUT, PREACTIVATION
from symgd.define.activations import Activation, activation
from symgd.derivation.layer_check import Chain, CheckCase, Evaluator, LayerRule, verify_rule
from symgd.derivation.network import dense_rules
from symgd.derivation.scalar import LOSS_SYMBOL

__all__ = [
    "activation_rule",
    "convolution_rule",
    "dense_rule",
    "flatten_rule",
    "verify_rule",
]


def _integers(names: str) -> tuple[sympy.Symbol, ...]:
    return sympy.symbols(names, integer=True, nonnegative=True)


def _sizes(names: str) -> tuple[sympy.Symbol, ...]:
    return sympy.symbols(names, integer=True, positive=True)


def _base(name: str) -> sympy.IndexedBase:
    return sympy.IndexedBase(name, real=True)


_ELL = LOSS_SYMBOL
a, z, K, b, delta = (_base(n) for n in ("a", "z", "K", "b", "delta"))
o, c, i, j, p, q, r, s = _integers("o c i j p q r s")
o2, c2, p2, q2 = _integers("o' c' p' q'")
C, O, H, W, k, H2, W2, P = _sizes("C O H W k H' W' P")


def _upstream_loss(shape: tuple[int, ...], out: sympy.IndexedBase, up: sympy.IndexedBase):
    r""":math:`\ell = \sum g \cdot \text{out}`: its gradient by the output is exactly ``up``."""

    def loss(e: Evaluator) -> sympy.Expr:
        entries = itertools.product(*map(range, shape))
        return sympy.Add(*(e.entry(up, idx) * e.entry(out, idx) for idx in entries))

    return loss


def _defined(template, sizes: dict, indices: tuple[sympy.Symbol, ...]):
    """A definition ``(evaluator, *index) -> entry`` from a template in index notation."""

    def entry(e: Evaluator, *index: int) -> sympy.Expr:
        return e.meaning(template, dict(zip(indices, map(sympy.Integer, index), strict=True)))

    return entry


def _chain_rule_sum(term: sympy.Expr, *limits: tuple) -> sympy.Expr:
    return sympy.Sum(term, *limits)


# --------------------------------------------------------------------------------------------
# Convolution.


def _convolution_forward(out: sympy.Expr, row: sympy.Expr, col: sympy.Expr, bound=(c, p, q)):
    channel, dr, dc = bound
    return b[out] + sympy.Sum(
        K[out, channel, dr, dc] * a[channel, row + dr - P, col + dc - P],
        (channel, 0, C - 1),
        (dr, 0, k - 1),
        (dc, 0, k - 1),
    )


@functools.cache
def convolution_rule(padding: str = "valid") -> LayerRule:
    r"""Derive the 2-D convolution's backward rule (stride 1, several channels).

    .. math:: z_{o,i,j} = b_o + \sum_{c,p,q} K_{o,c,p,q}\, a_{c,i+p-P,j+q-P}, \quad
        \frac{\partial\ell}{\partial K_{o,c,p,q}} = \sum_{i,j} \delta_{o,i,j} a_{c,i+p-P,j+q-P},
        \quad \frac{\partial\ell}{\partial a_{c,r,s}} = \sum_{o,p,q}
        \delta_{o,r-p+P,s-q+P} K_{o,c,p,q}

    with :math:`P = 0` (``valid``) or :math:`P = (k-1)/2` (``same``).

    Args:
        padding: ``"valid"`` or ``"same"``.

    Returns:
        The rule, checked at 2 input channels and a 3×3 input (``valid``: 2 output channels,
        a 2×2 kernel; ``same``: 1 output channel, a 3×3 kernel).

    Raises:
        ValueError: An unknown padding.

    Example:
        >>> convolution_rule("same").chains[2].sides[-1].function
        K[o, c, p, q]*delta[o, P - p + r, P - q + s]
    """
    if padding not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same', not {padding!r}")
    pad = {P: 0} if padding == "valid" else {}

    def forward_at(out, row, col, bound=(c2, p2, q2)):
        return _convolution_forward(out, row, col, bound).xreplace(pad)

    outputs = ((o2, 0, O - 1), (i, 0, H2 - 1), (j, 0, W2 - 1))
    kernel = K[o, c, p, q]
    kernel_chain = Chain(
        (
            sympy.Derivative(_ELL, kernel),
            sympy.Sum(delta[o2, i, j] * sympy.Derivative(z[o2, i, j], kernel), *outputs),
            sympy.Sum(delta[o2, i, j] * sympy.diff(forward_at(o2, i, j), kernel), *outputs),
            sympy.Sum(
                delta[o, i, j] * a[c, i + p - P, j + q - P], (i, 0, H2 - 1), (j, 0, W2 - 1)
            ).xreplace(pad),
        ),
        ((o, 0, O - 1), (c, 0, C - 1), (p, 0, k - 1), (q, 0, k - 1)),
        r"the cross-correlation of the input with $\delta$",
        r"\frac{\partial \ell}{\partial \mathbf{K}_{o,c}} = \mathbf{A}_{c} \star "
        r"\boldsymbol{\delta}_{o}",
    )
    bias_chain = Chain(
        (
            sympy.Derivative(_ELL, b[o]),
            sympy.Sum(delta[o2, i, j] * sympy.Derivative(z[o2, i, j], b[o]), *outputs),
            sympy.Sum(delta[o2, i, j] * sympy.diff(forward_at(o2, i, j), b[o]), *outputs),
            sympy.Sum(delta[o, i, j], (i, 0, H2 - 1), (j, 0, W2 - 1)),
        ),
        ((o, 0, O - 1),),
        r"the sum of $\delta$ over the positions of output channel $o$",
    )
    entry = a[c, r, s]
    outputs_o = ((o, 0, O - 1), (i, 0, H2 - 1), (j, 0, W2 - 1))
    input_chain = Chain(
        (
            sympy.Derivative(_ELL, entry),
            sympy.Sum(delta[o, i, j] * sympy.Derivative(z[o, i, j], entry), *outputs_o),
            sympy.Sum(delta[o, i, j] * sympy.diff(forward_at(o, i, j), entry), *outputs_o),
            sympy.Sum(
                delta[o, r - p + P, s - q + P] * K[o, c, p, q],
                (o, 0, O - 1),
                (p, 0, k - 1),
                (q, 0, k - 1),
            ).xreplace(pad),
        ),
        ((c, 0, C - 1), (r, 0, H - 1), (s, 0, W - 1)),
        r"the full convolution of $\delta$ with the flipped kernel ($\delta$ is zero outside its "
        "range)",
        r"\frac{\partial \ell}{\partial \mathbf{A}_{c}} = \sum_{o} \boldsymbol{\delta}_{o} "
        r"\ast \mathbf{K}_{o,c}",
    )
    forward = (sympy.Eq(z[o, i, j], _convolution_forward(o, i, j).xreplace(pad)),)
    notes = [
        r"Shapes: the input $a$ is $C \times H \times W$, the kernel $K$ is "
        r"$O \times C \times k \times k$, the output $z$ is $O \times H' \times W'$.",
        r"Indices are offsets from 0; $a$ and $\delta$ are zero outside their ranges.",
    ]
    if padding == "same":
        notes.append(r"Same padding: $P = (k - 1)/2$ zeros on each side, so $H' = H$ and $W' = W$.")
    else:
        notes.append(r"Valid padding (none): $H' = H - k + 1$ and $W' = W - k + 1$.")
    cases = []
    height, kernel_side, outs = (3, 2, 2) if padding == "valid" else (3, 3, 1)
    out = height - kernel_side + 1 if padding == "valid" else height
    sizes = {C: 2, O: outs, H: height, W: height, k: kernel_side, H2: out, W2: out}
    sizes[P] = 0 if padding == "valid" else (kernel_side - 1) // 2
    cases.append(
        CheckCase(
            f"{padding}, 2 channels in, {outs} out, {height}x{height} input, "
            f"{kernel_side}x{kernel_side} kernel",
            sizes,
            {
                a: (2, height, height),
                K: (outs, 2, kernel_side, kernel_side),
                b: (outs,),
                delta: (outs, out, out),
            },
            {
                z: _defined(forward[0].rhs, sizes, (o, i, j)),
                _ELL: _upstream_loss((outs, out, out), z, delta),
            },
        )
    )
    return LayerRule(
        f"conv-{padding}",
        f"2-D convolution, stride 1, padding '{padding}'",
        forward,
        (kernel_chain, bias_chain, input_chain),
        tuple(notes),
        tuple(cases),
    )


# --------------------------------------------------------------------------------------------
# Flatten, dense, activation.

n = _integers("n")
u, v = _integers("u v")
N = _sizes("N")


@functools.cache
def flatten_rule() -> LayerRule:
    r"""Derive flatten's backward rule: the gradient is reshaped back.

    .. math:: z_{n} = a_{c,u,v},\ n = cHW + uW + v, \qquad
        \frac{\partial\ell}{\partial a_{c,u,v}} = \delta_{cHW + uW + v}

    Example:
        >>> flatten_rule().chains[0].sides[-1]
        delta[H*W*c + W*u + v]
    """
    flat = c * H * W + u * W + v
    forward = a[sympy.floor(n / (H * W)), sympy.Mod(sympy.floor(n / W), H), sympy.Mod(n, W)]
    entry = a[c, u, v]
    chain = Chain(
        (
            sympy.Derivative(_ELL, entry),
            sympy.Sum(delta[n] * sympy.Derivative(z[n], entry), (n, 0, N - 1)),
            sympy.Sum(delta[n] * sympy.KroneckerDelta(n, flat), (n, 0, N - 1)),
            delta[flat],
        ),
        ((c, 0, C - 1), (u, 0, H - 1), (v, 0, W - 1)),
        r"$\delta$ reshaped back to the input's shape",
    )
    sizes = {C: 2, H: 2, W: 3, N: 12}
    case = CheckCase(
        "2 channels of 2x3",
        sizes,
        {a: (2, 2, 3), delta: (12,)},
        {z: _defined(forward, sizes, (n,)), _ELL: _upstream_loss((12,), z, delta)},
    )
    notes = (
        r"Shapes: the input $a$ is $C \times H \times W$; the output $z$ has $N = CHW$ entries "
        "in row-major order.",
    )
    return LayerRule("flatten", "flatten", (sympy.Eq(z[n], forward),), (chain,), notes, (case,))


#: The dense layer's compact rule in words, by the variable's name.
_DENSE_RULES = {
    "W": r"the outer product of $\boldsymbol{\delta}$ and the layer's input $\boldsymbol{a}$",
    "a": r"$\mathbf{W}^{\top}$ times $\boldsymbol{\delta}$: the error sent to the layer below",
    "b": r"$\boldsymbol{\delta}$ itself",
}


@functools.cache
def dense_rule() -> LayerRule:
    r"""The dense layer's rules from :func:`symgd.derivation.network.dense_rules`, as chains.

    Example:
        >>> [str(chain.sides[0].variables[0].base) for chain in dense_rule().chains]
        ['W', 'a', 'b']
    """
    rules = dense_rules()
    forward = rules.forward
    ((_, _, n_in),) = next(iter(forward.atoms(sympy.Sum))).limits
    z_base, delta_base = _base("z"), _base("delta")
    first = rules.rules[0]
    ((row, _, n_out),) = first.chain.limits
    chains = []
    for rule in rules.rules:
        variable = rule.variable
        bounds = {"W": (n_out, n_in), "a": (n_in,), "b": (n_out,)}[str(variable.base)]
        ranges = tuple(
            (index, 1, last) for index, last in zip(variable.indices, bounds, strict=True)
        )
        chains.append(
            Chain(
                (
                    sympy.Derivative(_ELL, variable),
                    sympy.Sum(
                        delta_base[row] * sympy.Derivative(z_base[row], variable), (row, 1, n_out)
                    ),
                    rule.chain,
                    rule.result,
                ),
                ranges,
                _DENSE_RULES[str(variable.base)],
                rule.matrix_form,
            )
        )
    bases = {str(x.base): x.base for x in forward.atoms(sympy.Indexed)}
    sizes = {n_out: 3, n_in: 2}
    case = CheckCase(
        "3 units, 2 inputs",
        sizes,
        {bases["W"]: (4, 3), bases["a"]: (3,), bases["b"]: (4,), delta_base: (4,)},
        {
            z_base: _defined(forward, sizes, (row,)),
            _ELL: lambda e: sympy.Add(
                *(e.entry(delta_base, (m,)) * e.entry(z_base, (m,)) for m in range(1, 4))
            ),
        },
    )
    notes = (
        r"Shapes: the input $a$ has $k$ entries, $W$ is $n \times k$, the output $z$ has $n$ "
        "entries; indices count from 1.",
    )
    return LayerRule(
        "dense",
        "dense (fully connected)",
        (sympy.Eq(z_base[row], forward),),
        tuple(chains),
        notes,
        (case,),
    )


@functools.cache
def activation_rule(function: Activation | str) -> LayerRule:
    r"""Derive an element-wise activation's backward rule :math:`\delta = g \odot \sigma'(z)`.

    Here :math:`g_j = \partial\ell/\partial a_j` arrives from the layer above.

    Example:
        >>> activation_rule("tanh").chains[0].sides[-1]
        (1 - a[i]**2)*g[i]
    """
    sigma = activation(function) if isinstance(function, str) else function
    g = _base("g")
    m = _sizes("m")
    at = {PREACTIVATION: z[i]}
    forward = sigma.expression.xreplace(at)
    local = sympy.diff(sigma.expression.xreplace({PREACTIVATION: z[j]}), z[i])
    chain = Chain(
        (
            sympy.Derivative(_ELL, z[i]),
            sympy.Sum(g[j] * sympy.Derivative(a[j], z[i]), (j, 1, m)),
            sympy.Sum(g[j] * local, (j, 1, m)),
            g[i] * sigma.derivative.xreplace(at),
            g[i] * sigma.backward_form.xreplace({**at, OUTPUT: a[i]}),
        ),
        ((i, 1, m),),
        rf"$g$ times ${sigma.latex_name}'$ element-wise",
        rf"\boldsymbol{{\delta}} = \mathbf{{g}} \odot {sigma.latex_name}'(\mathbf{{z}})",
    )
    sizes = {m: 3}
    case = CheckCase(
        "3 units",
        sizes,
        {z: (4,), g: (4,)},
        {
            a: _defined(forward, sizes, (i,)),
            _ELL: lambda e: sympy.Add(*(e.entry(g, (t,)) * e.entry(a, (t,)) for t in (1, 2, 3))),
        },
    )
    notes = (
        r"Element-wise on any shape; shown for a vector of $m$ entries counted from 1, with "
        r"$g = \partial\ell/\partial a$ arriving from the layer above.",
    )
    return LayerRule(
        f"activation-{sigma.name}",
        f"element-wise {sigma.name}",
        (sympy.Eq(a[i], forward),),
        (chain,),
        notes,
        (case,),
    )
