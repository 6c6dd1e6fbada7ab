r"""The code that runs: the derivation as readable NumPy, and the descent loop.

:func:`readable_source` writes the loss and gradient of a derivation as one NumPy
function a reader can follow line by line beside the derivation: one line per named
intermediate (``z = w*x + b``, ``p = sigmoid(z)``), the loss ``J`` and one line
``dJ_dw`` per parameter, in the derivation's own names and notation (``1 - a**2``
where the derivation writes :math:`1 - a^2`). A line that could overflow (``exp``,
``log``) is written in the stable form the compiler uses (``numpy.logaddexp(0, z)``,
``logsumexp``), and the listing defines every helper it calls, so it runs on its own
with NumPy alone. :func:`code_section` checks, while the notes are built, that it
computes what the compiled code that training calls computes (:mod:`symgd.compile`,
which shares subexpressions and reduces with BLAS products).

The descent loop is a function written for reading, rendered by latexify-py; the notes
run it beside the runner to check that it takes the runner's path.
"""

from __future__ import annotations

import inspect
import keyword
import re
from collections.abc import Sequence

import latexify
import numpy
import sympy
from sympy.printing.numpy import NumPyPrinter

from symgd.compile import (
    HEAVISIDE_AT_ZERO,
    Compiled,
    compile_objective,
    log_softmax,
    logsumexp,
    piecewise,
    stabilize,
)
from symgd.derivation import Derivation
from symgd.notes.builder import Builder

__all__ = [
    "LISTING_WIDTH",
    "code_section",
    "compiled_or_code",
    "descent_loop",
    "loop_code",
    "readable_source",
]

#: Longest line of a generated listing (set in ``\small`` typewriter, it fits the text width).
LISTING_WIDTH = 88

# The helpers a listing may call, each defined in the listing when it is called. NumPy alone,
# no overflow for any finite input (the same forms as symgd.compile.numeric, written to be read).
_HELPERS = {
    "sigmoid": '''def sigmoid(z):
    """The logistic function 1/(1 + exp(-z)), without overflow for any z."""
    e = numpy.exp(-numpy.abs(z))
    return numpy.where(z >= 0, 1.0, e) / (1.0 + e)
''',
    "sech": '''def sech(z):
    """1/cosh(z), without overflow for any z."""
    e = numpy.exp(-numpy.abs(z))
    return 2.0 * e / (1.0 + e * e)
''',
    "logsumexp": '''def logsumexp(*values):
    """log(exp(v1) + exp(v2) + ...), the largest value taken out first (no overflow)."""
    values = numpy.broadcast_arrays(*values)
    peak = numpy.max(values, axis=0)
    return peak + numpy.log(numpy.sum(numpy.exp(numpy.subtract(values, peak)), axis=0))
''',
}


def _piecewise_helper() -> str:
    """symgd.compile's ``piecewise`` (NumPy only), its docstring cut to the summary line."""
    source = inspect.getsource(piecewise)
    source = "def piecewise(conditions, branches, arguments):\n" + source.split(":\n", 1)[1]
    summary = '    """Evaluate a piecewise function, each branch only where it is selected."""\n'
    return re.sub(r'    """.*?"""\n', lambda _: summary, source, count=1, flags=re.S)


#: Names the listing uses for itself; a symbol so named is shown with a trailing ``_``.
_RESERVED = frozenset(
    {"numpy", "theta", "X", "m", "J", "loss_and_gradient", "piecewise", *_HELPERS}
)


