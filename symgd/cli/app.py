"""symgd: derive, render, compile, train and check gradients of learning objectives.

Exit status: 0 success, 1 a check failed (or training diverged), 2 bad input —
always with one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy

from symgd.compile.scalar import compile_objective
from symgd.data import linear_data, read_csv
from symgd.define.objective import Objective, linear_regression, objective
from symgd.derive.scalar import Derivation, derive
from symgd.parse.expressions import ParseError, parse_assignments
from symgd.render.printing import to_document, to_latex, to_markdown, to_text
from symgd.train.runner import train
from symgd.verify.gradcheck import check_gradient

__all__ = ["main", "UsageError", "read_csv"]


class UsageError(Exception):
    """Bad input from the command line: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not argparse's usage block
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _objective(args: argparse.Namespace) -> Objective:
    return objective(
        args.loss,
        args.params,
        args.data,
        define=args.define or None,
        reduction=args.reduction,
        l2=args.l2,
    )


def _values(text: str, names: Sequence[str], option: str) -> dict[str, float]:
    values = parse_assignments(text)
    unknown = [n for n in values if n not in names]
    if unknown:
        raise UsageError(f"{option} names {unknown[0]!r}, which is not a parameter")
    missing = [n for n in names if n not in values]
    if missing:
        raise UsageError(f"{option} gives no value for parameter {missing[0]!r}")
    return values


def _derivation_json(derivation: Derivation) -> dict:
    return {
        "params": [p.name for p in derivation.objective.params],
        "data": [d.name for d in derivation.objective.data],
        "gradient": {s.param.name: str(s.result) for s in derivation.steps},
        "gradient_in_intermediates": {
            s.param.name: str(s.in_intermediates) for s in derivation.steps
        },
        "dataset_gradient": {
            s.param.name: str(derivation.dataset_gradient(s.param)) for s in derivation.steps
        },
        "steps": {
            s.param.name: {
                "paths": [[str(node) for node in path] for path in s.paths],
                "local_derivatives": [[str(f) for f in factors] for factors in s.local_derivatives],
                "result": str(s.result),
            }
            for s in derivation.steps
        },
        "latex": to_latex(derivation),
    }


def _emit(text: str, output: str | None) -> None:
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        print(text)


def _cmd_derive(args: argparse.Namespace) -> int:
    derivation = derive(_objective(args))
    if args.format == "json":
        _emit(json.dumps(_derivation_json(derivation), indent=2), args.output)
    elif args.format == "latex":
        text = to_document(derivation) if args.document else to_latex(derivation)
        _emit(text, args.output)
    elif args.format == "markdown":
        _emit(to_markdown(derivation), args.output)
    else:
        _emit(to_text(derivation), args.output)
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    derivation = derive(_objective(args))
    compiled = compile_objective(derivation)
    data = read_csv(args.csv, compiled.data)
    init = _values(args.init, compiled.params, "--init")
    result = train(compiled, data, init, **training_options(args))
    if args.format == "json":
        print(
            json.dumps(
                {
                    "params": result.params,
                    "loss": list(result.loss_history),
                    "validation_loss": list(result.validation_history),
                    "epochs": result.epochs,
                    "steps": result.steps,
                    "converged": result.converged,
                    "diverged": result.diverged,
                    "stopped_early": result.stopped_early,
                    "interrupted": result.interrupted,
                    "message": result.message,
                    "diagnostics": list(result.diagnostics),
                    "checkpoint": str(result.checkpoint) if result.checkpoint else None,
                },
                indent=2,
            )
        )
    else:
        for name, value in result.params.items():
            print(f"{name} = {value:.10g}")
        print(f"loss {result.loss_history[0]:.6g} -> {result.final_loss:.6g}; {result.message}")
        for line in result.diagnostics:
            print(f"note: {line}")
        if args.plot:
            print(f"wrote {args.plot}")
    if result.interrupted:
        print(f"symgd: {result.message}", file=sys.stderr)
        return 130
    if result.diverged:
        print(f"symgd: {result.message}", file=sys.stderr)
        return 1
    return 0


def _cmd_gradcheck(args: argparse.Namespace) -> int:
    compiled = compile_objective(derive(_objective(args)))
    data = read_csv(args.csv, compiled.data)
    X = compiled.prepare(data)
    theta = compiled.theta(_values(args.at, compiled.params, "--at"))
    report = check_gradient(
        lambda t: compiled.loss_function(t, X),
        lambda t: compiled.gradient_function(t, X),
        theta,
        names=compiled.params,
    )
    print(json.dumps(report.to_dict(), indent=2) if args.format == "json" else report.table())
    return 0 if report.passed else 1


