"""What every sub-command shares: the one-line user error and argument types."""

from __future__ import annotations

import argparse
from fractions import Fraction
from typing import Optional

__all__ = ["CLIError", "Parser", "number", "fail", "check_positive_int", "pick"]


class CLIError(Exception):
    """A user error: printed as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage dump)."""

    def error(self, message: str) -> None:
        raise CLIError(message)


def number(text: str) -> float:
    """A float, also written as a fraction such as ``8/255``."""
    try:
        return float(Fraction(text)) if "/" in text else float(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def fail(message: str):
    """Raise :class:`CLIError` (usable in a lambda)."""
    raise CLIError(message)


def check_positive_int(value: Optional[int], name: str, allow_zero: bool = False) -> None:
    if value is not None and (value < 0 or (value == 0 and not allow_zero)):
        raise CLIError(f"{name} must be {'>= 0' if allow_zero else '>= 1'}, got {value}")



def pick(*values):
    """The first value that is not ``None``."""
    return next((v for v in values if v is not None), None)


