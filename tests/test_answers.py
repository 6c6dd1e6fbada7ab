"""Hand-computed gradients: the corpus of answers that must be accepted or rejected.

Each row: a model, a parameter, an answer (SymPy syntax or LaTeX), the expected verdict and, for
a wrong answer, the mistake its hint must name. Every wrong answer must come with a counterexample
whose two values really differ.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import textwrap

import numpy
import pytest

import symgd.cli as cli
from symgd.define import linear_regression, logistic_regression, objective
from symgd.derivation import derive
from symgd.parse import ParseError
from symgd.verify import (
    check_answer,
    check_answers,
    read_answer,
    side_by_side,
    split_function,
)

_MODELS = {
    "linear": lambda: linear_regression(),
    "logistic": lambda: logistic_regression(),
    "ridge": lambda: objective("(y - yhat)**2/2", "w,b", "x,y", define={"yhat": "w*x + b"}, l2=0.1),
    "softmax": lambda: objective(
        "-y*log(p1) - (1 - y)*log(p2)",
        "w1,w2",
        "x,y",
        define=[
            "z1 = w1*x",
            "z2 = w2*x",
            "s = exp(z1) + exp(z2)",
            "p1 = exp(z1)/s",
            "p2 = exp(z2)/s",
        ],
    ),
    "network": lambda: objective(
        "(yhat - y)**2/2", "a,v", "x,y", define={"h": "tanh(a*x)", "yhat": "v*h"}
    ),
    "sigmoid-mse": lambda: objective(
        "(p - y)**2/2", "w,b", "x,y", define={"z": "w*x + b", "p": "sigmoid(z)"}
    ),
    "huber": lambda: objective(
        "Min(abs(r), 1)*(abs(r) - Min(abs(r), 1)/2)", "w,b", "x,y", define={"r": "w*x + b - y"}
    ),
    "factorisation": lambda: objective("(u*v - y)**2/2", "u,v", "y"),
}


@functools.cache
def _derivation(model: str):
    return derive(_MODELS[model]())


CORRECT = [
    # linear regression: the seed formulas and equivalent forms
    ("linear", "w", "Sum((w*x_i + b - y_i)*x_i, (i, 1, m))/m", None),
    ("linear", "b", "Sum(w*x_i + b - y_i, (i, 1, m))/m", None),
    ("linear", "w", r"\frac{1}{m}\sum_{i=1}^{m}(w x_i + b - y_i) x_i", "latex"),
    ("linear", "b", r"\frac{1}{m}\sum_{i=1}^{m}(w x_i + b - y_i)", "latex"),
    ("linear", "w", "(w*x + b - y)*x", None),
    ("linear", "w", "w*x**2 + b*x - x*y", None),  # expanded
    ("linear", "w", "(yhat - y)*x", None),  # with the intermediate
    ("linear", "b", r"\hat{y} - y", "latex"),
    ("linear", "w", r"\frac{1}{m}\sum_i x^{(i)} (w x^{(i)} + b - y^{(i)})", "latex"),
    ("linear", "b", "Sum(w*x + b - y, i)/m", None),
    (
        "linear",
        "w",
        r"\frac{\partial J}{\partial w} = "
        r"\frac{1}{m} \sum_{i=1}^{m} \left(\hat{y}_i - y_i\right) x_i",
        "latex",
    ),
    # logistic regression
    ("logistic", "w", "(p - y)*x", None),
    ("logistic", "w", "(1/(1 + exp(-(w*x + b))) - y)*x", None),  # sigma written out
    ("logistic", "b", r"\sigma(w x + b) - y", "latex"),
    ("logistic", "w", r"\left(\frac{1}{1+e^{-(wx+b)}} - y\right) x", "latex"),
    ("logistic", "b", "Sum(sigmoid(w*x_i + b) - y_i, i)/m", None),
    # ridge
    ("ridge", "w", "Sum((w*x_i + b - y_i)*x_i, i)/m + lamda*w", None),
    ("ridge", "w", r"\frac{1}{m}\sum_{i=1}^{m}(\hat{y}_i - y_i) x_i + \lambda w", "latex"),
    ("ridge", "w", "(w*x + b - y)*x + 0.1*w", None),  # per example, lambda as a number
    # softmax regression (two classes)
    ("softmax", "w1", "(p1 - y)*x", None),
    ("softmax", "w1", "(exp(w1*x)/(exp(w1*x) + exp(w2*x)) - y)*x", None),
    ("softmax", "w2", "(p2 - (1 - y))*x", None),
    # a small network
    ("network", "v", "(yhat - y)*h", None),
    ("network", "a", "(v*tanh(a*x) - y)*v*(1 - tanh(a*x)**2)*x", None),
    ("network", "a", r"(\hat{y} - y) v (1 - h^2) x", "latex"),
    # sigmoid with squared error: sigma' in the chain
    ("sigmoid-mse", "w", r"(p - y)\sigma'(z) x", "latex"),
    ("sigmoid-mse", "w", "(p - y)*p*(1 - p)*x", None),
    # matrix factorisation
    ("factorisation", "u", "(u*v - y)*v", None),
    ("factorisation", "v", "u**2*v - u*y", None),
]

WRONG = [
    ("linear", "w", "(y - w*x - b)*x", None, "wrong sign"),
    ("linear", "w", "2*(w*x + b - y)*x", None, "constant factor"),
    ("linear", "w", r"2(\hat{y}-y) x", "latex", "constant factor"),
    ("linear", "b", "(w*x + b - y)/2", None, "constant factor"),
    ("linear", "w", "Sum((w*x_i + b - y_i)*x_i, i)", None, "factor 1/m"),
    ("linear", "w", "(w*x + b - y)/m*x", None, "factor 1/m"),
    ("linear", "w", "w*x + b - y", None, "missing chain-rule factor"),
    ("linear", "w", "(x*w + b - y)*w", None, "swapped variables"),
    ("linear", "b", "(w*x + b - y)*x", None, "another parameter"),
    (
        "linear",
        "b",
        r"\frac{1}{m}\sum_{i=1}^{m}(w x_i + b - y_i) x_i",
        "latex",
        "another parameter",
    ),
    ("logistic", "w", "p - y", None, "missing chain-rule factor"),
    ("logistic", "w", "(y - p)*x", None, "wrong sign"),
    ("logistic", "b", "(p - y)*x", None, "another parameter"),
    ("ridge", "w", "Sum((w*x_i + b - y_i)*x_i, i)/m", None, "forgotten regularisation"),
    ("ridge", "w", "(w*x + b - y)*x", None, "forgotten regularisation"),
    ("ridge", "w", "Sum((w*x_i + b - y_i)*x_i, i)/m + lamda*w/2", None, "regularisation factor"),
    ("ridge", "w", "2*Sum((w*x_i + b - y_i)*x_i, i)/m + lamda*w", None, "constant factor"),
    ("softmax", "w1", "(y - p1)*x", None, "wrong sign"),
    ("network", "a", "(yhat - y)*v*x", None, "missing chain-rule factor"),
    ("network", "a", "(yhat - y)*(1 - h**2)*x", None, "missing chain-rule factor"),
    ("sigmoid-mse", "w", "(p - y)*x", None, "missing chain-rule factor"),
    ("factorisation", "u", "(u*v - y)*u", None, "another parameter"),
    ("linear", "w", "(w*x + b + y)*x", None, None),  # no common mistake: no hint, still wrong
]


@pytest.mark.parametrize(("model", "param", "answer", "form"), CORRECT)
def test_correct_answers_are_accepted(model, param, answer, form):
    check = check_answer(_derivation(model), param, answer, form=form)
    assert check.verdict == "correct", check
    assert check.counterexample is None and check.hint is None
    if check.confidence is not None:
        assert check.method.startswith("sampled (analytic") and check.confidence > 1 - 1e-6


@pytest.mark.parametrize(("model", "param", "answer", "form", "mistake"), WRONG)
def test_wrong_answers_are_rejected_with_counterexample_and_hint(
    model, param, answer, form, mistake
):
    check = check_answer(_derivation(model), param, answer, form=form)
    assert check.verdict == "wrong", check
    example = check.counterexample
    assert example is not None
    assert not math.isclose(example.answer, example.correct, rel_tol=1e-9, abs_tol=1e-12)
    assert (check.hint.mistake if check.hint else None) == mistake, check.hint


def test_every_mistake_class_is_in_the_corpus():
    classes = {row[4] for row in WRONG}
    assert {
        "wrong sign",
        "constant factor",
        "factor 1/m",
        "missing chain-rule factor",
        "another parameter",
        "forgotten regularisation",
        "swapped variables",
    } <= classes
    assert len(CORRECT) + len(WRONG) + len(HUBER) >= 40


HUBER = [
    ("w", "Max(-1, Min(1, r))*x", "correct", None),
    ("b", "Max(-1, Min(1, w*x + b - y))", "correct", None),
    ("w", "-Max(-1, Min(1, r))*x", "wrong", "wrong sign"),
    ("w", "r*x", "wrong", None),
]


@pytest.mark.slow
@pytest.mark.parametrize(("param", "answer", "verdict", "mistake"), HUBER)
def test_huber_answers(param, answer, verdict, mistake):
    check = check_answer(_derivation("huber"), param, answer, time_budget=1.0)
    assert check.verdict == verdict
    if verdict == "correct":  # a kinked difference: no probability bound is claimed
        assert check.method.startswith(("symbolic", "sampled (non-analytic: no bound)"))
        assert check.confidence is None
    assert (check.hint.mistake if check.hint else None) == mistake


def test_counterexample_is_a_real_point(seed_derivation):
    check = check_answer(seed_derivation, "w", "(w*x + b + y)*x")
    point = check.counterexample.point
    w, b, x, y = (point[k] for k in "wbxy")
    assert check.counterexample.correct == pytest.approx((w * x + b - y) * x, rel=1e-12)
    assert check.counterexample.answer == pytest.approx((w * x + b + y) * x, rel=1e-12)


def test_dataset_counterexample_is_a_data_set(seed_derivation):
    check = check_answer(seed_derivation, "b", "Sum(w*x_i + b - y_i, i)")
    point = check.counterexample.point
    x, y, m = numpy.array(point["x"]), numpy.array(point["y"]), point["m"]
    assert len(x) == m
    residual = point["w"] * x + point["b"] - y
    assert check.counterexample.correct == pytest.approx(residual.mean(), rel=1e-12)
    assert check.counterexample.answer == pytest.approx(residual.sum(), rel=1e-12)


def test_latex_is_echoed(seed_derivation):
    check = check_answer(seed_derivation, "b", r"2(\hat{y}-y)", form="latex")
    assert check.answer_latex == r"2 \hat{y} - 2 y"
    check = check_answer(
        seed_derivation, "w", r"\frac{1}{m}\sum_{i=1}^{m}(w x_i + b - y_i) x_i", form="latex"
    )
    assert r"\sum_{i=1}^{m}" in check.answer_latex and "{x}_{i}" in check.answer_latex


@pytest.mark.parametrize(
    ("text", "form"),
    [
        ("__import__('os').system('echo hacked')", None),
        ("().__class__.__base__.__subclasses__()", None),
        ("9**9**9**9", None),
        (r"\int_0^1 x\,dx", "latex"),
        (r"\input{/etc/passwd}", "latex"),
        (r"\sum_{j=1}^{n} x_j", "latex"),
        ("Sum(Sum(x_i, i), i)", None),
        ("Sum(x_i, (i, 0, m))", None),
        ("q*x", None),  # unknown symbol
        ("x + Sum(x_i, i)", None),  # data outside the sum
    ],
)
def test_hostile_or_unreadable_answers_are_refused(seed_derivation, text, form):
    with pytest.raises(ParseError) as error:
        check_answer(seed_derivation, "w", text, form=form)
    assert "\n" not in str(error.value)


def test_read_answer_keeps_sums(seed_derivation):
    expression = read_answer(seed_derivation, "Sum((w*x_i + b - y_i)*x_i, (i, 1, m))/m")
    assert expression == seed_derivation.dataset_gradient(seed_derivation.objective.params[0])


_STUDENT_FILE = textwrap.dedent(
    """
    import numpy as np

    def grad_w(w, b, x, y):
        return np.mean((1 / (1 + np.exp(-(w * x + b))) - y) * x)

    def grad_w_sum(w, b, x, y):
        return np.sum((1 / (1 + np.exp(-(w * x + b))) - y) * x)

    def per_example_b(w, b, x, y):
        return 1 / (1 + np.exp(-(w * x + b))) - y

    def both(w, b, x, y):
        p = 1 / (1 + np.exp(-(w * x + b)))
        return np.mean((p - y) * x), np.mean(p - y)

    def broken(w, b, x, y):
        return np.mean((y - 1 / (1 + np.exp(-(w * x + b)))) * x)
    """
)


@pytest.fixture
def student_file(tmp_path):
    path = tmp_path / "student.py"
    path.write_text(_STUDENT_FILE, encoding="utf-8")
    return path


def _load(path, name):
    import importlib.util

    spec = importlib.util.spec_from_file_location("student", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def test_numpy_functions(student_file):
    d = _derivation("logistic")
    good = check_answer(d, "w", _load(student_file, "grad_w"))
    assert good.verdict == "correct" and "central differences" in good.method
    assert r"\exp" in good.answer_latex  # rendered by latexify-py
    per_example = check_answer(d, "b", _load(student_file, "per_example_b"))
    assert per_example.verdict == "correct" and per_example.kind == "per-example"
    summed = check_answer(d, "w", _load(student_file, "grad_w_sum"))
    assert summed.verdict == "wrong" and summed.hint.mistake == "factor 1/m"
    broken = check_answer(d, "w", _load(student_file, "broken"))
    assert broken.verdict == "wrong" and broken.hint.mistake == "wrong sign"
    report = check_answers(d, _load(student_file, "both"))
    assert report.passed and [c.param for c in report.checks] == ["w", "b"]


@pytest.mark.parametrize(
    "both",
    [lambda w, b, x, y: (w * x, b - y), lambda w, b, x, y: {"b": b - y, "w": w * x}],
    ids=["tuple", "dict"],
)
def test_split_function_gives_one_function_per_parameter(both):
    parts = split_function(_derivation("linear"), both)
    assert list(parts) == ["w", "b"]
    assert parts["w"](w=2.0, b=1.0, x=3.0, y=0.5) == 6.0
    assert parts["b"](w=2.0, b=1.0, x=3.0, y=0.5) == 0.5
    assert list(inspect.signature(parts["b"]).parameters) == ["w", "b", "x", "y"]


def test_a_function_latexify_cannot_read_is_shown_by_name():
    check = check_answer(_derivation("linear"), "b", lambda w, b, x, y: numpy.mean(w * x + b - y))
    assert check.verdict == "correct"
    assert check.answer_latex == r"\text{<lambda>}"


def test_side_by_side(seed_derivation):
    report = check_answers(seed_derivation, {"w": "(w*x + b - y)*x", "b": "2*(w*x + b - y)"})
    markdown = side_by_side(report)
    assert "correct" in markdown and "wrong" in markdown and "Hint:" in markdown
    assert r"\frac{\partial" in markdown  # the chain-rule derivation
    latex_text = side_by_side(report, format="latex")
    assert latex_text.startswith(r"\begin{align*}")


def test_side_by_side_latex_compiles(seed_derivation, pdflatex):
    from symgd.render import document

    report = check_answers(seed_derivation, {"w": "(y - w*x - b)*x", "b": "yhat - y"})
    pdflatex(document(side_by_side(report, format="latex"), title="Check"))


# --- command line ---------------------------------------------------------------------------

_SEED = ["check", "(y - yhat)**2/2", "--params", "w,b", "--data", "x,y", "--define", "yhat=w*x+b"]


def test_cli_correct_exits_0(capsys):
    status = cli.main(
        _SEED
        + [
            "--grad",
            "w=Sum((w*x_i + b - y_i)*x_i, (i, 1, m))/m",
            "--grad",
            "b=Sum(w*x_i + b - y_i, (i, 1, m))/m",
        ]
    )
    assert status == 0
    assert capsys.readouterr().out.count("CORRECT") == 2


def test_cli_latex_json_wrong_exits_1(capsys):
    status = cli.main(
        _SEED
        + [
            "--latex",
            "--format",
            "json",
            "--grad",
            r"w=\frac{1}{m}\sum_{i=1}^{m}(w x_i + b - y_i) x_i",
            "--grad",
            r"b=2(\hat{y}-y)",
        ]
    )
    assert status == 1
    data = json.loads(capsys.readouterr().out)["parameters"]
    assert data["w"]["verdict"] == "correct" and data["w"]["method"].startswith("symbolic")
    assert data["b"]["verdict"] == "wrong"
    assert data["b"]["counterexample"]["point"] and "2" in data["b"]["hint"]


def test_cli_python_function(capsys, student_file):
    args = [
        "check",
        "-y*log(p) - (1 - y)*log(1 - p)",
        "--params",
        "w,b",
        "--data",
        "x,y",
        "--define",
        "z=w*x+b",
        "--define",
        "p=sigmoid(z)",
    ]
    assert cli.main(args + ["--python", f"{student_file}:both"]) == 0
    assert cli.main(args + ["--python", f"w={student_file}:broken"]) == 1
    assert "wrong sign" in capsys.readouterr().out


def test_cli_class_table(tmp_path, capsys):
    answers = tmp_path / "class.csv"
    answers.write_text(
        "student,w,b\nann,(w*x + b - y)*x,w*x + b - y\nbob,(y - w*x - b)*x,2*(w*x + b - y)\n",
        encoding="utf-8",
    )
    assert cli.main(_SEED + ["--answers", str(answers)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[:3] == ["ann", "correct", "correct"]
    assert lines[2].split()[:3] == ["bob", "wrong", "wrong"] and "wrong sign" in lines[2]
    assert cli.main(_SEED + ["--answers", str(answers), "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["students"]["ann"]["w"]["verdict"] == "correct"


@pytest.mark.parametrize(
    "extra",
    [
        ["--grad", "w=__import__('os').system('touch PWNED')"],
        ["--grad", "w=x.__class__"],
        ["--grad", "q=x"],
        ["--grad", "w"],
        ["--latex", "--grad", r"w=\input{/etc/passwd}"],
        [],
    ],
)
def test_cli_bad_input_exits_2(extra, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(_SEED + extra) == 2
    err = capsys.readouterr().err
    assert err.startswith("symgd: error:") and err.count("\n") == 1
    assert not (tmp_path / "PWNED").exists()


def test_cli_hostile_class_cell_is_unreadable(tmp_path, capsys, monkeypatch):
    # One hostile cell grades that student "unreadable"; the class is still graded (exit 1).
    monkeypatch.chdir(tmp_path)
    answers = tmp_path / "class.csv"
    answers.write_text(
        "student,w\nann,(w*x + b - y)*x\neve,__import__('os').system('touch PWNED')\n",
        encoding="utf-8",
    )
    assert cli.main(_SEED + ["--answers", str(answers)]) == 1
    out, err = capsys.readouterr()
    assert err == "" and out.splitlines()[1].split()[:2] == ["ann", "correct"]
    assert out.splitlines()[2].split()[:2] == ["eve", "unreadable"]
    assert not (tmp_path / "PWNED").exists()


def test_factor_hint_names_a_square_only_when_the_loss_has_one():
    logistic = check_answer(_derivation("logistic"), "w", "(p - y)*x/2")
    assert logistic.hint.mistake == "constant factor"
    assert "square" not in logistic.hint.message
    linear = check_answer(_derivation("linear"), "w", "(w*x + b - y)*x/2")
    assert "square" in linear.hint.message


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ("Sum((w*x_i + b - y_i)*x_i, i) + lamda*w", "data term is missing the factor 1/m"),
        ("(Sum((w*x_i + b - y_i)*x_i, i) + lamda*w)/m", "divided by m too"),
    ],
)
def test_ridge_hint_names_the_term_with_the_wrong_factor_of_m(answer, words):
    check = check_answer(_derivation("ridge"), "w", answer)
    assert check.verdict == "wrong" and check.hint.mistake == "factor 1/m"
    assert words in check.hint.message
