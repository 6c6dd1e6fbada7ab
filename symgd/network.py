r"""Layered networks: define, derive the backprop chain, render it.

A network is a stack of dense layers with an element-wise activation,

.. math::

    z^{(l)} = W^{(l)} a^{(l-1)} + b^{(l)}, \qquad a^{(l)} = \sigma(z^{(l)}),
    \qquad a^{(0)} = x,

and an output loss. Backpropagation is three rules and two element-wise pieces:

* the dense-layer rules :math:`\partial\ell/\partial W = \delta a^\top`,
  :math:`\partial\ell/\partial a = W^\top\delta`, :math:`\partial\ell/\partial b = \delta`,
  derived once in index notation (``Indexed``, ``KroneckerDelta``; see :func:`dense_rules`);
* :math:`\sigma'` of the network's own activation and the output error
  :math:`\delta^{(L)}` of its own loss, derived by SymPy per network
  (:mod:`symgd.activations`, :mod:`symgd.losses`).

SymPy's matrix calculus is not used for layers (it fails through element-wise functions), so
the cost of a derivation does not grow with the width. Small networks (up to
:data:`EXPANDED_LIMIT` weights) can also be *expanded*: every weight's derivative written
through the chain rule as a product of local derivatives, then simplified.

Example:
    >>> net = network("2,2,1", activation="tanh", loss="mse")
    >>> derivation = derive_network(net)
    >>> derivation.output_error.delta
    a - y
    >>> derivation.hidden_derivative
    1 - a**2
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import sympy

from symgd.activations import OUTPUT, PREACTIVATION, Activation, activation
from symgd.derive import LOSS_SYMBOL, lecturer_form
from symgd.losses import TARGET, Loss, OutputError, loss, output_error
from symgd.parse import ParseError
from symgd.render import document, latex, partial

__all__ = [
    "Network",
    "network",
    "parse_layers",
    "DenseRules",
    "dense_rules",
    "WeightChain",
    "NetworkDerivation",
    "derive_network",
    "ScalarNetwork",
    "scalar_network",
    "EXPANDED_LIMIT",
    "network_latex",
    "network_markdown",
    "network_document",
    "network_text",
]

#: Most weights (entries of all W and b) a network may have to be expanded weight by weight.
EXPANDED_LIMIT = 60
#: Most units per layer and layers a network spec may have (a guard against typos).
_MAX_UNITS = 100_000
_MAX_LAYERS = 64


def parse_layers(spec: str | Sequence[int]) -> tuple[int, ...]:
    """Layer sizes from ``"64,32,10"`` or a sequence: input, hidden…, output.

    Raises:
        ParseError: Fewer than two sizes, or a size that is not a positive integer.

    Example:
        >>> parse_layers("2, 3, 1")
        (2, 3, 1)
    """
    if isinstance(spec, str):
        items = [item.strip() for item in spec.split(",")]
        sizes = []
        for position, item in enumerate(items, start=1):
            if not item.isdigit() or not item.isascii():
                raise ParseError(
                    f"layer size {item!r} at item {position} of {spec[:40]!r} is not a positive "
                    "integer; write sizes separated by commas, e.g. '64,32,10'"
                )
            sizes.append(int(item))
    else:
        sizes = list(spec)
        if not all(isinstance(s, int) and not isinstance(s, bool) for s in sizes):
            raise ParseError(f"layer sizes must be integers, got {sizes!r}")
    if len(sizes) < 2:
        raise ParseError(
            f"a network needs at least an input and an output size, got {sizes!r}; e.g. '2,3,1'"
        )
    if len(sizes) > _MAX_LAYERS:
        raise ParseError(f"at most {_MAX_LAYERS} layers, got {len(sizes)}")
    for size in sizes:
        if not 1 <= size <= _MAX_UNITS:
            raise ParseError(f"layer size {size} is out of range; each layer has 1 to {_MAX_UNITS}")
    return tuple(sizes)


@dataclass(frozen=True)
class Network:
    """A layered network: sizes, activations, output loss, optional L2 weight decay.

    Attributes:
        sizes: Units per layer, input first: ``(n0, n1, …, nL)``.
        activation: The hidden layers' activation.
        loss: The output loss.
        output_activation: The output layer's activation for losses on ``a`` (squared
            error); ``None`` for losses on logits, which include their own output function.
        l2: The weight-decay strength ``λ`` on the weights (not the biases), or ``None``.
    """

    sizes: tuple[int, ...]
    activation: Activation
    loss: Loss
    output_activation: Activation | None = None
    l2: float | None = None

    @property
    def depth(self) -> int:
        """The number of dense layers ``L``."""
        return len(self.sizes) - 1

    @property
    def blocks(self) -> tuple[tuple[str, slice, tuple[int, ...]], ...]:
        """``(name, slice, shape)`` of each ``W⁽ˡ⁾`` and ``b⁽ˡ⁾`` in the flat parameter vector.

        Example:
            >>> network("2,3,1").blocks[:2]
            (('W1', slice(0, 6, None), (3, 2)), ('b1', slice(6, 9, None), (3,)))
        """
        blocks, start = [], 0
        for layer in range(1, len(self.sizes)):
            rows, columns = self.sizes[layer], self.sizes[layer - 1]
            blocks.append((f"W{layer}", slice(start, start + rows * columns), (rows, columns)))
            start += rows * columns
            blocks.append((f"b{layer}", slice(start, start + rows), (rows,)))
            start += rows
        return tuple(blocks)

    @property
    def parameter_count(self) -> int:
        """The length of the flat parameter vector."""
        return self.blocks[-1][1].stop

    def __repr__(self) -> str:
        out = f", output {self.output_activation.name}" if self.output_activation else ""
        l2 = f", l2={self.l2}" if self.l2 else ""
        sizes = "-".join(map(str, self.sizes))
        return f"Network({sizes}, {self.activation.name}{out}, {self.loss.name}{l2})"


def network(
    layers: str | Sequence[int],
    *,
    activation: str | sympy.Expr | Activation = "tanh",
    loss: str | Loss = "mse",
    output_activation: str | sympy.Expr | Activation | None = None,
    slope: float | None = None,
    l2: float | None = None,
) -> Network:
    """Define a network from layer sizes, an activation and an output loss.

    Args:
        layers: ``"2,3,1"`` or ``(2, 3, 1)``: input size, hidden sizes, output size.
        activation: Hidden activation: a table name or an expression of one symbol.
        loss: ``"mse"``, ``"bce"`` (on logits) or ``"softmax-cross-entropy"``.
        output_activation: Output activation for ``mse`` (default ``identity``).
        slope: Slope of ``leaky-relu`` on the negative side.
        l2: Weight decay ``λ``: adds ``λ/2 Σ_l ‖W⁽ˡ⁾‖²`` to the objective.

    Returns:
        The :class:`Network`.

    Raises:
        ParseError: A bad layer spec, activation or loss name.
        ValueError: ``l2`` negative, or an output activation given for a loss on logits.

    Example:
        >>> network("64,32,10", activation="relu", loss="softmax-cross-entropy")
        Network(64-32-10, relu, softmax-cross-entropy)
    """
    sizes = parse_layers(layers)
    hidden = _activation(activation, slope)
    loss_ = _loss(loss)
    if loss_.on_logits:
        if output_activation is not None:
            raise ValueError(
                f"the {loss_.name} loss works on the logits z and includes its own output "
                "function; drop the output activation"
            )
        out = None
    else:
        out = _activation(output_activation or "identity", slope)
    if l2 is not None and not (0 <= l2 < float("inf")):
        raise ValueError(f"l2 must be a finite number >= 0, not {l2!r}")
    return Network(sizes, hidden, loss_, out, None if not l2 else float(l2))


def _activation(spec, slope) -> Activation:
    return activation(spec, slope=slope)


def _loss(spec) -> Loss:
    return loss(spec)


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

    def latex(self) -> str:
        r"""The derivation as an ``align*`` block.

        Example:
            >>> print(dense_rules().latex().splitlines()[1])
            {z}_{i} &= {b}_{i} + \sum_{j=1}^{k} {W}_{i,j} {a}_{j} \\
        """
        z = sympy.IndexedBase("z", real=True)[_I]
        ell = latex(LOSS_SYMBOL)
        lines = [f"{latex(z)} &= {latex(self.forward)}"]
        for rule in self.rules:
            lhs = partial(ell, rule.variable)
            lines.append(
                rf"{partial(latex(z), rule.variable)} &= {latex(rule.local)} "
                rf"= {latex(rule.local.doit() if rule.local.has(sympy.Sum) else rule.local)}"
            )
            lines.append(
                rf"{lhs} &= {latex(rule.chain)} = {latex(rule.result)}"
                rf" \quad\Longrightarrow\quad {rule.matrix_form}"
            )
        return "\\begin{align*}\n" + " \\\\\n".join(lines) + "\n\\end{align*}"


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

    def latex_lines(self) -> list[str]:
        """The chain as aligned LaTeX lines: partials, local factors, simplified."""
        ell = latex(LOSS_SYMBOL)

        def name(node: sympy.Symbol) -> str:
            return ell if node == LOSS_SYMBOL else latex(node)

        symbolic = " + ".join(
            " ".join(partial(name(u), v) for u, v in zip(path, path[1:], strict=False))
            for path in self.paths
        )
        factors = " + ".join(
            r" \cdot ".join(_parenthesized(f) for f in local) for local in self.local_derivatives
        )
        lines = [symbolic, factors, latex(self.in_intermediates)]
        unique = list(dict.fromkeys(lines))
        return [f"{partial(ell, self.param)} &= {unique[0]}"] + [f"&= {u}" for u in unique[1:]]


def _parenthesized(expr: sympy.Expr) -> str:
    text = latex(expr)
    return rf"\left({text}\right)" if expr.is_Add else text


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

    def _repr_latex_(self) -> str:
        return "$$" + network_latex(self, environment="aligned") + "$$"

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


# --------------------------------------------------------------------------------------------
# Rendering (LaTeX pieces come from symgd.render; this only lays out the lines).


_DELTA = r"\delta"
_MEAN = r"\frac{1}{m} \sum_{i=1}^{m}"


def _layer(name: str, layer: int | str) -> str:
    return f"{name}^{{({layer})}}"


def _sum_over(term: sympy.Expr, k: sympy.Expr, n: int) -> sympy.Expr:
    """``Σ_{k=1}^{n} term``, or the term itself for one output unit (``k`` is then 1)."""
    return term if n == 1 else sympy.Sum(term, (k, 1, n))


def _definition(sigma: Activation) -> sympy.Expr:
    """The activation written out: ``tanh`` and ``σ`` in exponentials, others as they are."""
    if isinstance(sigma.expression, sympy.Function):
        return sigma.expression.rewrite(sympy.exp)
    return sigma.expression


def _general_lines(derivation: NetworkDerivation) -> list[list[str]]:
    """Layer-level equations in groups: forward, loss, output error, σ', recursion, gradients."""
    net = derivation.network
    L = net.depth
    hidden = net.activation
    forward = [rf"{_layer('a', 0)} &= x"]
    for layer in range(1, L + 1):
        forward.append(
            rf"{_layer('z', layer)} &= {_layer('W', layer)} {_layer('a', layer - 1)} + "
            rf"{_layer('b', layer)}"
        )
        if layer < L:
            forward.append(
                rf"{_layer('a', layer)} &= {hidden.latex_name}\left({_layer('z', layer)}\right)"
            )
    k = sympy.Symbol("k", integer=True)
    if net.sizes[-1] == 1:  # one output unit: index 1 and no sum over k = 1 … 1
        k = sympy.Integer(1)
    y_k = sympy.IndexedBase("y", real=True)[k]
    if net.loss.on_logits:
        p_k = sympy.IndexedBase("p", real=True)[k]
        z_k = sympy.IndexedBase(_layer("z", L), real=True)[k]
        if net.loss.kind == "softmax":
            forward.append(
                rf"{latex(p_k)} &= \frac{{e^{{{latex(z_k)}}}}}"
                rf"{{\sum_{{j}} e^{{z^{{({L})}}_{{j}}}}}}"
            )
            ell = -_sum_over(y_k * sympy.log(p_k), k, net.sizes[-1])
        else:
            forward.append(
                rf"{latex(p_k)} &= {latex(net.loss.prediction.xreplace({PREACTIVATION: z_k}))}"
            )
            unit = net.loss.unit.xreplace({PREACTIVATION: z_k, TARGET: y_k})
            ell = _sum_over(unit, k, net.sizes[-1])
    else:
        out = net.output_activation
        forward.append(rf"{_layer('a', L)} &= {out.latex_name}\left({_layer('z', L)}\right)")
        a_k = sympy.IndexedBase(_layer("a", L), real=True)[k]
        ell = _sum_over(net.loss.unit.xreplace({OUTPUT: a_k, TARGET: y_k}), k, net.sizes[-1])
    objective = [rf"{latex(LOSS_SYMBOL)} &= {latex(ell)}"]
    total = r"J &= \frac{1}{m} \sum_{i=1}^{m} \ell_{i}"
    if net.l2:
        total += (
            r" + \frac{\lambda}{2} \sum_{l=1}^{"
            + str(L)
            + r"} \left\lVert W^{(l)} \right\rVert^{2}"
        )
        objective.append(rf"\lambda &= {net.l2:g}")
    objective.insert(1, total)

    error = derivation.output_error
    delta_L = _layer(_DELTA, L)
    out_lines = [
        rf"{delta_L} = {partial(latex(LOSS_SYMBOL), sympy.Symbol(_layer('z', L)))} "
        rf"&= {latex(error.steps[0][1])}"
    ]
    out_lines += [f"&= {latex(expr)}" for _, expr in error.steps[1:]]
    out_lines = list(dict.fromkeys(out_lines))
    z, a = PREACTIVATION, OUTPUT
    sigma_lines = [
        rf"{hidden.latex_name}\left({latex(z)}\right) &= {latex(_definition(hidden))}",
        rf"{hidden.latex_name}'\left({latex(z)}\right) &= {latex(hidden.derivative)}",
    ]
    if hidden.derivative_in_output is not None and hidden.derivative_in_output != hidden.derivative:
        sigma_lines.append(
            rf"&= {latex(hidden.derivative_in_output)} \quad (a = {hidden.latex_name}(z))"
        )
    recursion = []
    for layer in range(L - 1, 0, -1):
        local = hidden.backward_form.xreplace(
            {
                z: sympy.Symbol(_layer("z", layer), real=True),
                a: sympy.Symbol(_layer("a", layer), real=True),
            }
        )
        recursion.append(
            rf"{_layer(_DELTA, layer)} &= \left({_layer('W', layer + 1)}\right)^{{\top}} "
            rf"{_layer(_DELTA, layer + 1)} \odot "
            rf"{hidden.latex_name}'\left({_layer('z', layer)}\right)"
            rf" = \left({_layer('W', layer + 1)}\right)^{{\top}} {_layer(_DELTA, layer + 1)} \odot "
            rf"\left({latex(local)}\right)"
        )
    gradients = []
    for layer in range(1, L + 1):
        decay = rf" + \lambda {_layer('W', layer)}" if net.l2 else ""
        gradients.append(
            rf"\frac{{\partial J}}{{\partial {_layer('W', layer)}}} &= {_MEAN} "
            rf"{_layer(_DELTA, layer)}_{{i}} "
            rf"\left({_layer('a', layer - 1)}_{{i}}\right)^{{\top}}{decay}"
        )
        gradients.append(
            rf"\frac{{\partial J}}{{\partial {_layer('b', layer)}}} &= {_MEAN} "
            rf"{_layer(_DELTA, layer)}_{{i}}"
        )
    return [forward, objective, out_lines, sigma_lines, recursion, gradients]


