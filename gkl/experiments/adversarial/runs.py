"""Runs of the adversarial-training experiment: train, evaluate (PGD, AutoAttack, PGD vs ε), cache.

A run's folder is ``runs_dir / "adversarial" / <profile> / <method>-s<seed>-<key>``
(:func:`gkl.experiments.cache.run_folder`, the key :meth:`Profile.key`); its ``result.json`` is reused
while the key is unchanged.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import torch
from torch import nn

from gkl.attacks import accuracy_vs_epsilon, robustness
from gkl.data import get_dataset
from gkl.experiments.adversarial.profiles import PROFILES, Profile
from gkl.experiments.cache import read_result, run_folder
from gkl.experiments.runner import default_workers, run_parallel
from gkl.methods.adversarial import load_trained, train_adversarial
from gkl.training import default_runs_dir
from gkl.training.device import get_device

__all__ = ["Experiment", "aa_points", "cached_runs", "run_one", "run_experiment"]


def _run_dir(runs_dir: Path, profile: Profile, label: str, seed: int) -> Path:
    return run_folder(runs_dir, "adversarial", profile.name, profile.adversarial_config(label).name, seed,
                      profile.key(label, seed))


def aa_points(profile: Profile, n_test: int, seed: int) -> torch.Tensor:
    """The test points AutoAttack runs on: the first ``autoattack_subset``, or with
    ``autoattack_rotate`` the slice starting at ``seed × autoattack_subset`` (mod ``n_test``), so
    that different seeds cover different points while every method of one seed is attacked on the
    same ones (the pairing of :func:`gkl.experiments.adversarial.paired`)."""
    n_aa = min(profile.autoattack_subset or n_test, n_test)
    start = (seed * n_aa) % n_test if profile.autoattack_rotate else 0
    return (torch.arange(n_aa) + start) % n_test


def _evaluate(profile: Profile, model: nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int,
              seed: int) -> dict[str, Any]:
    """The final evaluation of one trained model (see :func:`run_one`)."""
    n_aa = min(profile.autoattack_subset or x.shape[0], x.shape[0])
    aa_names = [a for a in profile.attacks if a.startswith("autoattack")]
    full_aa = n_aa == x.shape[0]
    first = list(profile.attacks) if full_aa else [a for a in profile.attacks if a not in aa_names]
    result = robustness(model, x, y, profile.epsilon, attacks=first, pgd_steps=profile.pgd_steps,
                        n_classes=num_classes, seed=seed)
    if aa_names:
        result["autoattack_n"] = n_aa
        if not full_aa:  # AutoAttack on n_aa test points only (stated with the results)
            idx = aa_points(profile, x.shape[0], seed)
            aa = robustness(model, x[idx], y[idx], profile.epsilon, attacks=["pgd", *aa_names],
                            pgd_steps=profile.pgd_steps, n_classes=num_classes, seed=seed)
            result.update({f"{a}_acc": aa[f"{a}_acc"] for a in aa_names})
            result["robust_acc"] = aa["robust_acc"]  # worst case over every attack, on that subset
            result["subset_pgd_acc"] = aa["pgd_acc"]  # PGD on the same points, to compare with AutoAttack
    result["robust_n"] = n_aa if aa_names else int(y.shape[0])
    result["curve_epsilons"] = list(profile.curve_epsilons)
    # Points already measured are not attacked again: ε = 0 is the clean accuracy, and at the
    # training ε the full-split PGD above is the same attack (PGD-pgd_steps, same step size and seed).
    known = {0.0: result["clean_acc"]}
    if "pgd_acc" in result:
        known[float(profile.epsilon)] = result["pgd_acc"]
    todo = [e for e in profile.curve_epsilons if float(e) not in known]
    measured = dict(zip(todo, accuracy_vs_epsilon(model, x, y, todo, steps=profile.pgd_steps, seed=seed))) if todo else {}
    result["curve_pgd_acc"] = [known[float(e)] if float(e) in known else measured[e] for e in profile.curve_epsilons]
    return result


def run_one(profile: Profile, label: str, seed: int, runs_dir: Union[str, Path], device: Optional[str] = None,
            threads: Optional[int] = 1) -> dict[str, Any]:
    """Train (or reuse a finished run of) one method and seed, evaluate it, cache ``result.json``.

    With ``profile.validation`` the model trains on the training part of the split only (the
    validation part is the sweep's). The result holds the per-epoch history (on the test split), ``clean_acc``, ``pgd_acc``, ``autoattack_acc``,
    ``robust_acc`` (per-point worst case over every attack, on the ``robust_n`` points every attack
    ran on: the AutoAttack subset when there is one), the PGD accuracy at each of
    ``curve_epsilons`` and the wall times. ``threads`` pins torch's CPU threads during the run
    (1 makes results independent of how many runs share the machine).
    """
    out = _run_dir(Path(runs_dir), profile, label, seed)
    key = profile.key(label, seed)
    res_path = out / "result.json"
    cached = read_result(res_path, key)
    if cached is not None:
        return cached
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        data = get_dataset(profile.dataset, profile.data_root)
        train_part, _ = profile.split(data[0])  # with a validation split: its training part only
        t0 = time.perf_counter()
        model, history = train_adversarial(
            profile.dataset, profile.model, profile.adversarial_config(label), profile.train_config(seed, device), out,
            model_kwargs=profile.model_kwargs, overwrite=True, data=(train_part, data[1], data[2]),
            train_subset=profile.train_subset if profile.validation is None else None, normalize=profile.normalize,
        )
        train_s = time.perf_counter() - t0
        x, y = data[1].tensors()
        if profile.test_subset is not None:  # final evaluation on the first test_subset test points
            x, y = x[: profile.test_subset], y[: profile.test_subset]
        t0 = time.perf_counter()
        result = {"key": key, "method": label, "seed": seed, "n_test": int(y.shape[0]),
                  **_evaluate(profile, model, x, y, data[2].num_classes, seed)}
        result["eval_s"] = time.perf_counter() - t0
        result["train_s"] = train_s
        result["history"] = history
    finally:
        torch.set_num_threads(old_threads)
    res_path.write_text(json.dumps(result))
    return result


def _run_one_star(args: tuple) -> dict[str, Any]:
    return run_one(*args)


@dataclass
class Experiment:
    """Results of :func:`run_experiment`: one record per (method, seed) and where the runs live."""

    profile: Profile
    records: list[dict[str, Any]]
    runs_dir: Path
    wall_s: float

    def run_dir(self, label: str, seed: int) -> Path:
        return _run_dir(self.runs_dir, self.profile, label, seed)

    def load_model(self, label: str, seed: int) -> nn.Module:
        return load_trained(self.run_dir(label, seed))[0]

    def methods(self) -> list[str]:
        return list(self.profile.methods)


def cached_runs(profile: Profile, runs_dir: Optional[Union[str, Path]] = None) -> tuple[int, int]:
    """``(finished, all)``: how many of the profile's method × seed runs the run cache already holds
    (what :func:`run_experiment` will read back instead of training)."""
    runs = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    jobs = [(label, seed) for label in profile.methods for seed in profile.seeds]
    done = sum(read_result(_run_dir(runs, profile, label, seed) / "result.json", profile.key(label, seed)) is not None
               for label, seed in jobs)
    return done, len(jobs)


def run_experiment(
    profile: Union[str, Profile] = "cpu",
    runs_dir: Optional[Union[str, Path]] = None,
    workers: Optional[int] = None,
    device: Optional[str] = None,
) -> Experiment:
    """Every method × seed of a profile: train, evaluate (PGD, AutoAttack, PGD vs ε), cache.

    Runs are independent and seeded, so they may run in parallel processes (``workers``; default
    :func:`gkl.experiments.runner.default_workers`: up to 2 on CPU, 1 on a GPU) with results identical
    to a serial run. Finished runs under ``runs_dir`` (default :func:`gkl.training.default_runs_dir`)
    with the same settings are reused.
    """
    prof = PROFILES[profile] if isinstance(profile, str) else profile
    runs = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    threads = 1 if get_device(device).type == "cpu" else None  # one thread per CPU run; a GPU run keeps its own
    jobs = [(prof, label, seed, runs, device, threads) for label in prof.methods for seed in prof.seeds]
    if workers is None:
        workers = default_workers(device, len(jobs))
    t0 = time.perf_counter()
    if prof.dataset.startswith("cifar"):
        get_dataset(prof.dataset, prof.data_root)  # download once, before any worker starts
    records = run_parallel(_run_one_star, jobs, workers)
    return Experiment(prof, records, runs, time.perf_counter() - t0)
