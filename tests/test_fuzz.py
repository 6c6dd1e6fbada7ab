"""Property-based fuzzing of every parser entry point with Hypothesis, bounded.

Properties, for any text: each parser returns a result or raises :class:`ParseError` (never any
other exception), never calls ``eval`` or ``exec``, and answers within a time bound; and every
symbol of an accepted expression has a name matching ``[A-Za-z][A-Za-z0-9_]*``. The examples
are derandomized (the same on every run) and the file runs in well under a minute.
"""

from __future__ import annotations

import builtins
import contextlib
import re
import time
from collections.abc import Callable, Iterator

import sympy
from hypothesis import HealthCheck, given, settings, strategies as st

from symgd.parse import (
    ParseError,
    latex_translation,
    parse_assignments,
    parse_definition,
    parse_expression,
    parse_latex,
    parse_names,
    parse_with_sums,
)

SECONDS_PER_CALL = 2.0  # the target is well under 0.1 s; generous on a shared 2-core machine
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
FUZZ = settings(
    max_examples=120,
    deadline=None,  # timed by the properties themselves, with a bound that tolerates load
    database=None,  # nothing written into the working tree
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

PARSERS: dict[str, Callable[[str], object]] = {
    "parse_expression": parse_expression,
    "parse_definition": parse_definition,
    "parse_names": parse_names,
    "parse_assignments": parse_assignments,
    "latex_translation": latex_translation,
    "parse_latex": lambda text: parse_latex(text, data=["x", "y"]),
    "parse_with_sums": lambda text: parse_with_sums(text, data=["x", "y"]),
}

DANGEROUS = [
    "__import__('os')",
    "__import__('os').system('true')",
    "().__class__.__base__.__subclasses__()",
    "9**9**9",
    "9**9**9**9",
    "lambda x: x",
    "exec('1')",
    "eval('1')",
    "open('/etc/passwd')",
    "\\input{/etc/passwd}",
    "\\",
    "\\\\",
    "\\frac{",
    "\\sqrt{",
    "\\sum_{i=1}^{m}",
    "Sum(",
    "x___y",
    "xscr",
    "ell",
    "symgdsum0",
    "1if x else y",
    "0x10",
    "1_000",
    "1e308",
    "1e-300*1e-300",
    "sqrt(-1)",
    "log(-1)",
    "(-96)**0.001",
    "\uff45\uff58\uff50",  # fullwidth 'exp'
    "\u0445",  # Cyrillic 'x'
    "\u0661",  # Arabic-Indic digit one
    "\x00",
    "\n",
    "\U0001f600",
]
SYMPY_ALPHABET = "wxyzbpi0123456789.eE+-*/()_,= "
LATEX_FRAGMENTS = [
    "x",
    "y",
    "w",
    "2",
    "0.5",
    "+",
    "-",
    "*",
    "/",
    "^",
    "_",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "|",
    "'",
    "=",
    "\\frac{",
    "}{",
    "\\sqrt{",
    "\\hat{",
    "\\bar{",
    "\\sigma",
    "\\exp",
    "\\log",
    "\\ln",
    "\\cdot",
    "\\left(",
    "\\right)",
    "\\sum_{i=1}^{m}",
    "\\sum_i",
    "\\lambda",
    "\\operatorname{",
    "\\partial",
    "x_i",
]


def _nested(count: int, opening: str) -> str:
    closing = {"(": ")", "[": "]", "{": "}", "\\sqrt{": "}", "sqrt(": ")", "exp(": ")"}[opening]
    return opening * count + "x" + closing * count


random_text = st.text(alphabet=SYMPY_ALPHABET, max_size=80)
any_text = st.text(max_size=40)
fragments = st.lists(st.sampled_from(DANGEROUS + list(SYMPY_ALPHABET)), max_size=10).map("".join)
nested = st.builds(
    _nested,
    st.integers(min_value=0, max_value=400),
    st.sampled_from(["(", "[", "{", "\\sqrt{", "sqrt(", "exp("]),
)
huge_numbers = st.builds(
    "{}e{}{}{}".format,
    st.integers(min_value=0, max_value=10**30),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.sampled_from(["", "*x", "**9", "*1e-300", "*1e300"]),
    st.sampled_from(["", "**x", "*w"]),
)
powers = st.lists(
    st.sampled_from(["x", "(x+1)", "9", "64", "0.5", "-1", "exp(x)"]), min_size=1, max_size=25
).map("**".join)
latex_text = st.lists(st.sampled_from(LATEX_FRAGMENTS), max_size=25).map(" ".join)
hostile = st.one_of(random_text, any_text, fragments, nested, huge_numbers, powers, latex_text)
combined = st.one_of(hostile, st.tuples(hostile, st.sampled_from("+*=,"), hostile).map("".join))


@contextlib.contextmanager
def _eval_and_exec_forbidden() -> Iterator[list[str]]:
    """Replace ``eval`` and ``exec`` with functions that record the call and raise."""
    calls: list[str] = []

    def forbidden(name: str) -> Callable[..., object]:
        def refuse(*args: object, **kwargs: object) -> object:
            calls.append(name)
            raise AssertionError(f"{name} called while parsing user text")

        return refuse

    saved = builtins.eval, builtins.exec
    builtins.eval, builtins.exec = forbidden("eval"), forbidden("exec")
    try:
        yield calls
    finally:
        builtins.eval, builtins.exec = saved


def _parse(name: str, text: str) -> object | None:
    """The parser's result, or ``None`` for a ParseError; fails on anything else."""
    start = time.perf_counter()
    with _eval_and_exec_forbidden() as calls:
        try:
            result = PARSERS[name](text)
        except ParseError as error:
            assert "\n" not in str(error), f"{name}({text!a}): {error}"
            result = None
    seconds = time.perf_counter() - start
    assert not calls, f"{name}({text!a}) called {calls}"
    assert seconds < SECONDS_PER_CALL, f"{name}({text!a}) took {seconds:.2f} s"
    return result


def _assert_symbol_names(result: object, text: str) -> None:
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], sympy.Basic):
        result = result[1]  # parse_definition: (name, expression)
    if isinstance(result, sympy.Basic):
        for atom in result.atoms(sympy.Symbol):
            assert NAME.fullmatch(atom.name), f"symbol {atom.name!a} from {text!a}"


