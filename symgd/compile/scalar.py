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
    >>> from symgd.define.objective import linear_regression
    >>> from symgd.derive.scalar import derive
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

from symgd.compile.stable import HEAVISIDE_AT_ZERO, NUMERIC_HELPERS, stabilize
from symgd.derive.scalar import Derivation
from symgd.functions import sigmoid, softplus

__all__ = ["Compiled", "CompiledExpression", "compile_objective", "compile_expression"]

#: Fewest data rows in a linear combination before it is computed as one BLAS product.
_BLAS_MIN_TERMS = 3


#: Names the generated code uses for itself; a user symbol so named gets a trailing ``_``.
_TAKEN = frozenset({"numpy", "functools", "theta", "X", "m", "r", "grad", "loss", *NUMERIC_HELPERS})


#: Functions that cannot fail on any real input: a piecewise branch built only from these
#: is evaluated everywhere with ``numpy.where``; any other branch only where it is selected.
_TOTAL = (
    sympy.Add,
    sympy.Mul,
    sympy.Abs,
    sympy.sign,
    sympy.Heaviside,
    sympy.Max,
    sympy.Min,
    sympy.tanh,
    sympy.Tuple,
)


def _is_total(expr: sympy.Basic) -> bool:
    """Whether evaluating ``expr`` can never warn, overflow or give nan for finite inputs."""
    if expr.is_Atom or isinstance(expr, sympy.logic.boolalg.Boolean):
        return all(_is_total(a) for a in expr.args) if expr.args else True
    if isinstance(expr, sympy.Pow):
        return bool(expr.exp.is_Integer and expr.exp >= 0 and _is_total(expr.base))
    names = {type(expr).__name__}
    if isinstance(expr, _TOTAL) or names & {"sigmoid", "softplus", "sech"}:
        return all(_is_total(a) for a in expr.args)
    return False


