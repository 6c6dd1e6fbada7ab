"""The ``symgd`` command line, one module per command group.

``app`` builds the parser and maps errors to exit codes; ``options`` holds what the groups
share; the groups are ``scalar`` (demo, derive, train, gradcheck), ``check``, ``net`` and
``notes`` (notes, plot-path).
"""

from symgd.cli.app import main as main

__all__ = ["main"]
