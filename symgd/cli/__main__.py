"""``python -m symgd.cli``: the same as the ``symgd`` command."""

import sys

from symgd.cli.app import main

sys.exit(main())
