"""Network notation (issue 12, defect 6): indicator Kronecker, factored δ, scalar-matrix mapping."""

from __future__ import annotations

import re

import pytest
import sympy

from symgd.define import network
from symgd.derivation import derive_network
from symgd.render import network_document, network_latex, network_markdown
from symgd.render.network_notation import index_latex, ordered_chain

_KRONECKER = re.compile(r"\\delta_\{[a-z] ?[a-z]\}")  # δ_{ip}: the old clash with the error δ


def _document(layers: str = "2,3,1", **options) -> str:
    net = network(layers, activation="tanh", loss="mse")
    return network_document(derive_network(net, **options))


def test_no_kronecker_delta_clashes_with_the_error_signal():
    text = _document()
    assert _KRONECKER.search(text) is None
    assert r"\mathbb{1}\left[i = p\right]" in text


def test_the_kronecker_pattern_catches_the_old_output():
    assert _KRONECKER.search(sympy.latex(sympy.KroneckerDelta(*sympy.symbols("i p"))))
    i, p = sympy.symbols("i p", integer=True)
    assert index_latex(sympy.KroneckerDelta(i, p)) == r"\mathbb{1}\left[i = p\right]"


def test_hidden_error_in_factored_order_with_bold_vectors_and_matrices():
    text = network_latex(derive_network(network("2,3,1", activation="tanh", loss="mse")))
    assert (
        r"\boldsymbol{\delta}^{(1)} &= \left(\mathbf{W}^{(2)\top} \boldsymbol{\delta}^{(2)}\right)"
        r" \odot \tanh'\left(\boldsymbol{z}^{(1)}\right)"
    ) in text
    assert (
        r"\boldsymbol{z}^{(1)} &= \mathbf{W}^{(1)} \boldsymbol{a}^{(0)} + \boldsymbol{b}^{(1)}"
        in (text)
    )


def test_relu_derivative_is_an_indicator():
    text = network_latex(derive_network(network("2,2,1", activation="relu", loss="mse")))
    assert r"\mathbb{1}\left[z > 0\right]" in text and r"\theta" not in text


@pytest.mark.parametrize("expanded", [True, False])
def test_mapping_sentence_wherever_scalar_weights_appear(expanded):
    text = _document("2,2,1", expanded=expanded)
    mapping = r"w^{(l)}_{jk} = \mathbf{W}^{(l)}_{jk}"
    assert (mapping in text) == expanded
    net = derive_network(network("2,2,1", activation="tanh", loss="mse"), expanded=expanded)
    assert (mapping in network_markdown(net)) == expanded


def test_expanded_chain_reads_error_weight_local_derivative_input():
    text = _document("2,3,1", expanded=True)
    assert (
        r"&= \left(a^{(2)}_{1} - y_{1}\right) w^{(2)}_{11} "
        r"\left(1 - \left(a^{(1)}_{1}\right)^{2}\right) x_{1}"
    ) in text
    # The old order SymPy printed: weight, input, local derivative, error.
    assert r"&= w^{(2)}_{11} x_{1} \left(1 - \left(a^{(1)}_{1}\right)^{2}\right)" not in text


def test_ordered_chain_factors_common_tails_and_keeps_its_value():
    e1, e2, w1, w2, d, x = sympy.symbols("e1 e2 w1 w2 d x")
    shown, value = ordered_chain([(e1, 1, w1, d, x), (e2, 1, w2, d, x)])
    assert shown == r"\left(e_{1} w_{1} + e_{2} w_{2}\right) d x"
    assert sympy.expand(value - (e1 * w1 + e2 * w2) * d * x) == 0
    assert sympy.expand(value - (e1 * w1 + e2 * w1) * d * x) != 0  # a wrong value differs


def test_l2_strength_is_stated_not_an_equation():
    net = network("2,2,1", activation="tanh", loss="mse", l2=0.1)
    text = network_latex(derive_network(net))
    assert r"\lambda &= 0.1" not in text and r"\text{with } \lambda = 0.1" in text
