r"""Stage 2, derive: the backprop chain of a layered network.

Backpropagation is three rules and two element-wise pieces:

* the dense-layer rules :math:`\partial\ell/\partial W = \delta a^\top`,
  :math:`\partial\ell/\partial a = W^\top\delta`, :math:`\partial\ell/\partial b = \delta`,
  derived once in index notation (``Indexed``, ``KroneckerDelta``; see :func:`dense_rules`);
* :math:`\sigma'` of the network's own activation and the output error
  :math:`\delta^{(L)}` of its own loss, derived by SymPy per network
  (:mod:`symgd.define.activations`, :mod:`symgd.derive.output_error`).

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

from symgd.define.activations import OUTPUT, PREACTIVATION, Activation
from symgd.define.losses import TARGET
from symgd.define.network import Network
from symgd.derive.output_error import OutputError, output_error
from symgd.derive.scalar import LOSS_SYMBOL, lecturer_form
from symgd.display import display_latex

__all__ = [
    "DenseRule",
    "DenseRules",
    "dense_rules",
    "WeightChain",
    "NetworkDerivation",
    "derive_network",
    "ScalarNetwork",
    "scalar_network",
    "layer_rule_gradient",
    "EXPANDED_LIMIT",
]

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
            r"\frac{\partial \ell}{\partial W} = \delta a^{\top}",
        ),
        a[_Q]: (
            sympy.Sum(W[_I, _Q] * delta[_I], (_I, 1, _N_OUT)),
            r"\frac{\partial \ell}{\partial a} = W^{\top} \delta",
        ),
        b[_P_INDEX]: (delta[_P_INDEX], r"\frac{\partial \ell}{\partial b} = \delta"),
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


# --------------------------------------------------------------------------------------------
# Scalar expansion for small networks.


@dataclass(frozen=True)
class ScalarNetwork:
    """A small network written out with one real symbol per input, weight, unit and target.

    Attributes:
        inputs: ``x_1 … x_{n0}``.
        targets: ``y_1 … y_{nL}``.
        weights: Per layer, the matrix of weight symbols ``w^{(l)}_{ij}`` (``weights[l - 1]``).
        biases: Per layer, the bias symbols ``b^{(l)}_i`` (``biases[l - 1]``).
        pre: Per layer, the pre-activation symbols ``z^{(l)}_i`` (``pre[0]`` is empty).
        post: Per layer, the activation symbols ``a^{(l)}_i`` (``a^{(0)} = x``).
        probabilities: ``p_k`` of the output units (losses on logits), else empty.
        definitions: Each unit symbol mapped to its defining expression, in order.
        loss: ``ℓ`` in the output symbols (``a^{(L)}`` or ``z^{(L)}`` and ``p``).
        constraint: What the targets satisfy (one-hot targets sum to one), as a substitution.
    """

    inputs: tuple[sympy.Symbol, ...]
    targets: tuple[sympy.Symbol, ...]
    weights: tuple[tuple[tuple[sympy.Symbol, ...], ...], ...]
    biases: tuple[tuple[sympy.Symbol, ...], ...]
    pre: tuple[tuple[sympy.Symbol, ...], ...]
    post: tuple[tuple[sympy.Symbol, ...], ...]
    probabilities: tuple[sympy.Symbol, ...]
    definitions: tuple[tuple[sympy.Symbol, sympy.Expr], ...]
    loss: sympy.Expr
    constraint: dict

    @property
    def params(self) -> tuple[sympy.Symbol, ...]:
        """Every weight and bias, in the order of the flat parameter vector (W1, b1, W2 …)."""
        ordered = []
        for rows, biases in zip(self.weights, self.biases, strict=True):
            ordered += [w for row in rows for w in row]
            ordered += list(biases)
        return tuple(ordered)

    @functools.cached_property
    def substitutions(self) -> dict[sympy.Symbol, sympy.Expr]:
        """Each unit symbol mapped to its expression in inputs and parameters only."""
        resolved: dict[sympy.Symbol, sympy.Expr] = {}
        for name, definition in self.definitions:
            resolved[name] = definition.xreplace(resolved)
        return resolved

    @property
    def expanded_loss(self) -> sympy.Expr:
        """``ℓ`` as one expression of inputs, targets and parameters."""
        return self.loss.xreplace(self.substitutions)


def _scalar(name: str) -> sympy.Symbol:
    # Internal symbols named in LaTeX (w^{(1)}_{12}); SymPy prints names with braces verbatim.
    return sympy.Symbol(name, real=True)


def _pair(i: int, j: int, wide: bool) -> str:
    return f"{i},{j}" if wide else f"{i}{j}"


def scalar_network(net: Network) -> ScalarNetwork:
    r"""Write a network out with one symbol per weight and unit (lecture-notes style).

    Args:
        net: The network (any size, but meant for small ones).

    Returns:
        The :class:`ScalarNetwork`.

    Example:
        >>> from symgd.define.network import network
        >>> small = scalar_network(network("2,2,1"))
        >>> small.definitions[0]
        (z^{(1)}_{1}, b^{(1)}_{1} + w^{(1)}_{11}*x_{1} + w^{(1)}_{12}*x_{2})
    """
    wide = max(net.sizes) > 9
    inputs = tuple(_scalar(f"x_{{{j}}}") for j in range(1, net.sizes[0] + 1))
    targets = tuple(_scalar(f"y_{{{k}}}") for k in range(1, net.sizes[-1] + 1))
    weights, biases, pre, post = [], [], [()], [inputs]
    definitions: list[tuple[sympy.Symbol, sympy.Expr]] = []
    for layer in range(1, len(net.sizes)):
        rows, columns = net.sizes[layer], net.sizes[layer - 1]
        W = tuple(
            tuple(
                _scalar(f"w^{{({layer})}}_{{{_pair(i, j, wide)}}}") for j in range(1, columns + 1)
            )
            for i in range(1, rows + 1)
        )
        b = tuple(_scalar(f"b^{{({layer})}}_{{{i}}}") for i in range(1, rows + 1))
        z = tuple(_scalar(f"z^{{({layer})}}_{{{i}}}") for i in range(1, rows + 1))
        last = layer == net.depth
        sigma = net.output_activation if last else net.activation
        a = (
            tuple(_scalar(f"a^{{({layer})}}_{{{i}}}") for i in range(1, rows + 1))
            if sigma is not None
            else ()
        )
        for i in range(rows):
            definitions.append(
                (z[i], sympy.Add(*(W[i][j] * post[-1][j] for j in range(columns)), b[i]))
            )
        for i in range(len(a)):
            definitions.append((a[i], sigma(z[i])))
        weights.append(W)
        biases.append(b)
        pre.append(z)
        post.append(a)
    probabilities: tuple[sympy.Symbol, ...] = ()
    outputs = pre[-1] if net.loss.on_logits else post[-1]
    if net.loss.on_logits:
        probabilities = tuple(_scalar(f"p_{{{k}}}") for k in range(1, net.sizes[-1] + 1))
        total = sympy.Add(*(sympy.exp(z) for z in pre[-1]))
        for k, z in enumerate(pre[-1]):
            prediction = (
                sympy.exp(z) / total
                if net.loss.kind == "softmax"
                else net.loss.prediction.xreplace({PREACTIVATION: z})
            )
            definitions.append((probabilities[k], prediction))
    return ScalarNetwork(
        inputs=inputs,
        targets=targets,
        weights=tuple(weights),
        biases=tuple(biases),
        pre=tuple(pre),
        post=tuple(post),
        probabilities=probabilities,
        definitions=tuple(definitions),
        loss=net.loss.scalar(outputs, targets),
        constraint=net.loss.constraint(targets),
    )


@dataclass(frozen=True)
class WeightChain:
    r"""The chain rule for one weight of an expanded network.

    .. math:: \frac{\partial \ell}{\partial w} = \sum_{\text{paths}} \prod
        \frac{\partial u_{k+1}}{\partial u_k}

    Attributes:
        param: The weight (or bias) symbol.
        paths: Each path of nodes from ``ℓ`` down to the weight.
        local_derivatives: For each path the local derivative of each link, in the units'
            own symbols (``1 − (a^{(1)}_1)^2``, ``w^{(2)}_{11}``, ``p_1 − y_1`` …).
        in_intermediates: The sum of the products, simplified.
    """

    param: sympy.Symbol
    paths: tuple[tuple[sympy.Symbol, ...], ...]
    local_derivatives: tuple[tuple[sympy.Expr, ...], ...]
    in_intermediates: sympy.Expr

    @property
    def product(self) -> sympy.Expr:
        """The sum over paths of the products of local derivatives, as the layer rules give it."""
        return sympy.Add(*(sympy.Mul(*factors) for factors in self.local_derivatives))


def _expand(net: Network, scalar: ScalarNetwork, error: OutputError) -> tuple[WeightChain, ...]:
    """Every weight's chain, from the layer structure (δ recursion written per unit)."""
    L = net.depth
    # Paths and factors from ℓ down to each pre-activation z^{(l)}_i.
    to_pre: dict[sympy.Symbol, list[tuple[tuple, tuple]]] = {}
    for k, z in enumerate(scalar.pre[L]):
        y = scalar.targets[k]
        if net.loss.on_logits:
            p = scalar.probabilities[k]
            to_pre[z] = [((LOSS_SYMBOL, z), (error.at(z, z, p, y),))]
        else:
            a = scalar.post[L][k]
            by_output = sympy.diff(net.loss.unit, OUTPUT).xreplace({OUTPUT: a, TARGET: y})
            local = _local_activation(net.output_activation, z, a)
            to_pre[z] = [((LOSS_SYMBOL, a, z), (by_output, local))]
    for layer in range(L - 1, 0, -1):
        for i, z in enumerate(scalar.pre[layer]):
            a = scalar.post[layer][i]
            local = _local_activation(net.activation, z, a)
            to_pre[z] = [
                (path + (a, z), factors + (scalar.weights[layer][k][i], local))
                for k, upper in enumerate(scalar.pre[layer + 1])
                for path, factors in to_pre[upper]
            ]
    chains = []
    for layer in range(1, L + 1):
        below = scalar.post[layer - 1]
        for i, z in enumerate(scalar.pre[layer]):
            targets = [(w, below[j]) for j, w in enumerate(scalar.weights[layer - 1][i])]
            targets.append((scalar.biases[layer - 1][i], sympy.Integer(1)))
            for param, local in targets:
                paths = tuple(path + (param,) for path, _ in to_pre[z])
                factors = tuple(f + (local,) for _, f in to_pre[z])
                total = sympy.Add(*(sympy.Mul(*f) for f in factors))
                chains.append(WeightChain(param, paths, factors, lecturer_form(total)))
    order = {p: n for n, p in enumerate(scalar.params)}
    return tuple(sorted(chains, key=lambda c: order[c.param]))


