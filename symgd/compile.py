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

Before printing, :func:`symgd.stable.stabilize` rewrites overflow-prone forms.

Example:
    >>> import numpy
    >>> from symgd.model import linear_regression
    >>> from symgd.derive import derive
    >>> compiled = compile_objective(derive(linear_regression()))
    >>> data = {"x": numpy.array([0.0, 1.0, 2.0]), "y": numpy.array([1.0, 3.0, 5.0])}
    >>> compiled.gradient({"w": 2.0, "b": 1.0}, data)
    {'w': 0.0, 'b': 0.0}
"""

from __future__ import annotations

import functools
import keyword
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy
import sympy
from sympy.printing.numpy import NumPyPrinter

from symgd.derive import Derivation
from symgd.stable import NUMERIC_HELPERS, stabilize

__all__ = ["Compiled", "compile_objective"]

#: Fewest data rows in a linear combination before it is computed as one BLAS product.
_BLAS_MIN_TERMS = 3


#: Names the generated code uses for itself; a user symbol so named gets a trailing ``_``.
_TAKEN = frozenset({"numpy", "functools", "theta", "X", "m", "r", "grad", "loss", "_sigmoid"})


class _Printer(NumPyPrinter):
    """NumPy printer that calls symgd's stable helpers for its named functions."""

    def __init__(self) -> None:
        super().__init__({"fully_qualified_modules": True, "allow_unknown_functions": False})

    def _print_Symbol(self, expr: sympy.Symbol) -> str:
        # A user symbol may be called like a Python keyword or a name the generated code uses.
        name = super()._print_Symbol(expr)
        return f"{name}_" if name in _TAKEN or keyword.iskeyword(name) else name

    def _print_sigmoid(self, expr: sympy.Expr) -> str:
        return f"_sigmoid({self._print(expr.args[0])})"

    def _print_softplus(self, expr: sympy.Expr) -> str:
        return f"numpy.logaddexp(0, {self._print(expr.args[0])})"


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

    @property
    def loss_and_gradient_function(self) -> Callable:
        """``(theta, X) -> (loss, gradient)`` on prepared data."""
        return self._namespace["loss_and_gradient"]

    @property
    def loss_function(self) -> Callable:
        """``(theta, X) -> loss`` on prepared data."""
        return self._namespace["loss"]

    @property
    def gradient_function(self) -> Callable:
        """``(theta, X) -> gradient vector`` on prepared data."""
        return self._namespace["gradient"]

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


@dataclass
class _Codegen:
    """Collects the lines of the generated function (mutable while generating only)."""

    params: tuple[sympy.Symbol, ...]
    data: tuple[sympy.Symbol, ...]
    printer: _Printer = field(default_factory=_Printer)
    lines: list[str] = field(default_factory=list)
    blas: dict[sympy.Symbol, str] = field(default_factory=dict)

    def name(self, s: sympy.Symbol) -> str:
        return self.printer._print(s)

    def rows(self, symbols: Sequence[sympy.Symbol]) -> str | None:
        """``X[a:b]`` when the symbols are consecutive data rows in order, else None."""
        index = [self.data.index(s) for s in symbols]
        if index == list(range(index[0], index[0] + len(index))):
            return f"X[{index[0]}:{index[-1] + 1}]"
        return None

    def coefficients(self, coefs: Sequence[sympy.Expr]) -> str:
        """``theta[a:b]`` when the coefficients are consecutive parameters, else a literal."""
        if all(c in self.params for c in coefs):
            index = [self.params.index(c) for c in coefs]
            if index == list(range(index[0], index[0] + len(index))):
                return f"theta[{index[0]}:{index[-1] + 1}]"
        return "numpy.array([" + ", ".join(self.printer.doprint(c) for c in coefs) + "])"

    def linear_combinations(self, exprs: list[sympy.Expr]) -> list[sympy.Expr]:
        """Replace each ``Σ c_k x_k`` over many consecutive data rows by one BLAS product."""
        data = set(self.data)

        def visit(node: sympy.Basic) -> sympy.Basic:
            if node.is_Atom:
                return node
            node = node.func(*(visit(a) for a in node.args))
            if not isinstance(node, sympy.Add):
                return node
            linear, rest = [], []
            for term in node.args:
                coef, rows = term.as_independent(*data, as_Add=False)
                if rows in data and not (coef.free_symbols & data):
                    linear.append((rows, coef))
                else:
                    rest.append(term)
            if len(linear) < _BLAS_MIN_TERMS:
                return node
            linear.sort(key=lambda pair: self.data.index(pair[0]))
            rows = self.rows([r for r, _ in linear])
            if rows is None:
                return node
            placeholder = sympy.Symbol(f"_lin{len(self.blas)}", real=True)
            self.blas[placeholder] = f"{self.coefficients([c for _, c in linear])} @ {rows}"
            return sympy.Add(placeholder, *rest)

        return [visit(e) for e in exprs]


