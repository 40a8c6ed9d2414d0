"""The adversarial-training experiment of the chapter: profiles (:mod:`.profiles`), cached runs
(:mod:`.runs`), the tables and paired comparisons (:mod:`.tables`), the tuning sweep on a validation
split (:mod:`.sweep`) and its choices (:mod:`.selection`)."""

from gkl.experiments.adversarial.profiles import PROFILES, Profile
from gkl.experiments.adversarial.runs import Experiment, cached_runs, run_experiment, run_one
from gkl.experiments.adversarial.selection import (
    CHAPTER_AA_POINTS,
    CHAPTER_CURVE_EPSILONS,
    RELEASED_BASELINE,
    chapter_plan,
    chapter_profile,
    config_scores,
    grid_neighbours,
    label,
    strongest_baseline,
    tuned_profile,
)
from gkl.experiments.adversarial.tables import (
    describe_methods,
    format_budgets,
    format_choices,
    format_grid,
    format_neighbours,
    format_table,
    paired,
    plateau_note,
    summarize,
)

__all__ = ["PROFILES", "Profile", "Experiment", "cached_runs", "run_experiment", "run_one", "describe_methods", "format_table",
           "paired", "summarize", "format_choices", "config_scores", "grid_neighbours", "label", "tuned_profile", "format_grid", "format_budgets",
           "format_neighbours", "plateau_note", "CHAPTER_AA_POINTS", "CHAPTER_CURVE_EPSILONS", "chapter_profile",
           "RELEASED_BASELINE", "strongest_baseline", "chapter_plan"]
