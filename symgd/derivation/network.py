r"""Stage 2, derive: the backprop chain of a layered network.

Backpropagation is three rules and two element-wise pieces:

* the dense-layer rules :math:`\partial\ell/\partial W = \delta a^\top`,
  :math:`\partial\ell/\partial a = W^\top\delta`, :math:`\partial\ell/\partial b = \delta`,
  derived once in index notation (``Indexed``, ``KroneckerDelta``; see :func:`dense_rules`);
* :math:`\sigma'` of the network's own activation and the output error
  :math:`\delta^{(L)}` of its own loss, derived by SymPy per network
  (:mod:`symgd.define.activations`, :mod:`symgd.derivation.output_error`).

SymPy's matrix calculus is not used for layers (it fails through element-wise functions), so
the cost of a derivation does not grow with the width. Small networks (up to
:data:`EXPANDED_LIMIT` weights) can also be *expanded*: every weight's derivative written
through the chain rule as a product of local derivatives, then simplified.

Example:
    >>> from symgd.define.network import network
    >>> net = network("2,2,1", activation="tanh", loss="mse")
    >>> derivation = derive_network(net)
    >>> derivation.output_error.delta
    a - y
    >>> derivation.hidden_derivative
    1 - a**2
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sympy

from symgd import limits
from symgd.define import OUTPUT, PREACTIVATION, Activation, Network
from symgd.derivation.expanded import ScalarNetwork, WeightChain, expand_network, scalar_network
from symgd.derivation.output_error import OutputError, output_error
from symgd.display import display_latex

#: Most weights (entries of all W and b) a network may have to be expanded weight by weight.
EXPANDED_LIMIT = 60


# --------------------------------------------------------------------------------------------
# The dense-layer rules, derived once in index notation.


@dataclass(frozen=True)
class DenseRule:
    r"""A dense rule :math:`\partial\ell/\partial v = \sum_i \delta_i \partial z_i/\partial v`.

    Attributes:
        variable: The entry differentiated by (``W[p, q]``, ``a[q]``, ``b[p]``).
        local: :math:`\partial z_i/\partial v` as SymPy gives it (with ``KroneckerDelta``).
        chain: The chain rule :math:`\sum_i \delta_i \partial z_i/\partial v`, unevaluated.
        result: The evaluated rule, e.g. ``delta[p]*a[q]``.
        matrix_form: The same rule for whole layers, in LaTeX.
    """

    variable: sympy.Indexed
    local: sympy.Expr
    chain: sympy.Expr
    result: sympy.Expr
    matrix_form: str


@dataclass(frozen=True)
class DenseRules:
    r"""The index-notation derivation of the dense layer :math:`z_i = \sum_j W_{ij} a_j + b_i`.

    Attributes:
        forward: :math:`z_i` as a SymPy ``Sum`` over ``Indexed`` entries.
        rules: The rules for ``W``, ``a`` and ``b``.
    """

    forward: sympy.Expr
    rules: tuple[DenseRule, ...]


_I, _J, _P_INDEX, _Q = sympy.symbols("i j p q", integer=True, positive=True)
_N_OUT, _N_IN = sympy.symbols("n k", integer=True, positive=True)


def _in_range(expr: sympy.Expr) -> sympy.Expr:
    """Resolve SymPy's ``Piecewise((…, q <= n), (0, True))``: the indices are in range."""
    return expr.replace(lambda e: isinstance(e, sympy.Piecewise), lambda e: e.args[0].expr)


@functools.cache
def dense_rules() -> DenseRules:
    r"""Derive the dense-layer rules in index notation with ``Indexed`` and ``KroneckerDelta``.

    With :math:`\delta_i = \partial\ell/\partial z_i`:

    .. math:: \frac{\partial \ell}{\partial W_{pq}} = \sum_i \delta_i \delta_{ip} a_q
        = \delta_p a_q, \quad \frac{\partial \ell}{\partial a_q} = \sum_i \delta_i W_{iq},
        \quad \frac{\partial \ell}{\partial b_p} = \delta_p

    Returns:
        The :class:`DenseRules`, each rule checked against its expected form.

    Raises:
        ArithmeticError: SymPy's result differs from the expected rule (a bug).

    Example:
        >>> [rule.result for rule in dense_rules().rules]
        [a[q]*delta[p], Sum(W[i, q]*delta[i], (i, 1, n)), delta[p]]
    """
    W = sympy.IndexedBase("W", real=True)
    a = sympy.IndexedBase("a", real=True)
    b = sympy.IndexedBase("b", real=True)
    delta = sympy.IndexedBase("delta", real=True)
    forward = sympy.Sum(W[_I, _J] * a[_J], (_J, 1, _N_IN)) + b[_I]
    expected = {
        W[_P_INDEX, _Q]: (
            delta[_P_INDEX] * a[_Q],
            r"\frac{\partial \ell}{\partial \mathbf{W}} = "
            r"\boldsymbol{\delta} \boldsymbol{a}^{\top}",
        ),
        a[_Q]: (
            sympy.Sum(W[_I, _Q] * delta[_I], (_I, 1, _N_OUT)),
            r"\frac{\partial \ell}{\partial \boldsymbol{a}} = "
            r"\mathbf{W}^{\top} \boldsymbol{\delta}",
        ),
        b[_P_INDEX]: (
            delta[_P_INDEX],
            r"\frac{\partial \ell}{\partial \boldsymbol{b}} = \boldsymbol{\delta}",
        ),
    }
    rules = []
    for variable, (wanted, matrix_form) in expected.items():
        local = sympy.diff(forward, variable)
        chain = sympy.Sum(delta[_I] * local, (_I, 1, _N_OUT))
        result = _in_range(
            _in_range(sympy.Sum(delta[_I] * _in_range(local.doit()), (_I, 1, _N_OUT)).doit())
        )
        if sympy.simplify(result - wanted) != 0:
            raise ArithmeticError(f"dense rule for {variable}: got {result}, expected {wanted}")
        rules.append(DenseRule(variable, local, chain, result, matrix_form))
    return DenseRules(forward, tuple(rules))


