"""What every experiment profile shares: :class:`ExperimentProfile`, the base of the distillation and
the adversarial-training profiles (:mod:`gkl.experiments.distill.profiles`,
:mod:`gkl.experiments.adversarial.profiles`).

A profile is a frozen description of one experiment: its name (also its cache folder), its data set,
its methods and seeds, and how long it trains. Copies with changes come from :meth:`replace`; the
tuning protocol (:mod:`gkl.experiments.protocol`) reads and sets the training length through
:attr:`epochs` and :meth:`with_epochs`, whatever a task calls it inside.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["ExperimentProfile"]

P = TypeVar("P", bound="ExperimentProfile")


@dataclass(frozen=True)
class ExperimentProfile:
    """Base of every task's profile.

    Attributes:
        name: the profile's name (also the cache sub-folder of its runs).
        dataset: the data set's name (:func:`gkl.data.get_dataset`).
    """

    name: str
    dataset: str

    def replace(self: P, **changes: Any) -> P:
        """A copy with ``changes`` (an unknown field is a one-line ``ValueError``)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"{type(self).__name__} has no field {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)

    @property
    def train_epochs(self) -> int:
        """How many epochs each run trains."""
        raise NotImplementedError

    def with_epochs(self: P, epochs: int) -> P:
        """A copy whose runs train ``epochs`` epochs."""
        raise NotImplementedError
