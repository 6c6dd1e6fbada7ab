"""Stage 4, compile: a derivation becomes vectorised NumPy code you can read.

The generated function takes the parameters as a vector ``theta`` and the data as
a matrix ``X`` with one row per data symbol and one column per example
(feature-major, so each data symbol is a contiguous row). Three choices make it
as fast as hand-written NumPy (measured in ``benchmarks/``):

* common subexpressions are shared (``sympy.cse``), as ``lambdify(cse=True)`` does;
* a linear combination of many data rows (``w1 x1 + … + wd xd``) is one BLAS
  matrix-vector product;
* the factor every gradient shares (the residual ``ŷ − y`` or ``p − y``) is
  computed once and reduced against the data rows with one BLAS product,
  ``∂J/∂w = X r / m``, instead of one pass per parameter.

Before printing, :func:`symgd.compile.rewrites.stabilize` rewrites overflow-prone forms.

Example:
    >>> import numpy
    >>> from symgd.define.objective import linear_regression
    >>> from symgd.derivation.scalar import derive
    >>> compiled = compile_objective(derive(linear_regression()))
    >>> data = {"x": numpy.array([0.0, 1.0, 2.0]), "y": numpy.array([1.0, 3.0, 5.0])}
    >>> compiled.gradient({"w": 2.0, "b": 1.0}, data)
    {'w': 0.0, 'b': 0.0}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy
import sympy

from symgd import limits
from symgd.compile.codegen import (
    Codegen,
    blas_gradient_lines,
    check_dtype,
    common_factor,
    function_source,
    in_dependency_order,
    softplus_and_sigmoid,
)
from symgd.compile.jax_backend import export_jax, load_jax, objective_source_jax, require_jax
from symgd.compile.loader import generated, load_source
from symgd.compile.numeric import HEAVISIDE_AT_ZERO
from symgd.compile.printer import Printer
from symgd.compile.rewrites import stabilize
from symgd.derivation import Derivation
from symgd.functions import sigmoid, softplus


@dataclass(frozen=True)
class Compiled:
    """Loss and gradient of an objective as NumPy functions.

    Attributes:
        params: Parameter names, the order of ``theta``.
        data: Data symbol names, the order of the rows of ``X``.
        source: The generated Python source (readable, needs only NumPy).
        dtype: The floating-point type of the computation.
    """

    params: tuple[str, ...]
    data: tuple[str, ...]
    source: str
    dtype: type = numpy.float64
    _namespace: dict = field(repr=False, compare=False, default_factory=dict)

    loss_and_gradient = generated(
        "loss_and_gradient", "``(theta, X) -> (loss, gradient)`` on prepared data."
    )
    loss_function = generated("loss", "``(theta, X) -> loss`` on prepared data.")
    gradient_function = generated("gradient", "``(theta, X) -> gradient vector`` on prepared data.")

    def prepare(self, data: Mapping[str, Sequence[float] | numpy.ndarray]) -> numpy.ndarray:
        """Stack the data columns into the feature-major matrix ``X``.

        Args:
            data: One array per data symbol, all of the same length ``m``.

        Returns:
            A contiguous array of shape ``(len(self.data), m)``.

        Raises:
            ValueError: A data symbol is missing or the lengths differ.
        """
        missing = [name for name in self.data if name not in data]
        if missing:
            raise ValueError(f"no data for symbol {missing[0]!r} (have: {', '.join(data)})")
        columns = [numpy.asarray(data[name], dtype=self.dtype).reshape(-1) for name in self.data]
        lengths = {len(c) for c in columns}
        if len(lengths) > 1:
            raise ValueError(f"data columns differ in length: {sorted(lengths)}")
        if not columns:
            return numpy.empty((0, 1), dtype=self.dtype)
        if lengths == {0}:
            raise ValueError("the data has no examples")
        return numpy.ascontiguousarray(numpy.stack(columns))

    def theta(self, params: Mapping[str, float] | Sequence[float] | numpy.ndarray) -> numpy.ndarray:
        """The parameter vector from a mapping ``{name: value}`` or a sequence."""
        if isinstance(params, Mapping):
            missing = [name for name in self.params if name not in params]
            if missing:
                raise ValueError(f"no value for parameter {missing[0]!r}")
            params = [params[name] for name in self.params]
        theta = numpy.asarray(params, dtype=self.dtype).reshape(-1)
        if theta.shape != (len(self.params),):
            raise ValueError(f"expected {len(self.params)} parameter values, got {theta.size}")
        return theta

    def loss(self, params: Mapping[str, float] | numpy.ndarray, data: Mapping) -> float:
        """``J(θ)`` on the given data."""
        return float(self.loss_function(self.theta(params), self.prepare(data)))

    def gradient(self, params: Mapping[str, float] | numpy.ndarray, data: Mapping) -> dict:
        """``∇J(θ)`` on the given data, as ``{name: value}``."""
        values = self.gradient_function(self.theta(params), self.prepare(data))
        return {name: float(v) for name, v in zip(self.params, values, strict=True)}

    def __repr__(self) -> str:
        return f"Compiled(params={self.params}, data={self.data}, dtype={self.dtype.__name__})"


@dataclass(frozen=True)
class JaxCompiled(Compiled):
    """:class:`Compiled` with jitted JAX functions (same methods and shapes; results convert
    with ``numpy.asarray``); from ``compile_objective(..., backend="jax")``."""

    backend: str = "jax"

    def export(self, path: str | Path | None = None) -> str:
        """The generated code as a standalone module that needs only JAX."""
        return export_jax(self.source, repr(self), path)

    def __repr__(self) -> str:
        return f"JaxCompiled(params={self.params}, data={self.data}, dtype={self.dtype.__name__})"


def compile_objective(
    derivation: Derivation,
    *,
    dtype: type = numpy.float64,
    stable: bool = True,
    heaviside_at_zero: float = HEAVISIDE_AT_ZERO,
    backend: str = "numpy",
) -> Compiled:
    """Compile the loss and gradient of a derivation into NumPy functions.

    The derivation keeps the textbook form for display; the compiled ``source`` shows
    the stable form (:func:`symgd.compile.rewrites.stabilize`): ``numpy.logaddexp(0, z)`` for
    ``log(1 + e^z)``, ``_sigmoid`` for ``σ``, piecewise branches evaluated only where
    selected.

    Args:
        derivation: The result of :func:`symgd.derivation.derive`.
        dtype: ``numpy.float64`` (default) or ``numpy.float32``; the generated code keeps
            the data's type (its constants are plain Python floats).
        stable: Rewrite overflow-prone forms first (turn off to show why naive code overflows).
        heaviside_at_zero: ``H(0)``, hence ReLU'(0), where the expression leaves it at
            SymPy's default (see :data:`symgd.compile.numeric.HEAVISIDE_AT_ZERO`).
        backend: ``"numpy"``, or ``"jax"`` for jitted ``jax.numpy`` code with the same
            interface (:func:`symgd.compile.jax_backend.compile_objective_jax`; stable forms
            always).

    Returns:
        A :class:`Compiled` whose ``source`` is the generated code.

    Raises:
        ValueError: ``dtype`` is neither float64 nor float32, or an unknown ``backend``
            (or JAX is not installed for ``"jax"``).
        symgd.limits.TooComplex: Compiling took longer than :data:`symgd.limits.COMPILE_SECONDS`.
    """
    dtype = check_dtype(dtype)
    if backend == "jax":
        require_jax(dtype)  # before compiling: a missing JAX fails at once
        with limits.deadline(limits.COMPILE_SECONDS, "compiling the gradient to JAX"):
            source = objective_source_jax(derivation, heaviside_at_zero=heaviside_at_zero)
        params, data = derivation.objective.params, derivation.objective.data
        namespace = load_jax(source, ("loss", "gradient", "loss_and_gradient"))
        names = (tuple(p.name for p in params), tuple(d.name for d in data))
        return JaxCompiled(*names, source, dtype, namespace)
    if backend != "numpy":
        raise ValueError(f"unknown backend {backend!r}; known: numpy, jax")
    with limits.deadline(limits.COMPILE_SECONDS, "compiling the gradient to NumPy"):
        return _compile_objective(derivation, dtype, stable, heaviside_at_zero)


def _compile_objective(
    derivation: Derivation, dtype: type, stable: bool, heaviside_at_zero: float
) -> Compiled:
    objective = derivation.objective
    params, data = objective.params, objective.data
    gen = Codegen(params, data, Printer(stable=stable, heaviside_at_zero=heaviside_at_zero))
    prepare = stabilize if stable else (lambda e: e)
    loss = prepare(objective.expanded_loss)
    r, rest = common_factor([prepare(g) for g in derivation.gradient.values()])
    loss, r, *rest = gen.linear_combinations([loss, r, *rest])
    (loss, r, *rest), piecewise_lines = gen.opaque_piecewise([loss, r, *rest])
    m = " / m" if objective.reduction == "mean" else ""
    header = [f"{gen.name(p)} = theta[{k}]" for k, p in enumerate(params)] + [
        f"{gen.name(d)} = X[{k}]" for k, d in enumerate(data)
    ]
    header.append("m = X.shape[1]")
    header += [f"{gen.name(s)} = {code}" for s, code in gen.blas.items()]
    header += piecewise_lines
    given = set(data) | set(gen.blas)
    given |= {s for s, node in gen.piecewise.items() if node.free_symbols & given}

    def body(exprs: list[sympy.Expr], fused: Sequence[sympy.Expr]) -> tuple[list[str], ...]:
        """Common subexpressions, then the loss line, the ``r`` line and the gradient lines.

        For each argument ``a`` in ``fused``, ``softplus(a)`` and ``σ(a)`` come from one call
        (one exponential and one ``log1p`` where separate calls take two and one).
        """
        pairs = {}
        for k, a in enumerate(fused):
            pairs[softplus(a)] = sympy.Symbol(f"_softplus{k}", real=True)
            pairs[sigmoid(a)] = sympy.Symbol(f"_sigma{k}", real=True)
        exprs = [e.xreplace(pairs) for e in exprs]
        shared, reduced = sympy.cse(
            [*fused, *exprs], symbols=sympy.numbered_symbols("_t"), optimizations="basic"
        )
        arguments, (loss, r, *rest) = reduced[: len(fused)], reduced[len(fused) :]
        steps = [((s,), e, f"{gen.name(s)} = {gen.printer.doprint(e)}") for s, e in shared]
        for k, a in enumerate(arguments):
            names = (pairs[softplus(fused[k])], pairs[sigmoid(fused[k])])
            code = f"{gen.name(names[0])}, {gen.name(names[1])} = "
            steps.append((names, a, code + f"_softplus_sigmoid({gen.printer.doprint(a)})"))
        lines, varying = [], set(given)
        for defined, e, line in in_dependency_order(steps):
            lines.append(line)
            if e.free_symbols & varying:
                varying.update(defined)

        def per_example(expr: sympy.Expr) -> str:
            """An expression that differs between examples, or a constant spread over all m."""
            code = gen.printer.doprint(expr)
            return code if expr.free_symbols & varying else f"numpy.full(m, {code}, dtype=X.dtype)"

        loss_line = f"loss = numpy.sum({per_example(loss)}){m}"
        grad_lines = [f"grad = numpy.empty({len(params)}, dtype=X.dtype)"]
        grad_lines += blas_gradient_lines(gen, rest, "r", m, varying)
        if objective.l2:
            loss_line += f" + {objective.l2!r} / 2 * (theta @ theta)"
            grad_lines.append(f"grad += {objective.l2!r} * theta")
        return lines, [loss_line], [f"r = {per_example(r)}", *grad_lines]

    exprs = [loss, r, *rest]
    shared, loss_lines, gradient_lines = body(exprs, ())
    fused = softplus_and_sigmoid(exprs) if stable else []
    both = body(exprs, fused) if fused else (shared, loss_lines, gradient_lines)

    def function(name: str, lines: list[str], returns: str, doc: str) -> str:
        return function_source(f"{name}(theta, X)", [*header, *lines, f"return {returns}"], doc)

    source = "\n\n".join(
        [
            "import numpy\n",
            function(
                "loss",
                [*shared, *loss_lines],
                "loss",
                "J(theta) on the examples in the columns of X.",
            ),
            function("gradient", [*shared, *gradient_lines], "grad", "The gradient of J at theta."),
            function(
                "loss_and_gradient",
                [line for lines in both for line in lines],
                "loss, grad",
                "J(theta) and its gradient, sharing the common subexpressions.",
            ),
        ]
    )
    return Compiled(
        params=tuple(p.name for p in params),
        data=tuple(d.name for d in data),
        source=source,
        dtype=dtype,
        _namespace=load_source(source),
    )


@dataclass(frozen=True)
class CompiledExpression:
    """One expression compiled to an element-wise NumPy function.

    Attributes:
        symbols: Argument names, in call order.
        expression: The expression compiled (its textbook form).
        source: The generated Python source.
        dtype: The floating-point type the function is meant for.
    """

    symbols: tuple[str, ...]
    expression: sympy.Expr
    source: str
    dtype: type = numpy.float64
    _namespace: dict = field(repr=False, compare=False, default_factory=dict)

    function = generated("function", "The generated function itself, ``(*arrays) -> array``.")

    def __call__(self, *arrays: numpy.ndarray | float) -> numpy.ndarray:
        """Evaluate element-wise; the result has the broadcast shape of the arguments."""
        arrays = tuple(numpy.asarray(a, dtype=self.dtype) for a in arrays)
        value = self.function(*arrays)
        if not isinstance(value, numpy.ndarray | numpy.generic):
            value = numpy.asarray(value, dtype=self.dtype)  # a constant such as ReLU's 1
        return numpy.broadcast_to(value, numpy.broadcast_shapes(*(a.shape for a in arrays)))

    def __repr__(self) -> str:
        return f"CompiledExpression({self.expression}, dtype={self.dtype.__name__})"


def compile_expression(
    expression: sympy.Expr,
    symbols: Sequence[sympy.Symbol],
    *,
    dtype: type = numpy.float64,
    stable: bool = True,
    heaviside_at_zero: float = HEAVISIDE_AT_ZERO,
) -> CompiledExpression:
    """Compile one SymPy expression into an element-wise NumPy function.

    The same printer, rewrites and common-subexpression sharing as
    :func:`compile_objective`, for a single formula such as an activation or its
    derivative.

    Args:
        expression: A SymPy expression (not user text; parse that with :mod:`symgd.parse`).
        symbols: Its arguments, in call order.
        dtype: ``numpy.float64`` or ``numpy.float32``.
        stable: Rewrite overflow-prone forms first.
        heaviside_at_zero: ``H(0)`` where the expression leaves it at SymPy's default.

    Returns:
        A :class:`CompiledExpression`.

    Raises:
        ValueError: ``dtype`` is neither float64 nor float32.

    Example:
        >>> import numpy, sympy
        >>> z = sympy.Symbol("z", real=True)
        >>> softplus = compile_expression(sympy.log(1 + sympy.exp(z)), [z])
        >>> softplus(numpy.array([-800.0, 0.0, 800.0])).tolist()
        [0.0, 0.6931471805599453, 800.0]
        >>> "numpy.logaddexp(0, z)" in softplus.source
        True
    """
    dtype = check_dtype(dtype)
    symbols = tuple(symbols)
    gen = Codegen(symbols, (), Printer(stable=stable, heaviside_at_zero=heaviside_at_zero))
    expr = stabilize(expression) if stable else expression
    (expr,), piecewise_lines = gen.opaque_piecewise([expr])
    shared, (expr,) = sympy.cse([expr], symbols=sympy.numbered_symbols("_t"), optimizations="basic")
    lines = piecewise_lines + [f"{gen.name(s)} = {gen.printer.doprint(e)}" for s, e in shared]
    lines.append(f"return {gen.printer.doprint(expr)}")
    arguments = ", ".join(gen.name(s) for s in symbols)
    source = "import numpy\n\n\n" + function_source(f"function({arguments})", lines)
    return CompiledExpression(
        symbols=tuple(s.name for s in symbols),
        expression=expression,
        source=source,
        dtype=dtype,
        _namespace=load_source(source),
    )
