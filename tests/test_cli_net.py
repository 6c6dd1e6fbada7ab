"""``symgd net derive`` and ``symgd net train`` (``symgd.cli.net``): formats, exit codes,
CSV data, digits accuracy."""

from __future__ import annotations

import json

import numpy
import pytest

import symgd.cli


def run(args, capsys):
    code = symgd.cli.main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("fmt", ["text", "latex", "markdown", "json"])
def test_derive_formats(fmt, capsys):
    code, out, err = run(
        [
            "net",
            "derive",
            "--layers",
            "2,3,1",
            "--activation",
            "tanh",
            "--loss",
            "mse",
            "--format",
            fmt,
        ],
        capsys,
    )
    assert code == 0 and err == "" and out.strip()
    if fmt == "json":
        payload = json.loads(out)
        assert payload["output_error"] == "a - y"
        assert payload["activation_derivative_in_output"] == "1 - a**2"


def test_derive_expanded_json(capsys):
    code, out, _ = run(
        [
            "net",
            "derive",
            "--layers",
            "2,2,1",
            "--activation",
            "sigmoid",
            "--expanded",
            "--format",
            "json",
        ],
        capsys,
    )
    assert code == 0
    expanded = json.loads(out)["expanded"]
    assert len(expanded) == 9 and "w^{(1)}_{12}" in expanded


def test_derive_document_compiles(tmp_path, capsys, pdflatex):
    target = tmp_path / "net.tex"
    code, _, _ = run(
        [
            "net",
            "derive",
            "--layers",
            "2,2,1",
            "--expanded",
            "--format",
            "latex",
            "--document",
            "-o",
            str(target),
        ],
        capsys,
    )
    assert code == 0
    pdflatex(target.read_text(), name="net-cli")


