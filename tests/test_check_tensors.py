"""``symgd check`` of vector/matrix objectives (symgd.verify.tensor_answers, tensor_report,
symgd.parse.latex_tensors): correct forms pass, wrong ones fail with a counterexample, shape
errors are one line, exit codes as for scalar checks."""

from __future__ import annotations

import json

import numpy
import pytest

from symgd import cli
from symgd.define import tensor_objective
from symgd.derivation import derive_tensor
from symgd.parse import ParseError, latex_tensor_translation
from symgd.verify import (
    TensorCounterexample,
    check_tensor_answer,
    check_tensor_answers,
    read_tensor_answer,
)
from symgd.verify.sandbox import StudentFunction, _plain

_LOGISTIC = "-sum(y*log(sigmoid(X@w+b)) + (1-y)*log(1-sigmoid(X@w+b)))/m"
_DECLARED = ["--params", "w[d], b", "--data", "X[m,d], y[m]"]
_CHECK = ["check", _LOGISTIC, *_DECLARED]
_RANKS = {"X": 2, "w": 1, "b": 0, "y": 1, "m": 0, "d": 0}


@pytest.fixture(scope="module")
def logistic():
    return derive_tensor(tensor_objective(_LOGISTIC, "w[d], b", "X[m,d], y[m]"))


# (parameter, answer, form): every one is the gradient of the logistic loss
_CORRECT = [
    ("w", "X.T @ (sigmoid(X@w + b) - y)/m", None),
    ("w", "(sigmoid(X@w + b) - y) @ X / m", None),
    ("w", "X.T @ sigmoid(X@w + b)/m - X.T @ y/m", None),
    ("w", "mean(X.T*(sigmoid(X@w + b) - y), axis=1)", None),
    ("b", "mean(sigmoid(X@w + b) - y)", None),
    ("b", "sum(sigmoid(X@w + b))/m - sum(y)/m", None),
    ("w", r"\frac{1}{m} X^\top(\sigma(Xw + b) - y)", "latex"),
    ("w", r"\frac{1}{m}\mathbf{X}^{T}(\sigma(\mathbf{X}\boldsymbol{w} + b) - \mathbf{y})", "latex"),
    ("w", r"\nabla_w J = \frac{1}{m} (\sigma(X w + b) - y)^{\top} X", "latex"),
    ("w", r"X^{\top} \cdot (\sigma(X w + b) - y) / m", "latex"),
    ("b", r"\frac{1}{m}\mathbf{1}^\top(\sigma(Xw + b) - y)", "latex"),
]


@pytest.mark.parametrize(("param", "answer", "form"), _CORRECT)
def test_correct_forms_pass(logistic, param, answer, form):
    check = check_tensor_answer(logistic, param, answer, form=form)
    assert check.verdict == "correct", check.method
    assert check.method.startswith("exact")


def test_the_rendered_correct_answer_reads_back(logistic):
    report = check_tensor_answers(logistic, {"w": "X.T @ (sigmoid(X@w+b) - y)", "b": "0*b"})
    for check in report.checks:
        assert check_tensor_answer(logistic, check.param, check.correct_text).verdict == "correct"
        latex = check_tensor_answer(logistic, check.param, check.correct_latex, form="latex")
        assert latex.verdict == "correct"


# (parameter, wrong answer, form, hint or None)
_WRONG = [
    ("w", "X.T @ (sigmoid(X@w + b) - y)", None, "factor 1/m"),
    ("w", "X.T @ (y - sigmoid(X@w + b))/m", None, "wrong sign"),
    ("w", "X.T @ (softplus(X@w + b) - y)/m", None, None),
    ("w", "X.T @ (sigmoid(X@w) - y)/m", None, None),
    ("b", "sum(sigmoid(X@w + b) - y)", None, "factor 1/m"),
    ("w", r"X^\top(\sigma(Xw + b) - y)", "latex", "factor 1/m"),
    ("w", r"\frac{1}{m} X^\top(\operatorname{softplus}(Xw + b) - y)", "latex", None),
    ("w", r"\frac{2}{m} X^\top(\sigma(Xw + b) - y)", "latex", "constant factor"),
]