class _ReadingPrinter(NumPyPrinter):
    """NumPy code for reading: symgd's functions as the helpers above, comparisons as operators."""

    def __init__(self) -> None:
        super().__init__({"fully_qualified_modules": True, "allow_unknown_functions": False})
        self.helpers: set[str] = set()

    def _as_ordered_terms(self, expr: sympy.Expr, order=None) -> list[sympy.Expr]:
        # The derivation's order: subtracted terms last (``p - y``, ``a - 1``), and lone
        # symbols after computed terms (``w*x + b``), as in symgd.compile.
        def key(term: sympy.Expr) -> tuple[bool, bool]:
            negative = term.could_extract_minus_sign()
            return negative, (-term if negative else term).is_Symbol

        return sorted(super()._as_ordered_terms(expr, order=order), key=key)

    def _print_Mul(self, expr: sympy.Mul) -> str:
        # (y - yhat)**2/2 rather than (1/2)*(y - yhat)**2.
        coefficient, rest = expr.as_coeff_Mul()
        if coefficient.is_Rational and not coefficient.is_Integer and rest != 1:
            top = coefficient.p * rest
            shown = f"({self._print(top)})" if top.is_Add else self._print(top)
            return f"{shown}/{coefficient.q}"
        return super()._print_Mul(expr)

    def _print_Symbol(self, expr: sympy.Symbol) -> str:
        name = super()._print_Symbol(expr)
        taken = name in _RESERVED or keyword.iskeyword(name) or name.startswith("dJ_d")
        return f"{name}_" if taken else name

    def _print_Float(self, expr: sympy.Float) -> str:
        return repr(float(expr))

    _print_NumberSymbol = _print_Float

    def _print_Pow(self, expr: sympy.Pow, rational: bool = False) -> str:
        if expr.is_number and not expr.is_Rational:
            return repr(float(expr))
        return super()._print_Pow(expr, rational=rational)

    def _helper(self, name: str, args: Sequence[sympy.Basic]) -> str:
        self.helpers.add(name)
        return f"{name}({', '.join(self._print(a) for a in args)})"

    def _print_sigmoid(self, expr: sympy.Expr) -> str:
        return self._helper("sigmoid", expr.args)

    def _print_sech(self, expr: sympy.Expr) -> str:
        return self._helper("sech", expr.args)

    def _print_logsumexp(self, expr: sympy.Expr) -> str:
        return self._helper("logsumexp", expr.args)

    def _print_softplus(self, expr: sympy.Expr) -> str:
        return f"numpy.logaddexp(0, {self._print(expr.args[0])})"

    def _print_Abs(self, expr: sympy.Expr) -> str:
        return f"numpy.abs({self._print(expr.args[0])})"

    def _print_Max(self, expr: sympy.Expr, function: str = "numpy.maximum") -> str:
        text = self._print(expr.args[0])
        for arg in expr.args[1:]:
            text = f"{function}({text}, {self._print(arg)})"
        return text

    def _print_Min(self, expr: sympy.Expr) -> str:
        return self._print_Max(expr, "numpy.minimum")

    def _print_Relational(self, expr: sympy.Expr) -> str:
        return f"({self._print(expr.lhs)} {expr.rel_op} {self._print(expr.rhs)})"

    def _print_And(self, expr: sympy.Expr, operator: str = " & ") -> str:
        return operator.join(f"({self._print(a)})" for a in expr.args)

    def _print_Or(self, expr: sympy.Expr) -> str:
        return self._print_And(expr, " | ")

    def _print_Heaviside(self, expr: sympy.Expr) -> str:
        at_zero = HEAVISIDE_AT_ZERO if len(expr.pargs) == 1 else float(expr.args[1])
        return f"numpy.heaviside({self._print(expr.args[0])}, {at_zero!r})"

    def _print_Piecewise(self, expr: sympy.Piecewise) -> str:
        if all(_total(e) and _total(c) for e, c in expr.args):
            code = "numpy.nan"
            for value, condition in reversed(expr.args):
                if condition == sympy.true:  # the last case, "otherwise"
                    code = self._print(value)
                    continue
                test = self._print(condition)
                test = test[1:-1] if isinstance(condition, sympy.Rel) else test
                code = f"numpy.where({test}, {self._print(value)}, {code})"
            return code
        # A branch that can fail (log, sqrt, division) is evaluated only where it is selected.
        self.helpers.add("piecewise")
        names = [self._print(a) for a in sorted(expr.free_symbols, key=str)]

        def items(texts: list[str]) -> str:
            return f"({texts[0]},)" if len(texts) == 1 else f"({', '.join(texts)})"

        conditions = items(
            [
                self._print(c).removeprefix("(").removesuffix(")")
                if isinstance(c, sympy.Rel)
                else self._print(c)
                for _, c in expr.args
            ]
        )
        branches = items([f"lambda {', '.join(names)}: {self._print(e)}" for e, _ in expr.args])
        return f"piecewise({conditions}, {branches}, {items(names)})"


