"""``symgd notes`` and ``symgd plot-path``: lecture notes and descent-path figures.

Bad input raises :class:`~symgd.cli.options.UsageError` (exit 2, one line); a pdflatex error
or a diverged descent exits 1.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from symgd.cli.options import (
    UsageError,
    add_objective_arguments,
    count,
    failed,
    number,
    output_file,
    parameter_values,
    read_objective,
    refuse_steps,
)
from symgd.compile import compile_objective
from symgd.data import read_csv
from symgd.derivation import derive
from symgd.notes import TOPICS, custom_notes, descent_runs, figures_folder, write_notes
from symgd.render import descent_paths

__all__ = ["register"]

_NOTE_SUFFIXES = (".tex", ".md", ".pdf")


def _init(text: str | None, names) -> dict[str, float]:
    """``--init`` values; a parameter it leaves out starts at zero."""
    return parameter_values(text, names, "--init", default=0.0)


def _output(path: str | None, suffixes: tuple[str, ...]) -> Path:
    if not path:
        raise UsageError("give the output file with -o FILE")
    output = Path(path)
    if output.suffix.lower() not in suffixes:
        raise UsageError(f"output {output.name!r} must end in {', '.join(suffixes)}")
    return output_file(path, "-o")


def _cmd_notes(args: argparse.Namespace) -> int:
    if args.list:
        if args.topic or args.loss:
            raise UsageError("--list takes no topic and no --loss")
        width = max(len(name) for name in TOPICS)
        for name, topic in TOPICS.items():
            print(f"{name:<{width}}  {topic.summary}")
        return 0
    if bool(args.topic) == bool(args.loss):
        raise UsageError("give either a TOPIC (see --list) or a custom objective with --loss")
    output = _output(args.output, _NOTE_SUFFIXES)
    if args.slides and output.suffix.lower() == ".md":
        raise UsageError("--slides writes Beamer LaTeX: give -o FILE.tex or -o FILE.pdf")
    if args.topic:
        if args.topic not in TOPICS:
            raise UsageError(f"unknown topic {args.topic!r}; known: {', '.join(TOPICS)}")
        notes = args.topic
    else:
        if not args.params:
            raise UsageError("a custom objective needs --params")
        obj = read_objective(args)
        refuse_steps(obj)  # the notes show the compiled code
        data = read_csv(args.csv, [d.name for d in obj.data]) if args.csv is not None else None
        notes = custom_notes(
            obj,
            title=args.title,
            data=data,
            init=_init(args.init, tuple(p.name for p in obj.params)),
            learning_rate=args.lr,
            epochs=args.epochs,
            figures=figures_folder(output) if data else None,
        )
    try:
        written = write_notes(notes, output, pdf=args.pdf, slides=args.slides)
    except RuntimeError as error:  # pdflatex ran and reported an error: a failed check
        return failed(f"error: {error}")
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _cmd_plot_path(args: argparse.Namespace) -> int:
    output = _output(args.output, (".png", ".pdf"))
    obj = read_objective(args)
    refuse_steps(obj)
    if len(obj.params) != 2:
        raise UsageError(
            f"plot-path draws contours over two parameters; got {len(obj.params)} "
            f"({', '.join(p.name for p in obj.params)})"
        )
    compiled = compile_objective(derive(obj))
    data = read_csv(args.csv, compiled.data)
    init = _init(args.init, compiled.params)
    runs = descent_runs(
        compiled,
        data,
        init,
        learning_rate=args.lr,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    X = compiled.prepare(data)
    descent_paths(
        lambda theta: float(compiled.loss_function(theta, X)),
        {mode: path for mode, (_, path) in runs.items()},
        output,
        names=compiled.params,
        title=f"Descent paths, learning rate {args.lr:g}",
    )
    for mode, (result, path) in runs.items():
        values = ", ".join(f"{n} = {v:.6g}" for n, v in result.params.items())
        print(f"{mode}: {len(path) - 1} steps, {values}; {result.message}")
    print(f"wrote {output}")
    diverged = [mode for mode, (result, _) in runs.items() if result.diverged]
    if diverged:
        return failed(f"{diverged[0]} descent diverged: {runs[diverged[0]][0].message}")
    return 0


def _objective_options(parser: argparse.ArgumentParser, *, loss_positional: bool) -> None:
    add_objective_arguments(parser, loss_positional=loss_positional)
    parser.add_argument("--init", metavar="w=0,b=0", help="starting values (default: zeros)")
    parser.add_argument("--seed", type=count(at_least=0), default=0, help="shuffling seed")


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``notes`` and ``plot-path`` to the ``symgd`` command."""
    notes = commands.add_parser(
        "notes",
        help="lecture notes (.tex/.md/.pdf) for a catalogue topic or any objective",
        description="Write lecture notes: every formula from symgd's derivation engine.",
    )
    notes.add_argument("topic", nargs="?", help="a catalogue topic (see --list)")
    notes.add_argument("--list", action="store_true", help="list the catalogue topics")
    notes.add_argument("-o", "--output", metavar="FILE", help="FILE.tex, FILE.md or FILE.pdf")
    notes.add_argument("--pdf", action="store_true", help="also compile the .tex with pdflatex")
    notes.add_argument(
        "--slides", action="store_true", help="Beamer slides, one derivation step per overlay"
    )
    _objective_options(notes, loss_positional=False)
    notes.add_argument("--csv", help="custom notes: train on this CSV to draw the figures")
    notes.add_argument(
        "--lr", type=number(above=0), default=0.1, help="learning rate of the figures' runs"
    )
    notes.add_argument("--epochs", type=count(), default=100, help="epochs of the figures' runs")
    notes.add_argument("--title", default="Gradient derivation", help="custom notes: the title")
    notes.set_defaults(run=_cmd_notes)

    plot = commands.add_parser(
        "plot-path",
        help="batch, stochastic and mini-batch descent paths over the loss contours",
    )
    _objective_options(plot, loss_positional=True)
    plot.add_argument("--csv", required=True, help="CSV with a header naming the data symbols")
    plot.add_argument("-o", "--output", required=True, metavar="FILE", help="FILE.png or FILE.pdf")
    plot.add_argument("--lr", type=number(above=0), default=0.1, help="learning rate")
    plot.add_argument("--epochs", type=count(), default=20, help="passes over the data")
    plot.add_argument("--batch-size", type=count(), default=16, help="size of the mini-batches")
    plot.set_defaults(run=_cmd_plot_path)
