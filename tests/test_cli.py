"""The symgd command (``symgd.cli.app``, ``options``, ``scalar``): exit codes 0/1/2, one-line
errors, JSON output, for ``demo``, ``derive``, ``train`` and ``gradcheck``."""

from __future__ import annotations

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
    ["train", *SEED, "--csv", "SEEDCSV", "--init", "w=0", "--lr", "0.1"],
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