def _common_factor(gradients: list[sympy.Expr]) -> tuple[sympy.Expr, list[sympy.Expr]]:
    """Split each gradient as ``r · c_θ`` with ``r`` the factor they all share."""
    powers = [g.as_powers_dict() for g in gradients]
    common = {}
    for base in powers[0]:
        if base.is_Number or not all(base in p for p in powers):
            continue
        shared = [p[base] for p in powers]
        if all(e.is_Integer and e > 0 for e in shared):
            common[base] = min(shared)
    r = sympy.Mul(*(b**e for b, e in common.items()))
    rest = [sympy.Mul(*(b ** (e - common.get(b, 0)) for b, e in p.items())) for p in powers]
    return r, rest


def _gradient_lines(gen: _Codegen, rest: list[sympy.Expr], r_name: str, m: str) -> list[str]:
    """Lines computing ``grad[k] = Σ_i r_i c_k,i / m`` with BLAS where the data allows."""
    data = set(gen.data)
    lines = []
    by_row = [(k, c) for k, c in enumerate(rest) if c in data]
    # Consecutive parameters whose factor is a consecutive block of data rows: one gemv.
    blocks: list[list[tuple[int, sympy.Symbol]]] = []
    for k, c in by_row:
        last = blocks[-1][-1] if blocks else None
        if last and last[0] == k - 1 and gen.data.index(last[1]) == gen.data.index(c) - 1:
            blocks[-1].append((k, c))
        else:
            blocks.append([(k, c)])
    done = set()
    for block in blocks:
        if len(block) >= 2:
            first, last = block[0][0], block[-1][0]
            rows = gen.rows([c for _, c in block])
            lines.append(f"grad[{first}:{last + 1}] = {rows} @ {r_name}{m}")
            done.update(k for k, _ in block)
    for k, c in enumerate(rest):
        if k in done:
            continue
        if c in data:
            lines.append(f"grad[{k}] = {gen.name(c)} @ {r_name}{m}")
        elif not (c.free_symbols & data):
            lines.append(f"grad[{k}] = ({gen.printer.doprint(c)}) * numpy.sum({r_name}){m}")
        else:
            lines.append(f"grad[{k}] = numpy.dot({gen.printer.doprint(c)}, {r_name}){m}")
    return lines


def compile_objective(
    derivation: Derivation, *, dtype: type = numpy.float64, stable: bool = True
) -> Compiled:
    """Compile the loss and gradient of a derivation into NumPy functions.

    Args:
        derivation: The result of :func:`symgd.derive.derive`.
        dtype: ``numpy.float64`` (default) or ``numpy.float32``.
        stable: Rewrite overflow-prone forms first (turn off to show why naive code overflows).

    Returns:
        A :class:`Compiled` whose ``source`` is the generated code.
    """
    objective = derivation.objective
    params, data = objective.params, objective.data
    gen = _Codegen(params, data)
    prepare = stabilize if stable else (lambda e: e)
    loss = prepare(objective.expanded_loss)
    r, rest = _common_factor([prepare(g) for g in derivation.gradient.values()])
    loss, r, *rest = gen.linear_combinations([loss, r, *rest])
    shared, (loss, r, *rest) = sympy.cse(
        [loss, r, *rest], symbols=sympy.numbered_symbols("_t"), optimizations="basic"
    )

    m = " / m" if objective.reduction == "mean" else ""
    header = [f"{gen.name(p)} = theta[{k}]" for k, p in enumerate(params)] + [
        f"{gen.name(d)} = X[{k}]" for k, d in enumerate(data)
    ]
    header.append("m = X.shape[1]")
    header += [f"{gen.name(s)} = {code}" for s, code in gen.blas.items()]
    header += [f"{gen.name(s)} = {gen.printer.doprint(e)}" for s, e in shared]
    loss_line = f"loss = numpy.sum(numpy.broadcast_to({gen.printer.doprint(loss)}, (m,))){m}"
    r_line = f"r = numpy.broadcast_to({gen.printer.doprint(r)}, (m,))"
    grad_lines = [f"grad = numpy.empty({len(params)}, dtype=X.dtype)"]
    grad_lines += _gradient_lines(gen, rest, "r", m)
    if objective.l2:
        loss_line += f" + {objective.l2!r} / 2 * (theta @ theta)"
        grad_lines.append(f"grad += {objective.l2!r} * theta")

    def function(name: str, body: list[str], returns: str, doc: str) -> str:
        lines = [f'"""{doc}"""', *header, *body, f"return {returns}"]
        return f"def {name}(theta, X):\n" + textwrap.indent("\n".join(lines), "    ") + "\n"

    source = "\n\n".join(
        [
            "import numpy\n",
            function("loss", [loss_line], "loss", "J(theta) on the examples in the columns of X."),
            function("gradient", [r_line, *grad_lines], "grad", "The gradient of J at theta."),
            function(
                "loss_and_gradient",
                [loss_line, r_line, *grad_lines],
                "loss, grad",
                "J(theta) and its gradient, sharing the common subexpressions.",
            ),
        ]
    )
    namespace: dict = {"numpy": numpy, "functools": functools, **NUMERIC_HELPERS}
    # The source is generated from validated SymPy objects, never from user text.
    exec(compile(source, "<symgd generated>", "exec"), namespace)  # noqa: S102
    return Compiled(
        params=tuple(p.name for p in params),
        data=tuple(d.name for d in data),
        source=source,
        dtype=dtype,
        _namespace=namespace,
    )
