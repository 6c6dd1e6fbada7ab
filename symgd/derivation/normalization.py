r"""Stage 2, derive: batch normalisation's backward pass, down to the compact textbook form.

For one feature over a mini-batch of ``m`` examples (images: over examples and positions):

.. math:: \mu = \frac{1}{m}\sum_j x_j,\quad \sigma^2 = \frac{1}{m}\sum_j (x_j-\mu)^2,\quad
    \hat x_i = \frac{x_i-\mu}{\sqrt{\sigma^2+\epsilon}},\quad y_i = \gamma\hat x_i + \beta

With :math:`g_i = \partial\ell/\partial y_i` arriving from the layer above:

.. math:: \frac{\partial\ell}{\partial x_i} = \frac{\gamma}{m\sqrt{\sigma^2+\epsilon}}
    \Big(m g_i - \sum_j g_j - \hat x_i \sum_j g_j \hat x_j\Big),\quad
    \frac{\partial\ell}{\partial\gamma} = \sum_i g_i\hat x_i,\quad
    \frac{\partial\ell}{\partial\beta} = \sum_i g_i

Example:
    >>> verify_rule(batchnorm_rule()).passed
    True
"""

from __future__ import annotations

import functools

import sympy

from symgd.derivation.layer_check import Chain, CheckCase, LayerRule, verify_rule
from symgd.derivation.scalar import LOSS_SYMBOL

__all__ = ["batchnorm_rule", "verify_rule"]

_ELL = LOSS_SYMBOL
x, xhat, y, g = (sympy.IndexedBase(name, real=True) for name in ("x", "xhat", "y", "g"))
i, j = sympy.symbols("i j", integer=True, positive=True)
m = sympy.Symbol("m", integer=True, positive=True)
mu, variance = sympy.Symbol("mu", real=True), sympy.Symbol("sigma^2", real=True)
epsilon = sympy.Symbol("epsilon", positive=True)
gamma, beta = sympy.Symbol("gamma", real=True), sympy.Symbol("beta", real=True)


@functools.cache
def batchnorm_rule() -> LayerRule:
    """Derive batch normalisation's backward pass and check it at a batch of 4.

    Returns:
        The rule: forward pass (training statistics), the local derivative
        :math:`\\partial\\hat x_j/\\partial x_i`, and the gradients by ``x``, ``gamma``, ``beta``.

    Example:
        >>> [len(chain.sides) for chain in batchnorm_rule().chains]
        [3, 4, 3, 3]
    """
    root = sympy.sqrt(variance + epsilon)
    batch = (j, 1, m)
    forward = (
        sympy.Eq(mu, sympy.Sum(x[j], batch) / m),
        sympy.Eq(variance, sympy.Sum((x[j] - mu) ** 2, batch) / m),
        sympy.Eq(xhat[i], (x[i] - mu) / root),
        sympy.Eq(y[i], gamma * xhat[i] + beta),
    )
    indicator = sympy.KroneckerDelta(i, j)
    local = (indicator - 1 / m - xhat[i] * xhat[j] / m) / root
    normalised = Chain(
        (
            sympy.Derivative(xhat[j], x[i]),
            (indicator - 1 / m) / root
            - (x[j] - mu) * (x[i] - mu) / (m * (variance + epsilon) ** sympy.Rational(3, 2)),
            local,
        ),
        ((i, 1, m), (j, 1, m)),
        r"the local derivative of the normalised input (the mean and the variance depend on "
        r"$x_i$ too)",
    )
    by_input = Chain(
        (
            sympy.Derivative(_ELL, x[i]),
            sympy.Sum(g[j] * sympy.Derivative(y[j], x[i]), batch),
            sympy.Sum(g[j] * gamma * local, batch),
            gamma
            / (m * root)
            * (m * g[i] - sympy.Sum(g[j], batch) - xhat[i] * sympy.Sum(g[j] * xhat[j], batch)),
        ),
        ((i, 1, m),),
        r"the compact textbook form: $g$ centred, minus its projection on $\hat{x}$, scaled",
        r"\frac{\partial \ell}{\partial \mathbf{x}} = \frac{\gamma}{m\sqrt{\sigma^{2}+\epsilon}}"
        r"\left(m\,\mathbf{g} - \mathbf{1}^{\top}\mathbf{g}\,\mathbf{1}"
        r" - (\mathbf{g}^{\top}\hat{\mathbf{x}})\,\hat{\mathbf{x}}\right)",
    )
    by_scale = Chain(
        (
            sympy.Derivative(_ELL, gamma),
            sympy.Sum(g[j] * sympy.Derivative(y[j], gamma), batch),
            sympy.Sum(g[j] * xhat[j], batch),
        ),
        (),
        r"the sum over the batch of $g$ times $\hat{x}$",
    )
    by_shift = Chain(
        (
            sympy.Derivative(_ELL, beta),
            sympy.Sum(g[j] * sympy.Derivative(y[j], beta), batch),
            sympy.Sum(g[j], batch),
        ),
        (),
        r"the sum of $g$ over the batch",
    )
    size = 4
    sizes = {m: size}
    batch_range = range(1, size + 1)

    def mean(e):
        return sympy.Add(*(e.entry(x, (k,)) for k in batch_range)) / size

    def spread(e):
        return sympy.Add(*((e.entry(x, (k,)) - e.entry(mu, ())) ** 2 for k in batch_range)) / size

    def normal(e, k):
        return (e.entry(x, (k,)) - e.entry(mu, ())) / sympy.sqrt(
            e.entry(variance, ()) + e.entry(epsilon, ())
        )

    case = CheckCase(
        f"a batch of {size}",
        sizes,
        {x: (size + 1,), g: (size + 1,), gamma: (), beta: (), epsilon: ()},
        {
            mu: mean,
            variance: spread,
            xhat: normal,
            y: lambda e, k: e.entry(gamma, ()) * e.entry(xhat, (k,)) + e.entry(beta, ()),
            _ELL: lambda e: sympy.Add(*(e.entry(g, (k,)) * e.entry(y, (k,)) for k in batch_range)),
        },
        {(epsilon, ()): sympy.Rational(1, 100)},
    )
    notes = (
        r"Per feature (images: per channel, the batch sums also run over positions); the "
        r"examples $i$ and $j$ run from 1 to $m$; $g = \partial\ell/\partial y$ arrives from the "
        "layer above.",
        r"Training uses the batch statistics; at inference the running averages "
        r"$\mu_{\text{run}} \leftarrow (1 - \rho)\,\mu_{\text{run}} + \rho\,\mu$ (likewise "
        r"$\sigma^2$) replace them, and the layer is affine.",
    )
    return LayerRule(
        "batchnorm",
        "batch normalisation",
        forward,
        (normalised, by_input, by_scale, by_shift),
        notes,
        (case,),
    )
