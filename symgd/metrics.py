r"""Evaluation metrics for regression and classification on NumPy arrays.

Classification metrics treat labels as arbitrary comparable values; the classes are the sorted
union of the labels in ``y_true`` and ``y_pred``. A ratio whose denominator is zero (a class that is
never predicted, say) is defined as 0.0, without a NumPy warning.

Example:
    >>> import numpy as np
    >>> accuracy(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0]))
    0.75
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = [
    "mean_squared_error",
    "mean_absolute_error",
    "r2_score",
    "accuracy",
    "confusion_matrix",
    "precision",
    "recall",
    "f1_score",
]

Average = Literal["binary", "macro"]


def _check_pair(y_true, y_pred, *, one_dimensional: bool) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}; "
            "they must match element for element"
        )
    if y_true.size == 0:
        raise ValueError("y_true and y_pred are empty; a metric needs at least one example")
    if one_dimensional and y_true.ndim != 1:
        raise ValueError(f"labels must be 1-D arrays, got shape {y_true.shape}")
    return y_true, y_pred


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, with 0 where the denominator is 0 (and no warning)."""
    numerator = np.asarray(numerator, dtype=float)
    denominator = np.asarray(denominator, dtype=float)
    safe = np.where(denominator == 0, 1.0, denominator)
    return np.where(denominator == 0, 0.0, numerator / safe)


def mean_squared_error(y_true, y_pred) -> float:
    r"""Mean squared error, :math:`\frac{1}{n}\sum_i (y_i - \hat y_i)^2`, over all elements.

    Raises:
        ValueError: On a shape mismatch or empty input.

    Example:
        >>> mean_squared_error([1.0, 2.0], [1.0, 4.0])
        2.0
    """
    y_true, y_pred = _check_pair(y_true, y_pred, one_dimensional=False)
    return float(np.mean((y_true - y_pred) ** 2))


def mean_absolute_error(y_true, y_pred) -> float:
    r"""Mean absolute error, :math:`\frac{1}{n}\sum_i |y_i - \hat y_i|`, over all elements.

    Raises:
        ValueError: On a shape mismatch or empty input.

    Example:
        >>> mean_absolute_error([1.0, 2.0], [1.5, 4.0])
        1.25
    """
    y_true, y_pred = _check_pair(y_true, y_pred, one_dimensional=False)
    return float(np.mean(np.abs(y_true - y_pred)))


def r2_score(y_true, y_pred) -> float:
    r"""Coefficient of determination over all elements.

    .. math:: R^2 = 1 - \frac{\sum_i (y_i - \hat y_i)^2}{\sum_i (y_i - \bar y)^2}

    When ``y_true`` is constant the ratio is undefined; like scikit-learn, the score is then 1.0
    for a perfect prediction and 0.0 otherwise.

    Raises:
        ValueError: On a shape mismatch or empty input.

    Example:
        >>> r2_score([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])
        0.5
    """
    y_true, y_pred = _check_pair(y_true, y_pred, one_dimensional=False)
    residual = float(np.sum((y_true - y_pred) ** 2))
    total = float(np.sum((y_true - np.mean(y_true)) ** 2))
    if total == 0.0:
        return 1.0 if residual == 0.0 else 0.0
    return 1.0 - residual / total


def accuracy(y_true, y_pred) -> float:
    r"""Fraction of exact matches, :math:`\frac{1}{n}\sum_i [y_i = \hat y_i]`.

    Raises:
        ValueError: On a shape mismatch, empty or non-1-D input.

    Example:
        >>> accuracy(["cat", "dog"], ["cat", "cat"])
        0.5
    """
    y_true, y_pred = _check_pair(y_true, y_pred, one_dimensional=True)
    return float(np.mean(y_true == y_pred))


