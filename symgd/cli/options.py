"""What the command groups share: options, reading them, and writing results.

Every group builds its sub-commands from these pieces, so a flag means the same in ``train``
and ``net train``. Bad input raises :class:`UsageError`; :func:`symgd.cli.app.main` prints it
as one line and exits 2.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy
import sympy

from symgd.data import decimal_number
from symgd.define import Objective, objective
from symgd.parse import parse_assignments
from symgd.render import loss_curves
from symgd.training import OPTIMIZERS, SCHEDULES, Callback, make_optimizer

__all__ = [
    "UsageError",
    "add_derivation_output_arguments",
    "add_format_argument",
    "add_objective_arguments",
    "add_training_arguments",
    "count",
    "emit",
    "emit_derivation",
    "failed",
    "json_text",
    "number",
    "one_line",
    "output_file",
    "parameter_values",
    "print_report",
    "read_objective",
    "refuse_steps",
    "step_message",
    "training_options",
]


class UsageError(Exception):
    """Bad input from the command line: printed as one line, exit status 2."""


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines included) made one space.

    Example:
        >>> one_line("pdflatex failed:\\n  ! Undefined control sequence.")
        'pdflatex failed: ! Undefined control sequence.'
    """
    return " ".join(text.split())


def failed(message: str) -> int:
    """Print ``symgd: MESSAGE`` on stderr (one line) and return exit status 1, a failed check."""
    print(f"symgd: {one_line(message)}", file=sys.stderr)
    return 1


def number(
    *, above: float | None = None, at_least: float | None = None, below: float | None = None
):
    """An argparse ``type``: a finite decimal number within the given bounds.

    ``nan``, ``inf``, ``1_000`` and other scripts' digits are refused, as in CSV files.

    Example:
        >>> rate = number(above=0)
        >>> rate("0.1")
        0.1
        >>> rate("nan")
        Traceback (most recent call last):
        ...
        argparse.ArgumentTypeError: 'nan' is not a finite number
    """

    def convert(text: str) -> float:
        try:
            value = decimal_number(text.strip())
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text.strip()[:40]!r} is not a finite number")
        if above is not None and not value > above:
            raise argparse.ArgumentTypeError(f"{value:g} must be greater than {above:g}")
        if at_least is not None and not value >= at_least:
            raise argparse.ArgumentTypeError(f"{value:g} must be at least {at_least:g}")
        if below is not None and not value < below:
            raise argparse.ArgumentTypeError(f"{value:g} must be less than {below:g}")
        return value

    convert.__name__ = "number"
    return convert


#: The largest count an option takes (epochs, steps, batch size, patience, seed).
MAX_COUNT = 10**9


def count(*, at_least: int = 1):
    """An argparse ``type``: a whole number from ``at_least`` to :data:`MAX_COUNT`.

    Example:
        >>> count()("20")
        20
        >>> count()("0")
        Traceback (most recent call last):
        ...
        argparse.ArgumentTypeError: 0 must be at least 1
    """

    def convert(text: str) -> int:
        text = text.strip()
        if not (text.isascii() and text.lstrip("+-").isdigit()) or len(text) > 12:
            raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a whole number up to 10**9")
        value = int(text)
        if value < at_least:
            raise argparse.ArgumentTypeError(f"{value} must be at least {at_least}")
        if value > MAX_COUNT:
            raise argparse.ArgumentTypeError(f"{value} is larger than {MAX_COUNT:.0e}")
        return value

    convert.__name__ = "count"
    return convert


def output_file(text: str, option: str) -> Path:
    """The path of a file to write, checked before any work: its folder must exist.

    Raises:
        UsageError: The folder is missing or not a folder, or the path is a folder.
    """
    if "\0" in text or not text.strip():
        raise UsageError(f"{option} {text[:60]!r} is not a usable file name")
    path = Path(text)
    folder = path.parent
    if not folder.is_dir():
        problem = "is not a folder" if folder.exists() else "does not exist"
        raise UsageError(f"{option} {text}: the folder {folder} {problem}")
    if path.is_dir():
        raise UsageError(f"{option} {text} is a folder; give a file name")
    return path


def emit(text: str, output: str | None) -> None:
    """Write ``text`` to the file ``output`` (UTF-8), or print it when no file is given."""
    if output:
        output_file(output, "-o").write_text(text, encoding="utf-8")
    else:
        print(text)


