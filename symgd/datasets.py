"""Real data for the examples: scikit-learn's bundled digits and a seeded train/test split.

Example:
    >>> X_train, X_test, y_train, y_test = digits_dataset()
    >>> X_train.shape, X_test.shape, float(X_train.max())
    ((1437, 64), (360, 64), 1.0)
"""

from __future__ import annotations

import numpy

__all__ = ["digits_dataset", "split"]


def split(
    X: numpy.ndarray, labels: numpy.ndarray, *, test_size: float = 0.2, random_state: int = 0
) -> tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """The seeded 80/20 split used throughout (scikit-learn's ``train_test_split``).

    Returns:
        ``X_train, X_test, y_train, y_test``.
    """
    from sklearn.model_selection import train_test_split

    return tuple(train_test_split(X, labels, test_size=test_size, random_state=random_state))


def digits_dataset() -> tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """scikit-learn's bundled 8×8 digits, pixels scaled to [0, 1], split 80/20 (seed 0).

    Returns:
        ``X_train, X_test, y_train, y_test`` (1437 and 360 examples, 64 features, labels 0–9).
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    return split(digits.data / 16.0, digits.target)
