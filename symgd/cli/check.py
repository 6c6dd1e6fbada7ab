"""The ``symgd check`` command: verdicts on hand-computed gradients.

``--grad``, ``--latex`` and ``--answers`` text goes through the safe parser only. ``--python
FILE.py:FUNC`` imports the student's file and runs its code, by design, as a test runner does:
use it only on files you are willing to run.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from symgd.cli.options import (
    UsageError,
    add_format_argument,
    add_objective_arguments,
    count,
    json_text,
    print_report,
    read_objective,
    refuse_steps,
)
from symgd.data import csv_header, read_csv_rows
from symgd.derivation import Derivation, derive
from symgd.parse import ParseError, parse_name
from symgd.verify import check_answers, read_answer, split_function

__all__ = ["register"]

_MAX_ANSWERS_BYTES = 16 * 1024 * 1024


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``symgd check`` to the sub-commands."""
    check = commands.add_parser(
        "check",
        help="check hand-computed gradients: verdict, counterexample, hint",
        description=(
            "Check hand-computed gradients against the derivation. --grad, --latex and "
            "--answers are read by the safe parser; --python imports FILE.py and RUNS its "
            "code (as a test runner does)."
        ),
    )
    add_objective_arguments(check)
    check.add_argument(
        "--grad",
        action="append",
        default=[],
        metavar='w="EXPR"',
        help="an answer for one parameter, SymPy syntax (LaTeX with --latex); repeatable",
    )
    check.add_argument("--latex", action="store_true", help="the --grad/--answers text is LaTeX")
    check.add_argument(
        "--python",
        action="append",
        default=[],
        metavar="[w=]FILE.py:FUNC",
        help="a NumPy gradient function; RUNS the file's code. Without 'w=' it returns every "
        "gradient (tuple in parameter order, or dict)",
    )
    check.add_argument(
        "--answers",
        metavar="FILE.csv",
        help="a class at once: columns student and one per parameter",
    )
    add_format_argument(check)
    check.add_argument(
        "--seed", type=count(at_least=0), default=0, help="seed of the random points"
    )
    check.set_defaults(run=_cmd_check)


def _cmd_check(args: argparse.Namespace) -> int:
    objective_ = read_objective(args)
    refuse_steps(objective_)  # the verdicts evaluate the gradient
    derivation = derive(objective_)
    params = [p.name for p in derivation.objective.params]
    form = "latex" if args.latex else "sympy"
    if args.answers:
        if args.grad or args.python:
            raise UsageError("--answers cannot be combined with --grad or --python")
        return _class(derivation, args, params, form)
    answers: dict = {}
    for item in args.grad:
        name, equals, text = item.partition("=")
        if not equals:
            raise UsageError(f'--grad {item!r} has no "="; write --grad w="(w*x + b - y)*x"')
        answers[_answer_name(name, params, "--grad", answers)] = text
    for item in args.python:
        name, equals, location = item.rpartition("=") if "=" in item else ("", "", item)
        function = _load(location)
        if equals:
            answers[_answer_name(name, params, "--python", answers)] = function
        else:
            for key, part in split_function(derivation, function).items():
                answers.setdefault(key, part)
    if not answers:
        raise UsageError('no answers given; use --grad w="...", --python or --answers')
    # Every text is parsed before any checking starts: hostile text stops everything (exit 2).
    for value in answers.values():
        if isinstance(value, str):
            read_answer(derivation, value, form=form)
    report = check_answers(derivation, answers, form=form, seed=args.seed)
    print_report(report, args.format)
    return 0 if report.passed else 1


def _answer_name(name: str, params: list[str], option: str, answers: dict) -> str:
    """The parameter an answer is for: one of ``params``, not answered before."""
    name = parse_name(name)
    if name not in params:
        raise UsageError(f"{option} names {name!r}, which is not a parameter ({', '.join(params)})")
    if name in answers:
        raise UsageError(f"two answers for {name!r}")
    return name


def _load(location: str):
    path_text, colon, function_name = location.rpartition(":")
    if not colon or not path_text.endswith(".py"):
        raise UsageError(f"--python {location!r}: write FILE.py:FUNCTION")
    path = Path(path_text)
    if not path.is_file():
        raise UsageError(f"Python file not found: {path}")
    spec = importlib.util.spec_from_file_location(f"symgd_answer_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)  # runs the student's file, by design (see --help)
    except Exception as error:
        raise UsageError(f"importing {path} failed: {type(error).__name__}: {error}") from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise UsageError(f"{path} has no function {function_name!r}")
    return function


def _class(derivation: Derivation, args: argparse.Namespace, params: list[str], form: str) -> int:
    path = Path(args.answers)
    rows = read_csv_rows(
        path,
        f"header: student,{','.join(params)}",
        what="answers file",
        limit=_MAX_ANSWERS_BYTES,
    )
    header = csv_header(rows[0], path)
    if "student" not in header:
        raise UsageError(f"{path} has no column 'student' (columns: {', '.join(header)})")
    columns = [c for c in header if c != "student"]
    for c in columns:
        if c not in params:
            raise UsageError(f"{path}: column {c!r} is not a parameter ({', '.join(params)})")
    students = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        cells = dict(zip(header, (cell.strip() for cell in row)))
        answers = {c: cells[c] for c in columns if cells.get(c)}
        for c, text in answers.items():
            try:
                read_answer(derivation, text, form=form)
            except ParseError as error:
                raise ParseError(f"{path}, row {number}, column {c!r}: {error}") from None
        students.append((cells.get("student", f"row {number}"), answers))
    results = []
    for student, answers in students:
        report = check_answers(derivation, answers, form=form, seed=args.seed)
        results.append((student, report))
    passed = all(r.passed and len(r.checks) == len(params) for _, r in results)
    if args.format == "json":
        table = {
            student: {
                name: (
                    report.to_dict()["parameters"].get(name)
                    or {"verdict": "undecided", "method": "no answer"}
                )
                for name in params
            }
            for student, report in results
        }
        print(json_text({"passed": passed, "students": table}))
    else:
        width = max([len("student")] + [len(s) for s, _ in results])
        print(f"{'student':<{width}}  " + "  ".join(f"{p:<10}" for p in params) + "  hints")
        for student, report in results:
            by_name = {c.param: c for c in report.checks}
            verdicts = [by_name[p].verdict if p in by_name else "missing" for p in params]
            hints = "; ".join(
                f"{c.param}: {c.hint.mistake}" for c in report.checks if c.hint is not None
            )
            print(f"{student:<{width}}  " + "  ".join(f"{v:<10}" for v in verdicts) + f"  {hints}")
    return 0 if passed else 1
