"""Rendered network derivations: LaTeX, Markdown, text and documents that compile."""

from __future__ import annotations

from symgd.define import network
from symgd.derivation import derive_network
from symgd.render import network_document, network_latex, network_markdown, network_text

LOSS_NAMES = ["mse", "bce", "softmax-cross-entropy"]


def test_rendered_chain_mentions_the_derived_pieces():
    derivation = derive_network(network("2,3,1", activation="sigmoid", loss="mse"))
    latex = network_latex(derivation)
    assert r"a \left(1 - a\right)" in latex  # σ' in terms of the output
    assert r"\odot" in latex and r"\mathbf{W}^{(2)}" in latex
    text = network_text(derivation)
    assert "delta(2) = dl/dz(2) = a - y" in text
    assert "**Backward recursion**" in network_markdown(derivation)


def test_softmax_chain_shows_p_minus_y():
    latex = network_latex(derive_network(network("4,3,3", loss="softmax-cross-entropy")))
    assert r"&= \boldsymbol{p} - \boldsymbol{y}" in latex


def test_expanded_document_compiles(pdflatex):
    derivation = derive_network(
        network("2,2,1", activation="tanh", loss="mse", l2=0.01), expanded=True
    )
    source = network_document(derivation)
    assert r"\frac{\partial \ell}{\partial w^{(1)}_{12}}" in source
    pdflatex(source, name="backprop")


def test_softmax_document_compiles(pdflatex):
    pdflatex(
        network_document(
            derive_network(network("2,3,2", loss="softmax-cross-entropy"), expanded=True)
        ),
        name="softmax",
    )
