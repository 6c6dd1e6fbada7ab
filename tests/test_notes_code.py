"""symgd.notes.code and symgd.notes.runs: the code shown is the code that runs."""

from __future__ import annotations

import numpy
import pytest

import symgd.notes.runs as runs_module
from symgd.compile import compile_objective
from symgd.define import linear_regression
from symgd.derivation import derive
from symgd.notes import Code, custom_notes, descent_runs, loop_code, to_markdown, to_tex
from symgd.render.printing import code_block, code_listing

DATA = {"x": numpy.linspace(-1, 1, 30), "y": 2 * numpy.linspace(-1, 1, 30) + 1}


def _code_parts(note) -> list[Code]:
    return [part for s in note.sections for part in s.parts if isinstance(part, Code)]


def test_the_listing_is_the_compiled_source():
    note = custom_notes(linear_regression())
    compiled = compile_objective(derive(linear_regression()))
    listing, loop = _code_parts(note)
    assert listing.source == compiled.source and not listing.latex
    assert code_listing(compiled.source) in to_tex(note)
    assert code_block(compiled.source) in to_markdown(note)
    assert "def loss_and_gradient(theta, X):" in listing.source
    assert loop.latex == loop_code()[0] and r"\mathbf{function}" in loop.latex


def test_the_listing_shows_the_stable_forms():
    from symgd.define import logistic_regression

    note = custom_notes(logistic_regression())
    listing = _code_parts(note)[0]
    assert "numpy.logaddexp(0, _t0)" in listing.source and "_sigmoid(_t0)" in listing.source


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