def run_demo(output: str | None = None, *, stream=None) -> dict:
    """The seed example end to end; returns the figures it printed.

    Derives ``J(w, b) = 1/(2m) Σ (y_i − (w x_i + b))²``, trains by batch gradient
    descent on seeded synthetic data, compares with NumPy's least squares and
    checks the gradient by finite differences. With ``output``, writes
    ``linear_regression.tex``, ``linear_regression.md`` and ``loss_curve.png``.
    """
    stream = stream or sys.stdout

    def say(text: str = "") -> None:
        print(text, file=stream)

    derivation = derive(linear_regression())
    say("== Derivation (seed example: linear regression)")
    say(to_text(derivation))
    compiled = compile_objective(derivation)
    data = linear_data(m=200, noise=0.3, seed=0)
    result = train(compiled, data, {"w": 0.0, "b": 0.0}, learning_rate=0.5, epochs=1000)
    design = numpy.column_stack([data["x"], numpy.ones_like(data["x"])])
    exact, *_ = numpy.linalg.lstsq(design, data["y"], rcond=None)
    difference = float(numpy.max(numpy.abs(result.theta - exact)))
    say("\n== Training (batch gradient descent, learning rate 0.5, 200 seeded examples)")
    say(f"w = {result.params['w']:.8f}, b = {result.params['b']:.8f}; {result.message}")
    say(
        f"NumPy least squares: w = {exact[0]:.8f}, b = {exact[1]:.8f}; "
        f"largest difference {difference:.1e}"
    )
    X = compiled.prepare(data)
    report = check_gradient(
        lambda t: compiled.loss_function(t, X),
        lambda t: compiled.gradient_function(t, X),
        numpy.array([0.5, -0.5]),
        names=compiled.params,
    )
    say("\n== Gradient check at w = 0.5, b = -0.5")
    say(report.table())
    say("\n== Generated NumPy code (gradient)")
    say(compiled.source.split("\n\n\n")[2] if "\n\n\n" in compiled.source else compiled.source)
    if output:
        folder = Path(output)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "linear_regression.tex").write_text(
            to_document(derivation, title="Linear regression by gradient descent"), encoding="utf-8"
        )
        (folder / "linear_regression.md").write_text(
            to_markdown(derivation, title="Linear regression by gradient descent"), encoding="utf-8"
        )
        from symgd.render.plots import loss_curves

        loss_curves(
            {"batch gradient descent": result.loss_history},
            folder / "loss_curve.png",
            title="Training loss, linear regression",
        )
        say(
            f"\nwrote {folder / 'linear_regression.tex'}, {folder / 'linear_regression.md'}, "
            f"{folder / 'loss_curve.png'}"
        )
    return {
        "params": result.params,
        "least_squares": exact.tolist(),
        "difference": difference,
        "gradient_check_passed": report.passed,
    }


def _cmd_demo(args: argparse.Namespace) -> int:
    figures = run_demo(args.output)
    return 0 if figures["gradient_check_passed"] and figures["difference"] < 1e-6 else 1


def _add_objective_arguments(
    parser: argparse.ArgumentParser, *, loss_positional: bool = True
) -> None:
    """LOSS (or ``--loss``), ``--params``, ``--data``, ``--define``, ``--reduction``, ``--l2``."""
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
        type=float,
        default=None,
        metavar="LAMBDA",
        help="add the penalty LAMBDA/2 * sum of squared parameters",
    )


