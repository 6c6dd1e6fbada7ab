"""Soundness of the answer checker: answers wrong only somewhere must be judged wrong.

Each answer in the corpus differs from the correct gradient only on a region (large |z|, p near
0 or 1, large |x|), beside a kink, by a tiny constant, or inside a declared data domain that the
default sampling box misses. Every one must be judged wrong for every seed, with a counterexample
inside the data's domain.
"""

from __future__ import annotations

import functools

import pytest

import symgd.cli as cli
from symgd.define import linear_regression, logistic_regression, objective
from symgd.define.objective import read_domain, with_domains
from symgd.derivation import derive
from symgd.parse import ParseError
from symgd.verify import check_answer

_MODELS = {
    "linear": linear_regression,
    "logistic": logistic_regression,
    "huber": lambda: objective(
        "Min(abs(r), 1)*(abs(r) - Min(abs(r), 1)/2)", "w,b", "x,y", define={"r": "w*x + b - y"}
    ),
    "linear-pos": lambda: objective(
        "(y - yhat)**2/2", "w,b", "x,y", define={"yhat": "w*x + b"}, domains={"x": "[0, inf)"}
    ),
    "bce": lambda: objective(  # a cross-entropy written by hand: y in {0, 1} is inferred
        "-y*log(p) - (1 - y)*log(1 - p)", "w,b", "x,y", define={"z": "w*x + b", "p": "sigmoid(z)"}
    ),
}


@functools.cache
def _derivation(model: str):
    return derive(_MODELS[model]())


WRONG_SOMEWHERE = [
    # wrong on a region of large |x| or large residual
    ("linear", "w", "(w*x + b - y)*Max(x, -1.9)"),
    ("linear", "b", "Max(w*x + b - y, -3)"),
    ("linear", "b", "Min(w*x + b - y, 5)"),
    ("linear", "w", "(w*x + b - y)*Min(x, 4)"),
    ("linear", "w", "(w*x + b - y)*x*Heaviside(x + 3)"),
    ("linear", "w", "(w*x + b - y)*x*(1 + Heaviside(w - 4))"),
    ("linear", "w", "(w*x + b - y)*Abs(x)"),
    ("linear", "w", "(w*x + b - y)*x + Min(0, x + 7)"),
    # wrong only beyond a kink far outside the sampling box
    ("linear", "b", "Max(w*x + b - y, -10)"),
    ("linear", "w", "(w*x + b - y)*x*(1 - Heaviside(x - 10))"),
    # wrong by a tiny constant
    ("linear", "w", "(w*x + b - y)*x + 1e-12"),
    ("linear", "b", "w*x + b - y - 1e-15"),
    ("linear", "b", "w*x + b - y + 1e-30"),
    ("linear", "w", "(w*x + b - y)*x + 1/10**14/10**6"),
    # dataset level
    ("linear", "w", "Sum((w*x_i + b - y_i)*Max(x_i, -2.5), i)/m"),
    ("linear", "b", "Sum(w*x_i + b - y_i, i)/m + 1e-13"),
    # logistic regression: p near 0 or 1, large |z|, kinks
    ("logistic", "w", "(Min(p, 0.99) - y)*x"),
    ("logistic", "b", "Max(p, 0.01) - y"),
    ("logistic", "b", "Min(p, 0.999999) - y"),
    ("logistic", "w", "(p - y)*x*Min(1, 100*p)"),
    ("logistic", "b", "Max(p - y, -0.999)"),
    ("logistic", "w", "(p - y)*Max(x, -5)"),
    ("logistic", "w", "(p - y)*Min(x, 7)"),
    ("logistic", "w", "(p - y)*x*Heaviside(12 - w)"),
    ("logistic", "w", "(p - y)*x*(1 + Heaviside(-30 - w*x - b))"),
    ("logistic", "w", "(p - y)*x*(1 + Heaviside(p - 0.999)*(1 - y))"),
    ("logistic", "w", "(p - y)*x + 1e-12"),
    ("logistic", "b", "p - y + 1e-9"),
    ("bce", "w", "(Min(p, 0.99) - y)*x"),
    # a kinked correct gradient (Huber), wrong beside its kinks
    ("huber", "b", "Max(-1, Min(1.01, r))"),
    ("huber", "b", "Max(-1, Min(1, r)) + 1e-12"),
    ("huber", "w", "Max(-1, Min(1, r))*Max(x, -3)"),
    # inside a declared domain x >= 0, wrong only for large x
    ("linear-pos", "w", "(w*x + b - y)*Min(x, 3)"),
    ("linear-pos", "w", "(w*x + b - y)*x*Heaviside(5 - x)"),
]


def test_the_corpus_is_large_enough():
    assert len(WRONG_SOMEWHERE) >= 30


@pytest.mark.parametrize("seed", range(10))
def test_answers_wrong_somewhere_are_wrong_for_every_seed(seed):
    judged_correct = []
    for model, param, answer in WRONG_SOMEWHERE:
        derivation = _derivation(model)
        check = check_answer(derivation, param, answer, seed=seed, time_budget=2.0)
        if check.verdict != "wrong":
            judged_correct.append((model, param, answer, check.verdict, check.method))
            continue
        example = check.counterexample
        assert example is not None
        if check.method.startswith("counterexample"):
            assert example.difference != 0, (model, answer)
        objective_ = derivation.objective
        for symbol in objective_.data:
            domain = objective_.domain(symbol)
            if domain is not None:
                values = example.point[symbol.name]
                for value in values if isinstance(values, list) else [values]:
                    assert domain.contains(value), (model, answer, symbol, value)
    assert judged_correct == []


