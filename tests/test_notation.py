"""One notation for the notes (docs/notation.md): textbook forms, no plain-text maths, conventions.

Each check is run on the output of the old code too: the (y - p)/(p² - p) form, "beta_1" in the
optimisers' table, "R_ij" in matrix factorisation's prose, a numbered λ = 0.1, a "· 1" in the
bias line and custom Huber notes without the kink convention all fail here.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy
import pytest
import sympy

from symgd.define import logistic_regression, objective
from symgd.derivation import derive, lecturer_form
from symgd.derivation.scalar import KINK_CONVENTION
from symgd.notes import build_notes, custom_notes, to_markdown, to_tex
from symgd.notes.document import CONVENTIONS, Prose, words_and_math
from symgd.notes.topics.huber_and_hinge import HUBER
from symgd.render import to_latex

DOCS = Path(__file__).resolve().parents[1] / "docs" / "notation.md"

#: The topics of this part of the notation work (the network topics follow the same table).
TOPICS = [
    "linear-regression",
    "logistic-regression",
    "softmax-regression",
    "regularization",
    "huber-and-hinge",
    "matrix-factorization",
    "optimizers",
]

#: Plain-text stand-ins for maths that a reader must never see in prose, titles or tables.
PLAIN_MATHS = re.compile(
    r"\b(alpha|beta(_\d)?|lambda|lamda|theta|delta|epsilon|rho)\b|\b[a-zA-Z]_[a-zA-Z0-9]+\b"
    r"|\b[pyz] - [pyz]\b|\bR_ij\b|\bJ0\b|\^t\b"
)


@pytest.fixture(scope="module")
def notes():
    return {topic: build_notes(topic, code=False) for topic in TOPICS}


def _words(text: str) -> str:
    """The words of a text, inline maths ``$…$`` left out."""
    return re.sub(r"\$[^$]*\$", " ", text)


def _prose(note) -> list[str]:
    words = [note.title] + [section.heading for section in note.sections]
    words += [meaning for _, meaning in note.notation]
    words += [part.text for s in note.sections for part in s.parts if isinstance(part, Prose)]
    return [_words(w) for w in words]


# ---------------------------------------------------------------- the textbook form


def test_cross_entropy_derivative_is_p_minus_y_over_p_one_minus_p():
    p, y = sympy.symbols("p y", real=True)
    shown = lecturer_form(sympy.diff(-y * sympy.log(p) - (1 - y) * sympy.log(1 - p), p))
    assert shown == (p - y) / (p * (1 - p))
    assert sympy.latex(shown) == r"\frac{p - y}{p \left(1 - p\right)}"


def test_a_wrong_textbook_form_is_told_apart():
    p, y = sympy.symbols("p y", real=True)
    shown = lecturer_form((1 - y) / (1 - p) - y / p)
    assert shown != (y - p) / (p**2 - p)  # equal in value, not the form the notes show
    assert sympy.simplify(shown - (y - p) / (p**2 - p)) == 0


def test_logistic_notes_show_the_textbook_form(notes):
    tex = to_tex(notes["logistic-regression"])
    assert r"\frac{p - y}{p \left(1 - p\right)} \cdot \left(p \left(1 - p\right)\right)" in tex
    assert "p^{2} - p" not in tex and r"\frac{y - p}" not in tex
    derivation = notes["logistic-regression"].derivations[0]
    for step in derivation.steps:  # the shown product is still the checked chain
        product = sympy.Add(*(sympy.Mul(*f) for f in step.local_derivatives))
        assert sympy.simplify(product - step.in_intermediates) == 0


def test_the_demo_derivation_shows_the_textbook_form():
    tex = to_latex(derive(logistic_regression()))
    assert r"\frac{p - y}{p \left(1 - p\right)}" in tex and "p^{2} - p" not in tex


# ---------------------------------------------------------------- no plain-text maths


@pytest.mark.parametrize("text", ["alpha = 0.5", "beta_1 and beta_2", "the logit z_k", "R_ij"])
def test_the_plain_maths_pattern_catches_the_old_text(text):
    assert PLAIN_MATHS.search(_words(text))


def test_inline_maths_is_not_plain_text():
    assert not PLAIN_MATHS.search(_words(r"the rate $\alpha = 0.5$ and $\beta_{1}$"))
    assert words_and_math(r"$\beta_{1}$ & co") == r"$\beta_{1}$ \& co"


@pytest.mark.parametrize("topic", TOPICS)
def test_no_plain_text_maths_in_prose_titles_or_tables(notes, topic):
    found = [(text, m.group()) for text in _prose(notes[topic]) for m in PLAIN_MATHS.finditer(text)]
    assert not found, found[:3]


def test_no_number_is_a_numbered_equation(notes):
    for topic in ("regularization", "matrix-factorization"):
        tex = to_tex(notes[topic])
        assert not re.search(r"\\lambda &= 0\.\d+ \\label", tex), topic
    tex = to_tex(notes["regularization"])
    assert r"Fixed values: $\lambda = 0.1$" in tex


def test_no_factor_one_in_the_bias_line(notes):
    for topic in ("linear-regression", "logistic-regression", "huber-and-hinge"):
        assert not re.search(r"\\cdot 1(?![0-9.])", to_tex(notes[topic])), topic


# ---------------------------------------------------------------- one convention


def test_the_conventions_are_written_once_and_shown_in_every_note(notes):
    page = DOCS.read_text(encoding="utf-8")
    for shown, meaning, example in CONVENTIONS:
        assert f"| ${shown}$ | {meaning} | ${example}$ |" in page
    for note in notes.values():
        tex, md = to_tex(note), to_markdown(note)
        assert all(example in tex and example in md for _, _, example in CONVENTIONS)
    assert r"\mathbb{1}[j = k]" in page and r"\delta_{jk}" not in page


def test_one_update_rule_notation(notes):
    rules = {
        "linear-regression": (
            r"w^{(t+1)} &=",
            r"w^{(t)} - \alpha \frac{\partial J}{\partial w}\left(\boldsymbol{\theta}^{(t)}\right)",
        ),
        "regularization": (r"w^{(t+1)} &=", r"w^{(t)} \left(1 - \alpha \lambda\right)"),
        "optimizers": (r"\theta^{(t+1)} &=", r"\theta^{(t)} - \alpha v^{(t)}"),
    }
    for topic, (lhs, rhs) in rules.items():
        tex = to_tex(notes[topic])
        assert lhs in tex and rhs in tex, topic
        assert not re.search(r"(theta|w|b)_\{t(\+1)?\}", tex), topic
    assert r"w^{(t+1)} &= w^{(t)}" in to_latex(derive(logistic_regression()))


def test_softmax_in_general_and_vector_form(notes):
    note = notes["softmax-regression"]
    tex = to_tex(note)
    assert r"\delta_{k} x_{j}" in tex and "w_{11}" not in tex
    assert r"entry $(k, j)$ of $\boldsymbol{W}$" in tex  # the mapping is stated
    assert tex.index(r"\delta_{k} x_{j}") < tex.index(r"\nabla_{\boldsymbol{W}} J")


def test_matrix_factorization_symbols_are_distinct(notes):
    tex = to_tex(notes["matrix-factorization"])
    assert r"\hat{r}_{uj}" in tex and r"\sum_{k=1}^{2} p_{uk} q_{jk}" in tex
    assert "u_{i}" not in tex and "v_{j}" not in tex and "R_ij" not in tex


def test_the_bias_is_not_penalised_and_the_notes_say_so(notes):
    tex = to_tex(notes["regularization"])
    assert "The bias $b$ is not penalised" in tex
    l2 = custom_notes(objective("(y - w*x - b)**2/2", "w,b", "x,y", l2=0.1))
    assert "on every parameter, as asked" in to_tex(l2)


# ---------------------------------------------------------------- custom notes


def test_custom_piecewise_notes_quote_the_kink_convention():
    huber = objective(HUBER, "w,b", "x,y,delta", define=["r = w*x + b - y"])
    tex = to_tex(custom_notes(huber))
    assert "we take the subgradient 0" in tex and "$H(0) = 0$" in tex
    assert KINK_CONVENTION.startswith("At a kink")
    smooth = to_tex(custom_notes(objective("(y - w*x - b)**2/2", "w,b", "x,y")))
    assert "subgradient" not in smooth


def test_a_constant_column_has_no_index_and_a_varying_one_has():
    huber = objective(HUBER, "w,b", "x,y,delta", define=["r = w*x + b - y"])
    x = numpy.linspace(-1.0, 1.0, 5)
    data = {"x": x, "y": 2 * x, "delta": numpy.ones(5)}
    tex = to_tex(custom_notes(huber, data=data))
    assert r"{\delta}_{i}" not in tex and r"{x}_{i}" in tex and r"\delta \geq" in tex
    varying = to_tex(custom_notes(huber, data={**data, "delta": numpy.linspace(1, 2, 5)}))
    assert r"{\delta}_{i}" in varying
