"""``symgd demo``, ``derive``, ``train`` and ``gradcheck``: one scalar objective end to end.

Bad input raises :class:`~symgd.cli.options.UsageError`, :class:`~symgd.parse.ParseError` or a
``ValueError`` (exit 2, one line); a diverged run or a failed gradient check exits 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy

from symgd.cli import tensor
from symgd.cli.options import (
    UsageError,
    add_derivation_output_arguments,
    add_format_argument,
    add_objective_arguments,
    add_training_arguments,
    emit_derivation,
    json_text,
    parameter_values,
    print_report,
    read_objective,
    refuse_steps,
    training_options,
)
from symgd.cli.runs import print_run, run_exit, run_json
from symgd.compile import compile_objective
from symgd.data import linear_data, read_csv, read_csv_files
from symgd.define import linear_regression
from symgd.derivation import Derivation, derive
from symgd.render import loss_curves, to_document, to_latex, to_markdown, to_text
from symgd.training import train
from symgd.verify import check_gradient

__all__ = ["register", "run_demo"]

_TITLE = "Linear regression by gradient descent"


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``demo``, ``derive``, ``train`` and ``gradcheck`` to the ``symgd`` command."""
    demo = commands.add_parser("demo", help="the seed linear regression, end to end")
    demo.add_argument("-o", "--output", metavar="DIR", help="write .tex, .md and a loss curve here")
    demo.set_defaults(run=_cmd_demo)

    derive_ = _objective_command(
        commands, "derive", "derive and show the gradient of a loss", _cmd_derive
    )
    add_derivation_output_arguments(derive_)
    derive_.add_argument(
        "--hessian", action="store_true", help="vector form: also derive the Hessian"
    )

    train_ = _objective_command(
        commands, "train", "train a loss on CSV data by gradient descent", _cmd_train, csv=True
    )
    train_.add_argument(
        "--init", metavar="w=0,b=0", help="starting values (default 0; a vector takes one value)"
    )
    add_training_arguments(train_)
    add_format_argument(train_)
    add_array_arguments(train_)
    train_.add_argument(
        "--standardize",
        action="store_true",
        help="vector form: scale feature columns to mean 0, std 1 (training rows' statistics)",
    )
    train_.add_argument(
        "--engine",
        choices=("numpy", "dask"),
        default="numpy",
        help="dask: data larger than memory; --csv may then be a glob ('data/part-*.csv')",
    )
    train_.add_argument(
        "--scheduler", metavar="ADDRESS", help="with --engine dask: a distributed cluster"
    )
    train_.add_argument(
        "--chunk-rows", type=int, metavar="N", help="with --engine dask: examples per chunk"
    )

    check = _objective_command(
        commands, "gradcheck", "check the derived gradient numerically", _cmd_gradcheck, csv=True
    )
    check.add_argument("--at", required=True, metavar="w=1,b=2", help="where to check")
    add_format_argument(check)
    add_array_arguments(check)


def add_array_arguments(parser: argparse.ArgumentParser) -> None:
    """``--columns`` and ``--set``: how CSV columns and values fill vector-form data."""
    parser.add_argument(
        "--columns",
        action="append",
        metavar="X=age,bmi",
        help="vector form: the CSV columns of a matrix (default: the columns no one else names)",
    )
    parser.add_argument(
        "--set", metavar="lamda=0.1", help="vector form: values of scalar data symbols"
    )


def _objective_command(
    commands: argparse._SubParsersAction, name: str, help: str, run, *, csv: bool = False
) -> argparse.ArgumentParser:
    """A sub-command on one objective (LOSS --params …), with ``--csv FILE`` if ``csv``."""
    parser = commands.add_parser(name, help=help)
    add_objective_arguments(parser)
    if csv:
        parser.add_argument(
            "--csv", required=True, help="CSV with a header naming the data symbols"
        )
    parser.set_defaults(run=run)
    return parser


def derivation_json(derivation: Derivation) -> dict:
    """The ``derive --format json`` payload: gradients, chain-rule steps and LaTeX, as strings."""
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


#: How ``derive`` shows a derivation in each ``--format`` (``document``: with ``--document``).
_PRINTERS = {
    "text": to_text,
    "latex": to_latex,
    "document": to_document,
    "markdown": to_markdown,
    "json": lambda derivation: json_text(derivation_json(derivation)),
}


def _cmd_derive(args: argparse.Namespace) -> int:
    if tensor.is_tensor(args):
        return tensor.derive(args)
    if args.hessian:
        raise UsageError("--hessian needs the vector form: declare shapes, e.g. --params 'w[d], b'")
    emit_derivation(derive(read_objective(args)), args, _PRINTERS)
    return 0


def _refuse_array_options(args: argparse.Namespace) -> None:
    for flag, value in (("--columns", args.columns), ("--set", args.set)):
        if value:
            raise UsageError(f"{flag} is for vector-form objectives (shapes in brackets)")
    if getattr(args, "standardize", False):
        raise UsageError("--standardize is for vector-form objectives, e.g. --params 'w[d], b'")


def _numeric_objective(args: argparse.Namespace):
    """The objective of ``args``, refused when its gradient cannot be evaluated."""
    objective_ = read_objective(args)
    refuse_steps(objective_)
    return objective_


