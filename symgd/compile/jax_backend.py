r"""The JAX backend of generated code: the same derivations printed as ``jax.numpy``, jitted.

:func:`objective_source_jax` and :func:`network_source_jax` (used by
``compile_objective(..., backend="jax")`` and ``compile_network(..., backend="jax")``, which
return :class:`~symgd.compile.scalar.JaxCompiled` and
:class:`~symgd.compile.network.JaxCompiledNetwork`) print the
same stabilised SymPy expressions as the NumPy compilers, with :class:`JaxPrinter`: symgd's
stable forms become JAX primitives (``jax.nn.sigmoid``, ``jax.nn.softplus``,
``jax.nn.logsumexp``, ``jnp.logaddexp`` …) and piecewise functions ``jnp.where`` chains (JAX
evaluates every branch, but a ``where`` never lets a discarded branch's ``nan`` through, and JAX
does not warn). The source is kept in ``.source``; :func:`load_jax` jit-compiles the loaded
functions.

JAX is optional (``pip install 'symgd[jax]'``) and imported only when this backend is asked for.
Float64 data need ``jax_enable_x64``; :func:`require_jax` sets it for a float64 compilation. The
flag is process-wide but leaves float32 code float32: the generated code creates no arrays of the
default type (its constants are weakly typed Python floats, its arrays follow ``X.dtype``).

Example:
    >>> import sympy
    >>> from symgd.functions import sigmoid, softplus
    >>> z = sympy.Symbol("z", real=True)
    >>> JaxPrinter().doprint(softplus(z) + sigmoid(z) * sigmoid(-z))
    'jax.nn.softplus(z) + _sigmoid_derivative(z)'
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy
import sympy

from symgd.compile.codegen import common_factor, function_source
from symgd.compile.layers import array, elementwise, network_module, output_and_loss
from symgd.compile.loader import load_source
from symgd.compile.numeric import HEAVISIDE_AT_ZERO
from symgd.compile.printer import NetworkPrinter
from symgd.compile.rewrites import stabilize
from symgd.compile.standalone import standalone_module
from symgd.define import OUTPUT, PREACTIVATION, PROBABILITY, TARGET, Activation, Network
from symgd.derivation import Derivation, output_error

#: ``jax`` and ``jax.numpy`` for the helpers below, bound by :func:`require_jax` on first use.
jax: Any = None
jnp: Any = None

#: The one-line fix when JAX is missing.
INSTALL_JAX = "pip install 'symgd[jax]'"


class MissingBackend(ImportError, ValueError):
    """An optional backend is not installed (a ``ValueError`` too, so the CLI prints one line)."""


def require_jax(dtype: type = numpy.float32):
    """Import JAX (once installed), with float64 enabled when ``dtype`` is float64.

    Args:
        dtype: The type the caller computes in.

    Returns:
        The ``jax`` module.

    Raises:
        MissingBackend: JAX is not installed; the message says how to install it.
    """
    try:
        import jax as module
    except ImportError:
        raise MissingBackend(f"the JAX backend needs JAX: {INSTALL_JAX}") from None
    globals().update(jax=module, jnp=module.numpy)  # what the helpers below call
    if numpy.dtype(dtype) == numpy.float64 and not module.config.jax_enable_x64:
        # Without it JAX silently computes float64 inputs in float32.
        module.config.update("jax_enable_x64", True)
    return module


class JaxPrinter(NetworkPrinter):
    """symgd's printer with ``jax.numpy`` (``jnp``) and ``jax.nn`` in place of NumPy and helpers.

    Args:
        heaviside_at_zero: ``H(0)`` where the expression leaves it at SymPy's default.
    """

    def __init__(self, *, heaviside_at_zero: float = HEAVISIDE_AT_ZERO):
        super().__init__(stable=True, heaviside_at_zero=heaviside_at_zero)

    def _module_format(self, fqn: str, register: bool = True) -> str:
        if fqn.startswith("numpy."):
            fqn = "jnp." + fqn.removeprefix("numpy.")
        return super()._module_format(fqn, register)

    def _print_sigmoid(self, expr: sympy.Expr) -> str:
        return f"jax.nn.sigmoid({self._print(expr.args[0])})"

    def _print_softplus(self, expr: sympy.Expr) -> str:
        return f"jax.nn.softplus({self._print(expr.args[0])})"

    def _print_Max(self, expr: sympy.Expr) -> str:
        return self._pairwise("jnp.maximum", expr.args)

    def _print_Min(self, expr: sympy.Expr) -> str:
        return self._pairwise("jnp.minimum", expr.args)

    def _print_Heaviside(self, expr: sympy.Expr) -> str:
        at_zero = self.heaviside_at_zero if len(expr.pargs) == 1 else float(expr.args[1])
        return f"jnp.heaviside({self._print(expr.args[0])}, {at_zero!r})"

    def _print_Piecewise(self, expr: sympy.Piecewise) -> str:
        code = "jnp.nan"
        for value, condition in reversed(expr.args):
            if condition == sympy.true:
                code = self._print(value)
            else:
                code = f"jnp.where({self._print(condition)}, {self._print(value)}, {code})"
        return code


def _sigmoid_derivative(z):
    r"""``σ'(z) = e^{−|z|} / (1 + e^{−|z|})²`` in JAX, one exponential, no overflow."""
    e = jnp.exp(-jnp.abs(z))
    return e / ((1.0 + e) * (1.0 + e))


