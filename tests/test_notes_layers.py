"""The layer notes cnn-backprop, rnn-bptt and batch-norm: built, compiled, every equality checked.

Each topic is built once with its figures (its real training runs) and compiled by pdflatex.
Every displayed chain is checked again here; every number of a worked example is compared with
the whole compiled network (:func:`symgd.compile.architecture.compile_architecture`), which
sees the layer only through the loss: its gradient is the layer's, scaled by ``∂J/∂ŷ``.
"""

from __future__ import annotations

import re

import numpy
import pytest
import sympy

from symgd.compile.architecture import compile_architecture
from symgd.define.architecture import architecture
from symgd.derivation.layer_check import Chain, check_chains
from symgd.derivation.layer_rules import convolution_rule
from symgd.derivation.normalization import batchnorm_rule
from symgd.derivation.recurrent import rnn_rule
from symgd.notes import build_notes, write_notes
from symgd.notes.document import Equation, Figure, Prose
from symgd.notes.topics import batch_norm, cnn_backprop, rnn_bptt
from symgd.notes.topics.layer_notes import number_latex

RULES = {
    "cnn-backprop": convolution_rule("valid"),
    "rnn-bptt": rnn_rule(),
    "batch-norm": batchnorm_rule(),
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Each topic built with figures and written as PDF: ``{topic: (notes, tex source, log)}``."""
    out = {}
    for topic in RULES:
        folder = tmp_path_factory.mktemp(topic)
        notes = build_notes(topic, folder / "figures")
        written = write_notes(notes, folder / f"{topic}.tex", pdf=True)
        tex = folder / f"{topic}.tex"
        log = tex.with_suffix(".log").read_text(encoding="latin-1")
        out[topic] = (notes, tex.read_text(encoding="utf-8"), log, written)
    return out


@pytest.mark.parametrize("topic", list(RULES))
def test_topic_compiles_with_figures_and_code(built, topic):
    notes, tex, log, written = built[topic]
    assert written[0].suffix == ".pdf" and written[0].stat().st_size > 10_000
    assert "! " not in log and "Overfull \\hbox" not in log, re.findall(r"Overfull.*", log)[:3]
    assert "undefined" not in log.lower()
    assert notes.figures and all(f.stat().st_size > 5000 for f in notes.figures)
    assert "The code that runs" in tex and "\\begin{verbatim}" in tex
    assert "delta_{" not in tex.replace("\\delta_{", "")  # no δ written as a Kronecker delta


@pytest.mark.parametrize("topic", list(RULES))
def test_every_displayed_chain_is_a_checked_rule_chain(built, topic):
    notes = built[topic][0]
    rule = RULES[topic]
    shown = [value for name, value in notes.formulas.items() if name.startswith("chain ")]
    assert len(shown) == len(rule.chains)
    chains = [Chain(tuple(sides), c.ranges) for sides, c in zip(shown, rule.chains, strict=True)]
    check = check_chains(topic, chains, rule.cases)
    assert check.passed, check.failures[:1]
    # Every numbered equation of the note is a chain or a forward definition of the rule.
    equations = [
        part
        for section in notes.sections
        for block in section.parts
        if isinstance(block, tuple)
        for part in block
        if isinstance(part, Equation)
    ]
    assert len(equations) == len(rule.chains) + len(rule.forward)


def test_a_wrong_chain_fails_the_check():
    """The input gradient with the kernel not flipped (padded δ slid over K as it is) fails."""
    rule = RULES["cnn-backprop"]
    chain = rule.chains[2]
    right = chain.sides[-1]
    names = {str(s): s for s in right.free_symbols | set(right.variables)}
    o, c, p, q, r, s, k = (names[n] for n in "ocpqrsk")
    K, delta = (
        next(b for b in right.atoms(sympy.IndexedBase) if str(b) == n) for n in ("K", "delta")
    )
    wrong = sympy.Sum(K[o, c, p, q] * delta[o, r - k + 1 + p, s - k + 1 + q], *right.limits)
    assert check_chains("conv", [chain], rule.cases).passed
    assert not check_chains(
        "conv", [Chain((*chain.sides[:-1], wrong), chain.ranges)], rule.cases
    ).passed


def _numbers(notes, name):
    return numpy.array(notes.formulas[f"number {name}"].tolist(), dtype=float).squeeze()


def _numeric_input_gradient(compiled, theta, X, Y, step=1e-6):
    gradient = numpy.zeros_like(X)
    for index in numpy.ndindex(X.shape):
        up, down = X.copy(), X.copy()
        up[index] += step
        down[index] -= step
        gradient[index] = (compiled.loss(theta, up, Y) - compiled.loss(theta, down, Y)) / (2 * step)
    return gradient


def test_cnn_numbers_are_the_compiled_networks(built):
    notes = built["cnn-backprop"][0]
    example = cnn_backprop.EXAMPLE
    compiled = compile_architecture(
        architecture("conv(1,2),flatten,dense(1)", (1, 3, 3), loss="mse")
    )
    theta = numpy.zeros(compiled.architecture.parameter_count)
    views = compiled.views(theta)
    views["K1"][...] = numpy.array(example["K"])[None, None]
    views["b1"][...] = example["b"]
    views["W2"][...] = numpy.array(example["delta"]).reshape(1, 4)  # so ∂J/∂z = c δ
    X, Y = numpy.array(example["x"])[None, None], numpy.array([[0.3]])
    _, gradient = compiled.loss_and_gradient(theta, X, Y)
    blocks = {name: gradient[part].reshape(shape) for name, part, shape in compiled.blocks}
    scale = blocks["b2"][0]  # ∂J/∂ŷ
    numpy.testing.assert_allclose(blocks["K1"][0, 0] / scale, _numbers(notes, "dK"), atol=1e-12)
    numpy.testing.assert_allclose(blocks["b1"] / scale, _numbers(notes, "db"), atol=1e-12)
    dx = _numeric_input_gradient(compiled, theta, X, Y)[0, 0] / scale
    numpy.testing.assert_allclose(dx, _numbers(notes, "dx"), atol=1e-6)
    numpy.testing.assert_allclose(_numbers(notes, "z"), [[-0.5, 4.5], [3.5, 0.5]])
    # The δ routing: the kernel not flipped gives other numbers than those shown.
    unflipped = cnn_backprop.flipped_numbers()["unflipped"]
    assert not numpy.allclose(unflipped, _numbers(notes, "dx"))
    numpy.testing.assert_allclose(unflipped, _numbers(notes, "unflipped"))


def test_rnn_numbers_are_the_compiled_networks(built):
    notes = built["rnn-bptt"][0]
    example = rnn_bptt.EXAMPLE
    compiled = compile_architecture(architecture("rnn(1),dense(1)", (3, 1), loss="mse"))
    theta = numpy.zeros(compiled.architecture.parameter_count)
    views = compiled.views(theta)
    views["U1"][...], views["W1"][...], views["b1"][...] = example["u"], example["w"], example["b"]
    views["W2"][...] = example["g"]
    X, Y = numpy.array(example["x"]).reshape(1, 3, 1), numpy.array([[-0.7]])
    _, gradient = compiled.loss_and_gradient(theta, X, Y)
    blocks = {name: gradient[part] for name, part, _ in compiled.blocks}
    scale = blocks["b2"][0]
    for name in ("dU", "dW", "db"):
        numpy.testing.assert_allclose(blocks[name[1:] + "1"] / scale, _numbers(notes, name))
    h = numpy.tanh  # the states by hand
    states = [0.0]
    for value in example["x"]:
        states.append(float(h(example["u"] * value + example["w"] * states[-1] + example["b"])))
    numpy.testing.assert_allclose(_numbers(notes, "h"), states[1:])
    # ∂ℓ/∂h_1 by finite differences of the last state in the first one.
    step, last = 1e-6, []
    for first in (states[1] + step, states[1] - step):
        state = first
        for value in example["x"][1:]:
            state = h(example["u"] * value + example["w"] * state + example["b"])
        last.append(state)
    numpy.testing.assert_allclose(
        (last[0] - last[1]) / (2 * step), _numbers(notes, "dh1"), rtol=1e-6
    )


def test_batch_norm_numbers_are_the_compiled_networks(built):
    notes = built["batch-norm"][0]
    example = batch_norm.EXAMPLE
    compiled = compile_architecture(architecture("batchnorm,dense(1)", (1,), loss="mse"))
    theta = numpy.zeros(compiled.architecture.parameter_count)
    views = compiled.views(theta)
    views["gamma1"][...], views["beta1"][...], views["W2"][...] = (
        example["gamma"],
        example["beta"],
        1,
    )
    X = numpy.array(example["x"]).reshape(3, 1)
    outputs = compiled.forward(theta, X)
    Y = outputs - numpy.array(example["g"]).reshape(3, 1)  # ∂J/∂ŷ proportional to g
    _, gradient = compiled.loss_and_gradient(theta, X, Y)
    blocks = {name: gradient[part] for name, part, _ in compiled.blocks}
    scale = blocks["b2"][0] / sum(example["g"])
    numpy.testing.assert_allclose(blocks["gamma1"] / scale, _numbers(notes, "dgamma"))
    numpy.testing.assert_allclose(blocks["beta1"] / scale, _numbers(notes, "dbeta"))
    dx = _numeric_input_gradient(compiled, theta, X, Y)[:, 0] / scale
    numpy.testing.assert_allclose(dx, _numbers(notes, "dx"), atol=1e-5)
    numpy.testing.assert_allclose(outputs[:, 0], _numbers(notes, "y"))


def test_runs_reach_what_the_captions_claim(built):
    assert float(built["cnn-backprop"][0].formulas["run test accuracy"]) > 0.95
    runs = built["batch-norm"][0].formulas
    assert float(runs["run with batch norm test accuracy"]) > 0.9
    assert float(runs["run without batch norm test accuracy"]) < 0.2
    rnn = built["rnn-bptt"][0].formulas
    assert float(rnn["run clipped at norm 1 test mse"]) < 0.05
    assert "overflowed" in built["rnn-bptt"][1]


def test_rnn_gradient_norms_vanish_and_explode():
    small, large = rnn_bptt.gradient_norms(0.5), rnn_bptt.gradient_norms(3.0)
    assert small[30] < 1e-6 < 1e2 < large[30]


@pytest.mark.parametrize(
    ("value", "shown"), [(2330.4, r"2.33 \cdot 10^{3}"), (0.5, "0.5"), (-0.0, "0")]
)
def test_number_latex(value, shown):
    assert number_latex(value) == shown


#: Plain-text stand-ins for maths (the pattern of tests/test_notation.py), plus "x-hat".
PLAIN_MATHS = re.compile(
    r"\b(alpha|beta(_\d)?|lambda|lamda|theta|delta|epsilon|rho|gamma)\b|\b[a-zA-Z]_[a-zA-Z0-9]+\b"
    r"|\b[pyz] - [pyz]\b|\bx-hat\b|\^t\b"
)


@pytest.mark.parametrize("topic", list(RULES))
def test_no_plain_text_maths_in_prose_captions_or_tables(built, topic):
    notes = built[topic][0]
    texts = [notes.title, *(section.heading for section in notes.sections)]
    texts += [meaning for _, meaning in notes.notation]
    for section in notes.sections:
        for part in section.parts:
            texts += [part.text] if isinstance(part, Prose) else []
            texts += [part.caption] if isinstance(part, Figure) else []
    found = [(text[:60], m.group()) for text in texts for m in PLAIN_MATHS.finditer(text)]
    assert not found, found[:3]