def _cmd_train(args: argparse.Namespace) -> int:
    if tensor.is_tensor(args):
        if args.backend == "jax" or args.engine == "dask":
            raise UsageError(
                "--backend jax and --engine dask run per-example objectives and networks; "
                "vector-form objectives run on NumPy (BLAS)"
            )
        return tensor.train(args)
    _refuse_array_options(args)
    if args.optimizer == "newton":
        raise UsageError(
            "--optimizer newton needs the Hessian, derived for vector-form objectives: declare "
            "shapes, e.g. --params 'w[d], b' --data 'X[m,d], y[m]'"
        )
    dask = args.engine == "dask"
    for flag, value in (("--scheduler", args.scheduler), ("--chunk-rows", args.chunk_rows)):
        if value is not None and not dask:
            raise UsageError(f"{flag} needs --engine dask")
    if args.chunk_rows is not None and args.chunk_rows < 1:
        raise UsageError(f"--chunk-rows must be >= 1, not {args.chunk_rows}")
    if args.backend == "jax" and dask:
        raise UsageError(
            "--backend jax trains in memory; --engine dask runs the NumPy code on chunks"
        )
    compiled = compile_objective(derive(_numeric_objective(args)), backend=args.backend)
    init = parameter_values(args.init, compiled.params, "--init", default=0.0)
    options = training_options(args)
    if dask:
        data = read_csv_files(args.csv, compiled.data)
        options.update(scheduler=args.scheduler, chunk_rows=args.chunk_rows)
    elif any(character in args.csv for character in "*?[") and not Path(args.csv).exists():
        raise UsageError(f"--csv {args.csv!r} is a glob: reading several files needs --engine dask")
    else:
        data = read_csv(args.csv, compiled.data)
    result = train(compiled, data, init, **options)
    if args.format == "json":
        print(json_text({"params": result.params, **run_json(result)}))
    else:
        print_run(result, (f"{n} = {v:.10g}" for n, v in result.params.items()), args.plot)
    return run_exit(result)


def _check(compiled, X: numpy.ndarray, theta: numpy.ndarray):
    return check_gradient(
        lambda t: compiled.loss_function(t, X),
        lambda t: compiled.gradient_function(t, X),
        theta,
        names=compiled.params,
    )


def _cmd_gradcheck(args: argparse.Namespace) -> int:
    if tensor.is_tensor(args):
        return tensor.gradcheck(args)
    _refuse_array_options(args)
    compiled = compile_objective(derive(_numeric_objective(args)))
    X = compiled.prepare(read_csv(args.csv, compiled.data))
    report = _check(compiled, X, compiled.theta(parameter_values(args.at, compiled.params, "--at")))
    print_report(report, args.format)
    return 0 if report.passed else 1


def run_demo(output: str | None = None, *, stream=None) -> dict:
    """The seed example end to end; returns the figures it printed.

    Derives ``J(w, b) = 1/(2m) Σ (y_i − (w x_i + b))²``, trains by batch gradient
    descent on seeded synthetic data, compares with NumPy's least squares and
    checks the gradient by finite differences. With ``output``, writes
    ``linear_regression.tex``, ``linear_regression.md`` and ``loss_curve.png``.

    Args:
        output: A folder for the files; ``None`` writes none.
        stream: Where the report goes (default ``sys.stdout``).

    Returns:
        ``params`` (trained), ``least_squares`` (NumPy's ``[w, b]``), their largest
        ``difference`` and ``gradient_check_passed``.
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
    report = _check(compiled, compiled.prepare(data), numpy.array([0.5, -0.5]))
    say("\n== Gradient check at w = 0.5, b = -0.5")
    say(report.table())
    say("\n== Generated NumPy code (gradient)")
    say(compiled.source.split("\n\n\n")[2] if "\n\n\n" in compiled.source else compiled.source)
    if output:
        folder = Path(output)
        folder.mkdir(parents=True, exist_ok=True)
        files = [folder / name for name in ("linear_regression.tex", "linear_regression.md")]
        files.append(folder / "loss_curve.png")
        loss_curves(
            {"batch gradient descent": result.loss_history},
            files[2],
            title="Training loss, linear regression",
        )
        # The figure sits beside the documents, which include it by its file name.
        caption = (
            f"Training loss J per epoch: batch gradient descent, learning rate 0.5, 200 seeded "
            f"examples; J = {result.loss_history[-1]:.6f} after {len(result.loss_history) - 1} "
            f"epochs, w = {result.params['w']:.4f}, b = {result.params['b']:.4f}."
        )
        tex, end = to_document(derivation, title=_TITLE).rsplit("\\end{document}", 1)
        tex += (
            "\\section*{Training}\n\\begin{figure}[h]\n\\centering\n"
            f"\\includegraphics[width=0.8\\linewidth]{{{files[2].name}}}\n"
            f"\\caption{{{caption}}}\n\\end{{figure}}\n\\end{{document}}{end}"
        )
        files[0].write_text(tex, encoding="utf-8")
        markdown = to_markdown(derivation, title=_TITLE)
        markdown += f"\n**Training**\n\n![{caption}]({files[2].name})\n"
        files[1].write_text(markdown, encoding="utf-8")
        say("\nwrote " + ", ".join(str(file) for file in files))
    return {
        "params": result.params,
        "least_squares": exact.tolist(),
        "difference": difference,
        "gradient_check_passed": report.passed,
    }


def _cmd_demo(args: argparse.Namespace) -> int:
    figures = run_demo(args.output)
    return 0 if figures["gradient_check_passed"] and figures["difference"] < 1e-6 else 1
