"""Cached student runs of a :class:`~gkl.experiments.distill.profiles.Profile`: one run, or a grid of
methods × seeds trained in parallel processes.

A run's folder is ``runs_dir/distill/<profile>/<method>-s<seed>-<key>`` (:func:`gkl.experiments.cache.run_folder`), the key hashing every setting
that changes its result (:func:`gkl.experiments.cache.run_key`), among them the method's own config
(``config.to_dict()``): a field added to one method's config never changes another method's runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

from gkl.experiments.cache import finished, run_folder, run_key
from gkl.experiments.distill.profiles import Profile
from gkl.experiments.runner import default_workers, run_parallel
from gkl.experiments.teachers import get_teacher, load_teacher, teacher_dir
from gkl.methods.distill import DISTILLERS, DistillConfig
from gkl.methods.distill.train import RunResult, train_student
from gkl.training import default_runs_dir

__all__ = ["run_method", "run_grid", "run_dir", "prefetch", "page_plan"]


def _needs_teacher(config: DistillConfig) -> bool:
    return DISTILLERS[config.method].needs_teacher


def run_dir(profile: Profile, config: DistillConfig, seed: int, root: Union[str, Path], teacher_hash: Optional[str]) -> Path:
    """The cache folder of one run: ``root/distill/<profile>/<method>-s<seed>-<hash of the settings>``."""
    train = profile.train_for(config, seed)
    settings = {
        "dataset": profile.dataset,
        "student": [profile.student_arch, dict(profile.student_kwargs)],
        "train": {k: v for k, v in train.items() if k not in ("progress", "device")},
        "distill": config.to_dict(),
        "augment": profile.augment,
        "train_subset": profile.train_subset,
        "teacher": teacher_hash if _needs_teacher(config) else None,
    }
    if profile.validation is not None:  # only then: the keys of test-set runs stay what they were
        settings["validation"] = profile.validation
    return run_folder(root, "distill", profile.name, config.method, seed, run_key(settings, length=12))


def run_method(
    profile: Profile,
    config: DistillConfig,
    seed: int,
    *,
    runs_dir: Optional[Union[str, Path]] = None,
    progress: bool = False,
    device: Optional[str] = None,
    data_root: Optional[str] = None,
) -> RunResult:
    """One student run of ``profile`` with ``config`` and ``seed``, cached by the hash of its settings.

    Two calls with the same settings (even from different chapters) share the folder of
    :func:`run_dir`. The teacher comes from :func:`gkl.experiments.teachers.get_teacher`.
    """
    root = Path(runs_dir if runs_dir is not None else default_runs_dir())
    teacher = None
    teacher_hash = None
    if _needs_teacher(config):
        loaded = get_teacher(profile.teacher_spec(), root, progress=progress, device=device, data_root=data_root)
        teacher, teacher_hash = loaded.model, loaded.weights_sha256
    train = profile.train_for(config, seed)
    return train_student(
        profile.dataset,
        profile.student_arch,
        dict(profile.student_kwargs),
        train,
        distill=config,
        teacher=teacher,
        teacher_hash=teacher_hash,
        augment=profile.augment,
        train_subset=profile.train_subset,
        out_dir=run_dir(profile, config, seed, root, teacher_hash),
        resume=True,
        progress=progress,
        device=device,
        data_root=data_root,
        validation=profile.validation,
    )


def _run_cached(task: tuple) -> None:
    """Worker of :func:`prefetch`: train one run into the cache (nothing returned)."""
    profile, config, seed, kw = task
    run_method(profile, config, seed, **kw)


def prefetch(
    profile: Profile,
    configs: Sequence[DistillConfig],
    seeds: Optional[tuple[int, ...]] = None,
    workers: Optional[int] = None,
    **kw: Any,
) -> int:
    """Train every ``(config, seed)`` not yet in the cache, all in **one** pool of ``workers``
    processes (default :func:`gkl.experiments.runner.default_workers`); return how many were trained.

    A page that needs several grids calls this first with all their configs: one pool keeps both
    cores busy to the end, where one pool per grid pays the start-up each time and idles a core on
    every odd tail. Results are the same either way (every run seeds itself and is read back from
    the cache)."""
    seeds = profile.seeds if seeds is None else seeds
    workers = default_workers(kw.get("device")) if workers is None else workers
    unique = list({run_key(c.to_dict()): c for c in configs}.values())
    tasks = [(profile, cfg, s, kw) for cfg in unique for s in seeds]
    if workers <= 1 or len(tasks) <= 1:
        return 0  # run_grid trains them in this process as it reads them
    root = Path(kw.get("runs_dir") or default_runs_dir())
    teacher_hash = None
    if any(_needs_teacher(c) for c in unique):
        teacher_hash = get_teacher(profile.teacher_spec(), root, progress=kw.get("progress", False),
                                   device=kw.get("device"), data_root=kw.get("data_root")).weights_sha256  # once
    epochs = int(profile.train["epochs"])
    tasks = [t for t in tasks if not finished(run_dir(profile, t[1], t[2], root, teacher_hash), epochs)]
    if len(tasks) > 1:
        run_parallel(_run_cached, tasks, workers)
    return len(tasks)


def run_grid(
    profile: Profile,
    configs: Optional[Mapping[str, DistillConfig]] = None,
    seeds: Optional[tuple[int, ...]] = None,
    workers: Optional[int] = None,
    **kw: Any,
) -> dict[str, list[RunResult]]:
    """Every config (default: the profile's methods) for every seed; label -> runs in seed order.

    With ``workers > 1`` (default :func:`gkl.experiments.runner.default_workers`) the runs not yet in
    the cache are first trained by that many fresh processes (:func:`prefetch`), then loaded here;
    results do not depend on ``workers`` (every run seeds itself).
    """
    configs = profile.methods if configs is None else configs
    seeds = profile.seeds if seeds is None else seeds
    prefetch(profile, list(configs.values()), seeds, workers, **kw)
    return {label: [run_method(profile, cfg, s, **kw) for s in seeds] for label, cfg in configs.items()}


def page_plan(
    profile: Profile,
    configs: Sequence[Union[DistillConfig, tuple[DistillConfig, Profile]]],
    record: Optional[Mapping[str, Any]] = None,
    seeds: Optional[tuple[int, ...]] = None,
    runs_dir: Optional[Union[str, Path]] = None,
) -> str:
    """What a page that needs ``configs`` × ``seeds`` runs of ``profile`` will train when it runs now
    (a ``(config, profile)`` pair trains under its own profile's training settings),
    for the top of the page: how many runs it needs, how many the run cache already holds (a chapter
    opened alone in Colab starts from an empty one), about how long the rest takes (the recorded
    sweep's per-epoch times, one CPU thread; none for a smoke run) and how to ask for a smoke run."""
    from gkl.experiments import smoke
    from gkl.experiments.sizing import recorded_epoch_s

    seeds = profile.seeds if seeds is None else seeds
    root = Path(runs_dir if runs_dir is not None else default_runs_dir())
    pairs = [(c, profile) if isinstance(c, DistillConfig) else tuple(c) for c in configs]
    unique = list({run_key({"distill": c.to_dict(), "train": p.train_for(c, 0)}): (c, p) for c, p in pairs}.values())
    teacher_file = teacher_dir(profile.teacher_spec(), root) / "teacher.pt"
    needs_teacher = any(_needs_teacher(c) for c, _ in unique)
    teacher_hash = load_teacher(teacher_file).weights_sha256 if needs_teacher and teacher_file.is_file() else None
    epochs = int(profile.train["epochs"])
    todo = [c.method for c, p in unique for s in seeds
            if (_needs_teacher(c) and teacher_hash is None)
            or not finished(run_dir(p, c, s, root, teacher_hash), epochs)]
    total = len(unique) * len(seeds)
    teacher = " (after training their teacher)" if needs_teacher and teacher_hash is None else ""
    head = (f"**Before it runs.** This page needs {total} student run(s) ({len(unique)} configuration(s) × "
            f"{len(seeds)} seed(s), {epochs} epoch(s) each); {total - len(todo)} are in the run cache "
            f"(`GKL_RUNS_DIR`, here `{root}`), so it trains {len(todo)}{teacher} now")
    per = recorded_epoch_s(record) if record is not None else {}
    if smoke.enabled():
        timing = " (a smoke run: its numbers only check that the code runs)."
    elif todo and all(m in per for m in todo):
        cpu_min = sum(per[m] for m in todo) * epochs / 60
        timing = (f": about {cpu_min:.0f} CPU-minutes of training, one thread per run, shared by the workers "
                  f"(the recorded sweep's per-epoch times; evaluation{' and the teacher' if teacher else ''} not counted).")
    else:
        timing = "."
    tip = "" if smoke.enabled() else (
        " To check only that it runs, with a tiny profile instead, set `GKL_SMOKE=1` before the first cell "
        "(in Colab: a first cell `%env GKL_SMOKE=1`): one epoch, two seeds, numbers that mean nothing.")
    return head + timing + tip
