r"""Lecture notes: a catalogue of derivations as documents that compile, with figures and code.

Every formula in a note comes from the pipeline: objectives are built with
:func:`symgd.model.objective`, differentiated by :func:`symgd.derive.derive` (each
chain-rule step checked against ``sympy.diff``), printed by a configured SymPy
LaTeX printer, and the optimisers' update rules come from their SymPy definitions
in :mod:`symgd.train.optimizers`. Figures are made by training the compiled code
(:func:`symgd.compile.compile_objective`, :func:`symgd.train.train`) on seeded data,
and "the code that runs" is the compiled gradient function rendered by latexify-py.

A :class:`Notes` is written as a standalone ``.tex`` (notation table, numbered and
labelled equations, derivation steps, update rules, figures, code), a ``.md``
with ``$$`` math, or a ``.pdf`` compiled with ``pdflatex``.

Notation (configurable through :class:`Notation`): scalars italic, vectors bold
(:math:`\boldsymbol{u}_i`), matrices upright bold capitals (:math:`\mathbf{X}`),
predictions with hats (:math:`\hat{y}`), :math:`m` examples, :math:`\alpha` the
learning rate, :math:`x^{(t)}` a value at step :math:`t`.

Example:
    >>> note = build_notes("linear-regression", figures=None)
    >>> note.title
    'Linear regression by gradient descent'
    >>> note.formulas["dl/dw"]
    x*(b + w*x - y)
    >>> to_markdown(note).startswith("# Linear regression")
    True
"""

from __future__ import annotations

import ast
import linecache
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import latexify
import numpy
import sympy

from symgd.compile.scalar import Compiled, compile_objective
from symgd.compile.stable import NUMERIC_HELPERS
from symgd.define.objective import Objective, linear_regression, logistic_regression, objective
from symgd.derive.scalar import LOSS_SYMBOL, Derivation, derive, is_zero, lecturer_form
from symgd.parse.expressions import parse_name, symbol
from symgd.render.plots import descent_paths, learning_rate_comparison, loss_curves
from symgd.render.printing import _LatexPrinter, document, escape_tex
from symgd.train.diagnostics import classify_runs
from symgd.train.optimizers import (
    GradientTransformation,
    adam,
    apply_updates,
    momentum,
    nesterov,
    rmsprop,
    update_rule_latex,
)
from symgd.train.runner import gradient_descent, train

__all__ = [
    "TOPICS",
    "Code",
    "Equation",
    "Figure",
    "Notation",
    "Notes",
    "PartialDerivative",
    "Prose",
    "Rendered",
    "Section",
    "Topic",
    "build_notes",
    "custom_notes",
    "descent_runs",
    "gradient_code",
    "loop_code",
    "compile_pdf",
    "to_markdown",
    "to_tex",
    "write_notes",
]


# ---------------------------------------------------------------------------- notation


@dataclass(frozen=True)
class Notation:
    r"""Display names, applied by configuring the printer (never by editing LaTeX).

    Attributes:
        renames: Symbol name -> the name to show instead, e.g. ``{"alpha": "eta"}``
            shows the learning rate as :math:`\eta`. Both must be valid symbol names
            (``[A-Za-z][A-Za-z0-9_]*``); the shown LaTeX is SymPy's for the new name.
    """

    renames: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        checked = {parse_name(old): parse_name(new) for old, new in self.renames.items()}
        object.__setattr__(self, "renames", checked)

    def printer(self) -> _NotesPrinter:
        """The LaTeX printer of the notes: symgd's term order, renamed symbols."""
        base = _LatexPrinter({"order": "grlex", "mul_symbol": None})
        names = {old: base.doprint(symbol(new)) for old, new in self.renames.items()}
        return _NotesPrinter(names, {"order": "grlex", "mul_symbol": None, "long_frac_ratio": 1})


class _NotesPrinter(_LatexPrinter):
    """symgd's printer, showing renamed symbols (by name, whatever their assumptions)."""

    def __init__(self, names: Mapping[str, str], settings: dict) -> None:
        super().__init__(settings)
        self._names = dict(names)

    def _print_Symbol(self, expr: sympy.Symbol, style: str = "plain") -> str:
        if expr.name in self._names:
            return self._names[expr.name]
        return super()._print_Symbol(expr, style=style)


class PartialDerivative(sympy.Function):
    r"""``∂a/∂b`` shown as :math:`\frac{\partial a}{\partial b}`, a symbol inside printed formulas.

    Example:
        >>> from symgd.render.printing import latex
        >>> latex(PartialDerivative(sympy.Symbol("J"), sympy.Symbol("w")))
        '\\frac{\\partial J}{\\partial w}'
    """

    def _latex(self, printer, exp=None):
        top, bottom = (printer._print(a) for a in self.args)
        shown = rf"\frac{{\partial {top}}}{{\partial {bottom}}}"
        return shown if exp is None else rf"\left({shown}\right)^{{{exp}}}"


_ALPHA = sympy.Symbol("alpha", positive=True)
_INDEX = sympy.Symbol("i", integer=True, positive=True)
_J = sympy.Symbol("J", real=True)


# ---------------------------------------------------------------------------- document parts


@dataclass(frozen=True)
class Prose:
    """A paragraph. ``math`` pieces (LaTeX from the printer) replace ``{0}``, ``{1}`` …"""

    text: str
    math: tuple[str, ...] = ()


@dataclass(frozen=True)
class Equation:
    """One numbered equation ``lhs = rhs[0] = rhs[1] …`` with a label."""

    label: str
    lhs: str
    rhs: tuple[str, ...]


@dataclass(frozen=True)
class Figure:
    """A figure file (PNG) with its caption, relative to the document's folder."""

    path: Path
    caption: str
    label: str
    width: float = 0.8


@dataclass(frozen=True)
class Code:
    """The code that runs: latexify-py's LaTeX of a function, and its Python source."""

    caption: str
    latex: str
    source: str


@dataclass(frozen=True)
class Rendered:
    """A block rendered by another symgd module: its LaTeX (document body) and Markdown."""

    tex: str
    markdown: str


@dataclass(frozen=True)
class Section:
    """A titled part of the notes."""

    heading: str
    parts: tuple[Prose | tuple[Equation, ...] | Figure | Code | Rendered, ...]


@dataclass(frozen=True)
class Notes:
    """A lecture note: sections built from derivations, plus what the tests check.

    Attributes:
        topic: The catalogue key (``"custom"`` for custom notes).
        title: Plain-text title.
        notation: ``(LaTeX symbol, meaning)`` rows of the notation table.
        sections: The body.
        formulas: Named SymPy results shown in the note, e.g. ``"dJ/dw"``.
        derivations: The derivations the note shows.
        figures: The figure files written while building.
    """

    topic: str
    title: str
    notation: tuple[tuple[str, str], ...]
    sections: tuple[Section, ...]
    formulas: Mapping[str, sympy.Expr]
    derivations: tuple[Derivation, ...]
    figures: tuple[Path, ...] = ()

    def _repr_markdown_(self) -> str:
        return to_markdown(self)

    def __repr__(self) -> str:
        return f"Notes({self.topic!r}, sections={len(self.sections)}, figures={len(self.figures)})"


# ---------------------------------------------------------------------------- builders