def _sech(z):
    r"""``sech z = 2 e^{−|z|} / (1 + e^{−2|z|})`` in JAX, no overflow."""
    e = jnp.exp(-jnp.abs(z))
    return 2.0 * e / (1.0 + e * e)


def _logsumexp(*values):
    """``log Σ_j e^{v_j}`` element-wise over the arguments (``jax.nn.logsumexp``)."""
    return jax.nn.logsumexp(jnp.stack(jnp.broadcast_arrays(*values)), axis=0)


def _log_softmax(numerator, denominator):
    """``log(Σ_A e^{a} / Σ_B e^{b})`` as a difference of two ``jax.nn.logsumexp``."""
    return _logsumexp(*numerator) - _logsumexp(*denominator)


#: The helpers JAX code may call, beside ``jnp`` and ``jax.nn``.
JAX_HELPERS = {
    "_sigmoid_derivative": _sigmoid_derivative,
    "_sech": _sech,
    "_logsumexp": _logsumexp,
    "_log_softmax": _log_softmax,
}

_IMPORTS = "import jax\nimport jax.numpy as jnp\n"


def load_jax(source: str, names: Sequence[str]) -> dict:
    """Load JAX source and replace the functions ``names`` by their jitted versions.

    Args:
        source: Generated by :func:`objective_source_jax` or :func:`network_source_jax`.
        names: The functions to jit; the plain Python ones stay as ``<name>_python``.

    Returns:
        The namespace, as :func:`symgd.compile.loader.load_source` gives it.

    Raises:
        MissingBackend: JAX is not installed.
    """
    module = require_jax()
    namespace = load_source(source, {"jax": module, "jnp": module.numpy, **JAX_HELPERS})
    for name in names:
        namespace[f"{name}_python"] = namespace[name]
        namespace[name] = module.jit(namespace[name])
    return namespace


def export_jax(source: str, title: str, path: str | Path | None = None) -> str:
    """The JAX source as a standalone module, with the helpers it calls.

    Args:
        source: The generated source.
        title: What it was generated from, for the module docstring.
        path: Where to write the module (optional).

    Returns:
        The module source.
    """
    helpers = [inspect.getsource(f) for n, f in JAX_HELPERS.items() if f"{n}(" in source]
    if "_log_softmax(" in source and "_logsumexp(" not in source:
        helpers.append(inspect.getsource(_logsumexp))
    return standalone_module(source, title, path, helpers=helpers, needs="JAX")


def objective_source_jax(
    derivation: Derivation, *, heaviside_at_zero: float = HEAVISIDE_AT_ZERO
) -> str:
    r"""The loss and gradient of a derivation as ``jax.numpy`` source.

    .. math:: J = \frac{1}{m} \sum_i \ell_i, \qquad
        \frac{\partial J}{\partial \theta_k} = \frac{1}{m} \sum_i r_i c_{k,i}

    with :math:`r` the factor all gradients share (:func:`~symgd.compile.codegen.common_factor`).

    Args:
        derivation: The result of :func:`symgd.derivation.derive`.
        heaviside_at_zero: ``H(0)`` where the expression leaves it at SymPy's default.

    Returns:
        The source of ``loss``, ``gradient`` and ``loss_and_gradient``, each ``(theta, X)``
        with ``X`` feature-major as in :class:`symgd.compile.Compiled` (JAX is not needed).

    Example:
        >>> from symgd.define import linear_regression
        >>> from symgd.derivation import derive
        >>> print(objective_source_jax(derive(linear_regression())).splitlines()[-2])
            grad = jnp.stack([jnp.sum(r * (x)), jnp.sum(r)]) / m
    """
    objective = derivation.objective
    params, data = objective.params, objective.data
    printer = JaxPrinter(heaviside_at_zero=heaviside_at_zero)
    loss = stabilize(objective.expanded_loss)
    r, rest = common_factor([stabilize(g) for g in derivation.gradient.values()])
    shared, (loss, r, *rest) = sympy.cse(
        [loss, r, *rest], symbols=sympy.numbered_symbols("_t"), optimizations="basic"
    )
    name = printer._print
    lines = [f"{name(p)} = theta[{k}]" for k, p in enumerate(params)]
    lines += [f"{name(d)} = X[{k}]" for k, d in enumerate(data)]
    lines += ["m = X.shape[1]", *(f"{name(s)} = {printer.doprint(e)}" for s, e in shared)]

    varying = set(data)
    for symbol, expr in shared:
        if expr.free_symbols & varying:
            varying.add(symbol)

    def per_example(expr: sympy.Expr) -> str:  # a constant is spread over the m examples
        code = printer.doprint(expr)
        if expr.free_symbols & varying:
            return code
        return f"jnp.full(X.shape[1:], {code}, dtype=X.dtype)"

    m = " / m" if objective.reduction == "mean" else ""
    loss_line = f"loss = jnp.sum({per_example(loss)}){m}"
    parts = ", ".join(
        "jnp.sum(r)" if c == 1 else f"jnp.sum(r * ({printer.doprint(c)}))" for c in rest
    )
    grad_lines = [f"r = {per_example(r)}", f"grad = jnp.stack([{parts}]){m}"]
    if objective.l2:
        loss_line += f" + {objective.l2!r} / 2 * (theta @ theta)"
        grad_lines.append(f"grad = grad + {objective.l2!r} * theta")

    def function(fname: str, body: list[str], returns: str, doc: str) -> str:
        return function_source(f"{fname}(theta, X)", [*lines, *body, f"return {returns}"], doc)

    source = "\n\n".join(
        [
            _IMPORTS,
            function("loss", [loss_line], "loss", "J(theta) on the examples in the columns of X."),
            function("gradient", grad_lines, "grad", "The gradient of J at theta."),
            function(
                "loss_and_gradient",
                [loss_line, *grad_lines],
                "loss, grad",
                "J(theta) and its gradient, sharing the common subexpressions.",
            ),
        ]
    )
    return source


