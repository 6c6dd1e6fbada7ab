r"""Safe reading of hand-written answers: a whitelisted LaTeX subset, and sums over examples.

SymPy's own ``parse_latex`` needs a different ANTLR runtime than the one installed and silently
misreads some input, so this module translates a small, whitelisted LaTeX subset into symgd's
SymPy syntax and hands that text to :func:`symgd.parse.parse_expression`, the safe ``ast``
parser with its budgets. Nothing here calls ``eval``, ``exec``, ``sympify`` or ``parse_expr``.

The LaTeX subset: numbers, letters (a run of letters is a product, ``wx`` is :math:`w x`, unless
the run is a known symbol name), ``+ - * /``, ``\cdot``, ``\times``, ``\frac{a}{b}``,
``\sqrt{a}``, ``^{...}``, subscripts (``x_i``, ``w_{1}``), ``( ) [ ] { }`` with optional
``\left``/``\right``, ``\hat{y}`` (``yhat``), ``\bar{x}`` (``xbar``), Greek letters
(``\lambda`` is ``lamda``), ``\sigma(z)`` (the sigmoid), ``\sigma'(z)``, ``\exp``, ``e^{z}``,
``\log``, ``\ln``, ``\sqrt``, ``\tanh`` and the other functions of :data:`symgd.parse.FUNCTIONS`,
``\operatorname{name}``, ``\mathrm{name}``, ``\text{name}``, spacing commands, and sums over the
examples ``\sum_{i=1}^{m}`` or ``\sum_i``. A left-hand side ``\frac{\partial J}{\partial w} =``
is ignored. Anything else is refused with a one-line :class:`~symgd.parse.ParseError` that
suggests SymPy syntax.

Sums over examples, in either syntax, are read by :mod:`symgd.parse.sums`; the vocabulary of
the subset and its tokenizer are in :mod:`symgd.parse.latex_tokens`.

Example:
    >>> parse_latex(r"\frac{1}{m}\sum_{i=1}^{m}(w x_i + b - y_i) x_i", data=["x", "y"])
    Sum((b + w*x[i] - y[i])*x[i], (i, 1, m))/m
    >>> parse_latex(r"\sigma(z)(1-\sigma(z))")
    (1 - sigmoid(z))*sigmoid(z)
    >>> parse_latex(r"\int_0^1 x\,dx")
    Traceback (most recent call last):
    ...
    symgd.parse.errors.ParseError: LaTeX command \int is not supported ...
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import sympy

from symgd.parse.budgets import MAX_DEPTH, MAX_TEXT_LENGTH, check_nesting
from symgd.parse.errors import ParseError, excerpt
from symgd.parse.latex_tokens import (
    ACCENTS,
    DIVISION_COMMANDS,
    FUNCTION_COMMANDS,
    GREEK,
    NAME_COMMANDS,
    PRODUCT_COMMANDS,
    SUGGESTION,
    tokenize,
)
from symgd.parse.names import FUNCTIONS
from symgd.parse.sums import parse_with_sums


class _Translator:
    """Recursive descent over the LaTeX tokens, producing SymPy-syntax text."""

    def __init__(self, text: str, known: frozenset[str]) -> None:
        self.text = text
        self.known = known
        self.longest = max(map(len, known), default=0)
        self.tokens = tokenize(text)
        self.position = 0
        self.sum_depth = 0
        self.depth = 0

    def fail(self, what: str) -> ParseError:
        return ParseError(f"{what} in LaTeX {excerpt(self.text)}; {SUGGESTION}")

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        index = self.position + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise self.fail("unexpected end")
        self.position += 1
        return token

    def expect(self, value: str) -> None:
        token = self.take()
        if token[1] != value or token[0] == "command":
            raise self.fail(f"expected {value!r} but found {token[1]!r}")

    def at(self, *values: str, kind: str = "symbol") -> bool:
        token = self.peek()
        return token is not None and token[0] == kind and token[1] in values

    def translate(self) -> str:
        # A left-hand side such as \frac{\partial J}{\partial w} = ... is dropped.
        depth, equals = 0, []
        for k, token in enumerate(self.tokens):
            if token[0] == "symbol":
                depth += {"{": 1, "}": -1}.get(token[1], 0)
                if token[1] == "=" and depth == 0:
                    equals.append(k)
        if equals:
            self.tokens = self.tokens[equals[-1] + 1 :]
        if not self.tokens:
            raise self.fail("empty answer")
        result = self.expression()
        if self.peek() is not None:
            raise self.fail(f"unexpected {self.peek()[1]!r}")
        return result

    def expression(self) -> str:
        parts = [self.term()]
        while self.at("+", "-"):
            sign = self.take()[1]
            parts.append(f" {sign} {self.term()}")
        return "".join(parts)

    def term(self) -> str:
        sign = ""
        while self.at("+", "-"):
            sign = "-" if (self.take()[1] == "-") != (sign == "-") else ""
        return f"{sign}{self.product()}"

    def product(self) -> str:
        if self.at("sum", kind="command"):
            return self.sum()
        factors = [self.power()]
        while True:
            token = self.peek()
            if token is None or token in (("symbol", "+"), ("symbol", "-")):
                break
            if token[0] == "symbol" and token[1] in ")]}=|":
                break
            if token[0] == "command" and token[1] == "sum":
                factors.extend(["*", self.sum()] if factors[-1] not in "*/" else [self.sum()])
                break  # the sum's body is the rest of the product
            if token[0] == "command" and token[1] in PRODUCT_COMMANDS or token == ("symbol", "*"):
                self.take()
                factors.append("*")
            elif token == ("symbol", "/"):
                self.take()
                factors.append("/")
                factors.append(self.power())
                continue
            if factors[-1] in "*/":
                factors.append(self.power())
            else:
                factors.append("*")
                factors.append(self.power())
        text = "".join(f for f in factors)
        return text

    def sum(self) -> str:
        self.take()  # \sum
        index, lower, upper = "i", "1", "m"
        if self.at("_"):
            self.take()
            index, lower = self.limit()
        if self.at("^"):
            self.take()
            upper = self.group_text("upper limit")
        if lower not in ("1", "") or upper != "m":
            raise self.fail(
                f"a sum from {lower or '?'} to {upper} (sums run over the examples, i = 1 to m)"
            )
        if self.sum_depth:
            raise self.fail("a nested sum")
        self.sum_depth += 1
        body = self.product()
        self.sum_depth -= 1
        return f"Sum({body}, {index})"

    def limit(self) -> tuple[str, str]:
        if self.at("{"):
            self.take()
            kind, index = self.take()
            lower = ""
            if self.at("="):
                self.take()
                lower = self.take()[1]
            self.expect("}")
        else:
            kind, index = self.take()
            lower = ""
        if kind != "letter":
            raise self.fail(f"sum index {index!r} (write \\sum_{{i=1}}^{{m}})")
        return index, lower

    def group_text(self, what: str) -> str:
        """A one-token or braced plain group such as a sum limit."""
        if self.at("{"):
            self.take()
            parts = []
            while not self.at("}"):
                parts.append(self.take()[1])
            self.take()
            return "".join(parts)
        return self.take()[1]

    def power(self) -> str:
        base = self.postfix()
        if self.at("^"):
            self.take()
            exponent = self.argument()
            if re.fullmatch(r"\(\(?[a-z]\)\)?", exponent) and re.fullmatch(r"[A-Za-z]\w*", base):
                return f"{base}_{exponent.strip('()')}"  # x^{(i)}: the i-th example
            if base == "e" and "e" not in self.known:
                return f"exp({exponent})"
            return f"({base})**({exponent})"
        return base

    def postfix(self) -> str:
        atom = self.atom()
        if self.at("_"):
            self.take()
            subscript = self.subscript()
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", atom):
                raise self.fail(f"a subscript on {atom!r}")
            joined = f"{atom}_{subscript}"
            if joined not in self.known and f"{atom}{subscript}" in self.known:
                joined = f"{atom}{subscript}"
            atom = joined
        return atom

    def subscript(self) -> str:
        if self.at("{"):
            self.take()
            parts = []
            while not self.at("}"):
                kind, value = self.take()
                if kind not in ("letter", "number"):
                    raise self.fail(f"subscript part {value!r}")
                parts.append(value)
            self.take()
            return "".join(parts)
        kind, value = self.take()
        if kind not in ("letter", "number"):
            raise self.fail(f"subscript {value!r}")
        return value

    def argument(self) -> str:
        """A braced group, or a single token (``x^2``)."""
        if self.at("{"):
            self.take()
            inner = self.expression()
            self.expect("}")
            return inner
        kind, value = self.take()
        if kind == "number":
            return value[0] if len(value) > 1 and "." not in value else value
        if kind == "letter":
            return value
        raise self.fail(f"exponent {value!r} (write ^{{...}})")

    def call_argument(self) -> str:
        if self.at("(", "["):
            return self.atom()
        if self.at("{"):
            self.take()
            inner = self.expression()
            self.expect("}")
            return inner
        return self.power()

    def atom(self) -> str:
        # Every nesting (brackets, \exp\exp x, \hat{\hat{x}}) passes here: bound the recursion.
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise self.fail(f"more than {MAX_DEPTH} nested parts")
            return self.nested_atom()
        finally:
            self.depth -= 1

    def nested_atom(self) -> str:
        kind, value = self.take()
        if kind == "number":
            return value
        if kind == "letter":
            return self.letters(value)
        if kind == "symbol":
            closing = {"(": ")", "[": "]", "{": "}", "|": "|"}.get(value)
            if closing is None:
                raise self.fail(f"unexpected {value!r}")
            inner = self.expression()
            self.expect(closing)
            return f"abs({inner})" if value == "|" else f"({inner})"
        return self.command(value)

    def letters(self, first: str) -> str:
        # A run of letters and digits is one name only when that name is known. Only as many
        # tokens as the longest known name are read, so a long run takes linear time.
        run = first
        offset = 0
        while len(run) < self.longest and (token := self.peek(offset)) is not None:
            if token[0] not in ("letter", "number") or not (
                token[0] == "letter" or token[1].isdigit()
            ):
                break
            run += token[1]
            offset += 1
        for length in range(min(len(run), self.longest), 1, -1):
            if run[:length] in self.known:
                consumed = length - 1
                taken = 0
                while taken < consumed:
                    taken += len(self.take()[1])
                return run[:length]
        return first

    def command(self, name: str) -> str:
        if name in DIVISION_COMMANDS:
            numerator = self.braced()
            denominator = self.braced()
            return f"(({numerator})/({denominator}))"
        if name == "sqrt":
            if self.at("["):
                raise self.fail("an n-th root \\sqrt[n]{...}")
            return f"sqrt({self.braced()})"
        if name == "sigma":
            derivative = False
            if self.at("'"):
                self.take()
                derivative = True
            if self.at("(", "[", "{"):
                inner = self.call_argument()
                if derivative:
                    return f"(sigmoid({inner})*(1 - sigmoid({inner})))"
                return f"sigmoid({inner})"
            return "sigma"
        if name in FUNCTION_COMMANDS or name == "ln":
            power = ""
            if self.at("^"):
                self.take()
                power = self.argument()
            inner = self.call_argument()
            call = f"{FUNCTION_COMMANDS[name]}({inner})"
            return f"({call})**({power})" if power else call
        if name == "pi":
            return "pi"
        if name in GREEK:
            return GREEK[name]
        if name in ACCENTS:
            inner = self.braced()
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", inner):
                raise self.fail(f"\\{name}{{{inner}}}")
            return f"{inner}{ACCENTS[name]}"
        if name in NAME_COMMANDS:
            self.expect("{")
            parts = []
            while not self.at("}"):
                parts.append(self.take()[1])
            self.take()
            word = "".join(parts)
            if word in FUNCTIONS:
                return f"{word}({self.call_argument()})"
            return word
        raise ParseError(
            f"LaTeX command \\{name} is not supported in {excerpt(self.text)}; {SUGGESTION}"
        )

    def braced(self) -> str:
        self.expect("{")
        inner = self.expression()
        self.expect("}")
        return inner


def prepared_latex(text: object) -> str:
    """LaTeX text checked against the length and nesting budgets, ``$`` and spaces stripped.

    Raises:
        ParseError: Not text, too long or nested too deep (one line).
    """
    if not isinstance(text, str):
        raise ParseError(f"expected LaTeX text (str), got {type(text).__name__}")
    if len(text) > MAX_TEXT_LENGTH:
        raise ParseError(
            f"LaTeX text of {len(text)} characters is too long; the limit is {MAX_TEXT_LENGTH}"
        )
    stripped = text.strip().strip("$").strip()
    check_nesting(stripped)  # before the recursive descent
    return stripped


def latex_translation(text: str, *, known: Iterable[str] = ()) -> str:
    r"""Translate whitelisted LaTeX into symgd's SymPy syntax (text only; nothing is evaluated).

    Args:
        text: The LaTeX, e.g. ``r"2(\hat{y}-y)"``.
        known: Symbol names that a run of letters may spell (``yhat``, ``w1``).

    Returns:
        SymPy-syntax text for :func:`parse_with_sums`.

    Raises:
        ParseError: The LaTeX uses something outside the subset.

    Example:
        >>> latex_translation(r"2(\hat{y}-y)")
        '2*(yhat - y)'
    """
    return _Translator(prepared_latex(text), frozenset(known)).translate()


def parse_latex(
    text: str,
    *,
    symbols: Mapping[str, sympy.Symbol] | None = None,
    data: Iterable[str] = (),
) -> sympy.Expr:
    r"""Parse a whitelisted LaTeX subset safely into a SymPy expression.

    Echo the result with :func:`symgd.render.latex` so the user sees what was understood.

    Args:
        text: LaTeX such as ``r"\frac{1}{m}\sum_{i=1}^{m}(w x_i + b - y_i)"``.
        symbols: Known symbols; a run of letters spelling one of their names is that name.
        data: Data symbol names (subscripted by the example index in sums).

    Returns:
        The expression; sums over examples as in :func:`parse_with_sums`.

    Raises:
        ParseError: The LaTeX is outside the subset or the result is rejected by the safe
            parser; the message suggests SymPy syntax.

    Example:
        >>> parse_latex(r"2(\hat{y}-y)")
        -2*y + 2*yhat
    """
    data = tuple(data)
    symbols = dict(symbols or {})
    known = set(symbols) | set(data)
    translated = latex_translation(text, known=known)
    try:
        return parse_with_sums(translated, symbols=symbols, data=data)
    except ParseError as error:
        raise ParseError(f"could not read LaTeX {excerpt(text)} ({error}); {SUGGESTION}") from None
