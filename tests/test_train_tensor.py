"""symgd.training.tensor and symgd.training.prediction: vector/matrix objectives trained by the
one runner give the textbook answers (scikit-learn's logistic regression, least squares, ridge),
classify the digits, standardise with training statistics only, slice mini-batches as the
runner chooses them, and refuse bad input in one line."""

from __future__ import annotations

import functools

import numpy
import pytest
import sklearn
from numpy.testing import assert_allclose
from sklearn.linear_model import LogisticRegression

from symgd.compile import compile_tensor, one_hot
from symgd.data import digits_dataset
from symgd.define import tensor_objective
from symgd.derivation import derive_tensor
from symgd.render.tensors import tensor_text
from symgd.training import adam, train_tensor
from symgd.training.config import Plan, TrainConfig
from symgd.training.prediction import find_score

LOGISTIC = "-sum(y*log(sigmoid(X@w+b)) + (1-y)*log(1-sigmoid(X@w+b)))/m"
LEAST_SQUARES = "sum((X@w + b - y)**2)/(2*m)"
RIDGE = "sum((X@w + b - y)**2)/(2*m) + lamda*sum(w**2)/2"
SOFTMAX = "(sum(logsumexp(X@W.T + b)) - sum(Y*(X@W.T + b)))/m"
QUADRATIC = "0.5*x@A@x - c@x"


@functools.cache
def _compiled(loss: str, params: str, data: str, hessian: bool = False):
    return compile_tensor(derive_tensor(tensor_objective(loss, params, data)), hessian=hessian)


def _no_penalty() -> dict:
    """scikit-learn 1.8 spells "no penalty" C=inf and deprecates penalty=None."""
    major, minor = (int(part) for part in sklearn.__version__.split(".")[:2])
    return {"C": numpy.inf} if (major, minor) >= (1, 8) else {"penalty": None}


def _logistic_data(m: int = 2000, d: int = 30, seed: int = 0):
    """Non-separable: labels drawn from the probabilities of moderate true weights."""
    rng = numpy.random.default_rng(seed)
    X = rng.standard_normal((m, d))
    probabilities = 1 / (1 + numpy.exp(-(X @ rng.normal(scale=0.5, size=d) + 0.3)))
    return X, (rng.random(m) < probabilities).astype(float)


def _regression_data(m: int = 200, d: int = 3, seed: int = 1):
    rng = numpy.random.default_rng(seed)
    X = rng.standard_normal((m, d))
    return X, X @ rng.normal(size=d) + 0.7 + 0.3 * rng.standard_normal(m)


def _lstsq(X, y):
    design = numpy.column_stack([X, numpy.ones(len(y))])
    return numpy.linalg.lstsq(design, y, rcond=None)[0]


# --- textbook answers ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def logistic():
    X, y = _logistic_data()
    compiled = _compiled(LOGISTIC, "w[d], b", "X[m,d], y[m]", hessian=True)
    fit = train_tensor(compiled, {"X": X, "y": y}, optimizer="newton", epochs=15, tolerance=1e-15)
    return fit, X, y


def test_logistic_regression_with_newton_converges_within_15_iterations(logistic):
    fit, _, _ = logistic
    assert fit.result.converged and fit.result.epochs <= 15, fit.result.message
    assert fit.task == "classification" and fit.labels == (0.0, 1.0)


def test_logistic_regression_matches_scikit_learn(logistic):
    fit, X, y = logistic
    model = LogisticRegression(tol=1e-12, max_iter=10_000, **_no_penalty()).fit(X, y)
    theirs = numpy.append(model.coef_[0], model.intercept_[0])
    ours = numpy.append(fit.params["w"], fit.params["b"])
    assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6 * numpy.abs(theirs).max())
    with pytest.raises(AssertionError):  # the checker sees a wrong intercept
        assert_allclose(ours, theirs + numpy.append(numpy.zeros(30), 1e-4), rtol=1e-6)
    assert fit.metrics({"X": X, "y": y})["accuracy"] == pytest.approx(model.score(X, y))