@FUZZ
@given(combined)
def test_every_parser_returns_or_raises_parse_error(text):
    for name in PARSERS:
        _assert_symbol_names(_parse(name, text), text)


@FUZZ
@given(latex_text)
def test_latex_reader_returns_or_raises_parse_error(text):
    for name in ("latex_translation", "parse_latex"):
        _assert_symbol_names(_parse(name, text), text)


# Expressions that are mostly accepted: the symbol-name property needs accepted results.
names = st.sampled_from(["w", "b", "x", "y", "x_1", "W2", "yhat", "lamda", "theta_0", "pi"])
numbers = st.sampled_from(["0", "1", "2", "0.5", "1e-3", "64", "1e300", "1e-300"])
expressions = st.recursive(
    st.one_of(names, numbers),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "**"]), inner).map(
            lambda parts: f"({parts[0]}){parts[1]}({parts[2]})"
        ),
        st.tuples(st.sampled_from(["exp", "log", "sqrt", "sigmoid", "tanh", "abs"]), inner).map(
            lambda parts: f"{parts[0]}({parts[1]})"
        ),
        inner.map(lambda part: f"-({part})"),
    ),
    max_leaves=12,
)


@FUZZ
@given(expressions)
def test_accepted_expressions_have_valid_symbol_names(text):
    for name in ("parse_expression", "parse_with_sums"):
        _assert_symbol_names(_parse(name, text), text)
    _assert_symbol_names(_parse("parse_definition", f"z_out = {text}"), text)


values = st.one_of(
    st.sampled_from(["0x10", "(1)", "- 1", "1_000", "\u0661", "1e999", "nan", "+.5", "-0"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(alphabet="0123456789.eE+-_x() ", max_size=12),
)


@FUZZ
@given(st.lists(st.tuples(names, values), min_size=1, max_size=4))
def test_assignments_are_plain_finite_numbers_or_refused(items):
    text = ",".join(f"{name}={value}" for name, value in items)
    result = _parse("parse_assignments", text)
    if result is not None:
        assert all(type(value) is float and value == value for value in result.values())
        assert all(abs(value) != float("inf") for value in result.values())
        for _, value in items:
            assert re.fullmatch(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?", value)