class _Builder:
    """Collects the sections of one note (mutable while building only)."""

    def __init__(self, topic: str, notation: Notation, figures: Path | None) -> None:
        self.topic = topic
        self.notation = notation
        self.printer = notation.printer()
        self.figures_dir = figures
        self.with_code = True
        self.sections: list[Section] = []
        self.parts: list = []
        self.heading = ""
        self.formulas: dict[str, sympy.Expr] = {}
        self.derivations: list[Derivation] = []
        self.figure_paths: list[Path] = []
        self.rows: dict[str, str] = {}
        self.count = 0

    # -- printing
    def tex(self, expr: sympy.Basic) -> str:
        return self.printer.doprint(expr)

    def partial(self, top: sympy.Basic, bottom: sympy.Basic) -> str:
        return self.tex(PartialDerivative(top, bottom))

    def at_step(self, param: sympy.Symbol, step: str) -> sympy.Symbol:
        """``w^{(t)}``: the step as a bracketed superscript, so subscripts stay free."""
        name = self.notation.renames.get(param.name, param.name)
        return sympy.Symbol(f"{name}^({step})", real=True)

    def indexed(self, expr: sympy.Expr, data: Sequence[sympy.Symbol]) -> sympy.Expr:
        return expr.xreplace({d: sympy.IndexedBase(d)[_INDEX] for d in data})

    # -- structure
    def section(self, heading: str) -> None:
        self.close()
        self.heading = heading

    def close(self) -> None:
        if self.heading:
            self.sections.append(Section(self.heading, tuple(self.parts)))
        self.parts = []

    def say(self, text: str, *math: sympy.Basic | str) -> None:
        self.parts.append(
            Prose(text, tuple(m if isinstance(m, str) else self.tex(m) for m in math))
        )

    def equations(self, *lines: tuple[str, str, Sequence[str]]) -> None:
        block = []
        for name, lhs, rhs in lines:
            self.count += 1
            block.append(Equation(f"eq:{self.topic}:{name}", lhs, tuple(rhs)))
        self.parts.append(tuple(block))

    def note(self, symbol_: sympy.Basic | str, meaning: str) -> None:
        shown = symbol_ if isinstance(symbol_, str) else self.tex(symbol_)
        self.rows.setdefault(shown, meaning)

    def figure(
        self, name: str, caption: str, draw: Callable[[Path], Path], *, width: float = 0.8
    ) -> None:
        if self.figures_dir is None:
            return
        path = draw(self.figures_dir / f"{self.topic}-{name}.png")
        self.figure_paths.append(path)
        self.parts.append(Figure(path, caption, f"fig:{self.topic}:{name}", width))

    def code(self, caption: str, latex_text: str, source: str) -> None:
        self.parts.append(Code(caption, latex_text, source))

    def finish(self, title: str) -> Notes:
        self.close()
        notation = tuple(self.rows.items())
        return Notes(
            self.topic,
            title,
            notation,
            tuple(self.sections),
            dict(self.formulas),
            tuple(self.derivations),
            tuple(self.figure_paths),
        )

    # -- a derivation, step by step
    def objective_notation(self, obj: Objective) -> None:
        for p in obj.params:
            self.note(p, "parameter")
        for d in obj.data:
            self.note(d, "data value of one example (the i-th: subscript i)")
        for name, _ in obj.intermediates:
            self.note(name, "named intermediate, defined below")
        self.note(LOSS_SYMBOL, "loss of one example")
        self.note(_J, "objective: the loss averaged over the examples")
        self.note(obj.examples, "number of examples")
        self.note(_ALPHA, "learning rate")
        if obj.l2:
            self.note(obj.l2_symbol, "strength of the L2 penalty")

    def model(self, obj: Objective, key: str = "") -> None:
        lines = [(f"{key}def-{n}", self.tex(n), [self.tex(d)]) for n, d in obj.intermediates]
        lines.append((f"{key}loss", self.tex(LOSS_SYMBOL), [self.tex(obj.loss)]))
        ell = sympy.IndexedBase(LOSS_SYMBOL)[_INDEX]
        total = sympy.Sum(ell, (_INDEX, 1, obj.examples))
        if obj.reduction == "mean":
            total = total / obj.examples
        if obj.l2:
            total += obj.l2_symbol / 2 * sympy.Add(*(p**2 for p in obj.params))
        args = ", ".join(self.tex(p) for p in obj.params)
        lines.append((f"{key}objective", rf"J\left({args}\right)", [self.tex(total)]))
        if obj.l2:
            lines.append((f"{key}lambda", self.tex(obj.l2_symbol), [self.tex(sympy.Float(obj.l2))]))
        self.equations(*lines)

    def chain(self, derivation: Derivation, key: str = "", *, long: int = 150) -> None:
        """Chain rule per parameter, dataset gradient and update rule, as numbered equations."""
        for step in derivation.steps:
            p = step.param
            symbolic = " + ".join(
                " ".join(self.partial(a, b) for a, b in zip(path, path[1:])) for path in step.paths
            )
            local = " + ".join(
                r" \cdot ".join(self.printer.parenthesize(f, 50, strict=False) for f in factors)
                for factors in step.local_derivatives
            )
            values = [symbolic, local, self.tex(step.in_intermediates)]
            result = self.tex(step.result)
            if len(result) <= long:
                values.append(result)
            rhs = list(dict.fromkeys(v for v in values if v))
            gradient = self.dataset_gradient(derivation, p)
            self.say(
                f"Gradient with respect to {{0}}, by the chain rule through {_paths(step)}:", p
            )
            self.equations(
                (f"{key}chain-{p.name}", self.partial(LOSS_SYMBOL, p), rhs),
                (f"{key}grad-{p.name}", self.partial(_J, p), [self.tex(gradient)]),
            )
            self.formulas[f"{key}dl/d{p.name}"] = step.result
            self.formulas[f"{key}dJ/d{p.name}"] = gradient
        self.derivations.append(derivation)

    def dataset_gradient(
        self, derivation: Derivation, param: sympy.Symbol, *, long: int = 150
    ) -> sympy.Expr:
        """``∂J/∂θ`` summed over the examples; written with the intermediates when it is long."""
        obj = derivation.objective
        step = derivation.steps[obj.params.index(param)]
        summand, varying = step.result, obj.data
        if len(self.tex(summand)) > long:
            # Intermediates vary over the examples too: a_{1,i}, p_i.
            summand, varying = (
                step.in_intermediates,
                obj.data + tuple(n for n, _ in obj.intermediates),
            )
        total = sympy.Sum(self.indexed(summand, varying), (_INDEX, 1, obj.examples))
        if obj.reduction == "mean":
            total = total / obj.examples
        if obj.l2:
            total += obj.l2_symbol * param
        return total

    def update_rules(self, derivation: Derivation, key: str = "") -> None:
        lines = []
        for p in derivation.objective.params:
            update = self.at_step(p, "t") - _ALPHA * PartialDerivative(_J, p)
            self.formulas[f"{key}update {p.name}"] = update
            lines.append(
                (f"{key}update-{p.name}", self.tex(self.at_step(p, "t+1")), [self.tex(update)])
            )
        self.equations(*lines)

    # -- the code that runs
    def compiled_code(self, compiled: Compiled) -> None:
        latex_text, source = gradient_code(compiled)
        self.code(
            "The compiled gradient (symgd's generated NumPy code, rendered by latexify-py)",
            latex_text,
            source,
        )


def _paths(step) -> str:
    count = len(step.paths)
    return "one path" if count == 1 else f"{count} paths"


# ---------------------------------------------------------------------------- code rendering


class _Readable(ast.NodeTransformer):
    """Rewrites the generated ``gradient(theta, X)`` into a function of named scalars."""

    def __init__(self, params: Sequence[str], data: Sequence[str]) -> None:
        self.params = list(params)
        self.data = list(data)

    def _names(self, base: str, start: int, stop: int) -> ast.expr:
        names = self.params if base == "theta" else self.data
        items = [ast.Name(n, ast.Load()) for n in names[start:stop]]
        return ast.Call(
            ast.Attribute(ast.Name("numpy", ast.Load()), "array", ast.Load()),
            [ast.List(items, ast.Load())],
            [],
        )

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        node = self.generic_visit(node)
        if isinstance(node.value, ast.Name) and node.value.id in ("theta", "X"):
            bounds = node.slice
            if isinstance(bounds, ast.Slice):
                return self._names(node.value.id, bounds.lower.value, bounds.upper.value)
        return node