@pytest.mark.parametrize(
    "options",
    [
        {"optimizer": "newton", "steps": 1},
        {"optimizer": "newton", "steps": 2},
        {"learning_rate": 0.5, "epochs": 500},
        {"optimizer": adam(0.05), "epochs": 5000, "tolerance": 1e-18},
    ],
    ids=["newton-1", "newton-2", "gd", "adam"],
)
def test_least_squares_matches_lstsq(options):
    X, y = _regression_data()
    compiled = _compiled(LEAST_SQUARES, "w[d], b", "X[m,d], y[m]", hessian=True)
    fit = train_tensor(compiled, {"X": X, "y": y}, **options)
    ours = numpy.append(fit.params["w"], fit.params["b"])
    atol = 1e-10 if options.get("optimizer") == "newton" else 1e-6
    assert_allclose(ours, _lstsq(X, y), rtol=0, atol=atol)
    assert fit.task == "regression"
    assert_allclose(fit.predict({"X": X}), X @ fit.params["w"] + fit.params["b"])


def test_least_squares_checker_fails_on_a_wrong_answer():
    X, y = _regression_data()
    compiled = _compiled(LEAST_SQUARES, "w[d], b", "X[m,d], y[m]")
    fit = train_tensor(compiled, {"X": X, "y": y}, learning_rate=0.5, epochs=3)  # too short
    with pytest.raises(AssertionError):
        assert_allclose(numpy.append(fit.params["w"], fit.params["b"]), _lstsq(X, y), atol=1e-6)


@pytest.mark.parametrize("lamda", [0.0, 0.1, 2.0])
def test_ridge_with_scalar_data_matches_the_closed_form(lamda):
    X, y = _regression_data()
    compiled = _compiled(RIDGE, "w[d], b", "X[m,d], y[m], lamda", hessian=True)
    fit = train_tensor(compiled, {"X": X, "y": y, "lamda": lamda}, optimizer="newton", steps=1)
    # (1/2m)|Xw + b − y|² + λ/2 |w|²: centre, then w = (XcᵀXc/m + λI)⁻¹ Xcᵀyc/m, b = ȳ − x̄ᵀw
    m, centred = len(y), X - X.mean(axis=0)
    w = numpy.linalg.solve(centred.T @ centred / m + lamda * numpy.eye(3), centred.T @ y / m)
    assert_allclose(fit.params["w"], w, atol=1e-10)
    assert_allclose(fit.params["b"], y.mean() - X.mean(axis=0) @ w, atol=1e-10)
    if lamda:  # the checker sees the unregularised answer as wrong
        with pytest.raises(AssertionError):
            assert_allclose(fit.params["w"], _lstsq(X, y)[:3], atol=1e-6)


def test_softmax_regression_classifies_the_digits():
    X_train, X_test, y_train, y_test = digits_dataset()
    compiled = _compiled(SOFTMAX, "W[k,d], b[k]", "X[m,d], Y[m,k]")
    fit = train_tensor(
        compiled, {"X": X_train, "Y": one_hot(y_train, 10)}, optimizer=adam(0.05), epochs=10,
        batch_size=64, seed=0,
    )  # fmt: skip
    assert fit.params["W"].shape == (10, 64) and fit.params["b"].shape == (10,)
    assert fit.task == "classification" and fit.labels == tuple(float(j) for j in range(10))
    test = {"X": X_test, "Y": one_hot(y_test, 10)}
    scores = fit.metrics(test)
    assert scores["accuracy"] > 0.9, scores
    assert scores["accuracy"] == pytest.approx(numpy.mean(fit.predict(test) == y_test))
    assert set(scores) == {"accuracy", "precision", "recall", "f1"}


def test_labels_minus_one_and_one_predict_minus_one_and_one():
    X, y01 = _logistic_data(m=300, d=4, seed=2)
    y = 2 * y01 - 1
    compiled = _compiled("sum(softplus(-y*(X@w + b)))/m", "w[d], b", "X[m,d], y[m]", True)
    fit = train_tensor(compiled, {"X": X, "y": y}, optimizer="newton", epochs=20, tolerance=1e-14)
    predicted = fit.predict({"X": X})
    assert fit.labels == (-1.0, 1.0) and set(numpy.unique(predicted)) <= {-1.0, 1.0}
    z = X @ fit.params["w"] + fit.params["b"]
    assert_allclose(predicted, numpy.where(z > 0, 1.0, -1.0))
    assert fit.metrics({"X": X, "y": y})["accuracy"] == pytest.approx(numpy.mean(predicted == y))


