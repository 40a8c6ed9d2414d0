"""``python -m gkl.bench``: the loss benchmark (see :func:`gkl.bench.main`)."""

import sys

from gkl.bench import main

sys.exit(main())