def _readable_gradient(compiled: Compiled) -> tuple[str, str]:
    """The compiled gradient as a function of the named parameters and data, and its name."""
    tree = ast.parse(compiled.source)
    function = next(f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == "gradient")
    body: list[ast.stmt] = []
    residual: ast.expr | None = None
    names = [f"dJ_d{p}" for p in compiled.params]
    for statement in function.body[1:]:  # the docstring goes
        if isinstance(statement, ast.Return):
            continue
        target = statement.targets[0] if isinstance(statement, ast.Assign) else None
        value = getattr(statement, "value", None)
        if (
            isinstance(target, ast.Name)
            and target.id == "m"
            or isinstance(target, ast.Name)
            and (
                isinstance(value, ast.Subscript)
                and isinstance(value.value, ast.Name)
                and value.value.id in ("theta", "X")
                and not isinstance(value.slice, ast.Slice)
            )
        ):
            continue  # w = theta[0], x = X[0], m = X.shape[1]: these become the arguments
        if isinstance(target, ast.Name) and target.id == "grad":
            continue  # grad = numpy.empty(...)
        if isinstance(target, ast.Name) and target.id == "r":
            # broadcast_to(e, (m,)) / full(m, e) only give a constant the examples' shape.
            shared = value
            if isinstance(value, ast.Call) and ast.unparse(value.func) == "numpy.broadcast_to":
                shared = value.args[0]
            elif isinstance(value, ast.Call) and ast.unparse(value.func) == "numpy.full":
                shared = value.args[1]
            if not any(isinstance(node, ast.Name) for node in ast.walk(shared)):
                residual = shared  # a constant: sums over the examples are written out
                continue
            statement = ast.Assign([target], shared)
        if isinstance(target, ast.Subscript) and target.value.id == "grad":
            index = target.slice
            if isinstance(index, ast.Slice):
                first, last = index.lower.value, index.upper.value
                for k in range(first, last):
                    row = ast.Name(compiled.data[_row_of(value, k - first)], ast.Load())
                    term = _ReplaceRows(row).visit(ast.parse(ast.unparse(value), mode="eval").body)
                    body.append(ast.Assign([ast.Name(names[k], ast.Store())], term))
                continue
            statement = ast.Assign([ast.Name(names[index.value], ast.Store())], value)
        if isinstance(statement, ast.AugAssign):  # grad += l2 * theta
            for k, p in enumerate(compiled.params):
                penalty = ast.BinOp(statement.value.left, ast.Mult(), ast.Name(p, ast.Load()))
                new = ast.BinOp(ast.Name(names[k], ast.Load()), ast.Add(), penalty)
                body.append(ast.Assign([ast.Name(names[k], ast.Store())], new))
            continue
        body.append(statement)
    if residual is not None:
        body = [_ConstantResidual(residual).visit(statement) for statement in body]
    body = [_DropOne().visit(statement) for statement in body]
    result = ast.Call(
        ast.Attribute(ast.Name("numpy", ast.Load()), "array", ast.Load()),
        [ast.List([ast.Name(n, ast.Load()) for n in names], ast.Load())],
        [],
    )
    body.append(ast.Return(result))
    arguments = [*compiled.params, *compiled.data, "m"]
    readable = ast.FunctionDef(
        name="gradient",
        args=ast.arguments([], [ast.arg(a) for a in arguments], None, [], [], None, []),
        body=_Readable(compiled.params, compiled.data).visit(ast.Module(body, [])).body,
        decorator_list=[],
        returns=None,
        type_params=[],
    )
    return ast.unparse(ast.fix_missing_locations(ast.Module([readable], []))), "gradient"


class _DropOne(ast.NodeTransformer):
    """``(1) * a`` -> ``a``: the factor the code generator writes when a gradient has none."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        node = self.generic_visit(node)
        one = isinstance(node.left, ast.Constant) and node.left.value == 1
        return node.right if isinstance(node.op, ast.Mult) and one else node


class _ConstantResidual(ast.NodeTransformer):
    """A constant shared factor c: dot(a, r) and a @ r become c sum(a), sum(r) becomes c m."""

    def __init__(self, constant: ast.expr) -> None:
        self.constant = constant

    def _times(self, node: ast.expr) -> ast.expr:
        if isinstance(self.constant, ast.Constant) and self.constant.value == 1:
            return node
        return ast.BinOp(self.constant, ast.Mult(), node)

    def _sum(self, node: ast.expr) -> ast.expr:
        total = ast.Attribute(ast.Name("numpy", ast.Load()), "sum", ast.Load())
        return self._times(ast.Call(total, [node], []))

    @staticmethod
    def _is_r(node: ast.expr) -> bool:
        return isinstance(node, ast.Name) and node.id == "r"

    def visit_Call(self, node: ast.Call) -> ast.AST:
        node = self.generic_visit(node)
        name = ast.unparse(node.func)
        if name == "numpy.dot" and self._is_r(node.args[1]):
            return self._sum(node.args[0])
        if name == "numpy.sum" and self._is_r(node.args[0]):
            return self._times(ast.Name("m", ast.Load()))
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        node = self.generic_visit(node)
        if isinstance(node.op, ast.MatMult) and self._is_r(node.right):
            return self._sum(node.left)
        return node


def _row_of(value: ast.expr, offset: int) -> int:
    """The data row that ``X[a:b] @ r`` takes for the ``offset``-th parameter of the block."""
    for node in ast.walk(value):
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and node.value.id == "X"
            and isinstance(node.slice, ast.Slice)
        ):
            return node.slice.lower.value + offset
    raise ValueError("a block gradient without data rows")


class _ReplaceRows(ast.NodeTransformer):
    def __init__(self, row: ast.Name) -> None:
        self.row = row

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        if isinstance(node.value, ast.Name) and node.value.id == "X":
            return self.row
        return self.generic_visit(node)


def _load(source: str, name: str, namespace: dict) -> Callable:
    """Define ``name`` from generated source, registered so that latexify can read it back."""
    filename = f"<symgd notes {abs(hash(source))}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    # The source is generated from validated SymPy objects, never from user text.
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102
    return namespace[name]


def gradient_code(compiled: Compiled) -> tuple[str, str]:
    r"""The compiled gradient as latexify-py LaTeX (assignments reduced) and as Python.

    The generated ``gradient(theta, X)`` is rewritten into a function of the named
    parameters and data columns (same statements, ``theta[k]``/``X[k]`` unpacked into
    arguments), checked to return the same values as the compiled function on seeded
    random data, then rendered by latexify-py with ``reduce_assignments=True``
    (with every assignment shown when the reduced form is too long to read).

    Args:
        compiled: From :func:`symgd.compile.compile_objective`.

    Returns:
        ``(latex, python_source)``.

    Raises:
        ArithmeticError: The readable function disagrees with the compiled one.

    Example:
        >>> from symgd.compile.scalar import compile_objective
        >>> latex_text, source = gradient_code(compile_objective(derive(linear_regression())))
        >>> print(latex_text)
        \mathrm{gradient}(w, b, x, y, m) = \begin{bmatrix} \frac{x \cdot \mathopen{}\left( w x + b - y \mathclose{}\right)}{m} & \frac{\sum \mathopen{}\left( w x + b - y \mathclose{}\right)}{m} \end{bmatrix}
    """  # noqa: E501
    source, name = _readable_gradient(compiled)
    function = _load(source, name, {"numpy": numpy, **NUMERIC_HELPERS})
    rng = numpy.random.default_rng(0)
    theta = rng.uniform(-1, 1, len(compiled.params))
    X = rng.uniform(-1, 1, (len(compiled.data), 7))
    expected = compiled.gradient_function(theta, X)
    got = function(*theta, *X, X.shape[1])
    if not numpy.allclose(numpy.asarray(got, dtype=float), expected, rtol=1e-12, atol=1e-12):
        raise ArithmeticError("the readable gradient code disagrees with the compiled code")
    # Generated helper names read as plain ones: _t0 -> t0, _lin0 -> lin0.
    helpers = {n: n.lstrip("_") for n in re.findall(r"\b_(?:t|lin)\d+\b", source)}
    options = {
        "use_math_symbols": True,
        "prefixes": {"numpy"},
        # Helpers read as what they compute: _sigmoid -> sigma, _log_softmax -> log_softmax.
        "identifiers": {name: name.lstrip("_") for name in NUMERIC_HELPERS}
        | {"_sigmoid": "sigma"}
        | helpers,
    }
    text = latexify.get_latex(function, reduce_assignments=True, **options)
    if len(text) > 700:
        text = latexify.get_latex(function, reduce_assignments=False, **options)
    return text, source


def _gradient_descent(theta, alpha, epochs, gradient):
    # Batch gradient descent, the loop the notes show (and run for the batch path).
    # No docstring: latexify-py would print it inside the algorithm.
    t = 0
    while t < epochs:
        theta = theta - alpha * gradient(theta)
        t = t + 1
    return theta


def loop_code() -> tuple[str, str]:
    """latexify-py's algorithmic LaTeX (plain math, no extra packages) of the descent loop."""
    import inspect

    text = latexify.generate_latex.get_latex(
        _gradient_descent,
        style=latexify.Style.IPYTHON_ALGORITHMIC,
        use_math_symbols=True,
        identifiers={"_gradient_descent": "gradient_descent"},
    )
    return text, inspect.getsource(_gradient_descent)


# ---------------------------------------------------------------------------- training helpers


def _recorded(compiled: Compiled, data, init, **options) -> tuple[object, numpy.ndarray]:
    """Train with the runner, recording the parameters after every step (for descent paths)."""
    X = compiled.prepare(data)
    function = compiled.loss_and_gradient
    seen: list[numpy.ndarray] = []

    def loss_and_gradient(theta, examples):
        if not seen or not numpy.array_equal(seen[-1], theta):
            seen.append(numpy.array(theta, dtype=float))
        return function(theta, X if isinstance(examples, slice) else X[:, examples])

    result = gradient_descent(
        loss_and_gradient, compiled.theta(init), X.shape[1], names=compiled.params, **options
    )
    # After the last step a diverged run probes the curvature around it: not part of the path.
    return result, numpy.array(seen[: result.steps + 1])