def _total(expr: sympy.Basic) -> bool:
    """Whether evaluating ``expr`` everywhere is harmless (no log, exp, roots or division)."""
    if expr.has(sympy.log, sympy.exp):
        return False
    return all(p.exp.is_Integer and p.exp >= 0 for p in expr.atoms(sympy.Pow))


def _without_log_softmax(expr: sympy.Expr) -> sympy.Expr:
    """``log_softmax(a; v)`` written out as ``a - logsumexp(v)``, the way a reader knows it."""
    found = {
        node: (node.args[0][0] if len(node.args[0]) == 1 else logsumexp(*node.args[0]))
        - logsumexp(*node.args[1])
        for node in expr.atoms(log_softmax)
    }
    return expr.xreplace(found)


def _fold(expr: sympy.Expr, definitions: Sequence[tuple[sympy.Symbol, sympy.Expr]]) -> sympy.Expr:
    """Each definition that occurs in ``expr`` replaced by its name, earliest first."""
    for name, definition in definitions:
        if not (definition.is_number or definition.is_Symbol):
            expr = expr.subs(definition, name)
    return expr


def _wrap(line: str, width: int = LISTING_WIDTH) -> list[str]:
    """A generated line broken inside its brackets (before ``+``/``-``, after ``,``) to fit.

    Example:
        >>> for line in _wrap("    J = numpy.mean(alpha_one + beta_two + gamma_three)", 32):
        ...     print(line)
            J = numpy.mean(alpha_one
                    + beta_two
                    + gamma_three)
    """
    if len(line) <= width or '"' in line:
        return [line]
    depth, depths = 0, []
    for ch in line:
        depth -= ch in ")]"
        depths.append(depth)
        depth += ch in "([{"
    breaks = [
        i
        for i, ch in enumerate(line)
        if ch == " "
        and depths[i] >= 1
        and (line[i - 1] == "," or line[i + 1 : i + 3] in ("+ ", "- "))
        and not (
            line.rfind("lambda ", 0, i) >= 0 and ":" not in line[line.rfind("lambda ", 0, i) : i]
        )
    ]
    if not breaks:
        lhs, sep, rhs = line.partition(" = ")
        return _wrap(f"{lhs} = ({rhs})", width) if sep and not rhs.startswith("(") else [line]
    indent = " " * (len(line) - len(line.lstrip()) + 8)
    lines, start, prefix = [], 0, ""
    while len(prefix) + len(line) - start > width:
        fitting = [i for i in breaks if i > start and len(prefix) + i - start <= width]
        later = [i for i in breaks if i > start]
        if not later:
            break
        # The outermost bracket that fits, unless that leaves the line less than half full.
        outer = [i for i in fitting if depths[i] == min(depths[j] for j in fitting)]
        cut = fitting[-1] if fitting else later[0]
        if outer and len(prefix) + outer[-1] - start >= width // 2:
            cut = outer[-1]
        lines.append(prefix + line[start:cut].rstrip())
        start, prefix = cut + 1, indent
    lines.append(prefix + line[start:])
    return lines