@pytest.mark.parametrize(
    ("model", "param", "answer"),
    [
        ("logistic", "w", "(p - y*(2 - y))*x"),  # y(2 - y) = y for y in {0, 1}
        ("linear-pos", "w", "(w*x + b - y)*Max(x, 0)"),  # x >= 0
    ],
)
def test_answers_correct_inside_the_domain_are_correct(model, param, answer):
    check = check_answer(_derivation(model), param, answer)
    assert check.verdict == "correct"


def test_methods_are_reported_honestly():
    logistic = _derivation("logistic")
    symbolic = check_answer(logistic, "w", "(p - y)*x")
    assert symbolic.method.startswith("symbolic") and symbolic.confidence is None
    kinked = check_answer(_derivation("linear-pos"), "w", "(w*x + b - y)*Max(x, 0)")
    assert kinked.method.startswith("sampled (non-analytic: no bound)")
    assert kinked.confidence is None
    constant = check_answer(_derivation("linear"), "b", "w*x + b - y + 1e-30")
    assert constant.verdict == "wrong" and "constant" in constant.method


def test_logistic_counterexamples_have_binary_targets():
    for seed in range(10):
        check = check_answer(_derivation("logistic"), "w", "(y - p)*x", seed=seed)
        assert check.verdict == "wrong"
        assert check.counterexample.point["y"] in (0.0, 1.0)


def test_cross_entropy_targets_are_inferred_binary():
    assert str(_derivation("bce").objective.domain(_derivation("bce").objective.data[1])) == (
        "{0, 1}"
    )
    assert linear_regression().domains == ()


@pytest.mark.parametrize(
    ("text", "inside", "outside"),
    [
        ("0,1", [0, 1], [0.5, -1]),
        ("{-1, 1}", [-1, 1], [0]),
        ("(0,1)", [0.5, 1e-9], [0, 1]),
        ("[0, inf)", [0, 1e9], [-1e-9]),
        ("(-oo, 2]", [2, -1e9], [2.1]),
    ],
)
def test_read_domain(text, inside, outside):
    domain = read_domain(text)
    assert all(domain.contains(v) for v in inside)
    assert not any(domain.contains(v) for v in outside)


@pytest.mark.parametrize("text", ["", "(1, 0)", "a,b", "(0, 1, 2)"])
def test_bad_domains_are_refused(text):
    with pytest.raises(ParseError):
        read_domain(text)


def test_a_domain_is_for_data_symbols_only():
    with pytest.raises(ValueError, match="not a data symbol"):
        with_domains(linear_regression(), {"w": "0,1"})
    with pytest.raises(ParseError):
        with_domains(linear_regression(), ["x"])


def test_cli_domain_keeps_counterexamples_inside(capsys):
    code = cli.main(
        [
            "check",
            "(y - yhat)**2/2",
            "--params",
            "w,b",
            "--data",
            "x,y",
            "--define",
            "yhat=w*x + b",
            "--domain",
            "x=[0,inf)",
            "--domain",
            "y=0,1",
            "--grad",
            "w=(w*x + b - y)*Max(x, 0)",
            "--grad",
            "b=Min(w*x + b - y, 5)",
            "--format",
            "json",
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    import json

    report = json.loads(out)["parameters"]
    assert report["w"]["verdict"] == "correct"
    assert report["b"]["verdict"] == "wrong"
    point = report["b"]["counterexample"]["point"]
    assert point["x"] >= 0 and point["y"] in (0.0, 1.0)


_SOFTMAX = [
    "z1 = w1*x + b1",
    "z2 = w2*x + b2",
    "s = exp(z1) + exp(z2)",
    "p1 = exp(z1)/s",
    "p2 = exp(z2)/s",
]


@functools.cache
def _softmax(domains: tuple = ()):
    loss = "-y1*log(p1) - y2*log(p2)"
    return derive(objective(loss, "w1,w2,b1,b2", "x,y1,y2", define=_SOFTMAX, domains=dict(domains)))


@pytest.mark.parametrize(
    ("param", "answer", "verdict"),
    [
        ("w1", "(p1 - y1)*x", "correct"),
        ("b1", "p1 - y1", "correct"),
        ("w1", "(y1 - p1)*x", "wrong"),
        ("w1", "(Min(p1, 0.99) - y1)*x", "wrong"),
        ("b1", "p1 - y1 + 1e-12", "wrong"),
    ],
)
def test_one_hot_targets_are_inferred_for_categorical_cross_entropy(param, answer, verdict):
    check = check_answer(_softmax(), param, answer)
    assert check.verdict == verdict
    if verdict == "wrong":
        point = check.counterexample.point
        assert sorted([point["y1"], point["y2"]]) == [0.0, 1.0]


def test_one_hot_can_be_declared():
    derivation = _softmax((("y1,y2", "one-hot"),))
    group = derivation.objective.domain(derivation.objective.data[1]).one_hot
    assert [s.name for s in group] == ["y1", "y2"]
    assert check_answer(derivation, "w1", "(p1 - y1)*x").verdict == "correct"