def _rates(compiled, data, init, rates, **options) -> dict[float, tuple[float, ...]]:
    """Loss histories per learning rate; a run the runner stopped as diverged ends in ``inf``."""
    histories = {}
    for rate in rates:
        result = train(compiled, data, init, learning_rate=rate, **options)
        blown = (float("inf"),) if result.diverged else ()
        histories[rate] = (*result.loss_history, *blown)
    return histories


def _rates_and_code(b: _Builder, compiled, data, init, rates, *, batch_size: int) -> None:
    """The learning-rate figure (40 mini-batch epochs a rate, measured verdicts), then the code."""
    histories = _rates(
        compiled, data, init, rates, epochs=40, batch_size=batch_size, seed=0, progress=False
    )
    b.figure(
        "rates",
        f"Mini-batch ({batch_size}) descent at several learning rates; measured verdicts: "
        + _verdicts(histories)
        + ".",
        lambda p: learning_rate_comparison(histories, p, verdicts=classify_runs(histories)),
    )
    _code_section(b, compiled)


def _batch_and_mini_batch(compiled, data, init, *, rate: float, epochs: int) -> dict:
    """Loss histories of batch and mini-batch (16) descent from the same start."""
    runs = {}
    for mode, size in (("batch", None), ("mini-batch (16)", 16)):
        result = train(
            compiled,
            data,
            init,
            learning_rate=rate,
            epochs=epochs,
            batch_size=size,
            seed=0,
            progress=False,
        )
        runs[mode] = result.loss_history
    return runs


def _contour_loss(compiled: Compiled, data) -> Callable[[numpy.ndarray], float]:
    X = compiled.prepare(data)
    return lambda theta: float(compiled.loss_function(theta, X))


def _verdicts(histories: Mapping[float, Sequence[float]]) -> str:
    verdicts = classify_runs(histories)
    return "; ".join(f"{rate:g}: {verdicts[rate]}" for rate in sorted(verdicts))


def descent_runs(
    compiled: Compiled,
    data: Mapping[str, numpy.ndarray],
    init: Mapping[str, float],
    *,
    learning_rate: float,
    epochs: int,
    batch_size: int = 16,
    seed: int = 0,
) -> dict[str, tuple[object, numpy.ndarray]]:
    r"""Batch, stochastic and mini-batch descent with the runner, recording every step.

    .. math:: \theta^{(t+1)} = \theta^{(t)} - \alpha \nabla J_{B_t}(\theta^{(t)})

    with :math:`B_t` all examples, one example, or ``batch_size`` shuffled examples.

    Args:
        compiled: From :func:`symgd.compile.compile_objective`.
        data: One array per data symbol.
        init: Starting parameters.
        learning_rate: :math:`\alpha`.
        epochs: Passes over the data.
        batch_size: Size of the mini-batches of the third run.
        seed: Shuffling seed.

    Returns:
        Run name -> (the runner's result, parameters after every step, shape ``(k, n)``).

    Example:
        >>> c = compile_objective(derive(linear_regression()))
        >>> data = {"x": numpy.array([0.0, 1.0, 2.0]), "y": numpy.array([1.0, 3.0, 5.0])}
        >>> runs = descent_runs(c, data, {"w": 0, "b": 0}, learning_rate=0.1, epochs=5)
        >>> list(runs), runs["batch"][1].shape
        (['batch', 'stochastic', 'mini-batch (16)'], (6, 2))
    """
    runs = {}
    for mode, size in (
        ("batch", None),
        ("stochastic", 1),
        (f"mini-batch ({batch_size})", batch_size),
    ):
        runs[mode] = _recorded(
            compiled,
            data,
            init,
            learning_rate=learning_rate,
            epochs=epochs,
            batch_size=size,
            seed=seed,
            progress=False,
        )
    return runs


def _three_modes(b: _Builder, compiled: Compiled, data, init, rate: float, epochs: int) -> None:
    """Batch, stochastic and mini-batch runs: loss curves and descent paths (2 parameters)."""
    found = descent_runs(compiled, data, init, learning_rate=rate, epochs=epochs)
    runs = {mode: result.loss_history for mode, (result, _) in found.items()}
    paths = {mode: path for mode, (_, path) in found.items()}
    # The batch path again, from the loop the notes show: it must be the runner's path.
    X = compiled.prepare(data)
    theta = compiled.theta(init)
    loop = [theta]
    for _ in range(len(paths["batch"]) - 1):
        theta = _gradient_descent(theta, rate, 1, lambda t: compiled.gradient_function(t, X))
        loop.append(theta)
    if not numpy.allclose(numpy.array(loop), paths["batch"], rtol=1e-12, atol=1e-12):
        raise ArithmeticError("the displayed descent loop disagrees with the runner")
    b.figure(
        "modes",
        f"Training loss of batch, stochastic and mini-batch gradient descent, alpha = {rate:g}.",
        lambda p: loss_curves(runs, p, title="Batch, stochastic and mini-batch descent"),
    )
    if len(compiled.params) == 2:
        b.figure(
            "paths",
            "Descent paths over the contours of J (one point per parameter update).",
            lambda p: descent_paths(
                _contour_loss(compiled, data),
                paths,
                p,
                names=compiled.params,
                title="Descent paths",
            ),
            width=1.0,
        )


# ---------------------------------------------------------------------------- topics


def _seeded_linear(m: int, seed: int, noise: float = 0.3) -> dict[str, numpy.ndarray]:
    rng = numpy.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, m)
    return {"x": x, "y": 2.0 * x + 1.0 + noise * rng.standard_normal(m)}


def _derivation_body(b: _Builder, obj: Objective, key: str = "") -> Derivation:
    derivation = derive(obj)
    b.objective_notation(obj)
    b.section("Model and objective")
    b.say("The model, the loss of one example and the objective, averaged over the examples:")
    b.model(obj, key)
    b.section("Gradients by the chain rule")
    b.say(
        "Each line multiplies the local derivatives along the paths from the loss to the "
        "parameter; every result was checked against a direct differentiation."
    )
    b.chain(derivation, key)
    b.section("Update rule")
    b.say("Gradient descent moves every parameter against its partial derivative:")
    b.update_rules(derivation, key)
    return derivation


def _linear_regression(b: _Builder) -> str:
    obj = linear_regression()
    derivation = _derivation_body(b, obj)
    title = "Linear regression by gradient descent"
    compiled = _compiled(b, derivation)
    if compiled is None:
        return title
    data = _seeded_linear(200, seed=0)
    b.section("Batch, stochastic and mini-batch descent")
    b.say(
        "Batch descent uses all {0} examples per step; stochastic descent one example, "
        "mini-batch descent a shuffled slice B of them, averaging the same summand over B.",
        obj.examples,
    )
    _three_modes(b, compiled, data, {"w": 0.0, "b": 0.0}, rate=0.3, epochs=30)
    _rates_and_code(b, compiled, data, {"w": 0.0, "b": 0.0}, (0.005, 0.02, 0.5, 3.0), batch_size=20)
    return title


def _compiled(b: _Builder, derivation: Derivation) -> Compiled | None:
    """The compiled objective when the note trains; ``None`` when it ends here.

    Without a figures folder nothing is trained and the note ends with the code;
    with ``code=False`` it ends with the derivation.
    """
    if not b.with_code:
        return None
    compiled = compile_objective(derivation)
    if b.figures_dir is not None:
        return compiled
    _code_section(b, compiled)
    return None


def _code_section(b: _Builder, compiled: Compiled) -> None:
    b.section("The code that runs")
    b.say("The gradient function symgd compiled from the derivation above:")
    b.compiled_code(compiled)
    text, source = loop_code()
    b.say("and the descent loop that the batch run above executes:")
    b.code("The gradient-descent loop, rendered by latexify-py", text, source)


