"""Build SymPy objects from a budget-checked ``ast`` tree, against a whitelist.

Nothing here calls ``eval``, ``sympify`` or ``parse_expr``: each accepted node (numbers, names,
``+ - * / **``, unary signs, calls of :data:`~symgd.parse.names.FUNCTIONS`) becomes the SymPy
object directly, and every other construct is refused with a one-line message and a hint. The
number and ``Max``/``Min`` budgets of :mod:`symgd.parse.budgets` are checked here, before SymPy
evaluates a power or a product, and each value built is checked by
:class:`~symgd.parse.values.ValueBudget` (real, fits float64, bounded nested powers).

Example:
    >>> from symgd.parse.budgets import parse_tree
    >>> ExpressionBuilder("2*x", {}).build(parse_tree("2*x").body)
    2*x
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping

import sympy

from symgd.parse.budgets import (
    MAX_EXPONENT,
    MAX_INTEGER_DIGITS,
    MAX_MINMAX_ARGUMENTS,
    MAX_MINMAX_NODES,
    MAX_POWER_DIGITS,
    MAX_PRODUCT_DIGITS,
    PRODUCT,
    SUM,
    chain_family,
)
from symgd.parse.errors import ParseError, excerpt, function_suggestion
from symgd.parse.names import CONSTANTS, FUNCTION_RULES, FUNCTIONS, name_problem
from symgd.parse.values import ValueBudget

ALLOWED_SUMMARY = (
    "symgd expressions use numbers, symbol names, + - * / **, parentheses, pi and the functions "
    + ", ".join(sorted(FUNCTIONS))
)
"""The accepted language in one line, the hint of most rejections."""

_REJECTED_OPERATORS: dict[type[ast.AST], tuple[str, str]] = {
    ast.BitXor: ("^", "write '**' for powers"),
    ast.Mod: ("%", "the remainder is not differentiable; rewrite without it"),
    ast.FloorDiv: ("//", "write '/' for division"),
    ast.MatMult: ("@", "symgd expressions are scalar; write '*'"),
    ast.BitOr: ("|", "bitwise operators are not supported"),
    ast.BitAnd: ("&", "bitwise operators are not supported"),
    ast.LShift: ("<<", "bitwise operators are not supported"),
    ast.RShift: (">>", "bitwise operators are not supported"),
    ast.Invert: ("~", "bitwise operators are not supported; write '-' to negate"),
    ast.Not: ("not", "boolean operators are not supported"),
}

_REJECTED_CONSTRUCTS: dict[type[ast.AST], tuple[str, str]] = {
    ast.Lambda: (
        "lambda expression",
        "to name a symbol after the Greek letter write 'lamda' (printed as \\lambda)",
    ),
    ast.ListComp: ("list comprehension", ALLOWED_SUMMARY),
    ast.SetComp: ("set comprehension", ALLOWED_SUMMARY),
    ast.DictComp: ("dict comprehension", ALLOWED_SUMMARY),
    ast.GeneratorExp: ("generator expression", ALLOWED_SUMMARY),
    ast.BoolOp: ("boolean operator 'and'/'or'", "use Max/Min or Piecewise for piecewise logic"),
    ast.Compare: (
        "comparison outside a Piecewise condition",
        "write Piecewise((a, x < 1), (b, True)), or Heaviside(a - b) for a step",
    ),
    ast.IfExp: (
        "conditional expression 'a if c else b'",
        "write Piecewise((a, c), (b, True)) with a comparison c, or Max/Min",
    ),
    ast.Starred: ("starred argument '*'", "pass arguments one by one"),
    ast.JoinedStr: ("f-string", ALLOWED_SUMMARY),
    ast.FormattedValue: ("f-string", ALLOWED_SUMMARY),
    ast.Tuple: ("tuple (a comma outside a function call)", "write one expression"),
    ast.List: ("list '[...]'", "write one expression; brackets are not parentheses"),
    ast.Set: ("set '{...}'", "write one expression; braces are not parentheses"),
    ast.Dict: ("dict '{...}'", "write one expression; braces are not parentheses"),
    ast.NamedExpr: ("assignment expression ':='", "write 'name = expression' as a definition"),
    ast.Subscript: ("indexing '[...]'", "use one symbol per value, e.g. 'x_0' or 'x0'"),
    ast.Slice: ("slice", "use one symbol per value, e.g. 'x_0' or 'x0'"),
    ast.Await: ("'await'", ALLOWED_SUMMARY),
    ast.Yield: ("'yield'", ALLOWED_SUMMARY),
    ast.YieldFrom: ("'yield from'", ALLOWED_SUMMARY),
}


class ExpressionBuilder:
    """Build SymPy objects from a budget-checked tree, rejecting anything off the whitelist.

    Args:
        text: The user text the tree was parsed from (quoted in messages).
        symbols: Symbols to use for the names they contain; any other name is a real symbol.
    """

    def __init__(self, text: str, symbols: Mapping[str, sympy.Symbol]) -> None:
        self.text = text
        self.symbols = symbols
        self.minmax_arguments = 0
        self.minmax_nodes = 0
        self.values = ValueBudget(text)

    def reject(self, what: str, hint: str) -> ParseError:
        return ParseError(f"{what} is not allowed in {excerpt(self.text)}; {hint}")

    def reject_operator(self, operator: ast.AST) -> ParseError:
        symbol_text, hint = _REJECTED_OPERATORS.get(
            type(operator), (type(operator).__name__, ALLOWED_SUMMARY)
        )
        return self.reject(f"operator '{symbol_text}'", hint)

    def build(self, node: ast.AST) -> sympy.Expr:
        """The SymPy object of one node, its value checked against the number budgets."""
        if isinstance(node, ast.BinOp):
            value = self.binary(node)
        elif isinstance(node, ast.UnaryOp):
            value = self.unary(node)
        elif isinstance(node, ast.Call):
            value = self.call(node)
        elif isinstance(node, ast.Name):
            value = self.name(node.id)
        elif isinstance(node, ast.Constant):
            value = self.constant(node.value)
        elif isinstance(node, ast.Attribute):
            raise self.reject(f"attribute access '.{node.attr}'", ALLOWED_SUMMARY)
        elif type(node) in _REJECTED_CONSTRUCTS:
            what, hint = _REJECTED_CONSTRUCTS[type(node)]
            raise self.reject(what, hint)
        else:
            raise self.reject(f"the construct {type(node).__name__}", ALLOWED_SUMMARY)
        # Bottom up: each constant is evaluated only once everything inside it is known to fit.
        self.values.check(value, lambda: ast.get_source_segment(self.text.strip(), node) or "")
        return value

    def binary(self, node: ast.BinOp) -> sympy.Expr:
        if isinstance(node.op, ast.Pow):
            base = self.build(node.left)
            exponent = self.build(node.right)
            self.check_power(base, exponent)
            return base**exponent
        family = chain_family(node)
        if family is None:
            if isinstance(node.op, ast.BitXor) and _is_name(node.left, "e"):
                exponent = self.segment(node.right).strip("{}()")
                raise self.reject("operator '^'", f"did you mean `exp({exponent})`?")
            raise self.reject_operator(node.op)
        # Walk the left spine of a chain iteratively: a sum of 1000 terms is flat, not deep.
        chain: list[tuple[ast.operator, ast.AST]] = []
        head: ast.AST = node
        while isinstance(head, ast.BinOp) and chain_family(head) == family:
            chain.append((head.op, head.right))
            head = head.left
        parts = [self.build(head)]
        for operator, operand in reversed(chain):
            value = self.build(operand)
            if isinstance(operator, ast.Sub):
                value = -value
            elif isinstance(operator, ast.Div):
                if value.is_Number and value == 0:
                    raise ParseError(
                        f"division by zero in {excerpt(self.text)}; the denominator is 0"
                    )
                value = sympy.Pow(value, -1)
            parts.append(value)
        if family is PRODUCT:
            # SymPy merges roots of numbers (sqrt(a)*sqrt(b) = sqrt(a*b)) and factors the result.
            digits = sum(_numeric_digits(part) for part in parts)
            if digits > MAX_PRODUCT_DIGITS:
                raise ParseError(
                    f"the numbers in a product in {excerpt(self.text)} have about "
                    f"{digits:.0f} digits together; the limit is {MAX_PRODUCT_DIGITS}, "
                    "rescale the expression"
                )
        # Same result as a + b - c (SymPy's Sub is Add(a, -b), its Div is Mul(a, Pow(b, -1))).
        return sympy.Add(*parts) if family is SUM else sympy.Mul(*parts)

    def segment(self, node: ast.AST) -> str:
        """The user text of one node (the tree was parsed from the stripped text)."""
        text = ast.get_source_segment(self.text.strip(), node) or "..."
        return text if len(text) <= 30 else text[:27] + "..."

    def column_after(self, node: ast.AST) -> int:
        """The 1-based column just after a node and its closing brackets."""
        text, end = self.text.strip(), node.end_col_offset or 0
        while end < len(text) and text[end] in ") ":
            end += 1
        return end + 1

    def check_power(self, base: sympy.Expr, exponent: sympy.Expr) -> None:
        # Checked before SymPy evaluates the power: 9**9**9**9 must never be computed.
        if not exponent.is_Number:
            return
        if abs(exponent) > MAX_EXPONENT:
            raise ParseError(
                f"exponent {_short_number(exponent)} in {excerpt(self.text)} is too large; "
                f"the limit is {MAX_EXPONENT} in absolute value"
            )
        if base.is_Number:
            if base == 0 or abs(base) == 1:
                return
            digits = abs(float(exponent) * math.log10(abs(float(base))))
        else:
            # sqrt(n)**63 is n**31*sqrt(n): SymPy computes the integer part.
            digits = abs(float(exponent)) * _numeric_digits(base)
        if digits > MAX_POWER_DIGITS:
            raise ParseError(
                f"power {_short_number(base)}**{_short_number(exponent)} in "
                f"{excerpt(self.text)} has about {digits:.0f} digits; "
                f"the limit is {MAX_POWER_DIGITS}, rescale the expression"
            )

    def unary(self, node: ast.UnaryOp) -> sympy.Expr:
        if isinstance(node.op, ast.USub):
            return -self.build(node.operand)
        if isinstance(node.op, ast.UAdd):
            return self.build(node.operand)
        raise self.reject_operator(node.op)

    def call(self, node: ast.Call) -> sympy.Expr:
        if not isinstance(node.func, ast.Name):
            if isinstance(node.func, ast.Attribute):
                raise self.reject(f"attribute access '.{node.func.attr}'", ALLOWED_SUMMARY)
            raise self.reject(  # '(a)(b)': a product without its '*'
                "calling something other than a function name",
                f"insert `*` at column {self.column_after(node.func)}: `...)*(`",
            )
        name = node.func.id
        row = FUNCTION_RULES.get(name)
        if row is None:
            arguments = ", ".join(self.segment(argument) for argument in node.args)
            fix = function_suggestion(name, arguments)
            if not fix and name in self.symbols:
                fix = f"insert `*` at column {self.column_after(node.func)}: `...{name}*(`"
            raise ParseError(
                f"unknown function '{excerpt(name)[1:-1]}' in {excerpt(self.text)}; "
                + (fix or f"allowed: {', '.join(sorted(FUNCTIONS))}")
            )
        if node.keywords:
            keyword_name = node.keywords[0].arg
            shown = f"'{keyword_name}='" if keyword_name else "'**'"
            raise self.reject(
                f"keyword argument {shown} in {name}(...)", "pass arguments by position"
            )
        for argument in node.args:
            if isinstance(argument, ast.Starred):
                raise self.reject(
                    f"starred argument '*' in {name}(...)", "pass arguments one by one"
                )
        count = len(node.args)
        if count < row.min_args or (row.max_args is not None and count > row.max_args):
            expected = (
                f"{row.min_args}" if row.max_args == row.min_args else f"at least {row.min_args}"
            )
            plural = "" if expected == "1" else "s"
            raise ParseError(
                f"{name} takes {expected} argument{plural}, got {count} in {excerpt(self.text)}"
            )
        if row.function in (sympy.Max, sympy.Min, sympy.Piecewise):
            self.check_minmax_budget(node)
        if row.function is sympy.Piecewise:
            return self.piecewise(node)
        arguments = [self.build(argument) for argument in node.args]
        return row.function(*arguments)

    def piecewise(self, node: ast.Call) -> sympy.Expr:
        """``Piecewise((value, comparison), ..., (value, True))``: one comparison per case."""
        usage = "write Piecewise((a, x < 1), (b, True)): (value, condition) pairs, the last True"
        cases: list[tuple[sympy.Expr, sympy.Basic]] = []
        for position, argument in enumerate(node.args, start=1):
            if not (isinstance(argument, ast.Tuple) and len(argument.elts) == 2):
                raise self.reject(f"Piecewise case {position} {self.segment(argument)!r}", usage)
            value_node, condition_node = argument.elts
            last = position == len(node.args)
            if isinstance(condition_node, ast.Constant) and condition_node.value is True:
                if not last:
                    raise self.reject(
                        f"'True' in Piecewise case {position} of {len(node.args)}",
                        "only the last case may hold otherwise",
                    )
                cases.append((self.build(value_node), sympy.true))
                continue
            if last:
                raise self.reject("a Piecewise without a last case (value, True)", usage)
            cases.append((self.build(value_node), self.comparison(condition_node)))
        return sympy.Piecewise(*cases)

    def comparison(self, node: ast.AST) -> sympy.Basic:
        """One comparison ``a < b`` (or ``<=``, ``>``, ``>=``): the condition of a case."""
        operators = {ast.Lt: sympy.Lt, ast.LtE: sympy.Le, ast.Gt: sympy.Gt, ast.GtE: sympy.Ge}
        if not isinstance(node, ast.Compare):
            raise self.reject(
                f"the Piecewise condition {self.segment(node)!r}",
                "write one comparison such as 'abs(r) <= 1' ('<', '<=', '>', '>=')",
            )
        if len(node.ops) != 1 or type(node.ops[0]) not in operators:
            raise self.reject(
                f"the comparison {self.segment(node)!r}",
                "write one comparison of two expressions with '<', '<=', '>' or '>='",
            )
        left, right = self.build(node.left), self.build(node.comparators[0])
        condition = operators[type(node.ops[0])](left, right)
        if condition in (sympy.true, sympy.false):
            raise self.reject(
                f"the condition {self.segment(node)!r}, always {condition},",
                "compare expressions that contain a symbol",
            )
        return condition

    def check_minmax_budget(self, node: ast.Call) -> None:
        # SymPy compares Max/Min arguments pairwise, at a cost growing with their size.
        self.minmax_arguments += len(node.args)
        self.minmax_nodes += sum(1 for argument in node.args for _ in ast.walk(argument))
        if self.minmax_arguments > MAX_MINMAX_ARGUMENTS:
            raise ParseError(
                f"more than {MAX_MINMAX_ARGUMENTS} Max/Min/Piecewise arguments in "
                f"{excerpt(self.text)}; "
                "split the expression into named intermediate definitions"
            )
        if self.minmax_nodes > MAX_MINMAX_NODES:
            raise ParseError(
                f"Max/Min/Piecewise arguments in {excerpt(self.text)} have more than "
                f"{MAX_MINMAX_NODES} parts; define them as intermediates, e.g. "
                "'z = w*x + b' then 'Max(0, z)'"
            )

    def name(self, name: str) -> sympy.Expr:
        if name in CONSTANTS:
            return CONSTANTS[name]
        if name in FUNCTIONS:
            raise ParseError(
                f"'{name}' is a function, used without arguments in {excerpt(self.text)}; "
                f"call it as {name}(...)"
            )
        problem = name_problem(name)
        if problem is not None:
            raise ParseError(f"{problem} (in {excerpt(self.text)})")
        if name in self.symbols:
            return self.symbols[name]
        return sympy.Symbol(name, real=True)

    def constant(self, value: object) -> sympy.Expr:
        if type(value) is int:
            if abs(value) >= 10**MAX_INTEGER_DIGITS:
                raise ParseError(
                    f"integer literal with more than {MAX_INTEGER_DIGITS} digits in "
                    f"{excerpt(self.text)}; write it as a float, e.g. 1.5e20"
                )
            return sympy.Integer(value)
        if type(value) is float:
            if not math.isfinite(value):
                raise ParseError(
                    f"float literal in {excerpt(self.text)} is not finite (too large for "
                    "float64); rescale the expression"
                )
            return sympy.Float(value)
        described = {
            bool: f"boolean {value}",
            str: "string literal",
            bytes: "bytes literal",
            complex: f"complex number {value!r}",
            type(None): "None",
            type(...): "'...' (Ellipsis)",
        }.get(type(value), f"constant of type {type(value).__name__}")
        raise self.reject(described, "symgd numbers are real: write an int or a float")


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _numeric_digits(expr: sympy.Expr) -> float:
    """About how many digits the exact numbers among the factors of ``expr`` have."""
    total = 0.0
    for factor in sympy.Mul.make_args(expr):
        if factor.is_Rational:
            total += _rational_digits(factor)
        elif factor.is_Pow and factor.base.is_Rational and factor.exp.is_Rational:
            total += abs(float(factor.exp)) * _rational_digits(factor.base)
    return total


def _rational_digits(value: sympy.Rational) -> float:
    return (math.log10(abs(value.p)) if value.p else 0.0) + math.log10(value.q)


def _short_number(value: sympy.Expr) -> str:
    text = str(value)
    return text if len(text) <= 20 else text[:17] + "..."