def emit_derivation(derivation, args: argparse.Namespace, printers: Mapping[str, Callable]) -> None:
    """Show a derivation as :func:`add_derivation_output_arguments`' options ask.

    Args:
        derivation: What to show.
        args: The parsed options: ``format``, ``document`` and ``output``.
        printers: One function ``derivation -> str`` per form: ``text``, ``latex``,
            ``document`` (``--format latex --document``), ``markdown`` and ``json``.
    """
    form = "document" if args.format == "latex" and args.document else args.format
    emit(printers[form](derivation), args.output)


def json_text(payload: dict) -> str:
    """``payload`` as indented, strict JSON: the ``--format json`` output of every command.

    JSON has no ``Infinity`` or ``NaN`` (strict parsers refuse Python's), so a value that is
    not finite becomes ``null`` and the top-level ``"non_finite"`` maps its JSON pointer to
    what it was. NumPy numbers and arrays become JSON numbers and lists.

    Example:
        >>> print(json_text({"passed": True}))
        {
          "passed": true
        }
        >>> " ".join(json_text({"loss": [0.5, float("inf")]}).split())
        '{ "loss": [ 0.5, null ], "non_finite": { "/loss/1": "inf" } }'
    """
    non_finite: dict[str, str] = {}
    clean = _finite_json(payload, "", non_finite)
    if non_finite:
        clean["non_finite"] = non_finite
    return json.dumps(clean, indent=2, allow_nan=False)


def _finite_json(value, pointer: str, non_finite: dict[str, str]):
    """``value`` with non-finite floats made ``None`` (recorded under their JSON pointer)."""
    if isinstance(value, numpy.ndarray | numpy.generic):
        value = value.tolist()
    if isinstance(value, dict):
        return {
            key: _finite_json(item, f"{pointer}/{_escape(str(key))}", non_finite)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_finite_json(item, f"{pointer}/{i}", non_finite) for i, item in enumerate(value)]
    if isinstance(value, float) and not math.isfinite(value):
        non_finite[pointer] = str(value)  # 'inf', '-inf' or 'nan'
        return None
    return value


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")  # RFC 6901


def print_report(report, form: str) -> None:
    """Print a check's report: its JSON (``form == "json"``) or its table.

    Args:
        report: A :class:`symgd.verify.GradientCheck` or :class:`symgd.verify.AnswerReport`,
            anything with ``to_dict()`` and ``table()``.
        form: The ``--format`` given.
    """
    print(json_text(report.to_dict()) if form == "json" else report.table())


def add_format_argument(parser: argparse.ArgumentParser) -> None:
    """``--format text|json``: a table for people or JSON for machines."""
    parser.add_argument("--format", choices=["text", "json"], default="text")


def add_objective_arguments(
    parser: argparse.ArgumentParser, *, loss_positional: bool = True
) -> None:
    """LOSS (or ``--loss``), ``--params``, ``--data``, ``--define``, ``--reduction``, ``--l2``.

    Args:
        parser: The sub-command's parser.
        loss_positional: The loss is the first positional argument (and ``--params`` is
            required); otherwise it is the optional ``--loss``.
    """
    if loss_positional:
        parser.add_argument("loss", help="per-example loss in SymPy syntax, e.g. '(y - yhat)**2/2'")
    else:
        parser.add_argument("--loss", help="custom objective: the per-example loss")
    parser.add_argument("--params", required=loss_positional, help="parameter names, e.g. w,b")
    parser.add_argument("--data", default="", help="data symbol names, e.g. x,y")
    parser.add_argument(
        "--define",
        action="append",
        metavar="NAME=EXPR",
        help="a named intermediate, e.g. yhat=w*x+b (repeatable, in computation order)",
    )
    parser.add_argument("--reduction", choices=["mean", "sum"], default="mean")
    parser.add_argument(
        "--l2",
        type=number(at_least=0),
        default=None,
        metavar="LAMBDA",
        help="add the penalty LAMBDA/2 * sum of squared parameters",
    )


def read_objective(args: argparse.Namespace) -> Objective:
    """The objective that :func:`add_objective_arguments`' options describe.

    Raises:
        symgd.parse.ParseError: The loss, a name or a definition is not accepted.
    """
    return objective(
        args.loss,
        args.params,
        args.data,
        define=args.define or None,
        reduction=args.reduction,
        l2=args.l2,
    )


