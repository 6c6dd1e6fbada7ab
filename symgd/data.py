"""Data: seeded synthetic sets, scikit-learn's bundled digits, and CSV files read into arrays.

Bad files raise :class:`DataError` (a ``ValueError``) whose one-line message names the file, the
row and the column; the command line prints it and exits 2.

Example:
    >>> X_train, X_test, y_train, y_test = digits_dataset()
    >>> X_train.shape, X_test.shape, float(X_train.max())
    ((1437, 64), (360, 64), 1.0)
"""

from __future__ import annotations

import array
import csv
import glob
import math
import re
import stat
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy

__all__ = [
    "DataError",
    "digits_dataset",
    "linear_data",
    "persistence_baseline",
    "csv_header",
    "decimal_number",
    "read_csv",
    "read_csv_files",
    "read_csv_rows",
    "read_labelled_csv",
    "sine_dataset",
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


def sine_dataset(
    m: int = 1000, *, steps: int = 20, noise: float = 0.05, seed: int = 0
) -> tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    r"""Seeded noisy sine waves of random frequency and phase; predict the next value.

    Example ``i`` observes :math:`x_t = \sin(\omega_i t + \varphi_i) + \varepsilon_t` for
    :math:`t = 0, …, \text{steps}` with :math:`\omega_i \sim U(0.1, 0.6)` radians per step,
    :math:`\varphi_i \sim U(0, 2\pi)` and :math:`\varepsilon_t \sim N(0, \text{noise}^2)`;
    the first ``steps`` values are the input sequence and the last one, noise included, is the
    target. Generated from the seed: nothing is downloaded or stored. Split 80/20 as
    :func:`digits_dataset`; :func:`persistence_baseline` is the score to beat.

    Args:
        m: Number of sequences (train plus test).
        steps: Length ``T`` of each input sequence.
        noise: Standard deviation of the Gaussian noise on every value.
        seed: Random seed (waves, noise and split).

    Returns:
        ``X_train, X_test, y_train, y_test``: inputs of shape ``(·, steps, 1)`` (one feature
        per step, as ``rnn(n)`` reads them) and targets of shape ``(·,)``.

    Raises:
        ValueError: ``m`` below 5, ``steps`` below 1 or a negative ``noise``.

    Example:
        >>> X_train, X_test, y_train, y_test = sine_dataset(100, steps=20)
        >>> X_train.shape, X_test.shape, y_train.shape
        ((80, 20, 1), (20, 20, 1), (80,))
    """
    if m < 5 or steps < 1 or not noise >= 0:
        raise ValueError(
            f"sine_dataset needs m >= 5 sequences, steps >= 1 and noise >= 0; got m={m}, "
            f"steps={steps}, noise={noise}"
        )
    rng = numpy.random.default_rng(seed)
    omega = rng.uniform(0.1, 0.6, size=(m, 1))
    phase = rng.uniform(0.0, 2 * numpy.pi, size=(m, 1))
    t = numpy.arange(steps + 1)
    waves = numpy.sin(omega * t + phase) + noise * rng.standard_normal((m, steps + 1))
    return split(waves[:, :steps, None], waves[:, steps], random_state=seed)


def persistence_baseline(X: numpy.ndarray, y: numpy.ndarray) -> float:
    r"""The mean squared error of predicting each sequence's last value as the next one.

    Args:
        X: Sequences of shape ``(m, steps, 1)`` (or ``(m, steps)``).
        y: The next values, shape ``(m,)``.

    Returns:
        :math:`\frac1m \sum_i (x_{i,T} - y_i)^2`, the score a forecaster must beat.

    Example:
        >>> persistence_baseline(numpy.array([[[0.0], [1.0]], [[2.0], [2.0]]]), numpy.ones(2))
        0.5
    """
    last = numpy.asarray(X, dtype=numpy.float64).reshape(len(X), -1)[:, -1]
    return float(numpy.mean((last - numpy.asarray(y, dtype=numpy.float64).ravel()) ** 2))


def read_csv_rows(
    path: Path, header: str, *, what: str = "CSV file", limit: int = MAX_CSV_BYTES
) -> list[list[str]]:
    """All rows of a CSV file (UTF-8, a byte-order mark skipped), the header first.

    Args:
        path: The file.
        header: What the first row must hold, for the message when the file is empty.
        what: How the messages name the file.
        limit: Largest size read, in bytes.

    Raises:
        DataError: The file is missing, not a regular file, empty, too large or not UTF-8 CSV.
    """
    _check_file(path, header, what=what, limit=limit)
    try:
        with path.open(newline="", encoding="utf-8-sig", errors="strict") as handle:
            rows = list(csv.reader(handle))
    except (csv.Error, UnicodeDecodeError) as error:
        raise DataError(f"{path} is not a readable CSV file: {error}") from None
    except OSError as error:
        raise DataError(f"{what} {path} cannot be read: {error.strerror or error}") from None
    if not rows:
        raise DataError(f"{path} is empty; it needs a {header}")
    return rows


def csv_header(row: Sequence[str], path: Path) -> list[str]:
    """The column names of a header row, stripped; a name given twice is an error.

    Example:
        >>> csv_header([" x", "y "], Path("data.csv"))
        ['x', 'y']
        >>> csv_header(["x", "x", "y"], Path("data.csv"))
        Traceback (most recent call last):
        ...
        symgd.data.DataError: data.csv names the column 'x' twice in its header (columns: x, x, y)
    """
    names = [name.strip() for name in row]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DataError(
                f"{path} names the column {name!r} twice in its header (columns: {_names(names)})"
            )
        seen.add(name)
    return names


def read_csv(path: str | Path, columns: Sequence[str] | None = None) -> dict[str, numpy.ndarray]:
    """Read the named numeric columns of a CSV file with a header row.

    Numbers are plain decimal ASCII (``-1.5``, ``2e-3``): Python's ``float`` also takes ``1_000``
    and other scripts' digits (``١٢``), which this refuses. The columns are parsed by NumPy's C
    reader straight into one float64 array (peak memory about that array's size); a file it
    cannot read is read again cell by cell, so the message names the row and column.

    Args:
        path: The CSV file.
        columns: Column names to read (the data symbols); ``None`` reads every column.

    Returns:
        One float64 array per column, in the order of ``columns`` (or of the header).

    Raises:
        DataError: The file is missing, not a regular file, empty, too large, names a column
            twice, lacks a column, or holds a value that is not a finite number (the message
            names row and column).
    """
    if not str(path).strip():
        raise DataError("no CSV file given: the path is empty")
    path = Path(path)
    wanted = "header row naming the columns"
    _check_file(path, wanted)
    try:
        with path.open(newline="", encoding="utf-8-sig", errors="strict") as handle:
            reader = csv.reader(handle)
            first = next(reader, None)
            header_lines = reader.line_num
    except (csv.Error, UnicodeDecodeError) as error:
        raise DataError(f"{path} is not a readable CSV file: {error}") from None
    except OSError as error:
        raise DataError(f"CSV file {path} cannot be read: {error.strerror or error}") from None
    if first is None:
        raise DataError(f"{path} is empty; it needs a {wanted}")
    header = csv_header(first, path)
    columns = header if columns is None else list(columns)
    missing = [c for c in columns if c not in header]
    if missing:
        raise DataError(f"{path} has no column {missing[0]!r} (columns: {_names(header)})")
    index = {c: header.index(c) for c in columns}
    if header_lines == 1:
        table = _read_fast(path, sorted(set(index.values())))
        if table is not None:
            position = {k: i for i, k in enumerate(sorted(set(index.values())))}
            return {c: table[:, position[k]] for c, k in index.items()}
    return _read_exact(path, index)


def read_csv_files(
    pattern: str, columns: Sequence[str] | None = None, *, partition_bytes: int | None = None
) -> Any:
    """Read CSV files matching a glob into a lazy Dask DataFrame of float64 columns.

    For data larger than memory: nothing is read but the headers until Dask computes. The files
    (sorted by name) must share one header; Dask splits them into partitions of about
    ``partition_bytes`` bytes. Needs the optional extra: ``pip install 'symgd[dask]'``.

    Args:
        pattern: A path or a glob such as ``'data/part-*.csv'``.
        columns: Column names to read (the data symbols); ``None`` reads every column.
        partition_bytes: Bytes of CSV text per partition (default: Dask's, 64 MB).

    Returns:
        A ``dask.dataframe.DataFrame`` with one float64 column per name in ``columns``.

    Raises:
        DataError: Dask is not installed, no file matches, a file cannot be read, the headers
            differ, or a column is missing. A cell that is not a number fails when Dask reads it.
    """
    try:
        import dask.dataframe
    except ImportError:
        raise DataError(
            "reading CSV files with Dask needs Dask: pip install 'symgd[dask]'"
        ) from None
    paths = sorted(glob.glob(str(pattern))) if str(pattern).strip() else []
    if not paths:
        raise DataError(f"no CSV file matches {str(pattern)!r}")
    headers = {}
    for path in map(Path, paths):
        _check_file(path, "header row naming the columns")
        try:
            with path.open(newline="", encoding="utf-8-sig", errors="strict") as handle:
                headers[path] = next(csv.reader(handle), None) or []
        except (csv.Error, UnicodeDecodeError) as error:
            raise DataError(f"{path} is not a readable CSV file: {error}") from None
        except OSError as error:
            raise DataError(f"CSV file {path} cannot be read: {error.strerror or error}") from None
    first, raw = paths[0], headers[Path(paths[0])]
    for path, header in headers.items():
        if header != raw:
            raise DataError(f"{path} has the header {_names(header)}, {first} has {_names(raw)}")
    header = csv_header(raw, Path(first))
    columns = header if columns is None else list(columns)
    missing = [c for c in columns if c not in header]
    if missing:
        raise DataError(f"{first} has no column {missing[0]!r} (columns: {_names(header)})")
    wanted = [raw[header.index(c)] for c in columns]
    try:  # Dask reads a sample of the first file now
        frame = dask.dataframe.read_csv(
            paths, usecols=wanted, dtype=dict.fromkeys(wanted, "float64"),
            blocksize=partition_bytes or "default", encoding="utf-8-sig",
        )  # fmt: skip
    except ValueError as error:  # pandas' message, wrapped by Dask over two lines
        text = " ".join(str(error).split("Original Message:")[-1].split())
        raise DataError(f"{first} cannot be read as numbers: {text}") from None
    return frame.rename(columns=dict(zip(wanted, columns, strict=True)))[columns]


def _check_file(
    path: Path, header: str, *, what: str = "CSV file", limit: int = MAX_CSV_BYTES
) -> None:
    """Refuse what is not a readable, non-empty regular file, before opening it (a FIFO blocks)."""
    try:
        status = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise DataError(f"{what} not found: {path}") from None
    except OSError as error:
        raise DataError(f"{what} {path} cannot be read: {error.strerror or error}") from None
    if stat.S_ISDIR(status.st_mode):
        raise DataError(f"{what} {path} is a directory, not a file")
    if not stat.S_ISREG(status.st_mode):
        raise DataError(f"{what} {path} is not a regular file")
    if status.st_size == 0:
        raise DataError(f"{path} is empty; it needs a {header}")
    if status.st_size > limit:
        raise DataError(f"{what} {path} is larger than {limit // 2**20} MiB")


def _read_fast(path: Path, usecols: list[int]) -> numpy.ndarray | None:
    """The data rows' columns ``usecols`` as one ``(rows, len(usecols))`` float64 array.

    ``None`` when NumPy's reader refuses the file or finds a value that is not finite: the
    exact reader then finds the row and column to name. What it accepts, the exact reader
    accepts with the same values (both parse with the C library's correctly rounded
    conversion; neither takes ``1_000`` or non-ASCII digits).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data": the exact reader says it
            table = numpy.loadtxt(
                path,
                dtype=numpy.float64,
                delimiter=",",
                comments=None,
                skiprows=1,
                usecols=usecols,
                quotechar='"',
                ndmin=2,
                encoding="utf-8-sig",
            )
    except (ValueError, UnicodeError, OSError):
        return None
    if table.shape[0] == 0 or not numpy.isfinite(table).all():
        return None
    return table


#: A number as a CSV cell may write it: plain decimal ASCII, optional sign and exponent.
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_NOT_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.ASCII | re.IGNORECASE)


def _read_exact(path: Path, index: dict[str, int]) -> dict[str, numpy.ndarray]:
    """The columns ``index`` of the data rows, cell by cell; errors name the row and column.

    Rows stream from the file into 8-byte ``array`` buffers: no list of every row.
    """
    values = {c: array.array("d") for c in index}
    try:
        with path.open(newline="", encoding="utf-8-sig", errors="strict") as handle:
            reader = csv.reader(handle)
            next(reader, None)  # the header, read before
            for row in reader:
                number = reader.line_num
                if not any(cell.strip() for cell in row):
                    continue
                for c, k in index.items():
                    values[c].append(_cell(row[k].strip() if k < len(row) else "", path, number, c))
    except (csv.Error, UnicodeDecodeError) as error:
        raise DataError(f"{path} is not a readable CSV file: {error}") from None
    except OSError as error:
        raise DataError(f"CSV file {path} cannot be read: {error.strerror or error}") from None
    if not values or not next(iter(values.values())):
        raise DataError(f"{path} has a header but no data rows")
    return {c: numpy.frombuffer(v, dtype=numpy.float64) for c, v in values.items()}


def _cell(cell: str, path: Path, row: int, column: str) -> float:
    """The number a cell holds; a one-line error naming the row and column otherwise."""
    try:
        value = decimal_number(cell)
    except ValueError:
        raise DataError(f"{path}, row {row}, column {column!r}: {cell!r} is not a number") from None
    if not math.isfinite(value):
        raise DataError(f"{path}, row {row}, column {column!r}: {cell!r} is not finite")
    return value


def decimal_number(text: str) -> float:
    """The float a text writes in plain decimal ASCII, as CSV cells and numeric options do.

    Python's ``float`` also reads ``1_000``, other scripts' digits (``١٢``) and surrounding
    whitespace; these are refused. ``inf`` and ``nan`` are read (callers refuse them by name).

    Raises:
        ValueError: The text is not such a number.

    Example:
        >>> decimal_number("-1.5e3"), decimal_number("inf")
        (-1500.0, inf)
        >>> decimal_number("1_000")
        Traceback (most recent call last):
        ...
        ValueError: '1_000' is not a number
    """
    if not (_NUMBER.fullmatch(text) or _NOT_FINITE.fullmatch(text)):
        raise ValueError(f"{text[:40]!r} is not a number")
    return float(text)


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