def _logistic_regression(b: _Builder) -> str:
    obj = logistic_regression()
    derivation = _derivation_body(b, obj)
    sigma_prime = derivation.steps[0].local_derivatives[0][1]
    b.formulas["sigma'"] = sigma_prime
    title = "Logistic regression: sigmoid and cross-entropy"
    compiled = _compiled(b, derivation)
    if compiled is None:
        return title
    rng = numpy.random.default_rng(1)
    x = rng.normal(0.0, 1.5, 300)
    y = (rng.uniform(size=x.size) < 1 / (1 + numpy.exp(-(2.0 * x - 0.5)))).astype(float)
    data = {"x": x, "y": y}
    b.section("Training")
    b.say(
        "The sigmoid's derivative appears in its own output, {0}, and cancels against the "
        "derivative of the cross-entropy. Trained on 300 seeded examples:",
        sigma_prime,
    )
    _three_modes(b, compiled, data, {"w": 0.0, "b": 0.0}, rate=0.5, epochs=40)
    _rates_and_code(b, compiled, data, {"w": 0.0, "b": 0.0}, (0.02, 1.0, 8.0, 60.0), batch_size=30)
    return title


_CLASSES = 3


def _softmax_regression(b: _Builder) -> str:
    K = _CLASSES
    logits = ", ".join(f"z{k}" for k in range(1, K + 1))
    labels = [f"y{k}" for k in range(1, K + 1)]
    normaliser = " + ".join(f"exp(z{k})" for k in range(1, K + 1))
    define = {"S": normaliser, **{f"p{k}": f"exp(z{k})/S" for k in range(1, K + 1)}}
    loss = " - ".join(f"y{k}*log(p{k})" for k in range(1, K + 1))
    head = objective("-" + loss, logits, labels, define=define)
    head_derivation = derive(head)
    for k in range(1, K + 1):
        b.note(symbol(f"z{k}"), f"logit (score) of class {k}")
        b.note(symbol(f"p{k}"), f"softmax probability of class {k}")
        b.note(symbol(f"y{k}"), f"1 if the example is of class {k}, else 0")
    b.note(symbol("S"), "the softmax normaliser")
    b.objective_notation(head)
    b.note(sympy.Symbol("delta_k"), "error signal of class k: the derivative of the loss by z_k")
    b.section("Softmax and cross-entropy")
    b.say(
        "With one-hot labels (exactly one y_k equals 1), the softmax cross-entropy of one example:"
    )
    b.model(head, "head-")
    b.section("The error signal")
    b.say(
        "The derivative of the loss by each logit, through the normaliser S and every "
        "probability; with the one-hot constraint it simplifies to the error signal:"
    )
    ys = [symbol(n) for n in labels]
    deltas = []
    substitutions = head.substitutions
    for k, step in enumerate(head_derivation.steps):
        p = head.intermediates[k + 1][0]
        # One-hot labels: eliminate a label other than y_k, then see what is left besides p_k.
        other = ys[-1] if k != K - 1 else ys[0]
        one_hot = {other: 1 - sympy.Add(*(y for y in ys if y != other))}
        remainder = lecturer_form(sympy.simplify(step.result.xreplace(one_hot) - substitutions[p]))
        if not remainder.free_symbols <= set(ys):
            raise ArithmeticError(f"the error signal of {step.param} does not simplify")
        delta = p + remainder
        deltas.append(delta)
        name = sympy.Symbol(f"delta_{k + 1}", real=True)
        symbolic = " + ".join(
            " ".join(b.partial(a, c) for a, c in zip(path, path[1:])) for path in step.paths
        )
        b.equations(
            (
                f"delta-{k + 1}",
                b.partial(LOSS_SYMBOL, step.param),
                [symbolic, b.tex(delta), b.tex(name)],
            )
        )
        b.formulas[f"delta{k + 1}"] = delta
    b.derivations.append(head_derivation)

    features = ("x1", "x2")
    params, define = [], {}
    for k in range(1, K + 1):
        row = [f"w{k}{j}" for j in range(1, len(features) + 1)]
        params += row + [f"b{k}"]
        define[f"z{k}"] = " + ".join(f"{w}*{x}" for w, x in zip(row, features)) + f" + b{k}"
    lse = "log(" + normaliser + ")"
    full = objective(
        lse + " - " + " - ".join(f"y{k}*z{k}" for k in range(1, K + 1)),
        params,
        list(features) + labels,
        define=define,
    )
    full_derivation = derive(full)
    b.derivations.append(full_derivation)
    for k in range(1, K + 1):
        b.note(symbol(f"w{k}1"), f"weights of class {k} (w{k}1, w{k}2) and its bias b{k}")
    b.note(symbol("x1"), "features of one example (x1, x2)")
    b.section("Gradients of the weights")
    b.say(
        "Each logit is linear in its row of weights, so every weight gradient is the error "
        "signal times the input it multiplies (checked against the full derivation):"
    )
    lines = []
    z_defs = dict(full.intermediates)
    for step in full_derivation.steps:
        k = next(i for i, (z, d) in enumerate(full.intermediates) if step.param in d.free_symbols)
        z = full.intermediates[k][0]
        local = sympy.diff(z_defs[z], step.param)
        claimed = deltas[k].xreplace(substitutions).xreplace(full.substitutions) * local
        # The derivation engine's result (one-hot labels) must equal delta_k * dz_k/dw.
        if not is_zero((step.result - claimed).xreplace({ys[-1]: 1 - sympy.Add(*ys[:-1])})):
            raise ArithmeticError(f"gradient of {step.param} is not delta_k times its input")
        name = sympy.Symbol(f"delta_{k + 1}", real=True)
        lines.append(
            (
                f"grad-{step.param.name}",
                b.partial(LOSS_SYMBOL, step.param),
                [f"{b.partial(LOSS_SYMBOL, z)} {b.partial(z, step.param)}", b.tex(name * local)],
            )
        )
        b.formulas[f"dl/d{step.param.name}"] = step.result
    b.equations(*lines)
    title = "Softmax regression: the error signal p - y"
    compiled = _compiled(b, full_derivation)
    if compiled is None:
        return title
    rng = numpy.random.default_rng(2)
    centres = numpy.array([[0.0, 1.5], [-1.4, -0.8], [1.4, -0.8]])
    label = numpy.repeat(numpy.arange(K), 80)
    points = centres[label] + 0.7 * rng.standard_normal((label.size, 2))
    data = {"x1": points[:, 0], "x2": points[:, 1]}
    data.update({f"y{k + 1}": (label == k).astype(float) for k in range(K)})
    init = dict.fromkeys(compiled.params, 0.0)
    runs = _batch_and_mini_batch(compiled, data, init, rate=0.5, epochs=60)
    b.section("Training")
    b.say("Trained on 240 seeded examples from three Gaussian classes:")
    b.figure("modes", "Training loss of softmax regression.", lambda p: loss_curves(runs, p))
    _rates_and_code(b, compiled, data, init, (0.01, 0.5, 8.0, 80.0), batch_size=16)
    return title


def _mlp_backprop(b: _Builder) -> str:
    define = {
        "z1": "w11*x1 + w12*x2 + b1",
        "a1": "sigmoid(z1)",
        "z2": "w21*x1 + w22*x2 + b2",
        "a2": "sigmoid(z2)",
        "z3": "v1*a1 + v2*a2 + c",
        "p": "sigmoid(z3)",
    }
    obj = objective(
        "-y*log(p) - (1 - y)*log(1 - p)",
        "w11,w12,b1,w21,w22,b2,v1,v2,c",
        "x1,x2,y",
        define=define,
    )
    derivation = _derivation_body(b, obj)
    _general_recursion(b, obj, derivation)
    title = "Backpropagation in a 2-2-1 network, weight by weight"
    compiled = _compiled(b, derivation)
    if compiled is None:
        return title
    rng = numpy.random.default_rng(3)
    x = rng.uniform(-2, 2, (300, 2))
    y = ((x[:, 0] ** 2 + x[:, 1] < 1.0) ^ (rng.uniform(size=300) < 0.05)).astype(float)
    data = {"x1": x[:, 0], "x2": x[:, 1], "y": y}
    init = dict(zip(compiled.params, numpy.random.default_rng(4).normal(0, 0.5, 9)))
    runs = _batch_and_mini_batch(compiled, data, init, rate=1.0, epochs=80)
    b.section("Training")
    b.say(
        "The 2-2-1 network (sigmoid units) trained on 300 seeded examples of a curved "
        "boundary with 5 % of the labels flipped:"
    )
    b.figure("modes", "Training loss of the 2-2-1 network.", lambda p: loss_curves(runs, p))
    _rates_and_code(b, compiled, data, init, (0.05, 1.0, 20.0, 400.0), batch_size=16)
    return title


