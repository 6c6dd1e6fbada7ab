r"""Stage 2, derive: a small network written out weight by weight (lecture-notes style).

:func:`scalar_network` gives every input, weight, unit and target of a network its own real
symbol; :func:`expand_network` then writes each weight's derivative through the chain rule
as a sum over paths of products of local derivatives, with the same path code as scalar
objectives (:func:`symgd.derivation.scalar.chain_rule`). Meant for the few dozen weights of a
lecture example (:data:`symgd.derivation.network.EXPANDED_LIMIT`); larger networks use the layer
rules, whose cost does not grow with the width.

Example:
    >>> from symgd.define import network
    >>> from symgd.derivation import output_error
    >>> net = network("1,1,1", activation="tanh", loss="mse")
    >>> chains = expand_network(net, scalar_network(net), output_error(net.loss))
    >>> chains[0].paths[0]
    (ell, a^{(2)}_{1}, z^{(2)}_{1}, a^{(1)}_{1}, z^{(1)}_{1}, w^{(1)}_{11})
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sympy

from symgd.define import OUTPUT, PREACTIVATION, TARGET, Activation, Network, resolve_definitions
from symgd.derivation.output_error import OutputError
from symgd.derivation.scalar import LOSS_SYMBOL, chain_rule, local_derivative, sum_of_products


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
        return resolve_definitions(self.definitions)

    @property
    def expanded_loss(self) -> sympy.Expr:
        """``ℓ`` as one expression of inputs, targets and parameters."""
        return self.loss.xreplace(self.substitutions)

    @property
    def given(self) -> tuple[tuple[sympy.Symbol, sympy.Expr], ...]:
        """What a chain in the units' symbols assumes: their definitions, then the targets'."""
        return (*self.substitutions.items(), *self.constraint.items())

    def by_definitions(self, paths: tuple[tuple[sympy.Symbol, ...], ...]) -> sympy.Expr:
        r""":math:`\sum_{\text{paths}} \prod \partial u/\partial v`, each link differentiated
        from ``u``'s definition (``ℓ``'s for the first), in the units' symbols.

        Example:
            >>> from symgd.define.network import network
            >>> small = scalar_network(network("1,1,1", loss="mse"))
            >>> path = (LOSS_SYMBOL, *small.post[2], *small.pre[2], *small.biases[1])
            >>> small.by_definitions((path,))
            a^{(2)}_{1} - y_{1}
        """
        definitions = {**dict(self.definitions), LOSS_SYMBOL: self.loss}
        return sympy.Add(
            *(
                sympy.Mul(*(sympy.diff(definitions[u], v) for u, v in zip(p, p[1:], strict=False)))
                for p in paths
            )
        )


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
        return sum_of_products(self.local_derivatives)


def expand_network(
    net: Network, scalar: ScalarNetwork, error: OutputError
) -> tuple[WeightChain, ...]:
    r"""Every weight's chain, through the path code of scalar objectives.

    The graph runs from ``ℓ`` through the output units (``a`` then ``z``, or ``z`` alone on
    logits) down through each layer; the links from ``ℓ`` and from ``a`` to ``z`` take the
    derived output error and :math:`\sigma'` in the units' own symbols, every other link
    (``∂z/∂a = w``, ``∂z/∂w = a``, ``∂z/∂b = 1``) is differentiated from its definition.

    Args:
        net: The network.
        scalar: The network written out, from :func:`scalar_network`.
        error: The derived output error of the network's loss.

    Returns:
        One :class:`WeightChain` per weight and bias, in the order of ``scalar.params``.

    Example:
        >>> from symgd.define import network
        >>> from symgd.derivation import output_error
        >>> net = network("1,1,1", activation="sigmoid", loss="mse")
        >>> chain = expand_network(net, scalar_network(net), output_error(net.loss))[-1]
        >>> chain.param, chain.local_derivatives
        (b^{(2)}_{1}, ((a^{(2)}_{1} - y_{1}, 1, 1),))
    """
    L = net.depth
    children: dict[sympy.Symbol, tuple[sympy.Symbol, ...]] = {}
    known: dict[tuple[sympy.Symbol, sympy.Symbol], sympy.Expr] = {}
    for layer in range(1, L + 1):
        sigma = net.activation if layer < L else net.output_activation
        for z, a in zip(scalar.pre[layer], scalar.post[layer], strict=False):
            children[a] = (z,)
            known[a, z] = _local_activation(sigma, z, a)
        for i, z in enumerate(scalar.pre[layer]):
            children[z] = (
                *scalar.post[layer - 1],
                *scalar.weights[layer - 1][i],
                scalar.biases[layer - 1][i],
            )
    outputs = scalar.pre[L] if net.loss.on_logits else scalar.post[L]
    children[LOSS_SYMBOL] = outputs
    for k, unit in enumerate(outputs):
        y = scalar.targets[k]
        if net.loss.on_logits:
            known[LOSS_SYMBOL, unit] = error.at(unit, unit, scalar.probabilities[k], y)
        else:
            by_output = sympy.diff(net.loss.unit, OUTPUT)
            known[LOSS_SYMBOL, unit] = by_output.xreplace({OUTPUT: unit, TARGET: y})
    definitions = dict(scalar.definitions)

    def local(node: sympy.Symbol, child: sympy.Symbol) -> sympy.Expr:
        if (node, child) not in known:
            known[node, child] = local_derivative(node, child, definitions)
        return known[node, child]

    return tuple(WeightChain(p, *chain_rule(p, children, local)) for p in scalar.params)


def _local_activation(sigma: Activation, z: sympy.Symbol, a: sympy.Symbol) -> sympy.Expr:
    """``∂a/∂z`` of one unit, in its output ``a`` where the activation allows."""
    in_output = sigma.derivative_in_output
    if in_output is not None:
        return in_output.xreplace({OUTPUT: a})
    return sigma.derivative_at(z)