class _Printer(NumPyPrinter):
    """NumPy printer that calls symgd's stable helpers for its named functions.

    Args:
        stable: Print the stable forms (``False`` prints the textbook formulas, to show
            why naive code overflows).
        heaviside_at_zero: The value of ``H(0)`` where the expression leaves it at
            SymPy's default ``½`` (the derivative of ``Max(0, z)`` at 0).
    """

    def __init__(self, *, stable: bool = True, heaviside_at_zero: float = HEAVISIDE_AT_ZERO):
        super().__init__({"fully_qualified_modules": True, "allow_unknown_functions": False})
        self.stable = stable
        self.heaviside_at_zero = float(heaviside_at_zero)

    def _as_ordered_terms(self, expr: sympy.Expr, order=None) -> list[sympy.Expr]:
        # Lone symbols after computed terms: ``w*x + b - y``, not ``b + w*x - y``. NumPy then
        # adds into the first term's temporary array in place (temporary elision) instead of
        # allocating a new array for ``b + (w*x)``. Numbers keep their place: ``1 - a**2``.
        def bare(term: sympy.Expr) -> bool:
            return term.is_Symbol or (term.could_extract_minus_sign() and (-term).is_Symbol)

        return sorted(super()._as_ordered_terms(expr, order=order), key=bare)

    def _print_Symbol(self, expr: sympy.Symbol) -> str:
        # A user symbol may be called like a Python keyword or a name the generated code uses.
        name = super()._print_Symbol(expr)
        return f"{name}_" if name in _TAKEN or keyword.iskeyword(name) else name

    def _print_Float(self, expr: sympy.Float) -> str:
        # A plain Python float keeps float32 arrays float32 and round-trips every bit.
        return repr(float(expr))

    def _print_NumberSymbol(self, expr: sympy.Expr) -> str:
        return repr(float(expr))

    def _print_Pow(self, expr: sympy.Pow, rational: bool = False) -> str:
        if expr.is_number and not expr.is_Rational:
            return repr(float(expr))  # sqrt(2/pi): a Python float, not a float64 scalar
        return super()._print_Pow(expr, rational=rational)

    def _print_sigmoid(self, expr: sympy.Expr) -> str:
        arg = self._print(expr.args[0])
        return f"_sigmoid({arg})" if self.stable else f"1 / (1 + numpy.exp(-({arg})))"

    def _print_softplus(self, expr: sympy.Expr) -> str:
        arg = self._print(expr.args[0])
        return f"numpy.logaddexp(0, {arg})" if self.stable else f"numpy.log(1 + numpy.exp({arg}))"

    def _print_Mul(self, expr: sympy.Mul) -> str:
        # σ(u) σ(−u) = σ'(u): one exponential instead of two sigmoids.
        if self.stable:
            for factor in expr.args:
                if isinstance(factor, sigmoid) and sigmoid(-factor.args[0]) in expr.args:
                    pair = (factor, sigmoid(-factor.args[0]))
                    rest = [f for f in expr.args if f not in pair]
                    derivative = f"_sigmoid_derivative({self._print(factor.args[0])})"
                    if not rest:
                        return derivative
                    return f"{derivative} * ({self._print(sympy.Mul(*rest))})"
        return super()._print_Mul(expr)

    def _print_sech(self, expr: sympy.Expr) -> str:
        return f"_sech({self._print(expr.args[0])})"

    def _print_logsumexp(self, expr: sympy.Expr) -> str:
        return "_logsumexp(" + ", ".join(self._print(a) for a in expr.args) + ")"

    def _print_log_softmax(self, expr: sympy.Expr) -> str:
        top, bottom = (
            "(" + "".join(self._print(a) + ", " for a in part) + ")" for part in expr.args
        )
        return f"_log_softmax({top}, {bottom})"

    def _print_Heaviside(self, expr: sympy.Expr) -> str:
        if not self.stable:
            return super()._print_Heaviside(expr)
        at_zero = self.heaviside_at_zero if len(expr.pargs) == 1 else float(expr.args[1])
        return f"numpy.heaviside({self._print(expr.args[0])}, {at_zero!r})"

    def _print_Piecewise(self, expr: sympy.Piecewise) -> str:
        if not self.stable:
            return super()._print_Piecewise(expr)
        if all(_is_total(e) and _is_total(c) for e, c in expr.args):
            code = "numpy.nan"
            for value, condition in reversed(expr.args):
                code = f"numpy.where({self._print(condition)}, {self._print(value)}, {code})"
            return code
        # Evaluate each branch only where it is selected: no log of negatives, no warnings.
        arguments = sorted(expr.free_symbols, key=lambda s: s.name)
        names = ", ".join(self._print(a) for a in arguments)
        conditions = "".join(self._print(c) + ", " for _, c in expr.args)
        branches = "".join(f"lambda {names}: {self._print(e)}, " for e, _ in expr.args)
        return f"_piecewise(({conditions}), ({branches}), ({names},))"


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
    def loss_and_gradient(self) -> Callable:
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
    blas: dict[sympy.Symbol, str] = field(default_factory=dict)
    piecewise: dict[sympy.Symbol, sympy.Expr] = field(default_factory=dict)

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
            code = f"{self.coefficients([c for _, c in linear])} @ {rows}"
            # The same combination in the loss and the gradient is computed once.
            known = {text: name for name, text in self.blas.items()}
            placeholder = known.get(code) or sympy.Symbol(f"_lin{len(self.blas)}", real=True)
            self.blas[placeholder] = code
            return sympy.Add(placeholder, *rest)

        return [visit(e) for e in exprs]

    def opaque_piecewise(self, exprs: list[sympy.Expr]) -> tuple[list[sympy.Expr], list[str]]:
        """Replace each piecewise with a branch that can fail by a name computed up front.

        Common-subexpression elimination would otherwise hoist a branch (``log z``) out
        of its ``Piecewise`` and evaluate it everywhere.
        """
        lines: list[str] = []
        if not self.printer.stable:
            return exprs, lines
        names: dict[sympy.Basic, sympy.Symbol] = {}

        def visit(node: sympy.Basic) -> sympy.Basic:
            if isinstance(node, sympy.Piecewise) and not all(
                _is_total(e) and _is_total(c) for e, c in node.args
            ):
                if node not in names:
                    names[node] = sympy.Symbol(f"_pw{len(names)}", real=True)
                    self.piecewise[names[node]] = node
                    lines.append(f"{self.name(names[node])} = {self.printer.doprint(node)}")
                return names[node]
            if node.is_Atom:
                return node
            return node.func(*(visit(a) for a in node.args))

        return [visit(e) for e in exprs], lines


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


def _gradient_lines(
    gen: _Codegen, rest: list[sympy.Expr], r_name: str, m: str, varying: set[sympy.Symbol]
) -> list[str]:
    """Lines computing ``grad[k] = Σ_i r_i c_k,i / m`` with BLAS where the data allows.

    ``varying`` holds every symbol whose value differs between examples (data rows,
    BLAS products, piecewise values and common subexpressions built from them).
    """
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
        elif c == 1:
            lines.append(f"grad[{k}] = numpy.sum({r_name}){m}")
        elif not (c.free_symbols & varying):
            lines.append(f"grad[{k}] = ({gen.printer.doprint(c)}) * numpy.sum({r_name}){m}")
        else:
            lines.append(f"grad[{k}] = numpy.dot({gen.printer.doprint(c)}, {r_name}){m}")
    return lines


def _softplus_and_sigmoid(exprs: list[sympy.Expr]) -> list[sympy.Expr]:
    """The arguments ``a`` of which both ``softplus(a)`` and ``σ(a)`` occur (logistic loss)."""
    found = set().union(*(e.atoms(softplus, sigmoid) for e in exprs))
    both = {f.args[0] for f in found if isinstance(f, softplus)}
    both &= {f.args[0] for f in found if isinstance(f, sigmoid)}
    return sorted(both, key=sympy.default_sort_key)


