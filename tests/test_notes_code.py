"""symgd.notes.code and symgd.notes.runs: the code shown reads like the derivation and runs."""

from __future__ import annotations

import ast
import functools
import re

import numpy
import pytest

import symgd.notes.code as code_module
import symgd.notes.runs as runs_module
from symgd.compile import compile_objective
from symgd.define import linear_regression, objective
from symgd.derivation import derive
from symgd.notes import (
    Code,
    build_notes,
    custom_notes,
    descent_runs,
    loop_code,
    to_markdown,
    to_tex,
)
from symgd.notes.code import LISTING_WIDTH, readable_source
from symgd.render.printing import code_listing

DATA = {"x": numpy.linspace(-1, 1, 30), "y": 2 * numpy.linspace(-1, 1, 30) + 1}


def _code_parts(note) -> list[Code]:
    return [part for s in note.sections for part in s.parts if isinstance(part, Code)]


#: topic: lines its listing must hold, in the derivation's names and notation
LISTINGS = {
    "linear-regression": ["yhat = w*x + b", "dJ_dw = numpy.mean(x*(yhat - y))"],
    "logistic-regression": [
        "p = sigmoid(z)",
        "J = numpy.mean(numpy.logaddexp(0, z) - y*z)",
        "dJ_dw = numpy.mean(x*(p - y))",
    ],
    "mlp-backprop": ["a1 = sigmoid(z1)", "z3 = a1*v1 + a2*v2 + c", "dJ_dc = numpy.mean(p - y)"],
    "softmax-regression": [
        "p1 = numpy.exp(z1 - logsumexp(z1, z2, z3))",
        "J = numpy.mean(logsumexp(z1, z2, z3) - y1*z1 - y2*z2 - y3*z3)",
        "dJ_dw11 = numpy.mean(x1*(p1 - y1))",
    ],
}


@functools.cache
def _note(topic: str):
    """The topic's note without figures (it ends with the code), built once per session."""
    return build_notes(topic)


def _same_as_compiled(source: str, compiled) -> None:
    """Run ``source`` alone (a fresh namespace) and compare it with the compiled objective."""
    namespace: dict = {}
    exec(compile(source, "<snippet>", "exec"), namespace)
    rng = numpy.random.default_rng(1)
    theta = rng.normal(0, 1, len(compiled.params))
    X = rng.normal(0, 2, (len(compiled.data), 25))
    loss, gradient = namespace["loss_and_gradient"](theta, X)
    expected = compiled.loss_and_gradient(theta, X)
    numpy.testing.assert_allclose(loss, expected[0], rtol=1e-12)
    numpy.testing.assert_allclose(gradient, expected[1], rtol=1e-10, atol=1e-14)


def _assigned_names(source: str) -> set[str]:
    tree = ast.parse(source)
    function = next(n for n in tree.body if getattr(n, "name", "") == "loss_and_gradient")
    stored = (n for n in ast.walk(function) if isinstance(n, ast.Name))
    return {n.id for n in stored if isinstance(n.ctx, ast.Store)}


@pytest.mark.parametrize("topic", list(LISTINGS))
def test_the_listing_is_readable_numpy_in_the_derivations_names(topic):
    note = _note(topic)
    listing, loop = _code_parts(note)
    derivation = note.derivations[-1]
    assert not listing.latex and loop.latex == loop_code()[0]
    for line in LISTINGS[topic]:
        assert f"    {line}\n" in listing.source
    # Every name the function assigns is a symbol of the note's derivations, J or dJ_d<param>.
    symbols = {s.name for d in note.derivations for s in d.objective.params + d.objective.data}
    symbols |= {n.name for d in note.derivations for n, _ in d.objective.intermediates}
    gradients = {f"dJ_d{p.name}" for p in derivation.objective.params}
    assert gradients <= _assigned_names(listing.source) <= symbols | gradients | {"J"}
    assert not re.search(r"\b_[a-z]|_t\d", listing.source)  # no private helpers, no CSE names
    assert max(map(len, listing.source.splitlines())) <= LISTING_WIDTH
    _same_as_compiled(listing.source, compile_objective(derivation))
    assert code_listing(listing.source) in to_tex(note)