def add_derivation_output_arguments(parser: argparse.ArgumentParser) -> None:
    """``--format``, ``--document``, ``-o``: how ``derive`` and ``net derive`` show a result."""
    parser.add_argument("--format", choices=["text", "latex", "markdown", "json"], default="text")
    parser.add_argument(
        "--document", action="store_true", help="with --format latex: a standalone .tex document"
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """The options shared by every training command (``train``, ``net train``)."""
    from symgd.train.optimizers import OPTIMIZERS, SCHEDULES

    parser.add_argument("--lr", type=float, required=True, help="(initial) learning rate")
    parser.add_argument(
        "--epochs", type=int, default=None, help="passes over the data (default 100)"
    )
    parser.add_argument(
        "--steps", type=int, default=None, help="updates to make, instead of epochs"
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="1 = stochastic, B = mini-batch, omitted = batch",
    )
    parser.add_argument("--seed", type=int, default=0, help="shuffling and validation-split seed")
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.0,
        help="stop when the epoch loss changes by less than this (relative)",
    )
    parser.add_argument("--optimizer", choices=list(OPTIMIZERS), default="sgd")
    parser.add_argument(
        "--schedule", choices=list(SCHEDULES), default=None, help="learning-rate schedule"
    )
    parser.add_argument(
        "--clip-norm", type=float, default=None, metavar="TAU", help="clip the global norm"
    )
    parser.add_argument(
        "--clip-value", type=float, default=None, metavar="C", help="clip each gradient element"
    )
    parser.add_argument(
        "--val-split",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="hold out this fraction of the rows as a validation set",
    )
    parser.add_argument(
        "--early-stopping",
        type=int,
        default=None,
        metavar="PATIENCE",
        help="stop when the validation loss has not improved for PATIENCE epochs",
    )
    parser.add_argument("--checkpoint", metavar="DIR", default=None, help="save checkpoints here")
    parser.add_argument(
        "--resume", action="store_true", help="continue from the newest checkpoint in --checkpoint"
    )
    parser.add_argument("--plot", metavar="FILE", default=None, help="loss curve, .png or .pdf")


def training_options(args: argparse.Namespace) -> dict:
    """Keyword arguments for :func:`symgd.train.gradient_descent` from the training options.

    Raises:
        UsageError: The options contradict each other.
    """
    from symgd.train.optimizers import make_optimizer
    from symgd.train.runner import Callback

    if args.epochs is not None and args.steps is not None:
        raise UsageError("give --epochs or --steps, not both")
    if args.resume and not args.checkpoint:
        raise UsageError("--resume needs --checkpoint DIR, the folder the checkpoints are in")
    if args.early_stopping is not None and not args.val_split:
        raise UsageError("--early-stopping watches the validation loss: give --val-split too")
    if args.plot and Path(args.plot).suffix.lower() not in (".png", ".pdf"):
        raise UsageError(f"--plot {args.plot!r}: the file must end in .png or .pdf")
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
            from symgd.render.plots import loss_curves

            validation = {"run": result.validation_history} if result.validation_history else None
            loss_curves({"run": result.loss_history}, args.plot, validation=validation)

        options["callbacks"] = [Callback(on_train_end=plot)]
    return options


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``symgd`` command."""
    parser = _Parser(prog="symgd", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    demo = commands.add_parser("demo", help="the seed linear regression, end to end")
    demo.add_argument("-o", "--output", metavar="DIR", help="write .tex, .md and a loss curve here")
    demo.set_defaults(run=_cmd_demo)

    derive_ = commands.add_parser("derive", help="derive and show the gradient of a loss")
    _add_objective_arguments(derive_)
    add_derivation_output_arguments(derive_)
    derive_.set_defaults(run=_cmd_derive)

    train_ = commands.add_parser("train", help="train a loss on CSV data by gradient descent")
    _add_objective_arguments(train_)
    train_.add_argument("--csv", required=True, help="CSV with a header naming the data symbols")
    train_.add_argument("--init", required=True, metavar="w=0,b=0", help="starting values")
    add_training_arguments(train_)
    train_.add_argument("--format", choices=["text", "json"], default="text")
    train_.set_defaults(run=_cmd_train)

    check = commands.add_parser("gradcheck", help="check the derived gradient numerically")
    _add_objective_arguments(check)
    check.add_argument("--csv", required=True, help="CSV with a header naming the data symbols")
    check.add_argument("--at", required=True, metavar="w=1,b=2", help="where to check")
    check.add_argument("--format", choices=["text", "json"], default="text")
    check.set_defaults(run=_cmd_gradcheck)
    for module in _EXTENSIONS:
        importlib.import_module(module).register(commands)
    return parser


#: Modules whose ``register(commands)`` adds further sub-commands. They import helpers from
#: this module, so they are imported when the parser is built, not when this module loads.
_EXTENSIONS = ("symgd.cli.check", "symgd.cli.net", "symgd.cli.notes")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``symgd`` command; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except (UsageError, ParseError, ValueError, OSError, ArithmeticError) as error:
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"symgd: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("symgd: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
