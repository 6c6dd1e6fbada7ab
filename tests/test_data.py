"""``symgd.data``: CSV reading with one-line errors, seeded synthetic data, the digits split."""

from __future__ import annotations

import re

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
