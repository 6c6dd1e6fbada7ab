"""``symgd.data``: CSV reading with one-line errors, seeded synthetic data, the digits split."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy
import pytest

from symgd.data import DataError, linear_data, read_csv, read_labelled_csv


def test_read_csv_named_and_all_columns(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text(" x , y \n1,2\n\n3,4.5\n")
    assert {k: v.tolist() for k, v in read_csv(path, ["y"]).items()} == {"y": [2.0, 4.5]}
    columns = read_csv(path)
    assert list(columns) == ["x", "y"] and columns["x"].dtype == numpy.float64


def test_read_labelled_csv_keeps_the_header_order(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,label,b\n1,0,2\n3,1,4\n")
    X, y, features = read_labelled_csv(path, "label")
    numpy.testing.assert_array_equal(X, [[1.0, 2.0], [3.0, 4.0]])
    assert y.tolist() == [0.0, 1.0] and features == ["a", "b"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "CSV file not found"),
        ("", "is empty; it needs a header row naming the columns"),
        ("x,z\n1,2\n", "has no column 'y' (columns: x, z)"),
        ("x,y\n", "has a header but no data rows"),
        ("x,y\n1,2\n3,abc\n", "row 3, column 'y': 'abc' is not a number"),
        ("x,y\n1,nan\n", "row 2, column 'y': 'nan' is not finite"),
    ],
)
def test_read_csv_errors_name_file_row_and_column(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataError, match=re.escape(message)) as error:
        read_csv(path, ["x", "y"])
    assert isinstance(error.value, ValueError) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("u,v\n1,2\n", "has no column 'label' (columns: u, v)"),
        ("label\n1\n", "no feature columns besides the target 'label'"),
    ],
)
def test_read_labelled_csv_errors(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=re.escape(message)):
        read_labelled_csv(path, "label")


def test_linear_data_is_seeded():
    first, second = linear_data(m=20, seed=3), linear_data(m=20, seed=3)
    numpy.testing.assert_array_equal(first["y"], second["y"])
    assert first["x"].shape == (20,) and numpy.all(numpy.abs(first["x"]) <= 1)


def test_read_csv_skips_a_byte_order_mark(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbfx,y\n1,2\n3,4\n")
    assert {k: v.tolist() for k, v in read_csv(path, ["x", "y"]).items()} == {
        "x": [1.0, 3.0],
        "y": [2.0, 4.0],
    }
    X, y, features = read_labelled_csv(path, "y")
    assert features == ["x"] and y.tolist() == [2.0, 4.0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("x,x,y\n1,2,3\n", "names the column 'x' twice in its header (columns: x, x, y)"),
        ("x,y\n1_000,2\n", "row 2, column 'x': '1_000' is not a number"),
        ("x,y\n1,٢\n", "row 2, column 'y': '٢' is not a number"),
        ("x,y\n١٢,2\n", "row 2, column 'x': '١٢' is not a number"),
        ("x,y\n1,２\n", "row 2, column 'y': '２' is not a number"),
        ("x,y\n1,2\n3,1e999\n", "row 3, column 'y': '1e999' is not finite"),
        ("x,y\n1,2\n,\n3,-Infinity\n", "row 4, column 'y': '-Infinity' is not finite"),
    ],
)
def test_read_csv_refuses_what_float_would_accept(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(message)):
        read_csv(path, ["x", "y"])


def test_read_csv_names_what_the_path_is(tmp_path):
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(DataError, match="folder.csv is a directory"):
        read_csv(tmp_path / "folder.csv")
    with pytest.raises(DataError, match="/dev/null is not a regular file"):
        read_csv("/dev/null")
    (tmp_path / "empty.csv").touch()
    with pytest.raises(DataError, match="empty.csv is empty"):
        read_csv(tmp_path / "empty.csv")
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)  # nobody writes to it: opening it would block for ever
    with pytest.raises(DataError, match="pipe.csv is not a regular file"):
        read_csv(fifo)


def test_fast_and_exact_readers_agree(tmp_path):
    # The exact reader runs when NumPy's refuses a line (here the blank-cell row).
    path = tmp_path / "data.csv"
    path.write_text('x,y,z\n1.5,"2",extra\n\n-3e-2,+4.,9\n')
    fast = read_csv(path, ["y", "x"])
    path.write_text('x,y,z\n1.5,"2",extra\n , \n-3e-2,+4.,9\n')
    exact = read_csv(path, ["y", "x"])
    assert list(fast) == list(exact) == ["y", "x"]
    for name in fast:
        assert fast[name].tolist() == exact[name].tolist()
    assert fast["x"].tolist() == [1.5, -0.03] and fast["y"].tolist() == [2.0, 4.0]


_PEAK = """
import sys, tracemalloc
from symgd.data import read_csv
tracemalloc.start()  # NumPy reports its array memory to tracemalloc too
columns = read_csv(sys.argv[1], ["x", "y"])
print(tracemalloc.get_traced_memory()[1], sum(c.nbytes for c in columns.values()))
"""


@pytest.mark.slow
def test_read_csv_peak_memory_is_about_the_arrays(tmp_path):
    # Before: csv rows as Python lists, 3.3 GB for 10**7 rows (about 20x the arrays).
    rows = 2 * 10**6
    path = tmp_path / "big.csv"
    values = numpy.random.default_rng(0).uniform(-1, 1, (rows, 2))
    with path.open("w") as handle:
        handle.write("x,y\n")
        numpy.savetxt(handle, values, fmt="%.6f", delimiter=",")
    result = subprocess.run(
        [sys.executable, "-c", _PEAK, str(path)], capture_output=True, text=True, check=True
    )
    peak, size = map(int, result.stdout.split())
    print(f"peak {peak / 2**20:.0f} MiB for {size / 2**20:.0f} MiB of arrays")
    assert size == rows * 2 * 8 and peak <= 2.5 * size