# --- the score found in the graph ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("loss", "params", "data", "score", "target"),
    [
        (LEAST_SQUARES, "w[d], b", "X[m,d], y[m]", "X @ w + b", "y"),
        (LOGISTIC, "w[d], b", "X[m,d], y[m]", "X @ w + b", "y"),
        ("sum(softplus(-y*(X@w)))/m", "w[d]", "X[m,d], y[m]", "X @ w", "y"),
        (SOFTMAX, "W[k,d], b[k]", "X[m,d], Y[m,k]", "X @ W.T + b", "Y"),
        (QUADRATIC, "x[n]", "A[n,n], c[n]", None, None),
    ],
)
def test_the_score_and_target_come_from_the_graph(loss, params, data, score, target):
    objective = tensor_objective(loss, params, data)
    found = find_score(objective)
    shown = None if found.score is None else tensor_text(objective.graph, found.score)
    assert (shown, None if found.target is None else found.target.name) == (score, target)


def test_an_objective_without_examples_trains_whole_and_does_not_predict():
    rng = numpy.random.default_rng(4)
    M = rng.standard_normal((4, 4))
    A, c = M @ M.T + 4 * numpy.eye(4), rng.standard_normal(4)
    compiled = _compiled(QUADRATIC, "x[n]", "A[n,n], c[n]", hessian=True)
    fit = train_tensor(compiled, {"A": A, "c": c}, optimizer="newton", steps=1)
    assert_allclose(fit.params["x"], numpy.linalg.solve(A, c), atol=1e-12)
    with pytest.raises(ValueError, match="no X@w form"):
        fit.predict({"A": A, "c": c})
    with pytest.raises(ValueError, match="batch_size needs an example axis"):
        train_tensor(compiled, {"A": A, "c": c}, learning_rate=0.1, steps=1, batch_size=2)


# --- standardisation, initial values, mini-batches ----------------------------------------------


def _scaled_data():
    X, y = _regression_data(m=100)
    X = numpy.column_stack([1000 * X[:, 0], X[:, 1], numpy.full(100, 7.0)])  # big and constant
    return X, y


def test_standardization_uses_the_training_rows_only():
    X, y = _scaled_data()
    compiled = _compiled(LEAST_SQUARES, "w[d], b", "X[m,d], y[m]", hessian=True)
    options = {"optimizer": "newton", "steps": 2, "validation_split": 0.25, "seed": 3}
    fit = train_tensor(compiled, {"X": X, "y": y}, standardize=True, **options)
    rows = Plan.make(
        TrainConfig(learning_rate=0.1, epochs=1, validation_split=0.25, seed=3), 4, 100
    )
    mean, std = fit.standardization["X"]
    training = X[rows.training]
    assert_allclose(mean[:2], training.mean(axis=0)[:2])
    assert_allclose(std[:2], training.std(axis=0)[:2])
    assert (mean[2], std[2]) == (7.0, 1.0)  # a constant column: no division by zero
    standard = (training - mean) / std  # the model was fitted on these, not on X
    assert_allclose(fit.params["w"][:2], _lstsq(standard[:, :2], y[rows.training])[:2], rtol=1e-6)
    with pytest.raises(AssertionError):  # the statistics of all rows differ
        assert_allclose(mean[:2], X.mean(axis=0)[:2])
    changed = X.copy()
    changed[rows.validation] *= 100
    refit = train_tensor(compiled, {"X": changed, "y": y}, standardize=True, **options)
    assert_allclose(refit.standardization["X"][0], mean)
    assert_allclose(refit.standardization["X"][1], std)
    assert numpy.all(numpy.isfinite(fit.params["w"])) and numpy.all(
        numpy.isfinite(fit.result.theta)
    )
    new = numpy.array([[500.0, 0.5, 7.0], [-20.0, 1.0, 7.0]])
    expected = (new - mean) / std @ fit.params["w"] + fit.params["b"]
    assert_allclose(fit.predict({"X": new}), expected)


