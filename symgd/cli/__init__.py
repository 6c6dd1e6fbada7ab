"""The ``symgd`` command line, one module per command group."""

from symgd.cli.app import main as main

__all__ = ["main"]