@pytest.mark.parametrize("topic", list(LISTINGS))
def test_the_markdown_snippet_runs_on_its_own(topic):
    note = _note(topic)
    blocks = re.findall(r"```python\n(.*?)```", to_markdown(note), re.S)
    assert len(blocks) == 1  # the loop is shown once, as math
    _same_as_compiled(blocks[0], compile_objective(note.derivations[-1]))


def test_the_listing_follows_the_derivations_notation():
    # tanh' is 1 - a**2 in the derivation, so in the code too (the compiler writes sech**2).
    obj = objective("(y - a)**2/2", "w,b", "x,y", define={"z": "w*x + b", "a": "tanh(z)"})
    listing = _code_parts(custom_notes(obj))[0].source
    assert "dJ_dw = numpy.mean(x*(1 - a**2)*(a - y))" in listing and "sech" not in listing
    assert "sech" in compile_objective(derive(obj)).source


#: objective, its listing's lines (stable forms, helpers, penalties, cases, reserved names)
CUSTOM = [
    (("log(1 + exp(-y*(w*x + b)))", "w,b", "x,y"), ["def sigmoid(z):", "numpy.logaddexp(0, "]),
    (("(y - w*x - b)**2/2", "w,b", "x,y", {"l2": 0.1}), ["lamda = 0.1", " + lamda*w\n"]),
    (("(y - w*x - b)**2/2", "w,b", "x,y", {"reduction": "sum"}), ["J = numpy.sum("]),
    (("Max(0, 1 - y*(w*x + b))", "w,b", "x,y"), ["numpy.where(y*(w*x + b) < 1, -x*y, 0)"]),
    (
        ("(y - Piecewise((w*log(x), x > 0), (w*x, True)))**2", "w", "x,y"),
        ["def piecewise(conditions, branches, arguments):", "(w,) = theta"],
    ),
    (("(y - theta*x - J)**2", "theta,J", "x,y"), ["theta_, J_ = theta", "dJ_dJ_ = "]),
]


@pytest.mark.parametrize(("spec", "lines"), CUSTOM)
def test_custom_listings_run_and_agree(spec, lines):
    obj = objective(*spec[:3], **(spec[3] if len(spec) > 3 else {}))
    listing = _code_parts(custom_notes(obj))[0].source
    for line in lines:
        assert line in listing
    _same_as_compiled(listing, compile_objective(derive(obj)))


def test_long_lines_are_broken_inside_brackets():
    features = [f"feature{k}" for k in range(1, 16)]
    total = " + ".join(features)  # a sum of 15 data rows: one 200-character line unbroken
    obj = objective("(y - w*s - b)**2/2", "w,b", [*features, "y"], define={"s": total})
    listing = readable_source(derive(obj))
    assert max(map(len, listing.splitlines())) <= LISTING_WIDTH
    _same_as_compiled(listing, compile_objective(derive(obj)))


def test_a_listing_that_disagrees_with_the_compiled_code_is_refused(monkeypatch):
    def wrong(derivation, named=()):
        return readable_source(derivation).replace("numpy.mean(x*(yhat - y))", "0.0")

    monkeypatch.setattr(code_module, "readable_source", wrong)
    with pytest.raises(ArithmeticError, match="gradient .* disagrees with the compiled"):
        custom_notes(linear_regression())


def test_a_shown_loop_that_disagrees_with_the_runner_is_refused(tmp_path, monkeypatch):
    def wrong(theta, alpha, epochs, gradient):
        return theta + alpha * gradient(theta)  # ascent, not descent

    monkeypatch.setattr(runs_module, "descent_loop", wrong)
    with pytest.raises(ArithmeticError, match="disagrees"):
        custom_notes(linear_regression(), data=DATA, learning_rate=0.5, epochs=3, figures=tmp_path)


def test_descent_runs_record_every_step():
    compiled = compile_objective(derive(linear_regression()))
    found = descent_runs(compiled, DATA, {"w": 0, "b": 0}, learning_rate=0.5, epochs=2)
    assert [path.shape[0] for _, path in found.values()] == [3, 61, 5]
    for result, path in found.values():
        numpy.testing.assert_allclose(path[-1], result.theta, rtol=1e-12)
