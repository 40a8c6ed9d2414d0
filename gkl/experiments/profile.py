"""What every experiment profile shares: :class:`ExperimentProfile`, the base of the distillation and
the adversarial-training profiles (:mod:`gkl.experiments.distill.profiles`,
:mod:`gkl.experiments.adversarial.profiles`).

A profile is a frozen description of one experiment: its name (also its cache folder), its data set,
its methods and seeds, and how long it trains. Copies with changes come from :meth:`replace`; the
tuning protocol (:mod:`gkl.experiments.protocol`) reads and sets the training length through
:attr:`epochs` and :meth:`with_epochs`, whatever a task calls it inside.

The chapters' profiles come from a recorded tuning sweep (``recorded/<task>-<profile>.json``) when
one exists (:func:`recorded_sweep`); without one a profile runs its methods at the **released**
configurations — the authors' own tuning, not re-tuned here — and says so in its ``source``
(:data:`RELEASED`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, TypeVar, Union

__all__ = ["CHAPTER_SEEDS", "AT_CHAPTER_SEEDS", "ExperimentProfile", "RELEASED", "recorded_source", "recorded_sweep"]

#: The seeds every chapter trains when the book is built: three, the fewest from which a paired
#: comparison gives a verdict (:func:`gkl.experiments.stats.paired_difference`). The two headline
#: comparisons come from the recorded full-power runs (30 seeds, ``recorded/*-power-cpu.json``), which
#: these build-time runs re-check as a slice; three seeds (not five) keep the cold build near 15 min.
CHAPTER_SEEDS = (0, 1, 2)
#: The seeds the adversarial chapter trains when the book is built: two, a slice of its recorded
#: full-power run (``recorded/adversarial-power-cpu.json``), whose 30 seeds give the chapter's verdict;
#: an AT run costs about five KD runs, and at three seeds the build-time comparison could detect only
#: differences of several AutoAttack points, so the third seed bought no verdict worth its minutes.
AT_CHAPTER_SEEDS = CHAPTER_SEEDS[:2]

#: The ``source`` of a chapter profile built without a recorded sweep.
RELEASED = "released configuration, not re-tuned here"


def recorded_source(record: Mapping[str, Any]) -> str:
    """The ``source`` of a chapter profile built from ``record``."""
    return f"tuned by the recorded sweep {record.get('task', '')}-{record.get('profile', '')}.json"


def recorded_sweep(task: str, record: Union[str, Path, Mapping[str, Any]]) -> Optional[dict[str, Any]]:
    """:func:`gkl.experiments.protocol.load_record` of ``record``, or ``None`` when ``record`` names a
    profile (``"gpu"``) whose sweep has not been recorded: the chapters then run the released
    configuration. A missing file named by a path is still an error."""
    from gkl.experiments import protocol
    from gkl.experiments.record import recorded_path

    if isinstance(record, str) and not Path(record).suffix and not recorded_path(f"{task}-{record}").is_file():
        return None
    return protocol.load_record(task, record)

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
