"""``python -m gkl.bench``: the loss benchmark, the same as ``python -m gkl bench`` (:mod:`gkl.cli.bench`)."""

import sys

from gkl.cli import main

sys.exit(main(["bench", *sys.argv[1:]]))
