"""The adversarial-training experiment of the chapter: profiles (:mod:`.profiles`), cached runs
(:mod:`.runs`) and the tables and paired comparisons (:mod:`.tables`)."""

from gkl.experiments.adversarial.profiles import PROFILES, Profile
from gkl.experiments.adversarial.runs import Experiment, run_experiment, run_one
from gkl.experiments.adversarial.tables import describe_methods, format_table, paired, summarize

__all__ = ["PROFILES", "Profile", "Experiment", "run_experiment", "run_one", "describe_methods", "format_table",
           "paired", "summarize"]