_TITLES = (
    "Forward pass",
    "Loss and objective",
    "Output error (derived by SymPy)",
    "Activation derivative (derived by SymPy)",
    "Backward recursion",
    "Parameter gradients",
)


def network_latex(derivation: NetworkDerivation, *, environment: str = "align*") -> str:
    """The backprop chain as one LaTeX ``align*`` (or ``aligned``) block.

    Example:
        >>> text = network_latex(derive_network(network("2,3,1")))
        >>> text.splitlines()[0], r"\\odot" in text
        ('\\\\begin{align*}', True)
    """
    lines = [line for group in _general_lines(derivation) for line in group]
    if derivation.expanded:
        lines += [line for chain in derivation.expanded for line in chain.latex_lines()]
    return f"\\begin{{{environment}}}\n" + " \\\\\n".join(lines) + f"\n\\end{{{environment}}}"


def _aligned(lines: Sequence[str], environment: str) -> str:
    return f"\\begin{{{environment}}}\n" + " \\\\\n".join(lines) + f"\n\\end{{{environment}}}"


def network_markdown(derivation: NetworkDerivation, *, title: str | None = None) -> str:
    """The backprop chain as Markdown with ``$$`` math, one section per group.

    Example:
        >>> network_markdown(derive_network(network("2,2,1"))).startswith("**Forward pass**")
        True
    """
    parts = [f"# {title}\n"] if title else []
    for heading, lines in zip(_TITLES, _general_lines(derivation), strict=True):
        if lines:
            parts.append(f"**{heading}**\n")
            parts.append("$$\n" + _aligned(lines, "aligned") + "\n$$\n")
    parts.append("**Dense-layer rules (index notation)**\n")
    parts.append("$$\n" + derivation.rules.latex().replace("align*", "aligned") + "\n$$\n")
    if derivation.expanded:
        parts.append("**Every weight through the chain rule**\n")
        for chain in derivation.expanded:
            parts.append("$$\n" + _aligned(chain.latex_lines(), "aligned") + "\n$$\n")
    return "\n".join(parts)


