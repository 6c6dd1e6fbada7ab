"""``symgd derive/train/gradcheck`` in vector form (``symgd.cli.tensor``): shapes, ``@``,
Hessians, Newton, CSV columns into matrices, standardisation and metrics."""

from __future__ import annotations

import json

import numpy
import pytest

from symgd.cli import main

LOGISTIC = [
    "-sum(y*log(sigmoid(X@w + b)) + (1 - y)*log(1 - sigmoid(X@w + b)))/m",
    "--params", "w[d], b", "--data", "X[m,d], y[m]",
]  # fmt: skip


def run(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def logistic_csv(tmp_path_factory):
    """A seeded, non-separable 6-feature classification problem with named columns."""
    rng = numpy.random.default_rng(3)
    X = rng.normal(size=(400, 6))
    p = 1 / (1 + numpy.exp(-(X @ numpy.array([1.0, -2.0, 0.5, 0.0, 1.5, -0.7]) + 0.3)))
    y = (rng.uniform(size=400) < p).astype(float)
    path = tmp_path_factory.mktemp("csv") / "logistic.csv"
    names = ["age", "bmi", "bp", "s1", "s2", "s3"]
    table = numpy.column_stack([X, y])
    numpy.savetxt(path, table, delimiter=",", header=",".join([*names, "y"]), comments="")
    return path, X, y


def test_derive_json_is_the_lecturers_gradient_and_checked(capsys):
    code, out, err = run(["derive", *LOGISTIC, "--format", "json"], capsys)
    assert code == 0 and err == ""
    payload = json.loads(out)
    assert payload["gradient"]["w"] == "(X.T @ (sigmoid(X @ w + b) - y))/m"
    assert payload["gradient"]["b"] == "sum(sigmoid(X @ w + b) - y)/m"
    assert payload["shapes"] == {"w": ["d"], "b": [], "X": ["m", "d"], "y": ["m"]}
    assert payload["checks"]["gradient"]["worst_relative_difference"] < 1e-12
    assert "\\boldsymbol{X}^{\\top}" in payload["latex"]


def test_derive_hessian_is_x_transposed_diag_x(capsys):
    code, out, _ = run(["derive", *LOGISTIC, "--hessian", "--format", "json"], capsys)
    assert code == 0
    payload = json.loads(out)
    assert "diag(" in payload["hessian"]["w,w"] and payload["hessian"]["w,w"].startswith("(X.T @")
    assert payload["checks"]["hessian"]["worst_relative_difference"] < 1e-12


@pytest.mark.parametrize(
    ("loss", "params", "data"),
    [
        ("0.5*x@A@x", "x[n]", "A[n,n]"),
        ("sum(A@exp(x))", "x[n]", "A[n,n]"),
        ("(y*v)@x", "x[n]", "y[n], v[n]"),
        ("norm(A@x - y)**2", "x[n]", "A[m,n], y[m]"),
        ("sum(log(exp(-y*(X@w)) + 1))", "w[d]", "X[m,d], y[m]"),
        ("trace(A@X.T@B@X@C)", "X[n,n]", "A[n,n], B[n,n], C[n,n]"),
        ("log(det(inv(X)))", "X[n,n]", ""),
        ("sum((X@w - y)**2)/(2*m) + lamda/2*w@w", "w[d]", "X[m,d], y[m], lamda"),
        (
            "sum(logsumexp(X@W.T + b) - sum(Y*(X@W.T + b), axis=1))/m",
            "W[k,d], b[k]",
            "X[m,d], Y[m,k]",
        ),
        ("norm(M*(R - U@V.T))**2", "U[n,k], V[p,k]", "M[n,p], R[n,p]"),
    ],
)
def test_matrix_calculus_examples_derive_and_check(loss, params, data, capsys):
    code, out, err = run(
        ["derive", loss, "--params", params, "--data", data, "--format", "json"], capsys
    )
    assert code == 0, err
    payload = json.loads(out)
    assert payload["checks"]["gradient"]["worst_relative_difference"] < 1e-12
    assert "_t" not in out


@pytest.mark.parametrize("fmt", ["text", "latex", "markdown"])
def test_derive_formats(fmt, capsys):
    code, out, _ = run(["derive", *LOGISTIC, "--hessian", "--format", fmt], capsys)
    assert code == 0 and out.strip() and "_t" not in out


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["sum(X@w)", "--params", "w[k]", "--data", "X[m,d]"], "(m, d) @ (k,)"),
        (["sum(y + X@w)", "--params", "w[d]", "--data", "X[m,d], y[n]"], "shape mismatch"),
        (["X@w", "--params", "w[d]", "--data", "X[m,d]"], "must be a scalar"),
        (["sum(X@w)", "--params", "w[d]", "--data", "X[m,d]", "--l2", "1"], "--l2"),
        (["sum(X@w)", "--params", "w[d,d,d]", "--data", "X[m,d]"], "axes"),
        (["(w - 1)**2", "--params", "w", "--hessian"], "vector form"),
    ],
)
def test_bad_vector_input_is_one_line_exit_2(args, fragment, capsys):
    code, out, err = run(["derive", *args], capsys)
    assert code == 2 and out == ""
    assert fragment in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_newton_trains_to_sklearn_coefficients(logistic_csv, capsys):
    from sklearn.linear_model import LogisticRegression

    path, X, y = logistic_csv
    code, out, err = run(
        ["train", *LOGISTIC, "--csv", path, "--optimizer", "newton", "--epochs", 20,
         "--tolerance", 1e-14, "--format", "json"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    payload = json.loads(out)
    reference = LogisticRegression(C=numpy.inf, tol=1e-12, max_iter=10_000).fit(X, y)
    numpy.testing.assert_allclose(payload["params"]["w"], reference.coef_[0], rtol=1e-6)
    numpy.testing.assert_allclose(payload["params"]["b"], reference.intercept_[0], rtol=1e-6)
    assert payload["epochs"] <= 15
    assert payload["task"] == "classification"
    assert set(payload["metrics"]) >= {"accuracy", "precision", "recall", "f1"}


def test_columns_choose_the_matrix_and_standardize_is_stored(logistic_csv, capsys):
    path, _, _ = logistic_csv
    code, out, err = run(
        ["train", *LOGISTIC, "--csv", path, "--columns", "X=age,bmi,bp", "--standardize",
         "--optimizer", "newton", "--epochs", 10, "--format", "json"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    payload = json.loads(out)
    assert len(payload["params"]["w"]) == 3
    assert len(payload["standardization"]["X"]["mean"]) == 3


def test_scalar_data_takes_set_and_ridge_trains(logistic_csv, capsys):
    path, _, _ = logistic_csv
    ridge = ["sum((X@w + b - y)**2)/(2*m) + lamda/2*w@w", "--params", "w[d], b",
             "--data", "X[m,d], y[m], lamda"]  # fmt: skip
    code, out, err = run(
        ["train", *ridge, "--csv", path, "--set", "lamda=0.1", "--lr", 0.3, "--epochs", 300,
         "--format", "json"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["task"] == "classification"  # y holds 0/1 labels
    code, _, err = run(["train", *ridge, "--csv", path, "--lr", 0.3], capsys)
    assert code == 2 and "--set lamda=" in err


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--columns", "X=age,nope"], "no column 'nope'"),
        (["--columns", "Z=age"], "not a data symbol"),
        (["--init", "q=1", "--lr", 0.1], "not a parameter"),
        (["--epochs", 5], "--lr is required"),
    ],
)
def test_bad_training_input_is_one_line_exit_2(logistic_csv, extra, fragment, capsys):
    path, _, _ = logistic_csv
    code, out, err = run(["train", *LOGISTIC, "--csv", path, *extra], capsys)
    assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1


def test_scalar_objectives_refuse_vector_only_options(seed_csv_of, capsys):
    path = seed_csv_of(20)
    seed = ["(y - w*x - b)**2/2", "--params", "w,b", "--data", "x,y", "--csv", path]
    for extra, fragment in (
        (["--optimizer", "newton"], "Hessian"),
        (["--standardize", "--lr", 0.1], "--standardize"),
    ):
        code, _, err = run(["train", *seed, *extra], capsys)
        assert code == 2 and fragment in err


def test_scalar_init_is_optional_and_defaults_to_zero(seed_csv_of, capsys):
    path = seed_csv_of(20)
    seed = ["(y - w*x - b)**2/2", "--params", "w,b", "--data", "x,y", "--csv", path]
    code, out, _ = run(["train", *seed, "--lr", 0.1, "--epochs", 1, "--format", "json"], capsys)
    assert code == 0
    code, out2, _ = run(
        ["train", *seed, "--init", "w=0,b=0", "--lr", 0.1, "--epochs", 1, "--format", "json"],
        capsys,
    )
    assert json.loads(out)["params"] == json.loads(out2)["params"]


def test_gradcheck_in_vector_form_passes(logistic_csv, capsys):
    path, _, _ = logistic_csv
    code, out, err = run(["gradcheck", *LOGISTIC, "--csv", path, "--at", "w=0.1,b=-0.2"], capsys)
    assert code == 0, err
