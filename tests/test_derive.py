"""Stage 2: gradients and chain-rule steps (symbolic results compared with simplify)."""

from __future__ import annotations

import pytest
import sympy

from symgd.define import linear_regression, logistic_regression, objective
from symgd.derivation import LOSS_SYMBOL, derive, is_zero, lecturer_form
from symgd.functions import sigmoid
from symgd.parse import symbol

w, b, x, y, p, z, m = (symbol(n) for n in ["w", "b", "x", "y", "p", "z", "m"])


def test_seed_gradients_are_the_textbook_formulas(seed_derivation):
    i = seed_derivation.index
    xi, yi = sympy.IndexedBase("x", real=True)[i], sympy.IndexedBase("y", real=True)[i]
    expected = {
        w: sympy.Sum((w * xi + b - yi) * xi, (i, 1, m)) / m,
        b: sympy.Sum(w * xi + b - yi, (i, 1, m)) / m,
    }
    for param, formula in expected.items():
        got = seed_derivation.dataset_gradient(param)
        # Same prefactor 1/m and the same summand, symbolically.
        assert got.as_coeff_mul()[1][0] == formula.as_coeff_mul()[1][0]
        summand = got.atoms(sympy.Sum).pop().function
        assert sympy.simplify(summand - formula.atoms(sympy.Sum).pop().function) == 0


def test_seed_chain_goes_through_yhat(seed_derivation):
    step_w = seed_derivation.steps[0]
    yhat = symbol("yhat")
    assert step_w.paths == ((LOSS_SYMBOL, yhat, w),)
    d_loss_d_yhat, d_yhat_d_w = step_w.local_derivatives[0]
    assert sympy.simplify(d_loss_d_yhat - (yhat - y)) == 0
    assert d_yhat_d_w == x
    assert step_w.result == x * (w * x + b - y)


CASES = [
    # (loss, params, data, define, expected per-example gradient per parameter)
    ("(y - (w*x + b))**2/2", "w,b", "x,y", None, {w: x * (w * x + b - y), b: w * x + b - y}),
    ("(y - w*x)**2", "w", "x,y", None, {w: -2 * x * (y - w * x)}),
    ("abs(y - w*x)", "w", "x,y", None, {w: -x * sympy.sign(y - w * x)}),
    ("log(1 + exp(-y*w*x))", "w", "x,y", None, {w: -y * x * sigmoid(-y * w * x)}),
    (
        "-y*log(p) - (1-y)*log(1-p)",
        "w,b",
        "x,y",
        {"z": "w*x + b", "p": "sigmoid(z)"},
        {w: x * (sigmoid(w * x + b) - y), b: sigmoid(w * x + b) - y},
    ),
    (
        "(a2 - y)**2/2",
        "w1,w2",
        "x,y",
        {"a1": "tanh(w1*x)", "a2": "w2*a1"},
        {
            symbol("w1"): (symbol("w2") * sympy.tanh(symbol("w1") * x) - y)
            * symbol("w2")
            * x
            * (1 - sympy.tanh(symbol("w1") * x) ** 2),
            symbol("w2"): (symbol("w2") * sympy.tanh(symbol("w1") * x) - y)
            * sympy.tanh(symbol("w1") * x),
        },
    ),
    # A parameter reached by two paths: through u and directly.
    ("(u + w*x - y)**2/2", "w", "x,y", {"u": "w**2"}, {w: (w**2 + w * x - y) * (2 * w + x)}),
]


@pytest.mark.parametrize(("loss", "params", "data", "define", "expected"), CASES)
def test_gradient_table(loss, params, data, define, expected):
    derivation = derive(objective(loss, params, data, define=define))
    for param, formula in expected.items():
        assert is_zero(derivation.gradient[param] - formula), (param, derivation.gradient[param])


def test_local_derivatives_in_terms_of_outputs():
    derivation = derive(logistic_regression())
    step = derivation.steps[0]
    locals_ = dict(
        zip([(a, b_) for a, b_ in zip(step.paths[0], step.paths[0][1:])], step.local_derivatives[0])
    )
    assert locals_[(symbol("p"), symbol("z"))] == p * (1 - p)  # sigma' = sigma (1 - sigma)
    assert step.in_intermediates == x * (p - y)  # the lecturer's (p - y) x


def test_tanh_derivative_in_terms_of_its_output():
    derivation = derive(objective("(a - y)**2/2", "w", "x,y", define={"a": "tanh(w*x)"}))
    a = symbol("a")
    assert derivation.steps[0].local_derivatives[0][1] == x * (1 - a**2)


def test_l2_and_sum_reduction_enter_the_dataset_gradient():
    derivation = derive(objective("(y - w*x)**2/2", "w", "x,y", reduction="sum", l2=0.1))
    text = str(derivation.dataset_gradient(w))
    assert "lamda*w" in text and "/m" not in text


def test_a_wrong_chain_would_be_caught(monkeypatch):
    # The consistency check must fire when a local derivative is wrong.
    import sys

    module = sys.modules["symgd.derivation.scalar"]

    monkeypatch.setattr(module, "local_derivative", lambda a, b_, nodes: sympy.Integer(2))
    with pytest.raises(ArithmeticError, match="sympy.diff"):
        derive(linear_regression())


def test_lecturer_form_prefers_factored():
    assert lecturer_form(x * w * x + x * b - x * y) == x * (w * x + b - y)


@pytest.mark.parametrize(
    ("expr", "zero"),
    [
        (sigmoid(z) - 1 / (1 + sympy.exp(-z)), True),
        (sigmoid(z) * (1 - sigmoid(z)) - sigmoid(z), False),
    ],
)
def test_is_zero(expr, zero):
    assert is_zero(expr) is zero


def test_the_l2_strength_name_cannot_be_a_user_symbol():
    with pytest.raises(ValueError, match="'lamda' is the L2 strength"):
        objective("(y - lamda*x)**2/2", params="lamda", data="x,y", l2=0.1)
    # Without --l2 the name is free.
    assert objective("(y - lamda*x)**2/2", params="lamda", data="x,y").l2 is None