def _local_activation(sigma: Activation, z: sympy.Symbol, a: sympy.Symbol) -> sympy.Expr:
    """``∂a/∂z`` of one unit, in its output ``a`` where the activation allows."""
    in_output = sigma.derivative_in_output
    if in_output is not None:
        return in_output.xreplace({OUTPUT: a})
    return sigma.derivative_at(z)


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

    Example:
        >>> from symgd.define.network import network
        >>> d = derive_network(network("2,2,1", activation="sigmoid"), expanded=True)
        >>> d.expanded[0].in_intermediates
        a^{(1)}_{1}*w^{(2)}_{11}*x_{1}*(1 - a^{(1)}_{1})*(a^{(2)}_{1} - y_{1})
    """
    error = output_error(net.loss, net.output_activation)
    hidden = net.activation.backward_form
    scalar = chains = None
    if expanded:
        if net.parameter_count > EXPANDED_LIMIT:
            raise ValueError(
                f"expanded mode writes out every weight and is meant for small networks: "
                f"{net.parameter_count} parameters is more than {EXPANDED_LIMIT}; "
                "drop --expanded to see the layer rules"
            )
        scalar = scalar_network(net)
        chains = _expand(net, scalar, error)
    return NetworkDerivation(net, dense_rules(), hidden, error, scalar, chains)