@pytest.mark.parametrize(("param", "answer", "form", "mistake"), _WRONG)
def test_wrong_answers_fail_with_a_counterexample(logistic, param, answer, form, mistake):
    check = check_tensor_answer(logistic, param, answer, form=form)
    assert check.verdict == "wrong"
    example = check.counterexample
    assert isinstance(example, TensorCounterexample)
    assert example.element.startswith(param) and example.sizes == {"d": 3, "m": 2}
    assert not numpy.isclose(example.answer, example.correct)
    assert (check.hint.mistake if check.hint else None) == mistake
    assert "X.T @" in check.correct_text or "sum(" in check.correct_text
    assert check.correct_latex.startswith(r"\frac")


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ("X @ (sigmoid(X@w + b) - y)/m", "(m, d) @ (m,)"),
        ("(sigmoid(X@w + b) - y)/m", "the answer for w has shape (m,), the gradient of J"),
        ("X.T/m", "the answer for w has shape (d, m)"),
        ("__import__('os').system('true')", ""),
        ("q", "unknown name 'q'"),
    ],
)
def test_unreadable_or_misshapen_answers_are_one_line(logistic, answer, words):
    with pytest.raises(ParseError) as error:
        read_tensor_answer(logistic, "w", answer)
    assert words in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("latex", "numpy_text"),
    [
        (r"\frac{1}{m} X^\top(\sigma(Xw + b) - y)", "((1)/(m))*(X).T@(sigmoid((X@w + b)) - y)"),
        (r"X^{\top} X w", "(X).T@X@w"),
        (r"X^T y \odot w", "(X).T@y*w"),
        (r"2 X w + b", "2*X@w + b"),
        (r"w^\top X^\top X w", "(w).T@(X).T@X@w"),
        (r"(X^\top X)^{-1} X^\top y", "inv(((X).T@X))@(X).T@y"),
        (r"\|w\|^2", "(norm(w))**(2)"),
        (r"\operatorname{tr}(X^\top X)", "trace(((X).T@X))"),
        (r"\mathbf{1}^{\top} X", "sum(X, axis=0)"),
        (r"X \mathbf{1}", "sum(X, axis=1)"),
    ],
)
def test_latex_translation(latex, numpy_text):
    assert latex_tensor_translation(latex, ranks=_RANKS) == numpy_text


@pytest.mark.parametrize(
    ("latex", "words"),
    [
        (r"\int X w", r"LaTeX command \int is not supported"),
        (r"\sum_{i=1}^{m} x_i", "a sum"),
        (r"\mathbf{1} w", "the ones vector"),
        (r"\|w", "unexpected end"),
    ],
)
def test_latex_rejections_are_one_line(latex, words):
    with pytest.raises(ParseError) as error:
        latex_tensor_translation(latex, ranks=_RANKS)
    assert words in str(error.value) and "NumPy notation" in str(error.value)
    assert "\n" not in str(error.value)


def _both(w, b, X, y):
    p = 1 / (1 + numpy.exp(-(X @ w + b)))
    return X.T @ (p - y) / len(y), numpy.mean(p - y)


def _missing_mean(w, b, X, y):
    p = 1 / (1 + numpy.exp(-(X @ w + b)))
    return {"w": X.T @ (p - y), "b": numpy.mean(p - y)}


def test_functions_in_process(logistic):
    assert check_tensor_answers(logistic, _both).passed
    report = check_tensor_answers(logistic, _missing_mean)
    verdicts = {c.param: c.verdict for c in report.checks}
    assert verdicts == {"w": "wrong", "b": "correct"}
    assert report.checks[0].hint.mistake == "factor 1/m"
    shape = check_tensor_answer(logistic, "w", lambda w, X: X @ w)
    assert shape.verdict == "undecided" and "returned shape (2,) for w" in shape.method


# --- command line ---------------------------------------------------------------------------


def _run(args, capsys):
    status = cli.main(args)
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_correct_exits_0(capsys):
    status, out, _ = _run(
        [
            *_CHECK,
            "--grad",
            "w=X.T @ (sigmoid(X@w + b) - y)/m",
            "--grad",
            "b=mean(sigmoid(X@w+b) - y)",
        ],
        capsys,
    )
    assert status == 0 and out.count("CORRECT") == 2


