"""What every sub-command shares: the one-line user error, argument types and the run folder's
checks (``--resume`` / ``--overwrite``)."""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path
from typing import Optional

__all__ = ["CLIError", "Parser", "number", "fail", "check_positive_int", "pick", "add_run_folder_flags",
           "check_run_folder", "finished_message", "model_names"]


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


def model_names() -> str:
    """``"mnist1d_cnn, mnist1d_mlp, ..."``: the registered models (:func:`gkl.models.available_models`), for help texts."""
    from gkl.models import available_models

    return ", ".join(available_models())


def add_run_folder_flags(parser) -> None:
    """``--resume`` and ``--overwrite`` (they exclude each other) of a command that trains into ``--out``."""
    g = parser.add_mutually_exclusive_group()
    g.add_argument("--resume", action="store_true",
                   help="continue the run in --out (a finished run is reported, not retrained)")
    g.add_argument("--overwrite", action="store_true", help="start afresh even if --out holds a checkpoint")


def check_run_folder(out: Path, resume: bool, overwrite: bool) -> Optional[int]:
    """Check the run folder ``out`` before anything is built; returns the epoch of the checkpoint that
    ``--resume`` continues (``None`` when there is none, or without ``--resume``).

    A checkpoint there without ``--resume`` / ``--overwrite`` is a :class:`CLIError` in the command
    line's words; a checkpoint that cannot be read is a one-line ``ValueError``
    (:func:`gkl.training.checkpoint.load_checkpoint`), raised here, before data or teachers are loaded.
    """
    ckpt = Path(out) / "checkpoint.pt"
    if not ckpt.exists():
        return None
    if not (resume or overwrite):
        raise CLIError(f"{ckpt} exists: pass --resume to continue it, or --overwrite to start afresh")
    if not resume:
        return None
    from gkl.training.checkpoint import load_checkpoint

    state = load_checkpoint(ckpt)
    try:
        return int(state["epoch"])
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"checkpoint {ckpt} records no epoch: it is not a run's checkpoint") from None


def finished_message(out: Path, epochs: int) -> str:
    """What ``--resume`` of a finished run prints."""
    return (f"the run in {out} is already finished ({epochs} of {epochs} epochs): nothing to train "
            f"(--overwrite starts it afresh)")