def network_source_jax(net: Network) -> str:
    r"""A network's forward pass, loss and backprop gradient as ``jax.numpy`` source.

    The same backprop chain as :func:`symgd.compile.compile_network`, written functionally
    (JAX arrays are immutable): the gradient blocks are concatenated in ``theta``'s order.

    .. math:: \delta^{(l)} = \left(\delta^{(l+1)} W^{(l+1)}\right) \odot \sigma'(z^{(l)}),
        \quad \nabla_{W^{(l)}} J = \delta^{(l)\top} a^{(l-1)}

    Args:
        net: From :func:`symgd.define.network`.

    Returns:
        The source of ``forward``, ``loss`` and ``loss_and_gradient`` (JAX is not needed).

    Example:
        >>> from symgd.define.network import network
        >>> "gW1 = delta1.T @ X" in network_source_jax(network("2,3,1"))
        True
    """
    printer = JaxPrinter()  # H(0) = 0, as in the NumPy network code and scalar objectives
    L = net.depth
    names = [name for name, _, _ in net.blocks]

    def act_line(layer: int, sigma: Activation) -> str:
        z, a = f"z{layer}", f"a{layer}"
        if sigma.expression == PREACTIVATION:
            return f"{a} = {z}"
        return f"{a} = {elementwise(printer, sigma.expression, {PREACTIVATION: array(z)})}"

    forward, previous = [], "X"
    for layer in range(1, L + 1):
        forward.append(f"z{layer} = {previous} @ W{layer}.T + b{layer}")
        if layer < L:
            forward.append(act_line(layer, net.activation))
            previous = f"a{layer}"
    zL, aL = f"z{L}", f"a{L}"
    symbols = {
        PREACTIVATION: array(zL),
        OUTPUT: array(aL),
        PROBABILITY: array("p"),
        TARGET: array("Y"),
    }
    softmax = [f"log_p = jax.nn.log_softmax({zL}, axis=1)", "p = jnp.exp(log_p)"]
    output, prediction, loss_line = output_and_loss(
        net, printer, "jnp", softmax, lambda: act_line(L, net.output_activation)
    )
    error = output_error(net.loss, net.output_activation)
    backward = [
        f"# output error, derived by SymPy: delta{L} = {error.delta}",
        f"delta{L} = ({elementwise(printer, error.delta, symbols)}) / m",
    ]
    for layer in range(L, 0, -1):
        below = "X" if layer == 1 else f"a{layer - 1}"
        decay = f" + {net.l2!r} * W{layer}" if net.l2 else ""
        backward.append(f"gW{layer} = delta{layer}.T @ {below}{decay}")
        backward.append(f"gb{layer} = jnp.sum(delta{layer}, axis=0)")
        if layer > 1:
            h = layer - 1
            local = elementwise(
                printer,
                net.activation.backward_form,
                {PREACTIVATION: array(f"z{h}"), OUTPUT: array(f"a{h}")},
            )
            backward.append(f"# sigma'(z{h}) = {net.activation.backward_form}")
            backward.append(f"delta{h} = (delta{layer} @ W{layer}) * ({local})")
    blocks = ", ".join(f"g{name}.ravel()" for name in names)
    backward.append(f"grad = jnp.concatenate([{blocks}])")

    header = _IMPORTS + f"\nSIZES = {net.sizes!r}\n"
    source = network_module(header, net.blocks, forward, output, prediction, loss_line, backward)
    return source
