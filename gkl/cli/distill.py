"""``python -m gkl distill``: knowledge distillation of one student."""

from __future__ import annotations

__all__ = ["add_parser"]


def add_parser(sub) -> None:
    from gkl import distill

    p = sub.add_parser("distill", help="knowledge distillation (KD, DKD, IKL, GKL)")
    distill.add_cli_arguments(p)
    p.set_defaults(func=lambda args: distill.run_cli(args))
