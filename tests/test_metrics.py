"""Tests for symgd.metrics against scikit-learn as the independent oracle."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import metrics as sk

from symgd.metrics import (
    accuracy,
    confusion_matrix,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    precision,
    r2_score,
    recall,
)

SEEDS = range(5)


def _regression(seed):
    generator = np.random.default_rng(seed)
    y_true = generator.normal(size=50 + seed)
    return y_true, y_true + generator.normal(scale=0.5, size=y_true.shape)


def _labels(seed, classes):
    generator = np.random.default_rng(100 + seed)
    return generator.integers(0, classes, size=40), generator.integers(0, classes, size=40)


REGRESSION = [
    (mean_squared_error, sk.mean_squared_error),
    (mean_absolute_error, sk.mean_absolute_error),
    (r2_score, sk.r2_score),
]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("ours", "theirs"), REGRESSION, ids=lambda f: f.__name__)
def test_regression_matches_sklearn(ours, theirs, seed):
    y_true, y_pred = _regression(seed)
    assert ours(y_true, y_pred) == pytest.approx(theirs(y_true, y_pred), rel=1e-12)


@pytest.mark.parametrize(
    ("y_true", "y_pred", "expected"),
    [([2.0, 2.0], [2.0, 2.0], 1.0), ([2.0, 2.0], [2.0, 3.0], 0.0)],
)
def test_r2_constant_target(y_true, y_pred, expected):
    assert r2_score(y_true, y_pred) == expected
    assert sk.r2_score(y_true, y_pred) == expected


CLASSIFICATION = [
    (precision, sk.precision_score),
    (recall, sk.recall_score),
    (f1_score, sk.f1_score),
]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("ours", "theirs"), CLASSIFICATION, ids=lambda f: f.__name__)
def test_binary_and_macro_match_sklearn(ours, theirs, seed):
    binary_true, binary_pred = _labels(seed, 2)
    for positive_label in (0, 1):
        assert ours(binary_true, binary_pred, positive_label=positive_label) == pytest.approx(
            theirs(binary_true, binary_pred, pos_label=positive_label, zero_division=0.0)
        )
    true, pred = _labels(seed, 4)
    assert ours(true, pred, average="macro") == pytest.approx(
        theirs(true, pred, average="macro", zero_division=0.0)
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_accuracy_and_confusion_matrix_match_sklearn(seed):
    true, pred = _labels(seed, 4)
    assert accuracy(true, pred) == pytest.approx(sk.accuracy_score(true, pred))
    assert_array_equal(confusion_matrix(true, pred), sk.confusion_matrix(true, pred))
    assert_array_equal(
        confusion_matrix(true, pred, labels=[3, 1]), sk.confusion_matrix(true, pred, labels=[3, 1])
    )


def test_string_labels():
    true = np.array(["cat", "dog", "bird", "dog"])
    pred = np.array(["cat", "cat", "bird", "dog"])
    assert_array_equal(confusion_matrix(true, pred), sk.confusion_matrix(true, pred))
    assert f1_score(true, pred, average="macro") == pytest.approx(
        sk.f1_score(true, pred, average="macro")
    )


ZERO_DIVISION = [
    # (y_true, y_pred, average): nothing predicted positive, no actual positives, classes missing
    ([0, 0, 1, 1], [0, 0, 0, 0], "binary"),
    ([0, 0, 0, 0], [0, 1, 0, 0], "binary"),
    ([0, 0, 0, 0], [0, 0, 0, 0], "binary"),
    ([0, 1, 2, 2], [0, 0, 0, 0], "macro"),
    ([2, 2, 2, 2], [0, 1, 0, 1], "macro"),
]


@pytest.mark.parametrize(("y_true", "y_pred", "average"), ZERO_DIVISION)
@pytest.mark.parametrize(("ours", "theirs"), CLASSIFICATION, ids=lambda f: f.__name__)
def test_zero_division_is_zero_without_warnings(ours, theirs, y_true, y_pred, average):
    expected = theirs(y_true, y_pred, average=average, zero_division=0.0, labels=None)
    assert_allclose(ours(np.array(y_true), np.array(y_pred), average=average), expected)


@pytest.mark.parametrize(
    ("function", "y_true", "y_pred", "message"),
    [
        (mean_squared_error, [1.0, 2.0], [1.0], "shape"),
        (accuracy, [], [], "empty"),
        (precision, [[0, 1]], [[0, 1]], "1-D"),
        (recall, [0, 1, 2], [0, 1, 2], "average='macro'"),
        (f1_score, [0, 1], [0, 1], "unknown average"),
    ],
)
def test_bad_input_raises_clear_errors(function, y_true, y_pred, message):
    kwargs = {"average": "micro"} if message == "unknown average" else {}
    with pytest.raises(ValueError, match=message):
        function(y_true, y_pred, **kwargs)