_STEPS = (sympy.Heaviside, sympy.sign)  # derivative 0 wherever defined (DiracDelta)


def refuse_steps(objective_: Objective) -> None:
    """Refuse an objective with a parameter that the loss reads only through steps.

    Steps are differentiated almost everywhere (``H' = sign' = 0``), so Huber, hinge and
    pinball losses train; but a parameter only inside steps (or ``Piecewise`` conditions) has
    the gradient 0 everywhere and would never move: refused before any numeric work.

    Raises:
        UsageError: A parameter of the loss appears only inside steps.

    Example:
        >>> refuse_steps(objective("Max(0, 1 - y*(w*x + b))", "w,b", "x,y"))  # the hinge
        >>> refuse_steps(objective("Heaviside(w*x - y)", "w", "x,y"))
        Traceback (most recent call last):
        ...
        symgd.cli.options.UsageError: the loss uses Heaviside(w*x - y), whose derivative is 0 ...
    """
    loss = objective_.expanded_loss
    for param in sorted(set(objective_.params) & loss.free_symbols - _outside_steps(loss), key=str):
        steps = [s for s in loss.atoms(*_STEPS, sympy.Piecewise) if param in s.free_symbols]
        step = min(steps, key=sympy.default_sort_key)
        raise UsageError(step_message(f"the loss uses {step}", step))


def _outside_steps(expr: sympy.Basic) -> set[sympy.Basic]:
    """The symbols of ``expr`` outside step arguments and ``Piecewise`` conditions."""
    if isinstance(expr, _STEPS) or expr.is_Symbol:
        return set() if isinstance(expr, _STEPS) else {expr}
    parts = [v for v, _ in expr.args] if isinstance(expr, sympy.Piecewise) else expr.args
    return set().union(*map(_outside_steps, parts))


def step_message(subject: str, step: sympy.Expr) -> str:
    """Why a step function gives gradient descent no signal, and what to use instead."""
    stand_in = "tanh(k*u)" if isinstance(step, sympy.sign) else "sigmoid(k*u)"
    return (
        f"{subject}, whose derivative is 0 wherever it is defined (a step): gradient descent "
        f"gets no signal through it; use a smooth stand-in such as {stand_in} for a large k, "
        "or a piecewise loss such as Max(0, 1 - u) ('symgd derive' shows the gradient)"
    )


def parameter_values(
    text: str | None, names: Sequence[str], option: str, *, default: float | None = None
) -> dict[str, float]:
    """Parameter values from ``NAME=VALUE`` text, checked against the parameter names.

    Args:
        text: ``NAME=VALUE`` items separated by commas; ``None`` or empty when not given.
        names: The parameter names, in order.
        option: The flag the text came from, for the messages (``--init``, ``--at``).
        default: The value of a parameter the text leaves out; ``None``: each needs a value.

    Returns:
        One value per parameter, in the order of ``names``.

    Raises:
        UsageError: The text names something that is not a parameter, or leaves one out.
        symgd.parse.ParseError: The text is not ``NAME=VALUE`` items.

    Example:
        >>> parameter_values("b=2, w=1", ("w", "b"), "--at")
        {'w': 1.0, 'b': 2.0}
        >>> parameter_values(None, ("w", "b"), "--init", default=0.0)
        {'w': 0.0, 'b': 0.0}
    """
    values = parse_assignments(text) if text or default is None else {}
    unknown = [n for n in values if n not in names]
    if unknown:
        raise UsageError(f"{option} names {unknown[0]!r}, which is not a parameter")
    missing = [n for n in names if n not in values]
    if missing and default is None:
        raise UsageError(f"{option} gives no value for parameter {missing[0]!r}")
    return {n: values.get(n, default) for n in names}