def _in_dependency_order(steps: list[tuple[tuple, sympy.Expr, str]]) -> list[tuple]:
    """``(defined symbols, expression, line)`` steps, each after the steps it reads from."""
    pending, done, ordered = list(steps), set(), []
    defined_by_steps = {s for defined, _, _ in steps for s in defined}
    while pending:
        ready = next(
            step for step in pending if not (step[1].free_symbols & defined_by_steps) - done
        )
        pending.remove(ready)
        done.update(ready[0])
        ordered.append(ready)
    return ordered


def _check_dtype(dtype: type) -> type:
    if dtype not in (numpy.float64, numpy.float32):
        raise ValueError(f"dtype must be numpy.float64 or numpy.float32, not {dtype!r}")
    return dtype


def compile_objective(
    derivation: Derivation,
    *,
    dtype: type = numpy.float64,
    stable: bool = True,
    heaviside_at_zero: float = HEAVISIDE_AT_ZERO,
) -> Compiled:
    """Compile the loss and gradient of a derivation into NumPy functions.

    The derivation keeps the textbook form for display; the compiled ``source`` shows
    the stable form (:func:`symgd.stable.stabilize`): ``numpy.logaddexp(0, z)`` for
    ``log(1 + e^z)``, ``_sigmoid`` for ``σ``, piecewise branches evaluated only where
    selected.

    Args:
        derivation: The result of :func:`symgd.derive.derive`.
        dtype: ``numpy.float64`` (default) or ``numpy.float32``; the generated code keeps
            the data's type (its constants are plain Python floats).
        stable: Rewrite overflow-prone forms first (turn off to show why naive code overflows).
        heaviside_at_zero: ``H(0)``, hence ReLU'(0), where the expression leaves it at
            SymPy's default (see :data:`symgd.stable.HEAVISIDE_AT_ZERO`).

    Returns:
        A :class:`Compiled` whose ``source`` is the generated code.

    Raises:
        ValueError: ``dtype`` is neither float64 nor float32.
    """
    dtype = _check_dtype(dtype)
    objective = derivation.objective
    params, data = objective.params, objective.data
    gen = _Codegen(params, data, _Printer(stable=stable, heaviside_at_zero=heaviside_at_zero))
    prepare = stabilize if stable else (lambda e: e)
    loss = prepare(objective.expanded_loss)
    r, rest = _common_factor([prepare(g) for g in derivation.gradient.values()])
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
        for defined, e, line in _in_dependency_order(steps):
            lines.append(line)
            if e.free_symbols & varying:
                varying.update(defined)

        def per_example(expr: sympy.Expr) -> str:
            """An expression that differs between examples, or a constant spread over all m."""
            code = gen.printer.doprint(expr)
            return code if expr.free_symbols & varying else f"numpy.full(m, {code}, dtype=X.dtype)"

        loss_line = f"loss = numpy.sum({per_example(loss)}){m}"
        grad_lines = [f"grad = numpy.empty({len(params)}, dtype=X.dtype)"]
        grad_lines += _gradient_lines(gen, rest, "r", m, varying)
        if objective.l2:
            loss_line += f" + {objective.l2!r} / 2 * (theta @ theta)"
            grad_lines.append(f"grad += {objective.l2!r} * theta")
        return lines, [loss_line], [f"r = {per_example(r)}", *grad_lines]

    exprs = [loss, r, *rest]
    shared, loss_lines, gradient_lines = body(exprs, ())
    fused = _softplus_and_sigmoid(exprs) if stable else []
    both = body(exprs, fused) if fused else (shared, loss_lines, gradient_lines)

    def function(name: str, lines: list[str], returns: str, doc: str) -> str:
        lines = [f'"""{doc}"""', *header, *lines, f"return {returns}"]
        return f"def {name}(theta, X):\n" + textwrap.indent("\n".join(lines), "    ") + "\n"

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

    @property
    def function(self) -> Callable:
        """The generated function itself, ``(*arrays) -> array``."""
        return self._namespace["function"]

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
    dtype = _check_dtype(dtype)
    symbols = tuple(symbols)
    gen = _Codegen(symbols, (), _Printer(stable=stable, heaviside_at_zero=heaviside_at_zero))
    expr = stabilize(expression) if stable else expression
    (expr,), piecewise_lines = gen.opaque_piecewise([expr])
    shared, (expr,) = sympy.cse([expr], symbols=sympy.numbered_symbols("_t"), optimizations="basic")
    lines = piecewise_lines + [f"{gen.name(s)} = {gen.printer.doprint(e)}" for s, e in shared]
    lines.append(f"return {gen.printer.doprint(expr)}")
    arguments = ", ".join(gen.name(s) for s in symbols)
    source = "import numpy\n\n\ndef function(" + arguments + "):\n"
    source += textwrap.indent("\n".join(lines), "    ") + "\n"
    namespace: dict = {"numpy": numpy, "functools": functools, **NUMERIC_HELPERS}
    # The source is generated from SymPy objects, never from user text.
    exec(compile(source, "<symgd generated>", "exec"), namespace)  # noqa: S102
    return CompiledExpression(
        symbols=tuple(s.name for s in symbols),
        expression=expression,
        source=source,
        dtype=dtype,
        _namespace=namespace,
    )
