"""Data: seeded synthetic sets, scikit-learn's bundled digits, and CSV files read into arrays.

Bad files raise :class:`DataError` (a ``ValueError``) whose one-line message names the file, the
row and the column; the command line prints it and exits 2.

Example:
    >>> X_train, X_test, y_train, y_test = digits_dataset()
    >>> X_train.shape, X_test.shape, float(X_train.max())
    ((1437, 64), (360, 64), 1.0)
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

import numpy

__all__ = [
    "DataError",
    "digits_dataset",
    "linear_data",
    "read_csv",
    "read_csv_rows",
    "read_labelled_csv",
    "split",
]

#: Largest CSV file read (bytes): a guard against reading a wrong, huge file.
MAX_CSV_BYTES = 512 * 1024 * 1024


class DataError(ValueError):
    """A data file or value that cannot be used; the message names where and why."""


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


def linear_data(
    m: int = 200, *, w: float = 2.0, b: float = 1.0, noise: float = 0.3, seed: int = 0
) -> dict[str, numpy.ndarray]:
    """Seeded synthetic data for the seed example: ``y = w x + b + noise``.

    Args:
        m: Number of examples.
        w: True slope.
        b: True intercept.
        noise: Standard deviation of Gaussian noise on ``y``.
        seed: Random seed.

    Returns:
        ``{"x": …, "y": …}`` with ``x`` uniform on ``[−1, 1]``.
    """
    rng = numpy.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, m)
    return {"x": x, "y": w * x + b + noise * rng.standard_normal(m)}


def read_csv_rows(
    path: Path, header: str, *, what: str = "CSV file", limit: int = MAX_CSV_BYTES
) -> list[list[str]]:
    """All rows of a CSV file (UTF-8), the header first; one-line errors for every failure.

    Args:
        path: The file.
        header: What the first row must hold, for the message when the file is empty.
        what: How the messages name the file.
        limit: Largest size read, in bytes.
    """
    if not path.is_file():
        raise DataError(f"{what} not found: {path}")
    if path.stat().st_size > limit:
        raise DataError(f"{what} {path} is larger than {limit // 2**20} MiB")
    with path.open(newline="", encoding="utf-8", errors="strict") as handle:
        try:
            rows = list(csv.reader(handle))
        except (csv.Error, UnicodeDecodeError) as error:
            raise DataError(f"{path} is not a readable CSV file: {error}") from None
    if not rows:
        raise DataError(f"{path} is empty; it needs a {header}")
    return rows


def read_csv(path: str | Path, columns: Sequence[str] | None = None) -> dict[str, numpy.ndarray]:
    """Read the named numeric columns of a CSV file with a header row.

    Args:
        path: The CSV file.
        columns: Column names to read (the data symbols); ``None`` reads every column.

    Returns:
        One float64 array per column, in the order of ``columns`` (or of the header).

    Raises:
        DataError: The file is missing, too large, lacks a column, or holds a
            value that is not a finite number (the message names row and column).
    """
    path = Path(path)
    rows = read_csv_rows(path, "header row naming the columns")
    header = [name.strip() for name in rows[0]]
    columns = header if columns is None else columns
    missing = [c for c in columns if c not in header]
    if missing:
        raise DataError(f"{path} has no column {missing[0]!r} (columns: {_names(header)})")
    index = {c: header.index(c) for c in columns}
    values = {c: [] for c in columns}
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        for c, k in index.items():
            cell = row[k].strip() if k < len(row) else ""
            try:
                value = float(cell)
            except ValueError:
                raise DataError(
                    f"{path}, row {number}, column {c!r}: {cell!r} is not a number"
                ) from None
            if not math.isfinite(value):
                raise DataError(f"{path}, row {number}, column {c!r}: {cell!r} is not finite")
            values[c].append(value)
    if not values or not next(iter(values.values())):
        raise DataError(f"{path} has a header but no data rows")
    return {c: numpy.asarray(v, dtype=numpy.float64) for c, v in values.items()}


def read_labelled_csv(
    path: str | Path, target: str
) -> tuple[numpy.ndarray, numpy.ndarray, list[str]]:
    """Features and target of a CSV file: the column ``target`` and every other column.

    Args:
        path: The CSV file, with a header row naming the columns.
        target: The column to predict.

    Returns:
        ``X`` (one column per feature), ``y`` and the feature names, in the header's order.

    Raises:
        DataError: As :func:`read_csv`; also when ``target`` is the only column.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = Path(folder) / "points.csv"
        ...     _ = path.write_text("u,label,v\\n1,0,2\\n3,1,4\\n")
        ...     X, y, features = read_labelled_csv(path, "label")
        >>> X.tolist(), y.tolist(), features
        ([[1.0, 2.0], [3.0, 4.0]], [0.0, 1.0], ['u', 'v'])
    """
    columns = read_csv(path)
    if target not in columns:
        raise DataError(f"{path} has no column {target!r} (columns: {_names(columns)})")
    features = [name for name in columns if name != target]
    if not features:
        raise DataError(f"{path} has no feature columns besides the target {target!r}")
    return numpy.column_stack([columns[name] for name in features]), columns[target], features


def _names(columns) -> str:
    return ", ".join(columns) or "none"
