"""``python -m gkl ...``: see :mod:`gkl.cli`."""

from gkl.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
