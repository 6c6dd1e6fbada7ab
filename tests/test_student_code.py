"""Hostile and careless students' files through ``symgd check --python``: a verdict each.

Every file runs in a separate process (symgd.verify.sandbox); the grader's exit code and its
JSON output stay correct, each failure has a one-line reason, and a wrong answer is never
graded correct. Writing files is allowed (in a scratch directory that is deleted afterwards)
and does not affect the verdict.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from symgd import cli
from symgd.verify import check_answer
from symgd.verify.sandbox import StudentFunction, format_bytes, parse_size

_TIMEOUT = 4  # seconds; generous for a loaded machine, small enough to keep this file fast
_LOSS = ["check", "(w*x - y)**2/2", "--params", "w", "--data", "x,y"]
_CORRECT = "numpy.mean((w*x - y)*x)"

# (name, body of grad(w, x, y) or a whole file, verdict, words of the reason)
_HOSTILE = [
    (
        "patches numpy.allclose and math.isclose",
        "numpy.allclose = lambda *a, **k: True\n"
        "    numpy.isclose = lambda *a, **k: True\n"
        "    math.isclose = lambda *a, **k: True\n"
        "    return 0.0",
        "wrong",
        "numeric",
    ),
    ("sys.exit(0)", "sys.exit(0)", "undecided", "exited with status 0 before returning"),
    ("os._exit(0)", "os._exit(0)", "undecided", "exited with status 0 before returning"),
    ("exits at import", "FILE:import sys\nsys.exit(0)\n", "undecided", "exited with status 0"),
    ("endless loop", "while True:\n        pass", "undecided", f"timed out after {_TIMEOUT} s"),
    ("sleeps", "time.sleep(60)", "undecided", f"timed out after {_TIMEOUT} s"),
    (
        "prints 50 MB, then the right answer",
        f"sys.stdout.write('x' * 50_000_000)\n    sys.stderr.write('e' * 1000)\n"
        f"    return {_CORRECT}",
        "correct",
        "numeric",
    ),
    (
        "prints 50 MB, then a wrong answer",
        "print('y' * 50_000_000)\n    return 0.0",
        "wrong",
        "numeric",
    ),
    ("allocates 10 GB", "b = bytearray(10**10)\n    return 0.0", "undecided", "more than 1 GiB"),
    ("numpy.ones(10**9)", "return float(numpy.ones(10**9).sum())", "undecided", "more than 1 GiB"),
    ("returns complex", f"return {_CORRECT} + 0j", "undecided", "returned complex values"),
    ("returns NaN", "return float('nan')", "wrong", "non-finite"),
    ("wrong shape", "return numpy.ones(3)", "undecided", "returned shape (3,)"),
    ("returns a string", "return 'dJ/dw'", "undecided", "not numbers"),
    (
        "imports a missing module",
        "FILE:import numpy_for_students\n",
        "undecided",
        "could not import: ModuleNotFoundError",
    ),
    ("raises", "return 1 / 0", "undecided", "raised ZeroDivisionError: division by zero"),
    (
        "writes a file, then the right answer",
        f"open('answers.txt', 'w').write('correct')\n    return {_CORRECT}",
        "correct",
        "numeric",
    ),
    ("no such function", "FILE:def other(w):\n    return w\n", "undecided", "has no function"),
    ("unknown argument", "FILE:def grad(w, q):\n    return w\n", "undecided", "takes 'q'"),
    ("a correct answer", f"return {_CORRECT}", "correct", "numeric"),
]


def _student(tmp_path, body: str):
    path = tmp_path / "student.py"
    if body.startswith("FILE:"):
        path.write_text(body.removeprefix("FILE:"), encoding="utf-8")
    else:
        head = "import math, os, sys, time\nimport numpy\n\n\ndef grad(w, x, y):\n    "
        path.write_text(head + body + "\n", encoding="utf-8")
    return path


def _grade(capsys, arguments: list[str]) -> tuple[int, dict, float]:
    started = time.monotonic()
    status = cli.main([*_LOSS, *arguments, "--timeout", str(_TIMEOUT), "--format", "json"])
    elapsed = time.monotonic() - started
    captured = capsys.readouterr()
    assert len(captured.out) < 100_000 and len(captured.err) < 100_000  # no flood
    return status, json.loads(captured.out), elapsed


@pytest.mark.parametrize(
    ("body", "verdict", "reason"), [c[1:] for c in _HOSTILE], ids=[c[0] for c in _HOSTILE]
)
def test_hostile_student_file_gets_a_verdict(tmp_path, capsys, monkeypatch, body, verdict, reason):
    monkeypatch.chdir(tmp_path)
    path = _student(tmp_path, body)
    status, data, elapsed = _grade(capsys, ["--python", f"w={path}:grad"])
    check = data["parameters"]["w"]
    assert (check["verdict"], status, data["passed"]) == (
        verdict,
        int(verdict != "correct"),
        verdict == "correct",
    )
    assert reason in check["method"] and "\n" not in check["method"]
    assert elapsed < _TIMEOUT + 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["student.py"]  # scratch dir removed


def test_one_process_serves_every_parameter(tmp_path, capsys):
    runs = tmp_path / "runs.txt"
    path = tmp_path / "both.py"
    path.write_text(
        f"import numpy\nopen({str(runs)!r}, 'a').write('run\\n')\n\n\n"
        "def both(w, b, x, y):\n    r = w*x + b - y\n    return numpy.mean(r*x), numpy.mean(r)\n",
        encoding="utf-8",
    )
    status = cli.main(
        ["check", "(w*x + b - y)**2/2", "--params", "w,b", "--data", "x,y"]
        + ["--python", f"{path}:both", "--format", "json"]
    )
    data = json.loads(capsys.readouterr().out)
    assert status == 0 and data["passed"] and list(data["parameters"]) == ["w", "b"]
    assert runs.read_text(encoding="utf-8") == "run\n"  # both parameters, every point: one run


def test_a_wrong_part_of_a_tuple_is_wrong(tmp_path, capsys):
    path = tmp_path / "both.py"
    path.write_text(
        "import numpy\n\n\ndef both(w, b, x, y):\n    r = w*x + b - y\n"
        "    return numpy.mean(r*x), -numpy.mean(r)\n",
        encoding="utf-8",
    )
    status = cli.main(
        ["check", "(w*x + b - y)**2/2", "--params", "w,b", "--data", "x,y"]
        + ["--python", f"{path}:both", "--format", "json"]
    )
    parameters = json.loads(capsys.readouterr().out)["parameters"]
    assert status == 1
    assert (parameters["w"]["verdict"], parameters["b"]["verdict"]) == ("correct", "wrong")


def test_memory_limit_option(tmp_path, capsys):
    path = _student(
        tmp_path,
        "FILE:import numpy\nBIG = bytearray(300 * 2**20)\n\n\n"
        f"def grad(w, x, y):\n    return {_CORRECT}\n",
    )
    status, data, _ = _grade(capsys, ["--python", f"w={path}:grad", "--memory-limit", "200M"])
    method = data["parameters"]["w"]["method"]
    assert status == 1 and "used more than 200 MiB while importing" in method
    status, data, _ = _grade(capsys, ["--python", f"w={path}:grad", "--memory-limit", "2G"])
    assert status == 0


@pytest.mark.parametrize(
    "arguments",
    [
        ["--timeout", "0"],
        ["--timeout", "3600"],
        ["--timeout", "soon"],
        ["--memory-limit", "lots"],
        ["--memory-limit", "1M"],
    ],
)
def test_bad_limits_are_the_graders_bad_input(tmp_path, capsys, arguments):
    path = _student(tmp_path, f"return {_CORRECT}")
    assert cli.main([*_LOSS, "--python", f"w={path}:grad", *arguments]) == 2
    assert "give" in capsys.readouterr().err  # one line, exit 2: the grader's own bad input


def test_in_process_functions_stay_in_process():
    from symgd.define import objective
    from symgd.derivation import derive

    derivation = derive(objective("(w*x - y)**2/2", "w", "x,y"))
    seen = []

    def grad(w, x, y):
        seen.append(os.getpid())
        return (w * x - y) * x

    assert check_answer(derivation, "w", grad).verdict == "correct"
    assert set(seen) == {os.getpid()}


@pytest.mark.parametrize(
    ("text", "size", "shown"),
    [
        ("1G", 1 << 30, "1 GiB"),
        ("512M", 512 << 20, "512 MiB"),
        ("2GiB", 2 << 30, "2 GiB"),
        ("300", 300 << 20, "300 MiB"),
    ],
)
def test_sizes(text, size, shown):
    assert parse_size(text) == size and format_bytes(size) == shown


def test_student_function_label():
    assert StudentFunction("/a/b/student.py", "grad").label == "student.py:grad"