_M, _R = sympy.symbols("m r", integer=True, positive=True)


def _layer_base(name: str, layer: int) -> sympy.IndexedBase:
    return sympy.IndexedBase(f"{name}^{{({layer})}}", real=True)


def recursion_entry(
    sigma: Activation, layer: int
) -> tuple[tuple[sympy.Expr, sympy.Expr, sympy.Expr], tuple[tuple[sympy.Expr, sympy.Expr], ...]]:
    r"""Entry ``q`` of the recursion, three ways.

    .. math:: \delta^{(l)} = (W^{(l+1)})^\top \delta^{(l+1)} \odot \sigma'(z^{(l)})


    Three ways, in index notation: by the chain rule through :math:`a^{(l)}_q`
    (``sympy.diff`` of the next layer's definition), with :math:`\sigma'(z_q)`, and with
    :math:`\sigma'` in the output :math:`a_q` (which assumes :math:`a_q = \sigma(z_q)`).

    Returns:
        ``((chain rule, with σ'(z), with σ'(a)), given)``.

    Example:
        >>> from symgd.define import activation
        >>> (_, with_z, _), given = recursion_entry(activation("tanh"), 1)
        >>> with_z
        (1 - tanh(z^{(1)}[q])**2)*Sum(W^{(2)}[i, q]*delta^{(2)}[i], (i, 1, n))
    """
    W, b = _layer_base("W", layer + 1), _layer_base("b", layer + 1)
    delta = _layer_base("delta", layer + 1)
    z, a = _layer_base("z", layer), _layer_base("a", layer)
    forward = sympy.Sum(W[_I, _J] * a[_J], (_J, 1, _N_IN)) + b[_I]
    through = sympy.Sum(delta[_I] * sympy.diff(forward, a[_Q]), (_I, 1, _N_OUT))
    chain = through * sympy.diff(sigma.expression.xreplace({PREACTIVATION: z[_Q]}), z[_Q])
    back = sympy.Sum(W[_I, _Q] * delta[_I], (_I, 1, _N_OUT))
    with_z = back * sigma.derivative.xreplace({PREACTIVATION: z[_Q]})
    with_a = back * sigma.backward_form.xreplace({PREACTIVATION: z[_Q], OUTPUT: a[_Q]})
    return (chain, with_z, with_a), ((a[_Q], sigma.expression.xreplace({PREACTIVATION: z[_Q]})),)


def gradient_entries(
    layer: int, l2: float | None = None
) -> tuple[tuple[sympy.Expr, sympy.Expr], tuple[tuple[sympy.Expr, sympy.Expr], ...]]:
    r"""Entries of :math:`\partial J/\partial W^{(l)}` and :math:`\partial J/\partial b^{(l)}`.

    By the chain rule through every :math:`z^{(l)}_{i,r}` of every example ``i`` (``sympy.diff``
    of the layer's definition and of the L2 term), and as the mean
    :math:`\frac{1}{m}\sum_i \delta_{i,p} a_{i,q} + \lambda W_{pq}` (:math:`\frac{1}{m}\sum_i
    \delta_{i,p}`).

    Returns:
        ``((W by the chain rule, W as the mean), (b by the chain rule, b as the mean))``.

    Example:
        >>> (_, mean), _ = gradient_entries(1)
        >>> mean
        Sum(a^{(0)}[i, q]*delta^{(1)}[i, p], (i, 1, m))/m
    """
    W, b = _layer_base("W", layer), _layer_base("b", layer)
    a, delta = _layer_base("a", layer - 1), _layer_base("delta", layer)
    l2 = sympy.sympify(l2 or 0)
    forward = sympy.Sum(W[_R, _J] * a[_I, _J], (_J, 1, _N_IN)) + b[_R]
    penalty = l2 / 2 * sympy.Sum(W[_R, _J] ** 2, (_R, 1, _N_OUT), (_J, 1, _N_IN))

    def by_chain_rule(v: sympy.Indexed, extra: sympy.Expr) -> sympy.Expr:
        paths = sympy.Sum(delta[_I, _R] * sympy.diff(forward, v), (_R, 1, _N_OUT), (_I, 1, _M))
        return paths / _M + extra

    decay = l2 * W[_P_INDEX, _Q] if l2 else 0
    weights = (
        by_chain_rule(W[_P_INDEX, _Q], sympy.diff(penalty, W[_P_INDEX, _Q]) if l2 else 0),
        sympy.Sum(delta[_I, _P_INDEX] * a[_I, _Q], (_I, 1, _M)) / _M + decay,
    )
    biases = (by_chain_rule(b[_P_INDEX], 0), sympy.Sum(delta[_I, _P_INDEX], (_I, 1, _M)) / _M)
    return weights, biases