def _general_recursion(b: _Builder, obj: Objective, derivation: Derivation) -> None:
    """The layer-level δ recursion (:mod:`symgd.derive.network`), checked on the expanded case."""
    from symgd.define.network import network
    from symgd.derive.network import derive_network
    from symgd.render.network import network_latex, network_markdown

    general = derive_network(network("2,2,1", activation="sigmoid", loss="bce"))
    # The expanded chain's first two links, dℓ/dp · dp/dz3, are the output error δ^(2).
    output = derivation.steps[obj.params.index(symbol("c"))]
    local = lecturer_form(sympy.Mul(*output.local_derivatives[0][:2]))
    p, y = symbol("p"), symbol("y")
    delta = general.output_error.delta
    names = {s.name: s for s in delta.free_symbols}
    expected = delta.xreplace({names[n]: v for n, v in (("p", p), ("y", y)) if n in names})
    if not is_zero(local - expected):
        raise ArithmeticError(f"the expanded output error {local} is not the layer rule's {delta}")
    b.formulas["delta output"] = local
    b.section("The general delta recursion")
    b.say(
        "The same network by layers: the output error and the activation derivative are "
        "derived by SymPy, the dense-layer rules in index notation (symgd.derive.network). The "
        "expanded chains above are its entries: the first two local derivatives of every "
        "chain multiply to the output error {0}.",
        local,
    )
    b.parts.append(Rendered(network_latex(general), network_markdown(general)))


def _matrix_factorization(b: _Builder) -> str:
    k = 2
    u = [f"u{j}" for j in range(1, k + 1)]
    v = [f"v{j}" for j in range(1, k + 1)]
    strength = 0.05
    obj = objective(
        "(r - rhat)**2/2",
        u + v,
        "r",
        define={"rhat": " + ".join(f"{a}*{c}" for a, c in zip(u, v))},
        l2=strength,
    )
    b.note(sympy.Symbol("ubold_i"), "latent factors of user i, a row of U")
    b.note(sympy.Symbol("vbold_j"), "latent factors of item j, a row of V")
    matrix = _LatexPrinter({"mat_symbol_style": "bold"})  # matrices: upright bold capitals
    b.note(matrix.doprint(sympy.MatrixSymbol("R", 1, 1)), "ratings matrix, observed on a set O")
    b.note(matrix.doprint(sympy.MatrixSymbol("U", 1, 1)), "user factors, one row per user")
    b.note(matrix.doprint(sympy.MatrixSymbol("V", 1, 1)), "item factors, one row per item")
    derivation = _derivation_body(b, obj)
    b.section("From one rating to the matrices")
    b.say(
        "Each observed rating r = R_ij involves only user i's factors and item j's "
        "factors: the parameters above are the entries of those two rows, and m counts the "
        "observed ratings. The gradient of a row of U sums the per-rating gradients over "
        "that user's ratings (a scatter-add), plus the penalty; likewise for V."
    )
    u_i = sympy.MatrixSymbol("ubold_i", k, 1)
    v_j = sympy.MatrixSymbol("vbold_j", k, 1)
    b.equations(("rating", b.tex(sympy.Symbol("rhat_ij")), [b.tex(u_i.T * v_j)]))
    title = "Matrix factorization for recommendation"
    if b.figures_dir is None or not b.with_code:
        return title
    gradient = _lambdify_gradient(derivation)
    loss = sympy.lambdify(
        [*obj.params, *obj.data], obj.expanded_loss, modules="numpy", cse=True
    )  # per-rating loss, compiled the same way
    rng = numpy.random.default_rng(5)
    users, items = 14, 12
    U_true, V_true = rng.normal(0, 1, (users, k)), rng.normal(0, 1, (items, k))
    observed = numpy.argwhere(rng.uniform(size=(users, items)) < 0.6)
    ratings = numpy.einsum("ij,ij->i", U_true[observed[:, 0]], V_true[observed[:, 1]])
    ratings = ratings + 0.1 * rng.standard_normal(ratings.size)
    held = rng.uniform(size=ratings.size) < 0.2
    train_set, test_set = numpy.flatnonzero(~held), numpy.flatnonzero(held)
    shape = (users, k), (items, k)

    def unpack(theta):
        return theta[: users * k].reshape(shape[0]), theta[users * k :].reshape(shape[1])

    def objective_on(theta, rows):
        U, V = unpack(theta)
        i, j = observed[rows, 0], observed[rows, 1]
        args = [*U[i].T, *V[j].T, ratings[rows]]
        value = numpy.mean(loss(*args)) + strength / 2 * (theta @ theta)
        per_rating = gradient(*args)  # one array per parameter symbol: u1..uk, v1..vk
        gU, gV = numpy.zeros(shape[0]), numpy.zeros(shape[1])
        numpy.add.at(gU, i, numpy.stack(per_rating[:k], axis=1))
        numpy.add.at(gV, j, numpy.stack(per_rating[k:], axis=1))
        grad = numpy.concatenate([gU.ravel(), gV.ravel()]) / len(rows) + strength * theta
        return value, grad

    def on_train(theta, examples):
        rows = train_set if isinstance(examples, slice) else train_set[examples]
        return objective_on(theta, rows)

    theta0 = numpy.random.default_rng(6).normal(0, 0.3, (users + items) * k)
    runs, validation = {}, {}
    for mode, size in (("batch", None), ("mini-batch (16)", 16)):
        epochs: list[numpy.ndarray] = []

        def recording(theta, examples, epochs=epochs):
            # The runner evaluates the whole training set (a slice) at the end of every epoch.
            if isinstance(examples, slice) and not (
                epochs and numpy.array_equal(epochs[-1], theta)
            ):
                epochs.append(numpy.array(theta))
            return on_train(theta, examples)

        result = gradient_descent(
            recording,
            theta0,
            train_set.size,
            learning_rate=1.0,
            epochs=150,
            batch_size=size,
            seed=0,
            progress=False,
        )
        runs[mode] = result.loss_history
        validation[mode] = [objective_on(theta, test_set)[0] for theta in epochs]
    b.formulas["train size"] = sympy.Integer(train_set.size)
    b.section("Training on a synthetic ratings matrix")
    b.say(
        f"A seeded {users} x {items} ratings matrix of rank {k} plus noise, about 60 % observed; "
        "a fifth of the observed ratings is held out for validation."
    )
    b.figure(
        "modes",
        "Training (solid) and held-out (dashed) loss of the factorisation.",
        lambda p: loss_curves(runs, p, validation=validation),
    )
    return title


def _lambdify_gradient(derivation: Derivation) -> Callable:
    """Per-rating gradients (not summed over examples), compiled with ``lambdify(cse=True)``."""
    obj = derivation.objective
    return sympy.lambdify(
        [*obj.params, *obj.data],
        [sympy.Add(step.result, 0) for step in derivation.steps],
        modules="numpy",
        cse=True,
    )


def _regularization(b: _Builder) -> str:
    strength = 0.1
    ridge = objective("(y - yhat)**2/2", "w,b", "x,y", define={"yhat": "w*x + b"}, l2=strength)
    lasso = objective(
        "(y - yhat)**2/2 + lamda*abs(w)",
        "w,b",
        "x,y",
        define={"yhat": "w*x + b", "lamda": str(strength)},
    )
    b.objective_notation(ridge)
    b.section("L2 penalty (ridge, weight decay)")
    b.say("The squared-error objective plus the L2 penalty on the parameters:")
    ridge_derivation = derive(ridge)
    b.model(ridge, "l2-")
    b.chain(ridge_derivation, "l2-")
    b.say("Collecting the parameter in the update shows the decay factor:")
    _decay_update(b, ridge_derivation, ridge.l2_symbol, "l2-")
    b.section("L1 penalty (lasso)")
    b.say("An L1 term on the weight, added to every example's loss (so also to their mean):")
    lasso_derivation = derive(lasso)
    b.model(lasso, "l1-")
    b.chain(lasso_derivation, "l1-")
    b.update_rules(lasso_derivation, "l1-")
    title = "Regularization: L2 and L1 penalties"
    if b.figures_dir is None or not b.with_code:
        return title
    plain = derive(linear_regression())
    data, held = _seeded_linear(12, seed=7, noise=0.5), _seeded_linear(200, seed=8, noise=0.5)
    runs, validation = {}, {}
    compiled_plain = compile_objective(plain)
    for name, derivation in (("none", plain), ("L2", ridge_derivation), ("L1", lasso_derivation)):
        compiled = compile_objective(derivation)
        result, path = _recorded(
            compiled, data, {"w": 0.0, "b": 0.0}, learning_rate=0.3, epochs=60, progress=False
        )
        runs[name] = result.loss_history
        X = compiled_plain.prepare(held)
        validation[name] = [float(compiled_plain.loss_function(t, X)) for t in path]
        b.formulas[f"{name} final w"] = sympy.Float(result.params["w"])
    b.section("Effect on training")
    b.say(
        "Fitted on 12 noisy seeded examples, checked on 200 held-out ones (dashed: the "
        "unpenalised squared error on the held-out examples):"
    )
    b.figure(
        "effect",
        "Training objective (solid) and held-out squared error (dashed) with no penalty, "
        "L2 and L1.",
        lambda p: loss_curves(runs, p, validation=validation),
    )
    return title


