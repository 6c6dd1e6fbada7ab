"""``python -m symgd.cli``: the same as the ``symgd`` command."""

import sys

from symgd.cli.app import main

if __name__ == "__main__":
    sys.exit(main())