def layer_rule_gradient(derivation: NetworkDerivation) -> dict[sympy.Symbol, sympy.Expr]:
    """Each expanded weight's derivative from the layer rules, in inputs and parameters only.

    Raises:
        ValueError: The derivation is not expanded.
    """
    if derivation.expanded is None or derivation.scalar is None:
        raise ValueError("expand the network first: derive_network(net, expanded=True)")
    substitutions = derivation.scalar.substitutions
    return {c.param: c.product.xreplace(substitutions) for c in derivation.expanded}


# --------------------------------------------------------------------------------------------
# The derivation.


@dataclass(frozen=True)
class NetworkDerivation:
    r"""The backprop chain of a network.

    Attributes:
        network: What was derived.
        rules: The dense-layer rules (index notation).
        hidden_derivative: :math:`\sigma'` of the hidden activation, in ``a`` where possible.
        output_error: The derived :math:`\delta^{(L)}`.
        scalar: The written-out network (expanded mode), else ``None``.
        expanded: Every weight's chain (expanded mode), else ``None``.
    """

    network: Network
    rules: DenseRules
    hidden_derivative: sympy.Expr
    output_error: OutputError
    scalar: ScalarNetwork | None = None
    expanded: tuple[WeightChain, ...] | None = None

    def _repr_latex_(self) -> str | None:
        return display_latex(self)

    def __repr__(self) -> str:
        mode = f", expanded {len(self.expanded)} weights" if self.expanded else ""
        return (
            f"NetworkDerivation({self.network!r}: delta^L = {self.output_error.delta}, "
            f"sigma' = {self.hidden_derivative}{mode})"
        )


def derive_network(net: Network, *, expanded: bool = False) -> NetworkDerivation:
    r"""Derive the backprop chain of a network.

    .. math::

        \delta^{(L)} = \frac{\partial \ell}{\partial z^{(L)}}, \quad
        \delta^{(l)} = \left(W^{(l+1)}\right)^{\top} \delta^{(l+1)} \odot \sigma'(z^{(l)}),
        \quad \frac{\partial J}{\partial W^{(l)}} = \frac{1}{m} \sum_i \delta^{(l)}_i
        \left(a^{(l-1)}_i\right)^{\top}

    Args:
        net: From :func:`network`.
        expanded: Also write out every weight's derivative (at most :data:`EXPANDED_LIMIT`
            parameters).

    Returns:
        The :class:`NetworkDerivation`.

    Raises:
        ValueError: ``expanded`` for a network with too many parameters.
        symgd.limits.TooComplex: The derivation ran past :data:`symgd.limits.NETWORK_SECONDS`
            (an activation or loss too complex to differentiate and simplify).

    Example:
        >>> from symgd.define.network import network
        >>> d = derive_network(network("2,2,1", activation="sigmoid"), expanded=True)
        >>> d.expanded[0].in_intermediates
        a^{(1)}_{1}*w^{(2)}_{11}*x_{1}*(1 - a^{(1)}_{1})*(a^{(2)}_{1} - y_{1})
    """
    if expanded and net.parameter_count > EXPANDED_LIMIT:
        raise ValueError(
            f"expanded mode writes out every weight and is meant for small networks: "
            f"{net.parameter_count} parameters is more than {EXPANDED_LIMIT}; "
            "drop --expanded to see the layer rules"
        )
    scalar = chains = None
    with limits.deadline(limits.NETWORK_SECONDS, "deriving the network's backprop chain"):
        error = output_error(net.loss, net.output_activation, units=min(net.sizes[-1], 3))
        hidden = net.activation.backward_form
        if expanded:
            scalar = scalar_network(net)
            chains = expand_network(net, scalar, error)
    return NetworkDerivation(net, dense_rules(), hidden, error, scalar, chains)
