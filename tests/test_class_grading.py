"""A class graded at once (issue 14, item 4): every row graded, a summary, a gradebook CSV."""

from __future__ import annotations

import csv
import json
import random

import pytest

from symgd import cli
from symgd.define import linear_regression
from symgd.derivation import derive
from symgd.verify import check_class, grading
from symgd.verify.report import GRADES

LINEAR = derive(linear_regression())
_SEED = ["check", "(y - yhat)**2/2", "--params", "w,b", "--data", "x,y", "--define", "yhat=w*x+b"]

#: Answers students give: (text, verdict, mistake, a fragment of the gradebook reason).
POOL = {
    "w": [
        ("x*(w*x + b - y)", "correct", None, ""),
        ("Sum((w*x_i + b - y_i)*x_i, i)/m", "correct", None, ""),
        ("(y - w*x - b)*x", "wrong", "wrong sign", "sign"),
        ("cos(w*x)*y", "wrong", "no hint", ""),
        ("(w*x+b-y)x", "unreadable", None, "insert `*` at column 10"),
        ("ln(x)*(w*x + b - y)", "unreadable", None, "write `log`"),
        ("", "missing", None, ""),
    ],
    "b": [
        ("w*x + b - y", "correct", None, ""),
        ("y - w*x - b", "wrong", "wrong sign", "sign"),
        ("(w*x + b \u2212 y)", "unreadable", None, "use `-` for"),
        ("__import__('os').system('true')", "unreadable", None, "not allowed"),
    ],
}
_WEIGHTS = {"w": [5, 3, 3, 1, 1, 1, 1], "b": [6, 2, 1, 1]}


def _class(size: int, seed: int) -> list[tuple[str, dict[str, int]]]:
    """A seeded class: each student's choice of answer (an index into POOL) per parameter."""
    rng = random.Random(seed)
    return [
        (f"s{k:03d}", {p: rng.choices(range(len(POOL[p])), _WEIGHTS[p])[0] for p in POOL})
        for k in range(size)
    ]


def _expected_summary(chosen) -> dict:
    verdicts = {p: dict.fromkeys(GRADES, 0) for p in POOL}
    mistakes: dict[str, dict[str, int]] = {p: {} for p in POOL}
    all_correct = 0
    for _, picks in chosen:
        for p, index in picks.items():
            _, verdict, mistake, _ = POOL[p][index]
            verdicts[p][verdict] += 1
            if mistake:
                mistakes[p][mistake] = mistakes[p].get(mistake, 0) + 1
        all_correct += all(POOL[p][i][1] == "correct" for p, i in picks.items())
    return {
        "students": len(chosen),
        "all correct": all_correct,
        "verdicts": verdicts,
        "mistakes": mistakes,
    }


@pytest.fixture(scope="module")
def graded():
    chosen = _class(200, seed=14)
    answers = [(s, {p: POOL[p][i][0] for p, i in picks.items()}) for s, picks in chosen]
    return chosen, check_class(LINEAR, answers)


def test_summary_counts_are_exact(graded):
    chosen, report = graded
    expected = _expected_summary(chosen)
    summary = report.summary()
    assert summary["verdicts"] == expected["verdicts"]
    assert {p: dict(m) for p, m in summary["mistakes"].items()} == expected["mistakes"]
    assert summary["students"] == 200 and summary["all correct"] == expected["all correct"]
    # The seeded class really is mixed: every verdict of the pool occurs.
    assert all(expected["verdicts"][p][v] > 0 for p in POOL for _, v, _, _ in POOL[p])


def test_gradebook_rows_are_exact(graded):
    chosen, report = graded
    rows = report.gradebook()
    assert rows[0] == ["student", "w", "b", "w reason", "b reason", "total correct"]
    assert len(rows) == 201
    for row, (student, picks) in zip(rows[1:], chosen):
        w, b = POOL["w"][picks["w"]], POOL["b"][picks["b"]]
        total = (w[1] == "correct") + (b[1] == "correct")
        assert row[:3] + row[5:] == [student, w[1], b[1], str(total)]
        assert w[3] in row[3] and b[3] in row[4]
        assert "\n" not in row[3] + row[4]


def test_each_distinct_answer_is_checked_once(monkeypatch):
    calls = []
    original = grading.check_answer

    def counting(derivation, param, text, **options):
        calls.append((param, text))
        return original(derivation, param, text, **options)

    monkeypatch.setattr(grading, "check_answer", counting)
    answers = [(f"s{k}", {"w": "x*(w*x + b - y)", "b": "y - w*x - b"}) for k in range(50)]
    report = check_class(LINEAR, answers)
    assert len(calls) == 2 and len(report.students) == 50


def test_cli_grades_the_whole_class(graded, tmp_path, capsys):
    chosen, report = graded
    answers = tmp_path / "class.csv"
    with answers.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["student", "w", "b"])
        for student, picks in chosen:
            writer.writerow([student, POOL["w"][picks["w"]][0], POOL["b"][picks["b"]][0]])
    gradebook = tmp_path / "gradebook.csv"
    argv = _SEED + ["--answers", str(answers)]
    assert cli.main(argv + ["--format", "csv", "-o", str(gradebook)]) == 1
    with gradebook.open(newline="", encoding="utf-8") as file:
        assert list(csv.reader(file)) == report.gradebook()
    assert cli.main(argv + ["--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["verdicts"] == report.summary()["verdicts"]
    first = POOL["w"][chosen[0][1]["w"]][1]
    assert data["students"]["s000"]["w"]["verdict"] == first
    assert cli.main(argv) == 1
    out = capsys.readouterr().out
    assert "summary: 200 students" in out and "mistake w: wrong sign:" in out


def test_cli_all_correct_exits_0(tmp_path, capsys):
    answers = tmp_path / "class.csv"
    answers.write_text("student,w,b\nann,(w*x + b - y)*x,w*x + b - y\n", encoding="utf-8")
    assert cli.main(_SEED + ["--answers", str(answers), "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "student,w,b,w reason,b reason,total correct",
        "ann,correct,correct,,,2",
    ]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "not found"),
        ("name,w\nann,x\n", "no column 'student'"),
        ("student,q\nann,x\n", "'q' is not a parameter"),
    ],
)
def test_cli_bad_file_exits_2(content, fragment, tmp_path, capsys):
    answers = tmp_path / "class.csv"
    if content is not None:
        answers.write_text(content, encoding="utf-8")
    assert cli.main(_SEED + ["--answers", str(answers)]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1


def test_cli_csv_needs_answers(capsys):
    assert cli.main(_SEED + ["--grad", "b=w*x + b - y", "--format", "csv"]) == 2
    assert "--answers" in capsys.readouterr().err
