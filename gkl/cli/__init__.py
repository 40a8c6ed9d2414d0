"""Command line: ``python -m gkl adversarial | evaluate | distill | bench | sweep | power``.

Examples::

    python -m gkl adversarial --dataset digits --method gkl --epochs 12 --epsilon 0.2 --out runs/gkl
    python -m gkl adversarial --dataset digits --method gkl --epochs 12 --epsilon 0.2 --out runs/gkl --resume
    python -m gkl adversarial --dataset cifar10 --method gkl --preset released --out runs/gkl-c10
    python -m gkl evaluate --checkpoint runs/gkl/checkpoint.pt --attack autoattack
    torchrun --nproc_per_node 4 -m gkl adversarial --dataset cifar10 --model wrn34_10 --method gkl ...

``adversarial`` writes ``OUT/metrics.jsonl`` (one JSON object per epoch, also printed) and
``OUT/checkpoint.pt`` (every epoch; ``--resume`` continues a killed run and says so of a finished one;
a checkpoint there without ``--resume`` or ``--overwrite`` is an error). ``evaluate`` prints clean
and robust accuracy and saves them as JSON. Bad arguments or inputs end with one line
``gkl: error: ...`` on stderr and exit code 2 — never a traceback.
"""

from __future__ import annotations

import sys
from typing import Optional, Sequence

from gkl.cli import adversarial, bench, distill, evaluate, power, sweep
from gkl.cli.common import CLIError, Parser

__all__ = ["main", "build_parser", "CLIError", "SUBCOMMANDS"]

PROG = "gkl"  #: the prefix of error lines (``gkl: error: ...``)
#: what the usage lines name: the command that runs this CLI (the package installs no ``gkl`` script)
USAGE_PROG = "python -m gkl"

#: One module per sub-command, each with ``add_parser(subparsers)`` (which sets ``func``).
SUBCOMMANDS = {"adversarial": adversarial, "evaluate": evaluate, "distill": distill, "bench": bench, "sweep": sweep,
               "power": power}


def build_parser() -> Parser:
    """The parser of ``python -m gkl``; built on each call, so registered methods appear in it."""
    parser = Parser(prog=USAGE_PROG, description="Generalized KL divergence: training and evaluation.")
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(SUBCOMMANDS) + "}", parser_class=Parser)
    sub.required = True
    for module in SUBCOMMANDS.values():
        module.add_parser(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point; returns the exit code (2 for user errors, printed as one line)."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    except CLIError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, FileNotFoundError, FileExistsError, FloatingPointError, KeyError) as err:
        msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        print(f"{PROG}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
