"""Distillation experiments (what the chapters run): profiles, cached runs and grids, summaries and
verdicts, calibration, ablation sweeps, a copy-paste recipe, and the design-time pair search.

The distillers themselves are in :mod:`gkl.methods.distill`.
"""

from gkl.experiments.distill.ablations import (
    MOVES,
    Sweep,
    ablation_rows,
    ablation_sweeps,
    claim_pairs,
    claim_profile,
    kd_with_student_wmse,
    released_balance,
    run_ablation,
)
from gkl.experiments.distill.calibration import student_report
from gkl.experiments.distill.compare import (
    compare_to,
    difference_sentence,
    format_comparison,
    format_headline,
    format_table,
    headline,
    paired_verdict,
    records_to_markdown,
    summarize,
    verdict_between,
)
from gkl.experiments.distill.profiles import (
    CIFAR_TRAIN,
    CONFIGS,
    CPU_PROFILE,
    DEFAULT_METHOD_CONFIGS,
    DEFAULT_TRAIN,
    GPU_PROFILE,
    PROFILES,
    Profile,
)
from gkl.experiments.distill.recipe import gkl_recipe
from gkl.experiments.distill.runs import page_plan, prefetch, run_dir, run_grid, run_method
from gkl.experiments.distill.search import PAIR_SEARCH, trends_vs_reported
from gkl.experiments.distill.sweep import BUDGETS, GRIDS, TOLERANCE, VALIDATION, chosen_table, tuned_profile

__all__ = [
    "Profile", "PROFILES", "CPU_PROFILE", "GPU_PROFILE", "CONFIGS", "CIFAR_TRAIN", "DEFAULT_TRAIN",
    "DEFAULT_METHOD_CONFIGS", "run_method", "run_grid", "run_dir", "prefetch", "page_plan", "summarize", "format_table", "compare_to",
    "verdict_between", "difference_sentence", "format_comparison", "paired_verdict", "records_to_markdown",
    "student_report", "Sweep", "MOVES", "ablation_sweeps", "run_ablation", "ablation_rows", "claim_pairs", "claim_profile",
    "kd_with_student_wmse", "released_balance", "gkl_recipe", "PAIR_SEARCH",
    "trends_vs_reported", "headline", "format_headline", "BUDGETS", "GRIDS", "TOLERANCE", "VALIDATION", "chosen_table",
    "tuned_profile",
]
