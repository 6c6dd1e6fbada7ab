r"""What an answer means: the symbols of a derivation, reading answers, sums to per-example.

An answer may use the derivation's parameters, data symbols, intermediates (``yhat``, ``p``,
``z``), ``m`` and ``lamda``. :class:`AnswerContext` knows them and the targets an answer is
compared with; :func:`read_answer` reads text through :mod:`symgd.parse` (never ``eval``).

Example:
    >>> from symgd.derivation import derive
    >>> from symgd.define import linear_regression
    >>> context = AnswerContext(derive(linear_regression()))
    >>> context.resolve(read_answer(context.derivation, "Sum(yhat - y_i, i)/m"))
    ((b + w*x - y)/m, 'dataset')
"""

from __future__ import annotations

import sympy

from symgd.derivation import Derivation
from symgd.parse import EXAMPLE_INDEX, ParseError, parse_latex, parse_with_sums, symbol
from symgd.parse.errors import unknown_name_suggestion


class AnswerContext:
    """The symbols and targets of one derivation, for reading and judging answers.

    Args:
        derivation: The correct derivation.

    Attributes:
        table: Every name an answer may use (parameters, data, intermediates, ``m``,
            ``lamda``), mapped to its symbol.
        order: The arguments of sampled functions: parameters, data symbols, ``m``.
        substitutions: Intermediates in terms of parameters and data, ``lamda`` by its value.
    """

    def __init__(self, derivation: Derivation) -> None:
        objective = derivation.objective
        self.derivation = derivation
        self.params = objective.params
        self.data = objective.data
        self.m = objective.examples
        self.lamda = objective.l2_symbol
        self.l2 = sympy.Rational(repr(objective.l2)) if objective.l2 else sympy.Integer(0)
        self.table = {s.name: s for s in (*self.params, *self.data)}
        self.table.update({name.name: name for name, _ in objective.intermediates})
        self.table.update({"m": self.m, "lamda": self.lamda})
        self.substitutions = {**objective.substitutions, self.lamda: self.l2}
        self.order = (*self.params, *self.data, self.m)

    def domain(self, name: sympy.Symbol):
        """The domain of a data symbol (a :class:`~symgd.define.objective.Domain`), or ``None``."""
        return self.derivation.objective.domain(name) if name in self.data else None

    def param(self, name: str | sympy.Symbol) -> sympy.Symbol:
        """The parameter called ``name``; a :class:`ParseError` if there is none."""
        name = name.name if isinstance(name, sympy.Symbol) else name
        for p in self.params:
            if p.name == name:
                return p
        raise ParseError(f"{name!r} is not a parameter (parameters: {_names(self.params)})")

    def parts(self, param: sympy.Symbol, kind: str) -> tuple[sympy.Expr, sympy.Expr, sympy.Expr]:
        """``(s, g, R)`` with the target ``T = s g + R`` of the given kind."""
        objective = self.derivation.objective
        g = self.derivation.gradient[param]
        if kind == "dataset":
            s = 1 / self.m if objective.reduction == "mean" else sympy.Integer(1)
            return s, g, self.l2 * param / self.m
        reg = self.l2 * param if objective.reduction == "mean" else self.l2 * param / self.m
        return sympy.Integer(1), g, reg

    def correct(self, param: sympy.Symbol, kind: str) -> sympy.Expr:
        """The correct gradient of the given kind, as it is shown beside the answer."""
        if kind == "dataset":
            return self.derivation.dataset_gradient(param)
        gradient = self.derivation.gradient[param]
        if not self.derivation.objective.l2:
            return gradient
        scale = 1 if self.derivation.objective.reduction == "mean" else 1 / self.m
        return gradient + scale * self.lamda * param

    def resolve(self, expression: sympy.Expr) -> tuple[sympy.Expr, str]:
        """The answer as a per-example expression ``H`` (or ``P``) and its kind."""
        unknown = {
            s
            for s in expression.free_symbols
            if s not in set(self.table.values())
            and s != EXAMPLE_INDEX
            and not (isinstance(s, sympy.Indexed) and s.base.label.name in self.table)
        }
        if unknown:
            raise ParseError(
                f"the answer uses {_names(unknown)}, which is not a parameter, data symbol, "
                f"intermediate, m or lamda (known: {', '.join(sorted(self.table))})"
                + _suggestion(expression, unknown, self.table)
            )
        sums = sorted(expression.atoms(sympy.Sum), key=sympy.default_sort_key)
        if not sums:
            return expression.xreplace(self.substitutions), "per-example"
        return self.reduce(expression, sums).xreplace(self.substitutions), "dataset"

    def reduce(self, expression: sympy.Expr, sums: list[sympy.Sum]) -> sympy.Expr:
        markers = [sympy.Dummy(f"s{k}") for k in range(len(sums))]
        linear = expression.xreplace(dict(zip(sums, markers)))
        data = set(self.data)
        if linear.free_symbols & data:
            raise ParseError(
                "a data symbol appears outside the sum over the examples; put every x_i inside "
                "the sum, or write a per-example answer without a sum"
            )
        rest = linear.xreplace({s: 0 for s in markers})
        total = rest / self.m
        for marker, term in zip(markers, sums):
            coefficient = sympy.diff(linear, marker)
            if coefficient.free_symbols & (set(markers) | data) or coefficient.has(EXAMPLE_INDEX):
                raise ParseError(
                    "the answer is not a linear combination of sums over the examples; "
                    "write e.g. (1/m)*Sum(..., i)"
                )
            body = term.function.replace(
                lambda e: isinstance(e, sympy.Indexed), lambda e: symbol(e.base.label.name)
            )
            total += coefficient * body
        return total


def _suggestion(expression: sympy.Expr, unknown: set, table: dict) -> str:
    # 'e**(-z)' reads as a symbol e: suggest exp with the student's own exponent.
    exponents = [str(p.exp) for p in expression.atoms(sympy.Pow) if str(p.base) == "e"]
    return unknown_name_suggestion((str(s) for s in unknown), table, exponents)


def _names(symbols) -> str:
    return ", ".join(sorted(str(s) for s in symbols))


def read_answer(
    derivation: Derivation, answer: str | sympy.Expr, *, form: str | None = None
) -> sympy.Expr:
    r"""Read an answer (SymPy syntax, LaTeX or a SymPy expression) safely.

    Args:
        derivation: What the answer is for (its symbols are known names).
        answer: The text or expression.
        form: ``"sympy"`` or ``"latex"`` for text (default: SymPy syntax).

    Returns:
        The expression; sums over examples as ``sympy.Sum`` over ``x[i]``.

    Raises:
        ParseError: The text is unsafe or unreadable.

    Example:
        >>> from symgd.derivation import derive
        >>> from symgd.define import linear_regression
        >>> read_answer(derive(linear_regression()), r"\sum_i (\hat{y}_i - y_i)", form="latex")
        Sum(yhat - y[i], (i, 1, m))
    """
    context = AnswerContext(derivation)
    data = [d.name for d in context.data]
    if isinstance(answer, sympy.Basic):
        return answer
    if not isinstance(answer, str):
        raise ParseError(f"an answer is text or a SymPy expression, not {type(answer).__name__}")
    if form == "latex":
        return parse_latex(answer, symbols=context.table, data=data)
    return parse_with_sums(answer, symbols=context.table, data=data)