@pytest.mark.parametrize(
    "args, message",
    [
        (["net", "derive", "--layers", "2,x,1"], "layer size 'x'"),
        (["net", "derive", "--layers", "2,3,1", "--activation", "tahn"], "unknown activation"),
        (
            ["net", "derive", "--layers", "2,3,1", "--activation", "__import__('os')"],
            "unknown function",
        ),
        (["net", "derive", "--layers", "2,3,1", "--loss", "hinge"], "unknown loss"),
        (["net", "derive", "--layers", "9,9,9", "--expanded"], "more than 60"),
        (
            ["net", "train", "--dataset", "digits", "--layers", "10,10", "--lr", "0.1"],
            "64 features",
        ),
        (["net", "train", "--csv", "nowhere.csv", "--layers", "2,1", "--lr", "0.1"], "--target"),
        (["net", "train", "--layers", "2,1", "--lr", "0.1"], "required"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, message, capsys):
    code, out, err = run(args, capsys)
    assert code == 2
    assert err.startswith("symgd: error:") and err.count("\n") == 1 and message in err


@pytest.fixture
def blobs_csv(tmp_path):
    rng = numpy.random.default_rng(0)
    labels = rng.integers(0, 3, 150)
    centres = numpy.array([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])
    points = centres[labels] + 0.4 * rng.standard_normal((150, 2))
    path = tmp_path / "blobs.csv"
    rows = ["u,v,label"] + [f"{float(u)!r},{float(v)!r},{k}" for (u, v), k in zip(points, labels)]
    path.write_text("\n".join(rows) + "\n")
    return path


def blobs_args(csv, layers, *extra):
    """``symgd net train`` of a softmax classifier on the blobs CSV."""
    return [
        "net", "train", "--csv", str(csv), "--target", "label", "--layers", layers,
        "--loss", "softmax-cross-entropy", "--lr", "0.5", *extra,
    ]  # fmt: skip


def test_train_on_csv(blobs_csv, capsys):
    code, out, err = run(
        blobs_args(
            blobs_csv,
            "2,8,3",
            "--epochs",
            "40",
            "--batch-size",
            "16",
            "--check",
            "--format",
            "json",
        ),
        capsys,
    )
    assert code == 0, err
    payload = json.loads(out)
    assert payload["gradient_check"]["passed"] and payload["gradient_check"]["method"] == "central"
    assert payload["test_accuracy"] >= 0.9
    assert payload["loss"][-1] < payload["loss"][0]


def test_train_csv_with_labels_outside_the_output_layer(blobs_csv, capsys):
    code, _, err = run(blobs_args(blobs_csv, "2,8,2"), capsys)
    assert code == 2 and "0..1" in err


@pytest.mark.parametrize(
    ("content", "target", "message"),
    [
        ("u,v,label\n1,2,0\n", "class", "no column 'class' (columns: u, v, label)"),
        ("label\n0\n1\n", "label", "no feature columns besides the target 'label'"),
        ("u,label\n1,cat\n", "label", "row 2, column 'label': 'cat' is not a number"),
        ("", "label", "is empty; it needs a header row naming the columns"),
    ],
)
def test_bad_csv_exits_2_with_one_line(tmp_path, capsys, content, target, message):
    path = tmp_path / "data.csv"
    path.write_text(content)
    args = ["net", "train", "--csv", str(path), "--target", target, "--layers", "1,1", "--lr", "1"]
    code, _, err = run(args, capsys)
    assert code == 2 and err.count("\n") == 1 and message in err, err


def test_train_mse_reports_the_test_error(tmp_path, capsys):
    x = numpy.linspace(-1, 1, 40)
    path = tmp_path / "line.csv"
    path.write_text("x,y\n" + "".join(f"{float(u)!r},{float(2 * u + 1)!r}\n" for u in x))
    args = ["net", "train", "--csv", str(path), "--target", "y", "--layers", "1,1", "--lr", "0.5"]
    code, out, err = run([*args, "--epochs", "200", "--format", "json"], capsys)
    assert code == 0, err
    payload = json.loads(out)
    assert 0 <= payload["test_mse"] < 1e-6 and "test_accuracy" not in payload
    code, out, _ = run(args, capsys)
    assert code == 0 and "test mse: " in out


@pytest.mark.slow
def test_train_digits_reaches_95_percent(capsys):
    code, out, err = run(
        [
            "net",
            "train",
            "--dataset",
            "digits",
            "--layers",
            "64,32,10",
            "--activation",
            "tanh",
            "--loss",
            "softmax-cross-entropy",
            "--epochs",
            "50",
            "--batch-size",
            "64",
            "--lr",
            "0.1",
            "--format",
            "json",
        ],
        capsys,
    )
    assert code == 0, err
    payload = json.loads(out)
    assert payload["test_accuracy"] >= 0.95
    assert len(payload["loss"]) == 51


@pytest.mark.parametrize(
    ("option", "activation"),
    [
        ("--activation", "Heaviside(z)"),
        ("--activation", "sign(z)"),
        ("--activation", "z*Heaviside(z)"),
        ("--output-activation", "sign(z)"),
    ],
)
def test_step_activation_is_refused_before_compiling(blobs_csv, capsys, option, activation):
    # Its derivative is 0 wherever it is defined: no signal for gradient descent.
    args = blobs_args(blobs_csv, "2,4,3", "--epochs", "1")
    if option == "--output-activation":
        args = [a for a in args if a not in ("--loss", "softmax-cross-entropy")]
    code, out, err = run([*args, option, activation], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert f"{option} {activation}, whose derivative is 0 wherever it is defined" in err


def test_a_network_too_large_for_memory_is_refused_before_allocating(capsys):
    args = ["net", "train", "--dataset", "digits", "--layers", "64,100000,100000,10"]
    code, out, err = run([*args, "--lr", "0.1", "--epochs", "1"], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "10,007,600,010 parameters" in err and "GiB of memory" in err


def test_memory_estimate_counts_the_optimiser_state():
    from symgd.cli.network_runs import memory_needed
    from symgd.define import network

    net = network("64,32,10")
    sgd, adam = (memory_needed(net, 100, 10, name) for name in ("sgd", "adam"))
    assert adam - sgd == 2 * 8 * net.parameter_count