def add_derivation_output_arguments(parser: argparse.ArgumentParser) -> None:
    """``--format``, ``--document``, ``-o``: how ``derive`` and ``net derive`` show a result."""
    parser.add_argument("--format", choices=["text", "latex", "markdown", "json"], default="text")
    parser.add_argument(
        "--document", action="store_true", help="with --format latex: a standalone .tex document"
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """The options shared by every training command (``train``, ``net train``)."""
    parser.add_argument(
        "--lr", type=number(above=0), default=None, help="(initial) learning rate (not for newton)"
    )
    parser.add_argument(
        "--epochs", type=count(), default=None, help="passes over the data (default 100)"
    )
    parser.add_argument(
        "--steps", type=count(), default=None, help="updates to make, instead of epochs"
    )
    parser.add_argument(
        "--batch-size",
        type=count(),
        default=None,
        help="1 = stochastic, B = mini-batch, omitted = batch",
    )
    parser.add_argument(
        "--seed", type=count(at_least=0), default=0, help="shuffling and validation-split seed"
    )
    parser.add_argument(
        "--tolerance",
        type=number(at_least=0),
        default=0.0,
        help="stop when the epoch loss changes by less than this (relative)",
    )
    parser.add_argument(
        "--optimizer",
        choices=[*OPTIMIZERS, "newton"],
        default="sgd",
        help="newton: damped Newton steps with a line search (vector form)",
    )
    parser.add_argument(
        "--schedule", choices=list(SCHEDULES), default=None, help="learning-rate schedule"
    )
    parser.add_argument(
        "--clip-norm",
        type=number(above=0),
        default=None,
        metavar="TAU",
        help="clip the global norm",
    )
    parser.add_argument(
        "--clip-value",
        type=number(above=0),
        default=None,
        metavar="C",
        help="clip each gradient element",
    )
    parser.add_argument(
        "--val-split",
        type=number(at_least=0, below=1),
        default=0.0,
        metavar="FRACTION",
        help="hold out this fraction of the rows as a validation set",
    )
    parser.add_argument(
        "--early-stopping",
        type=count(),
        default=None,
        metavar="PATIENCE",
        help="stop when the validation loss has not improved for PATIENCE epochs",
    )
    parser.add_argument("--checkpoint", metavar="DIR", default=None, help="save checkpoints here")
    parser.add_argument(
        "--resume", action="store_true", help="continue from the newest checkpoint in --checkpoint"
    )
    parser.add_argument("--plot", metavar="FILE", default=None, help="loss curve, .png or .pdf")
    parser.add_argument(
        "--backend",
        choices=["numpy", "jax"],
        default="numpy",
        help="numpy, or jax: jitted JAX code, each epoch one lax.scan (pip install 'symgd[jax]')",
    )


def training_options(args: argparse.Namespace) -> dict:
    """Keyword arguments for :func:`symgd.training.train` from :func:`add_training_arguments`.

    Raises:
        UsageError: The options contradict each other.
        ValueError: The optimiser settings are out of range (e.g. ``--clip-norm 0``).
    """
    if args.lr is None and args.optimizer != "newton":
        raise UsageError("--lr is required (only --optimizer newton chooses its own step)")
    if args.epochs is not None and args.steps is not None:
        raise UsageError("give --epochs or --steps, not both")
    if args.resume and not args.checkpoint:
        raise UsageError("--resume needs --checkpoint DIR, the folder the checkpoints are in")
    if args.early_stopping is not None and not args.val_split:
        raise UsageError("--early-stopping watches the validation loss: give --val-split too")
    if args.plot is not None and Path(args.plot).suffix.lower() not in (".png", ".pdf"):
        raise UsageError(f"--plot {args.plot!r}: the file must end in .png or .pdf")
    if args.plot:
        output_file(args.plot, "--plot")  # before training, not after it
    options = {
        "learning_rate": args.lr,
        "epochs": 100 if args.epochs is None and args.steps is None else args.epochs,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "tolerance": args.tolerance,
        "validation_split": args.val_split,
        "early_stopping": args.early_stopping,
        "checkpoint_dir": args.checkpoint,
        "resume": args.resume,
    }
    default = (args.optimizer, args.schedule, args.clip_norm, args.clip_value)
    if default != ("sgd", None, None, None):

        def optimizer(total_steps: int):
            return make_optimizer(
                args.optimizer,
                args.lr,
                schedule=args.schedule,
                total_steps=total_steps,
                clip_norm=args.clip_norm,
                clip_value=args.clip_value,
            )

        optimizer(1000)  # a bad setting (e.g. --clip-norm 0) is reported before any work
        options["optimizer"] = optimizer
    if args.plot:

        def plot(result) -> None:
            validation = {"run": result.validation_history} if result.validation_history else None
            loss_curves({"run": result.loss_history}, args.plot, validation=validation)

        options["callbacks"] = [Callback(on_train_end=plot)]
    return options