def network_document(derivation: NetworkDerivation, *, title: str | None = None) -> str:
    """A standalone ``.tex`` document (compiles with ``pdflatex``).

    Example:
        >>> network_document(derive_network(network("2,2,1"))).startswith("\\\\documentclass")
        True
    """
    net = derivation.network
    title = title or f"Backpropagation in a {'-'.join(map(str, net.sizes))} network"
    sections = []
    for heading, lines in zip(_TITLES, _general_lines(derivation), strict=True):
        if lines:
            sections += [f"\\section*{{{heading}}}", _aligned(lines, "align*")]
    sections += ["\\section*{Dense-layer rules in index notation}", derivation.rules.latex()]
    if derivation.expanded:
        sections.append("\\section*{Every weight through the chain rule}")
        sections += [_aligned(chain.latex_lines(), "align*") for chain in derivation.expanded]
    return document("\n".join(sections), title=title)


def _plain(expr: sympy.Expr) -> str:
    """Plain text of an expression in LaTeX-named symbols: ``w^{(1)}_{12}`` -> ``w1_12``."""
    names = {
        s: sympy.Symbol(
            s.name.replace("^{(", "").replace(")}", "").replace("_{", "_").replace("}", "")
        )
        for s in expr.free_symbols
        if isinstance(s, sympy.Symbol)
    }
    return str(expr.xreplace(names))