def readable_source(
    derivation: Derivation, *, named: Sequence[tuple[sympy.Symbol, sympy.Expr]] = ()
) -> str:
    r"""The loss and gradient of a derivation as readable NumPy code in its own names.

    One function ``loss_and_gradient(theta, X)`` with the interface of
    :attr:`symgd.compile.Compiled.loss_and_gradient` (``theta`` the parameters in order,
    ``X`` one row per data symbol and one column per example): one line per named
    intermediate it needs, then :math:`J = \frac{1}{m} \sum_i \ell_i` and one line
    ``dJ_dw`` :math:`= \frac{1}{m} \sum_i \partial \ell_i / \partial w` per parameter, from the
    chain rule's result written with intermediates. Lines with ``exp`` or ``log`` are
    written in their stable form; every helper called is defined before the function.

    Args:
        derivation: From :func:`symgd.derivation.derive`.
        named: Further named intermediates ``(name, definition)`` the gradient may be
            written with, e.g. the softmax probabilities ``p1 = exp(z1)/S`` of another
            derivation in the same note; definitions use the derivation's symbols or
            earlier names.

    Returns:
        Python source that needs only NumPy; lines at most :data:`LISTING_WIDTH` long.

    Example:
        >>> from symgd.define import logistic_regression
        >>> from symgd.derivation import derive
        >>> source = readable_source(derive(logistic_regression()))
        >>> print(source[source.index("    w, b = theta"):])
            w, b = theta
            x, y = X
            z = w*x + b
            p = sigmoid(z)
            J = numpy.mean(numpy.logaddexp(0, z) - y*z)
            dJ_dw = numpy.mean(x*(p - y))
            dJ_db = numpy.mean(p - y)
            return J, numpy.array([dJ_dw, dJ_db])
        <BLANKLINE>
    """
    obj = derivation.objective
    printer = _ReadingPrinter()
    definitions = list(obj.intermediates)
    known = {*obj.params, *obj.data, *(n for n, _ in definitions), obj.l2_symbol}
    for name, definition in named:
        if name not in known and definition.free_symbols <= known:
            definitions.append((name, definition))
            known.add(name)
    every = dict(definitions)

    def expanded(expr: sympy.Expr) -> sympy.Expr:
        for _ in range(len(every) + 1):
            expr, before = expr.xreplace(every), expr
            if expr == before:
                break
        return expr

    def readable(expr: sympy.Expr, upto: int) -> sympy.Expr:
        """``expr`` in the names, in stable form where it has exp or log."""
        earlier = definitions[:upto]
        expr = _fold(expr, earlier)
        if expr.has(sympy.exp, sympy.log):  # may overflow: the stable form
            expr = _fold(_without_log_softmax(stabilize(expanded(expr))), earlier)
        return expr

    loss = readable(obj.loss, len(definitions))
    gradients = [readable(step.in_intermediates, len(definitions)) for step in derivation.steps]
    # The intermediates needed, each written with the names before it.
    lines: dict[sympy.Symbol, sympy.Expr] = {}
    wanted = (loss.free_symbols | set().union(*(g.free_symbols for g in gradients))) & set(every)
    while wanted - set(lines):
        name = next(n for n, _ in definitions if n in wanted and n not in lines)
        index = next(k for k, (n, _) in enumerate(definitions) if n == name)
        lines[name] = readable(every[name], index)
        wanted |= lines[name].free_symbols & set(every)

    data = set(obj.data)
    size_needed = False

    def reduced(expr: sympy.Expr) -> str:
        nonlocal size_needed
        code = printer.doprint(expr)
        if expanded(expr).free_symbols & data:
            return f"numpy.{'mean' if obj.reduction == 'mean' else 'sum'}({code})"
        if obj.reduction == "mean":
            return code
        size_needed = True
        return f"m*({code})"

    body = ['"""J(theta) and its gradient on the examples in the columns of X."""']
    body.append(_unpack([printer.doprint(p) for p in obj.params], "theta"))
    if obj.data:
        body.append(_unpack([printer.doprint(d) for d in obj.data], "X"))
    penalty = sympy.Add(*(p**2 for p in obj.params))
    if obj.l2:
        body.append(f"{printer.doprint(obj.l2_symbol)} = {obj.l2!r}")
    body += [
        f"{printer.doprint(n)} = {printer.doprint(lines[n])}" for n, _ in definitions if n in lines
    ]
    total = reduced(loss)
    if obj.l2:
        total += f" + {printer.doprint(obj.l2_symbol * penalty / 2)}"
    body.append(f"J = {total}")
    names = []
    for param, gradient in zip(obj.params, gradients, strict=True):
        names.append(f"dJ_d{printer.doprint(param)}")
        shown = reduced(gradient)
        if obj.l2:
            shown += f" + {printer.doprint(obj.l2_symbol)}*{printer.doprint(param)}"
        body.append(f"{names[-1]} = {shown}")
    if size_needed:
        body.insert(3 if obj.data else 2, "m = X.shape[1]")
    body.append(f"return J, numpy.array([{', '.join(names)}])")
    helpers = [
        _HELPERS[h] if h != "piecewise" else _piecewise_helper() for h in sorted(printer.helpers)
    ]
    function = "def loss_and_gradient(theta, X):\n" + "".join(
        "\n".join(_wrap("    " + line)) + "\n" for line in body
    )
    return "\n\n".join(["import numpy\n", *helpers, function])


