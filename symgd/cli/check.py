"""The ``symgd check`` command: verdicts on hand-computed gradients.

``--grad``, ``--latex`` and ``--answers`` text goes through the safe parser only. ``--python
FILE.py:FUNC`` runs the student's file in a separate process with a timeout and a memory limit
(:mod:`symgd.verify.sandbox`): isolation against honest mistakes and cheating attempts, not a
sandbox against malicious code (run the grader in a container for that).
"""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

from symgd import limits
from symgd.cli.options import (
    UsageError,
    add_objective_arguments,
    count,
    emit,
    json_text,
    read_objective,
    refuse_steps,
)
from symgd.data import csv_header, read_csv_rows
from symgd.define import tensor_objective
from symgd.define.objective import with_domains
from symgd.derivation import Derivation, derive, derive_tensor
from symgd.parse import parse_name
from symgd.verify import (
    check_answers,
    check_class,
    check_tensor_answers,
    read_answer,
    split_function,
)
from symgd.verify.sandbox import DEFAULT_MEMORY, DEFAULT_TIMEOUT, StudentFunction, parse_size

__all__ = ["register"]

_MAX_ANSWERS_BYTES = 16 * 1024 * 1024


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``symgd check`` to the sub-commands."""
    check = commands.add_parser(
        "check",
        help="check hand-computed gradients: verdict, counterexample, hint",
        description=(
            "Check hand-computed gradients against the derivation. --grad, --latex and "
            "--answers are read by the safe parser; --python RUNS FILE.py in a separate "
            "process with a timeout and a memory limit (isolation, not a sandbox against "
            "malicious code: use a container for that)."
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
        help="a NumPy gradient function; RUNS the file's code in a separate process. Without "
        "'w=' it returns every gradient (tuple in parameter order, or dict)",
    )
    check.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="S",
        help=f"seconds each --python file may run, all points in one run "
        f"(default {DEFAULT_TIMEOUT:g})",
    )
    check.add_argument(
        "--memory-limit",
        type=_size,
        default=DEFAULT_MEMORY,
        metavar="SIZE",
        help="memory for each --python file, e.g. 512M or 2G (default 1G)",
    )
    check.add_argument(
        "--answers",
        metavar="FILE.csv",
        help="a class at once: columns student and one per parameter",
    )
    check.add_argument(
        "--format",
        choices=["text", "json", "csv"],
        default="text",
        help="text or JSON; csv: a gradebook of an --answers class",
    )
    check.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    check.add_argument(
        "--seed", type=count(at_least=0), default=0, help="seed of the random points"
    )
    check.add_argument(
        "--domain",
        action="append",
        default=[],
        metavar="NAME=SET|INTERVAL",
        help="values a data symbol takes: y=0,1 (a set), 'x=(0,1)' or 'x=[0,inf)' (an "
        "interval); samples and counterexamples stay inside; repeatable",
    )
    check.set_defaults(run=_cmd_check)


def _cmd_check(args: argparse.Namespace) -> int:
    if _is_tensor(args):
        return _check_tensors(args)
    objective_ = with_domains(read_objective(args), args.domain)
    refuse_steps(objective_)  # the verdicts evaluate the gradient
    derivation = derive(objective_)
    params = [p.name for p in derivation.objective.params]
    form = "latex" if args.latex else "sympy"
    if args.answers:
        if args.grad or args.python:
            raise UsageError("--answers cannot be combined with --grad or --python")
        return _class(derivation, args, params, form)
    if args.format == "csv":
        raise UsageError("--format csv is a gradebook: it needs --answers FILE.csv")
    answers = _collect(derivation, args, params)
    # Every text is parsed before any checking starts: hostile text stops everything (exit 2).
    for value in answers.values():
        if isinstance(value, str):
            read_answer(derivation, value, form=form)
    report = check_answers(derivation, answers, form=form, seed=args.seed)
    emit(json_text(report.to_dict()) if args.format == "json" else report.table(), args.output)
    return 0 if report.passed else 1


def _is_tensor(args: argparse.Namespace) -> bool:
    """Whether the objective is a vector/matrix one: shapes declared, or ``@``/``.T`` used."""
    texts = [args.loss or "", *(args.define or [])]
    return "[" in f"{args.params}{args.data}" or any("@" in t or ".T" in t for t in texts)


def _check_tensors(args: argparse.Namespace) -> int:
    """``symgd check`` of a vector/matrix objective: text, LaTeX or NumPy-function answers."""
    for given, option in ((args.l2 is not None, "--l2"), (args.domain, "--domain")):
        if given:
            raise UsageError(
                f"{option} is for scalar objectives; a vector/matrix objective is written out "
                "whole, e.g. 'sum((X@w - y)**2)/(2*m) + 0.01/2*sum(w**2)'"
            )
    if args.answers:
        raise UsageError("--answers grades a class for scalar objectives only; use --grad")
    if args.format == "csv":
        raise UsageError("--format csv is a gradebook: it needs --answers FILE.csv")
    derivation = derive_tensor(
        tensor_objective(args.loss, args.params, args.data, define=args.define or ())
    )
    params = [p.name for p in derivation.objective.params]
    answers = _collect(derivation, args, params)
    form = "latex" if args.latex else None
    report = check_tensor_answers(derivation, answers, form=form, seed=args.seed)
    emit(json_text(report.to_dict()) if args.format == "json" else report.table(), args.output)
    return 0 if report.passed else 1


def _collect(derivation, args: argparse.Namespace, params: list[str]) -> dict:
    """The answers of ``--grad`` and ``--python``, by parameter name."""
    answers: dict = {}
    for item in args.grad:
        name, equals, text = item.partition("=")
        if not equals:
            raise UsageError(f'--grad {item!r} has no "="; write --grad w="(w*x + b - y)*x"')
        answers[_answer_name(name, params, "--grad", answers)] = text
    for item in args.python:
        name, equals, location = item.rpartition("=") if "=" in item else ("", "", item)
        function = _load(location, args.timeout, args.memory_limit)
        if equals:
            answers[_answer_name(name, params, "--python", answers)] = function
        else:
            for key, part in split_function(derivation, function).items():
                answers.setdefault(key, part)
    if not answers:
        raise UsageError('no answers given; use --grad w="...", --python or --answers')
    return answers


def _answer_name(name: str, params: list[str], option: str, answers: dict) -> str:
    """The parameter an answer is for: one of ``params``, not answered before."""
    name = parse_name(name)
    if name not in params:
        raise UsageError(f"{option} names {name!r}, which is not a parameter ({', '.join(params)})")
    if name in answers:
        raise UsageError(f"two answers for {name!r}")
    return name


def _load(location: str, timeout: float, memory: int) -> StudentFunction:
    """``FILE.py:FUNC`` as a function run in a separate process; nothing is imported here.

    What the file does (import errors, exits, loops, output) becomes that answer's verdict.
    """
    path_text, colon, function_name = location.rpartition(":")
    if not colon or not path_text.endswith(".py") or not function_name.isidentifier():
        raise UsageError(f"--python {location!r}: write FILE.py:FUNCTION")
    path = Path(path_text)
    if not path.is_file():
        raise UsageError(f"Python file not found: {path}")
    return StudentFunction(str(path), function_name, timeout=timeout, memory=memory)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    most = limits.VERIFY_SECONDS - 5  # the run happens inside one answer's check budget
    if not 0 < value <= most:
        raise argparse.ArgumentTypeError(f"{text!r}: give seconds above 0, at most {most:g}")
    return value


def _size(text: str) -> int:
    try:
        value = parse_size(text)
    except (ValueError, IndexError):
        raise argparse.ArgumentTypeError(f"{text!r}: give a size such as 512M or 2G") from None
    if value < 64 << 20:
        raise argparse.ArgumentTypeError(f"{text!r}: give at least 64M (Python needs it)")
    return value


def _class(derivation: Derivation, args: argparse.Namespace, params: list[str], form: str) -> int:
    """Grade every row; an unreadable cell is that student's verdict, a bad file exit 2."""
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
        students.append((cells.get("student") or f"row {number}", answers))
    report = check_class(derivation, students, form=form, seed=args.seed)
    if args.format == "csv":
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(report.gradebook())
        emit(buffer.getvalue().rstrip("\n"), args.output)
    else:
        emit(json_text(report.to_dict()) if args.format == "json" else report.table(), args.output)
    return 0 if report.passed else 1