def _decay_update(b: _Builder, derivation: Derivation, strength: sympy.Symbol, key: str) -> None:
    """``θ^{(t+1)} = (1 − αλ) θ^{(t)} − α ∂J_0/∂θ`` from collecting the update in ``θ``."""
    lines = []
    for p in derivation.objective.params:
        now = b.at_step(p, "t")
        data_term = PartialDerivative(sympy.Symbol("J_0", real=True), p)
        update = sympy.collect(sympy.expand(now - _ALPHA * (data_term + strength * now)), now)
        b.formulas[f"{key}decay {p.name}"] = update
        lines.append((f"{key}decay-{p.name}", b.tex(b.at_step(p, "t+1")), [b.tex(update)]))
    b.equations(*lines)
    b.note(sympy.Symbol("J_0"), "the objective without the penalty")


_OPTIMIZERS: dict[str, Callable[[float], GradientTransformation]] = {
    "momentum": lambda rate: momentum(rate, beta=0.9),
    "Nesterov": lambda rate: nesterov(rate, beta=0.9),
    "RMSProp": lambda rate: rmsprop(rate, decay=0.9),
    "Adam": lambda rate: adam(rate),
}


def _optimizers(b: _Builder) -> str:
    b.note(sympy.Symbol("g_t"), "gradient at step t")
    b.note(sympy.Symbol("theta_t"), "parameters at step t")
    b.note(_ALPHA, "learning rate")
    for name, meaning in (
        ("v_t", "velocity (momentum, Nesterov) or running mean of squared gradients"),
        ("m_t", "running mean of the gradients (Adam)"),
        ("mhat_t", "bias-corrected means (Adam): m and v divided by 1 - beta^t"),
        ("beta", "momentum coefficient"),
        ("rho", "decay of the running mean (RMSProp)"),
        ("beta_1", "decays of the two running means (Adam), beta_1 and beta_2"),
        ("epsilon", "a small number keeping the denominator away from zero"),
    ):
        b.note(sympy.Symbol(name), meaning)
    b.section("Update rules")
    b.say(
        "Each optimiser's update, printed from the same SymPy equations that symgd compiles "
        "into its NumPy update (element-wise, for every parameter):"
    )
    rates = {"momentum": 0.05, "Nesterov": 0.05, "RMSProp": 0.05, "Adam": 0.1}
    transforms = {name: make(rates[name]) for name, make in _OPTIMIZERS.items()}
    for name, transform in transforms.items():
        b.say(f"{name}:")
        body = update_rule_latex(transform)
        lines = body.removeprefix("\\begin{aligned}\n").removesuffix("\n\\end{aligned}")
        rows = []
        for n, line in enumerate(lines.split(" \\\\\n")):
            lhs, rhs = line.split(" &= ", 1)
            rows.append((f"{name.lower()}-{n}", lhs, [rhs]))
        b.equations(*rows)
        b.formulas[name] = sympy.Tuple(*transform.equations)
    title = "Optimizers: momentum, Nesterov, RMSProp and Adam"
    if b.figures_dir is None or not b.with_code:
        return title
    compiled = compile_objective(derive(linear_regression()))
    rng = numpy.random.default_rng(9)
    x = rng.uniform(1.0, 3.0, 100)  # far from zero: long, narrow contours in (w, b)
    data = {"x": x, "y": 2.0 * x + 1.0 + 0.2 * rng.standard_normal(x.size)}
    X = compiled.prepare(data)
    paths, runs = {}, {}
    for name, transform in transforms.items():
        params = {"theta": numpy.array([-1.0, 4.0])}
        state = transform.init(params)
        path, losses = [params["theta"]], [float(compiled.loss_function(params["theta"], X))]
        for _ in range(150):
            grads = {"theta": compiled.gradient_function(params["theta"], X)}
            updates, state = transform.update(grads, state, params)
            params = apply_updates(params, updates)
            path.append(params["theta"])
            losses.append(float(compiled.loss_function(params["theta"], X)))
        paths[name], runs[name] = numpy.array(path), losses
    b.section("The optimisers on an ill-conditioned problem")
    b.say(
        "Linear regression with inputs between 1 and 3, so that w and b are strongly coupled "
        "(long, narrow contours); 150 full-batch steps of each optimiser from the same start:"
    )
    b.figure(
        "paths",
        "Paths of momentum, Nesterov, RMSProp and Adam over the contours of J.",
        lambda p: descent_paths(
            _contour_loss(compiled, data), paths, p, names=("w", "b"), columns=2
        ),
        width=1.0,
    )
    b.figure("curves", "Loss per step of each optimiser.", lambda p: loss_curves(runs, p))
    return title


@dataclass(frozen=True)
class Topic:
    """One catalogue entry: its one-line summary and the function that builds it."""

    summary: str
    build: Callable[[_Builder], str]


TOPICS: dict[str, Topic] = {
    "linear-regression": Topic(
        "the seed: J(w,b) = 1/(2m) sum (y - (w x + b))^2, gradients, update, batch/SGD/mini-batch",
        _linear_regression,
    ),
    "logistic-regression": Topic(
        "sigmoid and cross-entropy; dl/dw = (p - y) x through the chain rule", _logistic_regression
    ),
    "softmax-regression": Topic(
        "softmax cross-entropy over 3 classes; the error signal delta = p - y", _softmax_regression
    ),
    "mlp-backprop": Topic(
        "a 2-2-1 sigmoid network differentiated weight by weight (backpropagation)", _mlp_backprop
    ),
    "matrix-factorization": Topic(
        "recommender r_ij ~ u_i^T v_j on observed entries with L2; gradients for u_i and v_j",
        _matrix_factorization,
    ),
    "regularization": Topic("L2 and L1 penalties and their effect on the update", _regularization),
    "optimizers": Topic(
        "momentum, Nesterov, RMSProp and Adam update equations from the optimiser definitions",
        _optimizers,
    ),
}


def build_notes(
    topic: str,
    figures: str | Path | None = None,
    *,
    code: bool = True,
    notation: Notation | None = None,
) -> Notes:
    """Build one catalogue topic.

    Args:
        topic: A key of :data:`TOPICS`.
        figures: Folder for the figure files (created); ``None`` skips training and figures.
        code: Include the compiled code (``False``: the derivations only, nothing compiled).
        notation: Display names; the default shows symgd's names.

    Returns:
        The :class:`Notes`.

    Raises:
        ValueError: An unknown topic.

    Example:
        >>> note = build_notes("logistic-regression", code=False)
        >>> note.derivations[0].steps[0].in_intermediates
        x*(p - y)
    """
    if topic not in TOPICS:
        raise ValueError(f"unknown topic {topic!r}; known: {', '.join(TOPICS)}")
    builder = _Builder(topic, notation or Notation(), _folder(figures) if code else None)
    builder.with_code = code
    title = TOPICS[topic].build(builder)
    return builder.finish(title)