def _unpack(names: list[str], source: str) -> str:
    """``w, b = theta``; one name: ``(w,) = theta``; long: ``(w1, …) = theta``, wrapped."""
    if len(names) > 1 and len(", ".join(names)) + len(source) + 7 <= LISTING_WIDTH:
        return f"{', '.join(names)} = {source}"
    return f"({', '.join(names)}{',' if len(names) == 1 else ''}) = {source}"


def descent_loop(theta, alpha, epochs, gradient):
    # Batch gradient descent, the loop the notes show (and check against the runner's path).
    # No docstring: latexify-py would print it inside the algorithm.
    t = 0
    while t < epochs:
        theta = theta - alpha * gradient(theta)
        t = t + 1
    return theta


def loop_code() -> tuple[str, str]:
    r"""latexify-py's algorithmic LaTeX (plain math, no extra packages) of the descent loop.

    Returns:
        ``(latex, python_source)``.

    Example:
        >>> text, source = loop_code()
        >>> r"\mathbf{function}" in text, source.startswith("def descent_loop(")
        (True, True)
    """
    text = latexify.get_latex(
        descent_loop,
        style=latexify.Style.IPYTHON_ALGORITHMIC,
        use_math_symbols=True,
        identifiers={"descent_loop": "gradient_descent"},
    )
    return text, inspect.getsource(descent_loop)


def _check_listing(source: str, compiled: Compiled) -> None:
    """Run the listing alone beside the compiled code; ``ArithmeticError`` where they differ."""
    namespace: dict = {}
    exec(compile(source, "<listing>", "exec"), namespace)  # noqa: S102 -- symgd's own code
    rng = numpy.random.default_rng(0)
    for low, high in ((0.2, 1.0), (-1.5, 1.5)):
        theta = rng.uniform(low, high, len(compiled.params))
        X = rng.uniform(low, high, (len(compiled.data), 7))
        with numpy.errstate(all="ignore"):
            shown = namespace["loss_and_gradient"](theta, X)
            runs = compiled.loss_and_gradient(theta, X)
        for name, a, b in (("loss", shown[0], runs[0]), ("gradient", shown[1], runs[1])):
            if not numpy.allclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True):
                raise ArithmeticError(
                    f"the listing's {name} {a} disagrees with the compiled {b} at theta = {theta}"
                )


def _derivation_of(b: Builder, compiled: Compiled) -> tuple[Derivation, list]:
    """The note's derivation that ``compiled`` came from, and the other derivations' names."""
    shown = [d for d in b.derivations if isinstance(d, Derivation)]
    for derivation in reversed(shown):
        obj = derivation.objective
        if (tuple(p.name for p in obj.params), tuple(d.name for d in obj.data)) == (
            compiled.params,
            compiled.data,
        ):
            others = [d for d in shown if d is not derivation]
            named = [pair for d in others for pair in d.objective.intermediates]
            return derivation, named
    raise ValueError(f"no derivation in the note has the parameters {compiled.params}")


def code_section(b: Builder, compiled: Compiled) -> None:
    """The section "The code that runs": the derivation as NumPy, then the descent loop."""
    derivation, named = _derivation_of(b, compiled)
    source = readable_source(derivation, named=named)
    _check_listing(source, compiled)
    first = derivation.objective.params[0]
    b.section("The code that runs")
    b.say(
        "The derivation above as NumPy code, in its names: one line per named intermediate, "
        "then the objective {0} (the variable J) and its gradient (the variable dJ_"
        + f"d{first.name} holds {{1}}, and so on). It needs only NumPy, and it computes what "
        "the code symgd compiled for training computes (checked when these notes were "
        "built); the compiled code shares common subexpressions and sums over the examples "
        "with matrix products:",
        "J",
        b.partial(sympy.Symbol("J"), first),
    )
    b.code("The loss and gradient in NumPy", source)
    text, loop = loop_code()
    b.say("and the descent loop that the batch run executes, rendered by latexify-py:")
    b.code("The gradient-descent loop, rendered by latexify-py", loop, text)


def compiled_or_code(b: Builder, derivation: Derivation) -> Compiled | None:
    """The compiled objective when the note trains; ``None`` when it ends here.

    Without a figures folder nothing is trained and the note ends with the code;
    with ``code=False`` it ends with the derivation.
    """
    if not b.with_code:
        return None
    compiled = compile_objective(derivation)
    if b.trains:
        return compiled
    code_section(b, compiled)
    return None
