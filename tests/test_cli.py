"""The symgd command (``symgd.cli.app``, ``options``, ``scalar``): exit codes 0/1/2, one-line
errors, JSON output, for ``demo``, ``derive``, ``train`` and ``gradcheck``."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from symgd.cli import main

SEED = ["(y - yhat)**2/2", "--params", "w,b", "--data", "x,y", "--define", "yhat=w*x+b"]


@pytest.fixture
def seed_csv(seed_csv_of):
    return seed_csv_of(50)


def run(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def train_args(csv, *extra):
    """``symgd train`` of the seed objective on ``csv`` from w = b = 0."""
    return ["train", *SEED, "--csv", str(csv), "--init", "w=0,b=0", *map(str, extra)]


def test_help_lists_every_command_group(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    commands = ["demo", "derive", "train", "gradcheck", "check", "net", "notes", "plot-path"]
    assert "{" + ",".join(commands) + "}" in out


def test_derive_json_has_seed_formulas(capsys):
    code, out, err = run(["derive", *SEED, "--format", "json"], capsys)
    assert code == 0 and err == ""
    payload = json.loads(out)
    from symgd.parse import parse_expression

    w = parse_expression("x*(w*x + b - y)")
    assert (parse_expression(payload["gradient"]["w"]) - w).expand() == 0
    assert (
        parse_expression(payload["gradient"]["b"]) - parse_expression("w*x + b - y")
    ).expand() == 0
    assert "steps" in payload and payload["latex"].startswith("\\begin{align*}")


@pytest.mark.parametrize("fmt", ["text", "latex", "markdown"])
def test_derive_formats(fmt, capsys):
    code, out, _ = run(["derive", *SEED, "--format", fmt], capsys)
    assert code == 0 and out.strip()


def test_derive_document_to_file(tmp_path, capsys, pdflatex):
    target = tmp_path / "seed.tex"
    code, _, _ = run(
        ["derive", *SEED, "--format", "latex", "--document", "-o", str(target)], capsys
    )
    assert code == 0
    pdflatex(target.read_text(), name="seed-cli")


def test_train_json(seed_csv, capsys):
    code, out, _ = run(
        train_args(seed_csv, "--lr", 0.5, "--epochs", 300, "--format", "json"), capsys
    )
    assert code == 0
    payload = json.loads(out)
    assert set(payload["params"]) == {"w", "b"} and len(payload["loss"]) == 301
    assert abs(payload["params"]["w"] - 2) < 0.2


def test_train_divergence_exit_1(seed_csv, capsys):
    code, _, err = run(train_args(seed_csv, "--lr", 40, "--epochs", 100), capsys)
    assert code == 1 and "diverged" in err and "try" in err


def test_gradcheck(seed_csv, capsys):
    code, out, _ = run(
        ["gradcheck", *SEED, "--csv", str(seed_csv), "--at", "w=1,b=2", "--format", "json"], capsys
    )
    assert code == 0 and json.loads(out)["passed"] is True


BAD = [
    ["derive", "__import__('os').system('echo hacked')", "--params", "w"],
    ["derive", "(y-w*x)**2", "--params", "w", "--data", "x,y", "--define", "yhat"],
    ["derive", "(y-w*x)**2", "--params", "w,", "--data", "x,y"],
    ["derive", "(y-w*x)**2", "--params", "q", "--data", "x,y"],
    ["derive", "(y-w*x)**2", "--params", "w", "--data", "x"],
    ["derive", "x**", "--params", "x"],
    ["train", *SEED, "--csv", "/nonexistent.csv", "--init", "w=0,b=0", "--lr", "0.1"],
    ["train", *SEED, "--csv", "SEEDCSV", "--init", "w=0,b=0,c=1", "--lr", "0.1"],
    ["train", *SEED, "--csv", "SEEDCSV", "--init", "w=0,b=0", "--lr", "-1"],
    ["train", *SEED, "--csv", "SEEDCSV", "--init", "w=0,b=0", "--lr", "abc"],
    ["gradcheck", *SEED, "--csv", "SEEDCSV", "--at", "w=nan,b=0"],
    ["nonsense"],
    [],
]


@pytest.mark.parametrize("args", BAD, ids=lambda a: " ".join(a)[:40])
def test_bad_input_is_one_line_exit_2(args, seed_csv, capsys):
    args = [str(seed_csv) if a == "SEEDCSV" else a for a in args]
    code, out, err = run(args, capsys)
    assert code == 2
    assert err.startswith("symgd: error:") and err.count("\n") == 1, err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("x,y\n1,2\n3,abc\n", "row 3"),
        ("x,z\n1,2\n", "no column 'y'"),
        ("", "empty"),
        ("x,y\n", "no data rows"),
        ("x,y\n1,inf\n", "not finite"),
    ],
)
def test_bad_csv(tmp_path, capsys, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    code, _, err = run(train_args(path, "--lr", 0.1), capsys)
    assert code == 2 and message in err


def test_demo_writes_outputs(tmp_path, capsys):
    code, out, _ = run(["demo", "-o", str(tmp_path)], capsys)
    assert code == 0
    assert "gradient check PASSED" in out and "largest difference" in out
    for name in ["linear_regression.tex", "linear_regression.md", "loss_curve.png"]:
        assert (tmp_path / name).stat().st_size > 100


def test_console_script_runs_without_traceback(tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    result = subprocess.run(
        [sys.executable, "-m", "symgd.cli", "derive", "1/0", "--params", "w"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr


def _strict_json(text):
    """JSON as a strict parser reads it: ``Infinity`` and ``NaN`` are not JSON."""
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))


def test_json_has_no_infinity_or_nan(seed_csv, capsys):
    # Finite differences overflow at w = 1e154: the numeric values are nan.
    code, out, _ = run(
        ["gradcheck", *SEED, "--csv", str(seed_csv), "--at", "w=1e154,b=0", "--format", "json"],
        capsys,
    )
    payload = _strict_json(out)
    assert code == 1 and payload["parameters"][0]["numeric"] is None
    assert payload["non_finite"]["/parameters/0/numeric"] == "nan"


def test_train_json_of_a_diverged_run_is_strict(seed_csv, capsys, monkeypatch):
    # The input: the loss is inf from the start.
    L = ["(y - w*x - b)**2/2", "--params", "w,b", "--data", "x,y"]
    args = ["train", *L, "--csv", str(seed_csv), "--init", "w=1e200", "--format", "json"]
    code, out, err = run([*args, "--lr", "0.1"], capsys)
    assert code in (1, 2) and err.count("\n") == 1 and (not out or _strict_json(out))
    # A run whose history ends in inf (as runs did before the runner stopped them earlier).
    from symgd.cli import scalar
    from symgd.training import train

    def overflowing(*a, **k):
        result = train(*a, **k)
        history = (*result.loss_history, float("inf"))
        return dataclasses.replace(result, loss_history=history, diverged=True)

    monkeypatch.setattr(scalar, "train", overflowing)
    code, out, _ = run(train_args(seed_csv, "--lr", 0.1, "--epochs", 2, "--format", "json"), capsys)
    payload = _strict_json(out)
    assert code == 1 and payload["loss"][-1] is None and payload["final_loss"] is None
    assert payload["non_finite"] == {"/loss/3": "inf", "/final_loss": "inf"}


def test_broken_pipe_exits_quietly(tmp_path):
    with subprocess.Popen(
        [sys.executable, "-m", "symgd.cli", "derive", *SEED, "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    ) as reader:
        reader.stdout.close()  # as `symgd ... | head -0` does
        code = reader.wait(timeout=120)
        stderr = reader.stderr.read()
    assert code == 141 and stderr == b""


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--tolerance", "nan", "argument --tolerance: 'nan' is not a finite number"),
        ("--tolerance", "-1", "argument --tolerance: -1 must be at least 0"),
        ("--lr", "inf", "argument --lr: 'inf' is not a finite number"),
        ("--lr", "1_0", "argument --lr: '1_0' is not a number"),
        ("--clip-norm", "nan", "argument --clip-norm: 'nan' is not a finite number"),
        ("--clip-value", "-2", "argument --clip-value: -2 must be greater than 0"),
        ("--val-split", "1", "argument --val-split: 1 must be less than 1"),
        ("--l2", "nan", "argument --l2: 'nan' is not a finite number"),
        ("--epochs", "1e3", "argument --epochs: '1e3' is not a whole number"),
        ("--batch-size", "0", "argument --batch-size: 0 must be at least 1"),
    ],
)
def test_numeric_options_are_finite_and_in_range(seed_csv, capsys, option, value, message):
    args = train_args(seed_csv, "--lr", 0.1, "--epochs", 2)
    code, _, err = run([*args, option, value], capsys)
    assert code == 2 and message in err and err.count("\n") == 1


def test_plot_into_a_missing_folder_is_refused_before_training(seed_csv, tmp_path, capsys):
    target = tmp_path / "nonexistent" / "dir" / "x.png"
    code, out, err = run(train_args(seed_csv, "--lr", 0.1, "--plot", target), capsys)
    assert code == 2 and out == ""
    assert f"the folder {target.parent} does not exist" in err
    assert not target.parent.exists()


# A parameter read only through a step gets the gradient 0 everywhere (piecewise losses train).
@pytest.mark.parametrize(
    "loss", ["Heaviside(w*x + b - y)", "Piecewise((1, w*x + b > y), (0, True))"]
)
@pytest.mark.parametrize("command", ["train", "gradcheck", "check"])
def test_a_step_in_the_loss_is_refused(seed_csv, capsys, command, loss):
    args = [command, loss, "--params", "w,b", "--data", "x,y"]
    extra = {
        "train": ["--csv", str(seed_csv), "--init", "w=0,b=0", "--lr", "0.1"],
        "gradcheck": ["--csv", str(seed_csv), "--at", "w=0,b=0"],
        "check": ["--grad", "w=0"],
    }[command]
    code, _, err = run([*args, *extra], capsys)
    assert code == 2 and "whose derivative is 0 wherever" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xef\xbb\xbfx,y\n1,2\n2,3.5\n", None),
        (b"x,x,y\n1,2,3\n", "names the column 'x' twice"),
        (b"x,y\n1_000,2\n", "row 2, column 'x': '1_000' is not a number"),
        ("x,y\n١٢,2\n".encode(), "row 2, column 'x': '١٢' is not a number"),
    ],
)
def test_train_reads_csv_like_net_train(tmp_path, capsys, content, message):
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    code, _, err = run(train_args(path, "--lr", 0.1, "--epochs", 2), capsys)
    assert (code, err) == (0, "") if message is None else (code == 2 and message in err)


@pytest.mark.parametrize("kind", ["directory", "fifo", "/dev/null"])
def test_csv_that_is_not_a_regular_file(tmp_path, capsys, kind):
    path = tmp_path / "data.csv"
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path = "/dev/null"
    code, _, err = run(train_args(path, "--lr", 0.1), capsys)
    expected = "is a directory" if kind == "directory" else "is not a regular file"
    assert code == 2 and expected in err and "not found" not in err