def _folder(figures: str | Path | None) -> Path | None:
    if figures is None:
        return None
    folder = Path(figures)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def custom_notes(
    obj: Objective,
    *,
    title: str = "Gradient derivation",
    data: Mapping[str, numpy.ndarray] | None = None,
    init: Mapping[str, float] | None = None,
    learning_rate: float = 0.1,
    epochs: int = 100,
    figures: str | Path | None = None,
    notation: Notation | None = None,
) -> Notes:
    """Notes for any objective: model, chain rule, update rule, code; figures when data is given.

    Args:
        obj: From :func:`symgd.model.objective` (symbol names already validated there).
        title: Plain-text title.
        data: One array per data symbol; with ``figures``, the objective is trained on it.
        init: Starting parameters (default: all zero).
        learning_rate: Step size of the runs drawn in the figures.
        epochs: Epochs of those runs.
        figures: Folder for the figures.
        notation: Display names.

    Returns:
        The :class:`Notes`.

    Example:
        >>> obj = objective("(y - w*x)**2", "w", "x,y")
        >>> custom_notes(obj).formulas["dl/dw"]
        2*x*(w*x - y)
    """
    builder = _Builder("custom", notation or Notation(), _folder(figures) if data else None)
    derivation = _derivation_body(builder, obj)
    compiled = compile_objective(derivation)
    if data is not None and builder.figures_dir is not None:
        start = dict(init or dict.fromkeys(compiled.params, 0.0))
        builder.section("Training")
        builder.say("The compiled gradient, trained on the given data:")
        if len(compiled.params) == 2:
            _three_modes(builder, compiled, data, start, rate=learning_rate, epochs=epochs)
        else:
            result = train(
                compiled, data, start, learning_rate=learning_rate, epochs=epochs, progress=False
            )
            builder.figure(
                "loss", "Training loss.", lambda p: loss_curves({"batch": result.loss_history}, p)
            )
        rates = _rates(
            compiled,
            data,
            start,
            [learning_rate * f for f in (0.1, 1.0, 10.0, 100.0)],
            epochs=epochs,
            progress=False,
        )
        builder.figure(
            "rates",
            "Batch descent at several learning rates; measured verdicts: " + _verdicts(rates) + ".",
            lambda p: learning_rate_comparison(rates, p, verdicts=classify_runs(rates)),
        )
    _code_section(builder, compiled)
    return builder.finish(title)


# ---------------------------------------------------------------------------- output


def _fill(prose: Prose, math: Callable[[str], str], escape: Callable[[str], str]) -> str:
    pieces = re.split(r"(\{\d+\})", prose.text)
    out = []
    for piece in pieces:
        found = re.fullmatch(r"\{(\d+)\}", piece)
        out.append(math(prose.math[int(found.group(1))]) if found else escape(piece))
    return "".join(out)


#: Longest right-hand side (LaTeX characters) set at natural size; longer ones are scaled to fit.
_FIT = 70


def _fit(rhs: str) -> str:
    if len(rhs) <= _FIT:
        return rhs
    return (
        r"\resizebox{\ifdim\width>0.78\linewidth 0.78\linewidth\else\width\fi}{!}"
        rf"{{$\displaystyle {rhs}$}}"
    )


def _tex_equations(block: Sequence[Equation]) -> str:
    lines = []
    for eq in block:
        for n, rhs in enumerate(eq.rhs):
            lhs = eq.lhs if n == 0 else ""
            last = n == len(eq.rhs) - 1
            tag = f" \\label{{{eq.label}}}" if last else r" \notag"
            lines.append(f"{lhs} &= {_fit(rhs)}{tag}")
    return "\\begin{align}\n" + " \\\\\n".join(lines) + "\n\\end{align}"


def to_tex(notes: Notes, *, relative_to: str | Path | None = None) -> str:
    """The note as a standalone LaTeX document (``pdflatex``, amsmath, graphicx).

    Args:
        notes: From :func:`build_notes` or :func:`custom_notes`.
        relative_to: Folder of the ``.tex`` file; figure paths are written relative to it.

    Returns:
        The ``.tex`` source.
    """
    parts = ["\\section*{Notation}", "\\begin{center}", "\\begin{tabular}{cl}", "\\hline"]
    parts += [f"${shown}$ & {escape_tex(meaning)} \\\\" for shown, meaning in notes.notation]
    parts += ["\\hline", "\\end{tabular}", "\\end{center}"]
    for section in notes.sections:
        parts.append(f"\\section{{{escape_tex(section.heading)}}}")
        for part in section.parts:
            parts.append(_tex_part(part, relative_to))
    return document("\n".join(parts), title=notes.title)


def _tex_part(part, relative_to) -> str:
    if isinstance(part, Prose):
        return _fill(part, lambda m: f"${m}$", escape_tex) + "\n"
    if isinstance(part, tuple):
        return _tex_equations(part)
    if isinstance(part, Rendered):
        return part.tex
    if isinstance(part, Figure):
        path = _relative(part.path, relative_to)
        return (
            "\\begin{figure}[htbp]\n\\centering\n"
            f"\\includegraphics[width={part.width:g}\\linewidth]{{{path}}}\n"
            f"\\caption{{{escape_tex(part.caption)}}}\n\\label{{{part.label}}}\n\\end{{figure}}"
        )
    return (
        "\\begin{center}\n"
        r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}"
        f"{{$\\displaystyle {part.latex}$}}\n"
        "\\end{center}\n"
    )


def _relative(path: Path, folder: str | Path | None) -> str:
    if folder is None:
        return path.as_posix()
    try:
        return path.resolve().relative_to(Path(folder).resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def to_markdown(notes: Notes, *, relative_to: str | Path | None = None) -> str:
    """The note as Markdown with ``$$`` math (Jupyter, GitHub and most Markdown sites).

    Args:
        notes: From :func:`build_notes` or :func:`custom_notes`.
        relative_to: Folder of the ``.md`` file; image paths are written relative to it.

    Returns:
        Markdown text.
    """
    parts = [f"# {notes.title}\n", "## Notation\n", "| symbol | meaning |", "| --- | --- |"]
    parts += [f"| ${shown}$ | {meaning} |" for shown, meaning in notes.notation]
    parts.append("")
    for section in notes.sections:
        parts.append(f"## {section.heading}\n")
        for part in section.parts:
            if isinstance(part, Prose):
                parts.append(_fill(part, lambda m: f"${m}$", lambda t: t) + "\n")
            elif isinstance(part, tuple):
                lines = []
                for eq in part:
                    lines += [
                        (eq.lhs if n == 0 else "") + f" &= {rhs}" for n, rhs in enumerate(eq.rhs)
                    ]
                body = " \\\\\n".join(lines)
                parts.append(f"$$\n\\begin{{aligned}}\n{body}\n\\end{{aligned}}\n$$\n")
            elif isinstance(part, Figure):
                parts.append(f"![{part.caption}]({_relative(part.path, relative_to)})\n")
            elif isinstance(part, Rendered):
                parts.append(part.markdown + "\n")
            else:
                parts.append(f"$$\n{part.latex}\n$$\n")
                parts.append(f"```python\n{part.source.rstrip()}\n```\n")
    return "\n".join(parts)


def compile_pdf(tex: str | Path) -> Path:
    """Compile a ``.tex`` file with ``pdflatex`` (twice, for references) next to it.

    Args:
        tex: The ``.tex`` file.

    Returns:
        The ``.pdf`` path.

    Raises:
        FileNotFoundError: ``pdflatex`` is not installed (one line, with the fix).
        RuntimeError: ``pdflatex`` reported an error (its first error line).
    """
    tex = Path(tex)
    if shutil.which("pdflatex") is None:
        raise FileNotFoundError(
            "pdflatex is not installed; install it (Debian: apt-get install texlive-latex-base "
            "texlive-latex-recommended) or write .tex and compile it elsewhere"
        )
    command = ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape"]
    for _ in range(2):
        result = subprocess.run(
            [*command, tex.name], cwd=tex.parent, capture_output=True, text=True, timeout=300
        )
        if result.returncode != 0:
            errors = [line for line in result.stdout.splitlines() if line.startswith("!")]
            raise RuntimeError(f"pdflatex failed on {tex.name}: {(errors or ['see its log'])[0]}")
    return tex.with_suffix(".pdf")


def write_notes(notes_or_topic: Notes | str, path: str | Path, *, pdf: bool = False) -> list[Path]:
    """Write a note as ``.tex`` or ``.md`` (by suffix), with its figures; optionally a PDF.

    A topic name is built with its figures in ``<stem>-figures/`` next to ``path``.

    Args:
        notes_or_topic: A :class:`Notes` or a key of :data:`TOPICS`.
        path: ``FILE.tex``, ``FILE.md`` or ``FILE.pdf`` (the ``.tex`` is kept beside it).
        pdf: Also compile the ``.tex`` with ``pdflatex``.

    Returns:
        The files written (document first).

    Raises:
        ValueError: Another suffix, or an unknown topic.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".tex", ".md", ".pdf"):
        raise ValueError(f"notes file {path.name!r} must end in .tex, .md or .pdf")
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(notes_or_topic, str):
        notes = build_notes(notes_or_topic, path.parent / f"{path.stem}-figures")
    else:
        notes = notes_or_topic
    if suffix == ".md":
        path.write_text(to_markdown(notes, relative_to=path.parent), encoding="utf-8")
        return [path, *notes.figures]
    tex = path.with_suffix(".tex")
    tex.write_text(to_tex(notes, relative_to=path.parent), encoding="utf-8")
    written = [tex]
    if pdf or suffix == ".pdf":
        written.insert(0, compile_pdf(tex))
    return [*written, *notes.figures]