def network_text(derivation: NetworkDerivation) -> str:
    """A plain-text summary of the backprop chain.

    Example:
        >>> print(network_text(derive_network(network("2,3,1"))).splitlines()[0])
        network 2-3-1: hidden tanh, loss mse, output identity
    """
    net = derivation.network
    L = net.depth
    out = f", output {net.output_activation.name}" if net.output_activation else ""
    lines = [
        f"network {'-'.join(map(str, net.sizes))}: hidden {net.activation.name}, "
        f"loss {net.loss.name}{out}",
        "forward: z(l) = W(l) a(l-1) + b(l), a(l) = sigma(z(l)), a(0) = x",
        f"sigma(z) = {_definition(net.activation)}",
        f"sigma'(z) = {net.activation.derivative}"
        + (
            f" = {net.activation.derivative_in_output} (in a = sigma(z))"
            if net.activation.derivative_in_output is not None
            else ""
        ),
        f"output error: delta({L}) = dl/dz({L}) = {derivation.output_error.delta}",
    ]
    for layer in range(L - 1, 0, -1):
        lines.append(f"delta({layer}) = W({layer + 1})^T delta({layer + 1}) * sigma'(z({layer}))")
    decay = f" + {net.l2:g} W(l)" if net.l2 else ""
    lines.append(
        f"dJ/dW(l) = 1/m Sum_i delta(l)_i a(l-1)_i^T{decay};  dJ/db(l) = 1/m Sum_i delta(l)_i"
    )
    if derivation.expanded:
        for chain in derivation.expanded:
            factors = " + ".join(
                " * ".join(f"({_plain(f)})" if f.is_Add else _plain(f) for f in local)
                for local in chain.local_derivatives
            )
            simplified = _plain(chain.in_intermediates)
            tail = f" = {simplified}" if simplified != factors else ""
            lines.append(f"dl/d{_plain(chain.param)} = {factors}{tail}")
    return "\n".join(lines)