def test_cli_softplus_objective(capsys):
    loss = "sum(softplus(-y*(X@w + b)))/m"
    status, _, _ = _run(
        ["check", loss, *_DECLARED, "--grad", "w=X.T @ (-y*sigmoid(-y*(X@w + b)))/m"], capsys
    )
    assert status == 0


def test_cli_json_per_parameter_verdicts(capsys):
    status, out, _ = _run(
        [
            *_CHECK,
            "--latex",
            "--format",
            "json",
            "--grad",
            r"w=\frac{1}{m} X^\top(\sigma(Xw + b) - y)",
            "--grad",
            r"b=\mathbf{1}^\top(\sigma(Xw + b) - y)",
        ],
        capsys,
    )
    assert status == 1
    data = json.loads(out)
    assert data["passed"] is False
    w, b = data["parameters"]["w"], data["parameters"]["b"]
    assert w["verdict"] == "correct" and w["form"] == "latex"
    assert b["verdict"] == "wrong" and b["mistake"] == "factor 1/m"
    example = b["counterexample"]
    assert example["element"] == "b" and example["sizes"] == {"d": 3, "m": 2}
    assert len(example["point"]["X"]) == 2 and len(example["point"]["X"][0]) == 3
    assert b["correct"] == "sum(sigmoid(X @ w + b) - y)/m" and b["correct_latex"]


def test_cli_wrong_text_shows_the_counterexample(capsys):
    status, out, _ = _run([*_CHECK, "--grad", "w=X.T @ (sigmoid(X@w + b) - y)"], capsys)
    assert status == 1
    assert "counterexample ∂J/∂w[" in out and "at d=3, m=2: yours" in out
    assert "correct: (X.T @ (sigmoid(X @ w + b) - y))/m" in out


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--grad", "w=X @ (sigmoid(X@w + b) - y)/m"], "transpose one side"),
        (["--grad", "w=(sigmoid(X@w + b) - y)/m"], "has shape (m,)"),
        (["--grad", "q=X.T @ y"], "not a parameter"),
        (["--latex", "--grad", r"w=\input{/etc/passwd}"], r"\input is not supported"),
        (["--l2", "0.1", "--grad", "w=X.T @ y"], "--l2 is for scalar objectives"),
        (["--answers", "class.csv"], "--answers"),
        ([], "no answers given"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(capsys, extra, words):
    status, out, err = _run([*_CHECK, *extra], capsys)
    assert status == 2 and out == ""
    assert words in err and err.count("\n") == 1


def test_scalar_objectives_keep_the_scalar_checker(capsys):
    status, out, _ = _run(
        ["check", "(w*x + b - y)**2/2", "--params", "w,b", "--data", "x,y", "--grad", "b=w*x+b-y"],
        capsys,
    )
    assert status == 0 and "CORRECT (symbolic" in out


def test_the_sandbox_keeps_matrix_shapes():
    assert _plain(numpy.zeros((2, 2))) == [[0.0, 0.0], [0.0, 0.0]]


def test_cli_student_file(tmp_path, capsys):
    student = tmp_path / "answer.py"
    student.write_text(
        "import numpy\n\n"
        "def both(w, b, X, y):\n"
        "    p = 1 / (1 + numpy.exp(-(X @ w + b)))\n"
        "    return X.T @ (p - y) / len(y), numpy.mean(p - y)\n\n"
        "def no_mean(w, b, X, y):\n"
        "    p = 1 / (1 + numpy.exp(-(X @ w + b)))\n"
        "    return X.T @ (p - y), numpy.sum(p - y)\n",
        encoding="utf-8",
    )
    assert _run([*_CHECK, "--python", f"{student}:both"], capsys)[0] == 0
    status, out, _ = _run([*_CHECK, "--python", f"{student}:no_mean"], capsys)
    assert status == 1 and out.count("WRONG") == 2 and "factor 1/m" in out
    assert isinstance(StudentFunction(str(student), "both"), StudentFunction)
