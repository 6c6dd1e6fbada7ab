"""symgd: derive, render, compile, train and check gradients of learning objectives.

Exit status: 0 success, 1 a check failed (or training diverged), 2 bad input —
always with one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import numpy

from symgd.cli import check, net, notes, scalar
from symgd.cli.options import UsageError, one_line
from symgd.parse import ParseError

__all__ = ["build_parser", "main"]

#: The command groups, in the order ``symgd --help`` lists their sub-commands.
_GROUPS = (scalar, check, net, notes)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not argparse's usage block
        raise UsageError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``symgd`` command: every group's sub-commands."""
    parser = _Parser(prog="symgd", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for group in _GROUPS:
        group.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``symgd`` command; returns the exit status.

    Args:
        argv: The arguments after ``symgd``; ``None`` reads ``sys.argv``.

    Returns:
        0 on success, 1 when a check failed or training diverged, 2 for bad input (one line
        on stderr), 130 when interrupted, 141 (quietly) when the reader of the output went
        away, as ``symgd … | head`` does; other Unix tools end there by ``SIGPIPE``.

    Example:
        >>> main(["derive", "(y - w*x)**2/2", "--params", "w", "--data", "x,y"])
        loss: (y - w*x)**2/2
        dl/dw = x*(w*x - y)
        ...
        0
    """
    try:
        args = build_parser().parse_args(argv)
        # Overflow is reported by the commands (a diverged run, a failed check), not as warnings.
        with numpy.errstate(over="ignore", invalid="ignore", divide="ignore"):
            status = args.run(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return status
    except BrokenPipeError:
        _silence_stdout()
        return 141
    except (UsageError, ParseError, ValueError, OSError, ArithmeticError) as error:
        print(f"symgd: error: {one_line(str(error)) or type(error).__name__}", file=sys.stderr)
        return 2
    except (RecursionError, MemoryError) as error:  # a last guard; the budgets should hold first
        print(
            f"symgd: error: the input is too large or too deeply nested ({type(error).__name__})",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("symgd: interrupted", file=sys.stderr)
        return 130


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so the exit's flush of the closed pipe stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (e.g. captured in tests)
        pass


if __name__ == "__main__":
    sys.exit(main())
