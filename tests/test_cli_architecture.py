"""``symgd net derive --arch`` and ``symgd net train --arch`` (``symgd.cli.architecture``):
one-line errors, formats, the digits CNN, the sine RNN against its persistence baseline."""

from __future__ import annotations

import json

import numpy
import pytest

import symgd.cli

CNN = "conv(8,3),relu,maxpool(2),flatten,dense(10)"


def run(args, capsys):
    code = symgd.cli.main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["net", "derive", "--arch", CNN], "--arch needs --input SHAPE"),
        (["net", "derive", "--arch", CNN, "--layers", "2,3,1"], "not both"),
        (["net", "derive"], "--layers 64,32,10"),
        (["net", "derive", "--arch", CNN, "--input", "1x8x8", "--activation", "relu"], "belongs"),
        (["net", "derive", "--layers", "2,3,1", "--input", "2"], "--input belongs to --arch"),
        (["net", "derive", "--arch", "conv(8,9),flatten,dense(10)", "--input", "1x8x8"], "kernel"),
        (["net", "derive", "--arch", "conv(8,3),dense(10)", "--input", "1x8x8"], "flatten"),
        (["net", "derive", "--arch", "dense(0)", "--input", "4"], "positive"),
        (["net", "derive", "--arch", "dense(3),wobble", "--input", "4"], "unknown layer"),
        (["net", "derive", "--arch", "rnn(4),dense(1)", "--input", "1x8x8"], "sequence"),
        (["net", "derive", "--arch", "dense(3)", "--input", "8xq"], "input shape"),
        (["net", "derive", "--arch", "conv(2,3)", "--input", "1x8x8"], "flatten and dense"),
        (["net", "derive", "--arch", "dense(3", "--input", "4"], "'(' without ')'"),
        (
            ["net", "train", "--dataset", "digits", "--arch", CNN, "--input", "1x7x7", "--lr", "1"],
            "--input 1x7x7 holds 49 numbers",
        ),
        (
            ["net", "train", "--dataset", "digits", "--arch", "dense(3)", "--lr", "1"],
            "one unit per class",
        ),
        (
            ["net", "train", "--dataset", "sine", "--arch", "rnn(4),dense(1)", "--lr", "1"]
            + ["--backend", "jax"],
            "--arch networks run on NumPy",
        ),
    ],
)
def test_bad_architectures_get_one_line(args, message, capsys):
    code, out, err = run(args, capsys)
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert message in err


@pytest.mark.parametrize("fmt", ["text", "latex", "markdown", "json"])
def test_derive_formats(fmt, capsys):
    arch = "conv(2,2),relu,maxpool(2),flatten,dense(3)"
    code, out, err = run(
        ["net", "derive", "--arch", arch, "--input", "1x5x5", "--format", fmt], capsys
    )
    assert code == 0 and err == "" and out.strip()
    if fmt == "json":
        payload = json.loads(out)
        assert payload["architecture"] == arch and payload["input"] == [1, 5, 5]
        assert [layer["output_shape"] for layer in payload["layers"]] == [
            [2, 4, 4],
            [2, 4, 4],
            [2, 2, 2],
            [8],
            [3],
        ]
        assert payload["layers"][0]["parameters"] == {"K1": [2, 1, 2, 2], "b1": [2]}
        assert payload["parameters"] == 2 * 4 + 2 + 3 * 8 + 3


def test_layers_is_one_spelling_of_a_dense_arch(capsys):
    common = ["--dataset", "digits", "--loss", "softmax-cross-entropy", "--lr", "0.1"]
    common += ["--epochs", "3", "--batch-size", "64", "--format", "json"]
    dense = ["net", "train", "--layers", "64,16,10", "--activation", "tanh", *common]
    arch = ["net", "train", "--arch", "dense(16),tanh,dense(10)", "--input", "64", *common]
    (code1, out1, _), (code2, out2, _) = run(dense, capsys), run(arch, capsys)
    assert code1 == code2 == 0
    first, second = json.loads(out1), json.loads(out2)
    numpy.testing.assert_allclose(first["loss"], second["loss"], rtol=1e-12)
    assert first["test_accuracy"] == second["test_accuracy"]


def test_cnn_on_digits_checks_its_gradient_and_learns(capsys):
    code, out, err = run(
        ["net", "train", "--dataset", "digits", "--arch", CNN, "--epochs", "3"]
        + ["--batch-size", "64", "--optimizer", "adam", "--lr", "0.01", "--check"]
        + ["--format", "json"],
        capsys,
    )
    assert code == 0, err
    payload = json.loads(out)
    assert payload["input"] == [1, 8, 8] and payload["parameters"] == 810
    assert payload["gradient_check"]["passed"]
    assert payload["test_accuracy"] > 0.9


def test_rnn_on_sine_beats_the_persistence_baseline_fivefold(capsys):
    code, out, err = run(
        ["net", "train", "--dataset", "sine", "--arch", "rnn(16),dense(1)", "--epochs", "20"]
        + ["--batch-size", "32", "--optimizer", "adam", "--lr", "0.01", "--clip-norm", "1"]
        + ["--check", "--format", "json"],
        capsys,
    )
    assert code == 0, err
    payload = json.loads(out)
    assert payload["input"] == [20, 1] and payload["loss_function"] == "mse"
    assert payload["gradient_check"]["passed"]
    assert payload["baseline_mse"] > 5 * payload["test_mse"]  # measured: 11x after 20 epochs


def test_batch_norm_network_trains_and_predicts_with_running_statistics(capsys):
    code, out, err = run(
        ["net", "train", "--dataset", "digits", "--arch", "dense(32),batchnorm,sigmoid,dense(10)"]
        + ["--epochs", "5", "--batch-size", "64", "--optimizer", "adam", "--lr", "0.01"]
        + ["--check", "--format", "json"],
        capsys,
    )
    assert code == 0, err
    payload = json.loads(out)
    assert payload["gradient_check"]["passed"] and payload["test_accuracy"] > 0.9