def confusion_matrix(y_true, y_pred, labels=None) -> np.ndarray:
    r"""Counts :math:`C_{jk}` of examples with true class :math:`j` predicted as class :math:`k`.

    Args:
        y_true: True labels, 1-D.
        y_pred: Predicted labels, same shape.
        labels: The classes, in row/column order; default the sorted union of both arrays.
            Examples whose labels are not listed are not counted.

    Returns:
        An integer array of shape ``(len(labels), len(labels))``; rows are true classes.

    Raises:
        ValueError: On a shape mismatch, empty or non-1-D input.

    Example:
        >>> confusion_matrix([0, 1, 2, 2], [0, 2, 2, 1])
        array([[1, 0, 0],
               [0, 0, 1],
               [0, 1, 1]])
    """
    y_true, y_pred = _check_pair(y_true, y_pred, one_dimensional=True)
    classes = np.unique(np.concatenate([y_true, y_pred])) if labels is None else np.asarray(labels)
    index = {label: position for position, label in enumerate(classes.tolist())}
    rows = np.array([index.get(label, -1) for label in y_true.tolist()], dtype=int)
    columns = np.array([index.get(label, -1) for label in y_pred.tolist()], dtype=int)
    kept = (rows >= 0) & (columns >= 0)
    size = len(classes)
    counts = np.bincount(rows[kept] * size + columns[kept], minlength=size * size)
    return counts.reshape(size, size)


def _per_class_counts(y_true, y_pred, average: Average, positive_label):
    """True positives, predicted positives and actual positives for the classes averaged over."""
    y_true, y_pred = _check_pair(y_true, y_pred, one_dimensional=True)
    if average == "binary":
        classes = np.unique(np.concatenate([y_true, y_pred]))
        if len(classes) > 2:
            raise ValueError(
                f"average='binary' needs at most 2 classes, found {len(classes)}; "
                "use average='macro' for multi-class labels"
            )
        is_true, is_pred = y_true == positive_label, y_pred == positive_label
        true_positives = np.array([np.sum(is_true & is_pred)])
        return true_positives, np.array([np.sum(is_pred)]), np.array([np.sum(is_true)])
    if average == "macro":
        matrix = confusion_matrix(y_true, y_pred)
        return np.diag(matrix), matrix.sum(axis=0), matrix.sum(axis=1)
    raise ValueError(f"unknown average {average!r}; use 'binary' or 'macro'")


def precision(y_true, y_pred, *, average: Average = "binary", positive_label=1) -> float:
    r"""Precision :math:`\frac{TP}{TP + FP}` (0 when nothing is predicted positive).

    With ``average="macro"``, the unweighted mean over classes of the one-vs-rest precision.

    Args:
        y_true: True labels, 1-D.
        y_pred: Predicted labels, same shape.
        average: ``"binary"`` (score of ``positive_label``) or ``"macro"``.
        positive_label: The positive class for ``average="binary"``.

    Returns:
        The precision as a float.

    Raises:
        ValueError: On bad input, an unknown ``average``, or more than two classes with
            ``average="binary"``.

    Example:
        >>> precision([1, 0, 1, 0], [1, 1, 1, 0])
        0.6666666666666666
    """
    true_positives, predicted, _ = _per_class_counts(y_true, y_pred, average, positive_label)
    return float(np.mean(_ratio(true_positives, predicted)))


def recall(y_true, y_pred, *, average: Average = "binary", positive_label=1) -> float:
    r"""Recall :math:`\frac{TP}{TP + FN}` (0 when no example is actually positive).

    With ``average="macro"``, the unweighted mean over classes of the one-vs-rest recall.
    Arguments and errors as in :func:`precision`.

    Example:
        >>> recall([1, 0, 1, 1], [1, 1, 0, 0])
        0.3333333333333333
    """
    true_positives, _, actual = _per_class_counts(y_true, y_pred, average, positive_label)
    return float(np.mean(_ratio(true_positives, actual)))


def f1_score(y_true, y_pred, *, average: Average = "binary", positive_label=1) -> float:
    r"""F1, the harmonic mean of precision and recall.

    .. math:: F_1 = \frac{2PR}{P + R} = \frac{2\,TP}{2\,TP + FP + FN}

    (0 when :math:`TP = 0`). With ``average="macro"``, the unweighted mean over classes of the
    one-vs-rest F1. Arguments and errors as in :func:`precision`.

    Example:
        >>> f1_score([1, 0, 1, 1], [1, 1, 0, 1])
        0.6666666666666666
    """
    true_positives, predicted, actual = _per_class_counts(y_true, y_pred, average, positive_label)
    return float(np.mean(_ratio(2 * true_positives, predicted + actual)))
