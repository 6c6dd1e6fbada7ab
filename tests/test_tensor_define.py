"""Stage 1: shaped declarations and NumPy-notation objectives; every refusal is one line."""

from __future__ import annotations

import pytest
import sympy
from hypothesis import HealthCheck, given, settings, strategies as st

from symgd.define import tensor_expression, tensor_objective
from symgd.parse import ParseError, parse_declarations

DECLARATIONS = [
    ("w[d], b", (("w", ("d",)), ("b", ()))),
    ("X[m,d], y[m]", (("X", ("m", "d")), ("y", ("m",)))),
    ("w[3]", (("w", (3,)),)),
    (" W[k, d] , b[k] ", (("W", ("k", "d")), ("b", ("k",)))),
    ("", ()),
]


@pytest.mark.parametrize(("text", "expected"), DECLARATIONS)
def test_declarations(text, expected):
    assert parse_declarations(text) == expected


SHAPES = [
    ("sum((X@w - y)**2)/(2*m)", "w[d]", "X[m,d], y[m]", {"w": ("d",)}),
    ("w@w", "w[3]", "", {"w": (3,)}),
    ("sum(X@W.T)", "W[k,d]", "X[m,d]", {"W": ("k", "d")}),
    ("sum(ones(m)@X@w) + w@eye(d)@w", "w[d]", "X[m,d]", {"w": ("d",)}),
    ("sum(softmax(X@W.T)*Y)", "W[k,d]", "X[m,d], Y[m,k]", {"W": ("k", "d")}),
]


@pytest.mark.parametrize(("loss", "params", "data", "shapes"), SHAPES)
def test_shaped_objectives(loss, params, data, shapes):
    objective = tensor_objective(loss, params, data)
    assert objective.graph.shape(objective.loss) == ()
    for p in objective.params:
        assert tuple(str(n) for n in objective.shape(p)) == tuple(map(str, shapes[p.name]))


#: (loss, params, data, words the one-line message must contain).
REFUSALS = [
    ("sum(X@w)", "w[k]", "X[m,d]", ["(m, d)", "(k,)"]),
    ("sum(y + X@w)", "w[d]", "X[m,d], y[n]", ["(n,)", "(m,)"]),
    ("X@w", "w[d]", "X[m,d]", ["scalar", "(m,)"]),
    ("sum(q)", "x[n]", "", ["unknown name 'q'"]),
    ("sum(x)", "x[n], z", "", ["'z'", "does not occur"]),
    ("sum(x@2)", "x[n]", "", ["'@'", "scalar"]),
    ("sum(x.foo)", "x[n]", "", ["'.foo'"]),
    ("sum(x, axis=2)", "x[n]", "", ["axis=2"]),
    ("sum(X, keepdims=1)", "X[n,k]", "", ["keyword"]),
    ("sum(X, axis=0, axis=1)", "X[n,k]", "", ["axis"]),
    ("sum(x)", "x[n[2]]", "", ["nested brackets"]),
    ("sum(x)", "x[a,b,c]", "", ["3 axes"]),
    ("sum(x)", "x[n], x", "", ["duplicate name 'x'"]),
    ("sum(x)", "x[n]", "x[n]", ["declared twice"]),
    ("sum(x) + n", "x[n]", "n", ["shape letter"]),
    ("sum(x)", "x[n]", "sum[n]", ["function"]),
    ("sum(x)", "x[exp]", "", ["function"]),
    ("__import__('os')", "x[n]", "", ["__import__"]),
    ("sum(x)*9**9**9", "x[n]", "", ["too large"]),
    ("(" * 500 + "sum(x)" + ")" * 500, "x[n]", "", ["nested"]),
    ("sum(x)" + "+(x@x" * 200 + ")" * 200, "x[n]", "", ["nested"]),
    ("sum(x)", "x[0]", "", ["between 1 and 10^6"]),
    ("trace(x)", "x[n]", "", ["square matrix"]),
    ("det(X)", "X[n,m]", "", ["square matrix"]),
    ("sum(ones(x))", "x[n]", "", ["shape letter or an integer"]),
    ("sum(eye(n, n))", "x[n]", "", ["eye"]),
]  # fmt: skip


@pytest.mark.parametrize(("loss", "params", "data", "words"), REFUSALS)
def test_refusals_are_one_line_parse_errors(loss, params, data, words):
    with pytest.raises(ParseError) as error:
        tensor_objective(loss, params, data)
    message = str(error.value)
    assert "\n" not in message and len(message) < 400
    for word in words:
        assert word in message


def test_tensor_expression_parses_against_the_declarations():
    objective = tensor_objective("sum((X@w - y)**2)/(2*m)", "w[d]", "X[m,d], y[m]")
    expr, graph = tensor_expression(objective, "X.T @ (X@w - y)/m + eye(d) @ w")
    assert graph.shape(expr) == objective.shape(objective.params[0])
    assert len(objective.graph.nodes) < len(graph.nodes)  # the objective's graph is unchanged
    with pytest.raises(ParseError, match="unknown name 'q'"):
        tensor_expression(objective, "q*w")


def test_names_are_symbols_with_shapes():
    objective = tensor_objective("sum(softplus(-y*(X@w + b)))/m", "w[d], b", "X[m,d], y[m]")
    assert [s.name for s in objective.params] == ["w", "b"]
    assert objective.examples == sympy.Symbol("m", integer=True, positive=True)


FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
PIECES = st.sampled_from(
    ["X", "w", "y", "b", "@", "*", "+", "-", "/", "**", ".T", "(", ")", "[", "]", ",", "m", "d",
     "sum(", "norm(", "axis=", "0", "1", "2", "9", "exp(", "trace(", "eye(", "ones(", "softmax(",
     " ", "'", "__", "import", "lambda", "=", ":", "inv(", "det("]
)  # fmt: skip
TEXT = st.one_of(st.text(max_size=40), st.lists(PIECES, max_size=16).map("".join))


@FUZZ
@given(loss=TEXT, params=TEXT, data=TEXT)
def test_any_text_gives_an_objective_or_a_parse_error(loss, params, data):
    for arguments in [(loss, params, data), (loss, "w[d], b", "X[m,d], y[m]")]:
        try:
            tensor_objective(*arguments)
        except ParseError as error:
            assert "\n" not in str(error)
