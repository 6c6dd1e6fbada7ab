"""Architecture documents (symgd.render.architecture) compile with pdflatex."""

from __future__ import annotations

import pytest

from symgd.define.architecture import architecture
from symgd.derivation.architecture import derive_architecture
from symgd.render.architecture import (
    architecture_document,
    architecture_markdown,
    architecture_text,
)

CASES = [
    ("conv(8,3),relu,maxpool(2),flatten,dense(10)", "1x8x8", "softmax-cross-entropy"),
    ("rnn(16),dense(1)", "20x1", "mse"),
    ("dense(32),batchnorm,sigmoid,dense(10)", "64", "softmax-cross-entropy"),
]


@pytest.mark.parametrize(("spec", "shape", "loss"), CASES)
def test_document_compiles(spec, shape, loss, pdflatex):
    derivation = derive_architecture(architecture(spec, shape, loss=loss))
    source = architecture_document(derivation)
    assert "KroneckerDelta" not in source
    pdflatex(source)
    assert "Compact rule" in architecture_markdown(derivation)
    assert spec in architecture_text(derivation)


def test_cnn_document_names_the_rules():
    derivation = derive_architecture(architecture(CASES[0][0], CASES[0][1]))
    markdown = architecture_markdown(derivation)
    assert r"cross-correlation of the input with $\delta$" in markdown
    assert "flipped kernel" in markdown
    assert "first maximum" in markdown


@pytest.mark.parametrize(("spec", "shape", "loss"), CASES)
def test_no_plain_text_maths_in_prose(spec, shape, loss):
    source = architecture_document(derive_architecture(architecture(spec, shape, loss=loss)))
    for plain in (
        "dl/d",
        "delta",
        " x H x ",
        "H' = H - k + 1 and",
        "relu'",
        "textbackslash",
        "sympy.diff of",
    ):
        assert plain not in source.replace(r"\delta", "").replace(r"\texttt{sympy.diff}", ""), plain
    assert spec not in source.split("\\begin{document}")[0]  # the title is in words


def test_delta_is_written_first_in_a_product():
    derivation = derive_architecture(architecture(CASES[0][0], CASES[0][1]))
    source = architecture_document(derivation)
    assert r"{\delta}_{o,i,j} {a}_{c,i + p,j + q}" in source
    assert r"{a}_{c,i + p,j + q} {\delta}_{o,i,j}" not in source
    assert r"{\delta}_{p} {a}_{q}" in source


def test_text_form_is_readable():
    derivation = derive_architecture(architecture(CASES[0][0], CASES[0][1]))
    text = architecture_text(derivation)
    for raw in ("Derivative(", "KroneckerDelta", "Sum(", "delta["):
        assert raw not in text, raw
    assert "∂ℓ/∂K[o, c, p, q]" in text
    assert "      = Σ_{i=0..H' - 1, j=0..W' - 1} δ[o, i, j]*a[c, i + p, j + q]" in text.splitlines()
