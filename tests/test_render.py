"""Stage 3: LaTeX, Markdown and standalone documents (compiled by the real pdflatex)."""

from __future__ import annotations

import pytest

from symgd.define import logistic_regression, objective
from symgd.derivation import derive
from symgd.render import partial, to_document, to_latex, to_markdown, to_text
from symgd.render.printing import escape_tex


def test_align_block_shows_chain_and_dataset_gradient(seed_derivation):
    text = to_latex(seed_derivation)
    assert text.startswith("\\begin{align*}") and text.endswith("\\end{align*}")
    assert r"\frac{\partial \ell}{\partial \hat{y}} \frac{\partial \hat{y}}{\partial w}" in text
    assert r"\frac{1}{m} \sum_{i=1}^{m} \left(w {x}_{i} + b - {y}_{i}\right) {x}_{i}" in text
    assert r"\left(\hat{y} - y\right) \cdot x" in text
    assert r"\frac{1}{m} \sum_{i=1}^{m} \left(w {x}_{i} + b - {y}_{i}\right)" in text
    assert r"w^{(t+1)} &= w^{(t)} - \alpha \frac{\partial J}{\partial w}" in text


def test_markdown_has_math_blocks(seed_derivation):
    md = to_markdown(seed_derivation, title="Seed")
    assert md.startswith("# Seed")
    assert md.count("$$") % 2 == 0 and md.count("\\begin{aligned}") == 3


def test_repr_latex_for_jupyter(seed_derivation):
    shown = seed_derivation._repr_latex_()
    assert shown.startswith("$$\\begin{aligned}") and shown.endswith("\\end{aligned}$$")


def test_partial():
    from symgd.parse import symbol

    assert partial("J", symbol("lamda")) == r"\frac{\partial J}{\partial \lambda}"


@pytest.mark.parametrize(
    "derivation_factory",
    [
        lambda: derive(logistic_regression()),
        lambda: derive(objective("(y - w*x - b)**2/2", "w,b", "x,y", l2=0.01, reduction="sum")),
        lambda: derive(
            objective("(a2 - y)**2/2", "w1,w2", "x,y", define=["a1=tanh(w1*x)", "a2=w2*a1"])
        ),
    ],
    ids=["logistic", "ridge-sum", "tanh-chain"],
)
def test_documents_compile_with_pdflatex(derivation_factory, pdflatex):
    pdflatex(to_document(derivation_factory(), title="Test & derivation_1 {100%}"))


def test_seed_document_compiles(seed_derivation, pdflatex):
    pdf = pdflatex(to_document(seed_derivation))
    assert pdf.read_bytes().startswith(b"%PDF")


def test_text_summary(seed_derivation):
    text = to_text(seed_derivation)
    assert "dl/dw = dl/dyhat * dyhat/dw" in text
    assert "dJ/dw = 1/m * Sum_i (w*x[i] + b - y[i])*x[i]" in text


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("a\x7fb", r"a\textbackslash{}x7fb"),
        ("\x00\x1b\x1c", r"\textbackslash{}x00\textbackslash{}x1b\textbackslash{}x1c"),
        ("C1\x85", r"C1\textbackslash{}x85"),
        ("tab\tline\n", "tab\tline\n"),
        (r"\input{x}", r"\textbackslash{}input\{x\}"),
    ],
)
def test_escape_tex_maps_control_characters(text, escaped):
    assert escape_tex(text) == escaped


def test_a_title_with_del_and_blank_lines_compiles(seed_derivation, pdflatex):
    pdflatex(to_document(seed_derivation, title="Gradient\x7f\n\nnotes\x01"))