@pytest.mark.parametrize(
    ("init", "w", "b"),
    [
        (None, [0.0, 0.0, 0.0], 0.0),
        ({"b": 0.5}, [0.0, 0.0, 0.0], 0.5),
        ({"w": 0.25}, [0.25, 0.25, 0.25], 0.0),
        ({"w": [1.0, 2.0, 3.0], "b": -1}, [1.0, 2.0, 3.0], -1.0),
    ],
)
def test_initial_values_broadcast_and_default_to_zero(init, w, b):
    X, y = _regression_data()
    compiled = _compiled(LEAST_SQUARES, "w[d], b", "X[m,d], y[m]")
    fit = train_tensor(compiled, {"X": X, "y": y}, init, learning_rate=0.1, steps=0)
    assert fit.params["w"].tolist() == w and fit.params["b"].shape == () and fit.params["b"] == b


def test_a_mini_batch_step_uses_the_rows_the_runner_draws():
    X, y = _regression_data()
    compiled = _compiled(LEAST_SQUARES, "w[d], b", "X[m,d], y[m]")
    init = {"w": [0.1, -0.2, 0.3], "b": 0.4}
    fit = train_tensor(
        compiled, {"X": X, "y": y}, init, learning_rate=0.1, steps=1, batch_size=5, seed=7
    )
    rows = numpy.random.default_rng(7).permutation(len(y))[:5]  # the runner's first batch

    def step(rows):
        w, b = numpy.array(init["w"]), init["b"]
        residual = X[rows] @ w + b - y[rows]
        return numpy.append(w - 0.1 * X[rows].T @ residual / 5, b - 0.1 * residual.mean())

    assert_allclose(numpy.append(fit.params["w"], fit.params["b"]), step(rows), rtol=1e-12)
    with pytest.raises(AssertionError):  # the first five rows are another batch
        assert_allclose(numpy.append(fit.params["w"], fit.params["b"]), step(slice(0, 5)))


# --- one-line errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("objective", "data", "init", "options", "message"),  # data: changes to the good data
    [
        ("ls", {"X": None}, None, {}, "no data for 'X'"),
        ("ls", {}, {"w": numpy.zeros(4)}, {}, r"init 'w' has shape \(4,\), so d = 4, but 'X'"),
        ("ls", {}, {"w": numpy.zeros((3, 1))}, {}, r"init 'w' must have shape \(d,\), not"),
        ("ls", {}, {"v": 1.0}, {}, "init names 'v', not a parameter"),
        ("ls", {"y": numpy.zeros(7)}, None, {}, "data 'y' has shape .7,., so m = 7"),
        ("softmax", {}, None, {}, r"the size k of W\[k, d\] appears in no data array"),
        ("ls", {}, None, {"optimizer": "newton"}, r"compile_tensor\(derivation, hessian=True\)"),
    ],
)
def test_bad_input_gets_a_one_line_error(objective, data, init, options, message):
    X, y = _regression_data()
    if objective == "ls":
        compiled = _compiled(LEAST_SQUARES, "w[d], b", "X[m,d], y[m]")
        arrays = {"X": X, "y": y}
    else:
        compiled = _compiled("sum(logsumexp(X@W.T))/m", "W[k,d]", "X[m,d]")
        arrays = {"X": X}
    arrays = {n: v for n, v in {**arrays, **data}.items() if v is not None}  # None: left out
    with pytest.raises(ValueError, match=message) as error:
        train_tensor(compiled, arrays, init, learning_rate=0.1, steps=1, **options)
    assert "\n" not in str(error.value)


def test_softmax_sizes_from_an_init_array():
    X, _ = _regression_data()
    compiled = _compiled("sum(logsumexp(X@W.T))/m", "W[k,d]", "X[m,d]")
    fit = train_tensor(compiled, {"X": X}, {"W": numpy.zeros((2, 3))}, learning_rate=0.1, steps=1)
    assert fit.params["W"].shape == (2, 3)
