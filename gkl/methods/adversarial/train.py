r"""One adversarial-training run: build the model, train it with the engine, rebuild it from its
checkpoint; and the released DKLv2 recipe.

**Checkpoint averaging** (released: momentum 0.9 over the per-epoch weights) is the engine's
``TrainConfig.ema_decay``; **raw [0, 1] inputs** (no normalisation, as released) are the model's
``mean``/``std`` (``normalize=False``, CLI ``--raw-inputs``). :func:`released_recipe` collects the
whole released recipe.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional, Union

import torch
from torch import nn

from gkl.data import get_dataset
from gkl.methods.adversarial.base import AdversarialConfig
from gkl.methods.adversarial.objective import AdversarialObjective
from gkl.methods.registry import ADVERSARIAL
from gkl.models import build_model
from gkl.training import TrainConfig, fit
from gkl.training.checkpoint import load_checkpoint
from gkl.training.device import seed_everything

__all__ = ["released_recipe", "train_adversarial", "load_trained"]


def released_recipe(dataset: str, method: str = "gkl") -> dict[str, dict[str, Any]]:
    """The released DKLv2 adversarial-training recipe for ``dataset`` (``cifar10``/``cifar100``), as
    ``{"adversarial": AdversarialConfig settings, "train": TrainConfig overrides, "model": {...}}``.

    WRN-34-10 on raw [0, 1] inputs, 200 epochs, batch 128, SGD lr 0.2 (cosine), wd 5e-4, ε = 8/255 with
    the released linear ramp, 5 attack steps of ε/2, AWP 0.005 from epoch 10, checkpoint averaging
    with momentum 0.9, the released inner attack, and the method's own released settings
    (``released_settings``: for GKL γ = 0.2 on CIFAR-10; the released CIFAR-100 GKL command passes
    ``--T 1.0``: prior at T=1, γ=0.4). IKL/GKL's defaults are the released α=4, β=20, CE at T=1,
    class prior at T=4.
    """
    if dataset not in ("cifar10", "cifar100"):
        raise ValueError(f"the released recipe is for cifar10 or cifar100, not {dataset!r}")
    adv: dict[str, Any] = {
        "epsilon": 8 / 255, "norm": "linf", "attack_steps": 5, "step_ratio": 0.5,
        "eps_schedule": "released-linear", "awp_gamma": 0.005, "awp_warmup": 10, "eval_steps": 10,
    }
    adv.update(ADVERSARIAL[method].released_settings(dataset))
    train = {"epochs": 200, "batch_size": 128, "lr": 0.2, "schedule": "cosine", "weight_decay": 5e-4,
             "momentum": 0.9, "ema_decay": 0.9}
    return {"adversarial": adv, "train": train, "model": {"name": "wrn34_10", "normalize": False}}


def train_adversarial(
    dataset: str,
    model_name: str,
    adv: AdversarialConfig,
    train: TrainConfig,
    out_dir: Optional[Union[str, Path]] = None,
    *,
    model_kwargs: Optional[dict[str, Any]] = None,
    data_root: Optional[Union[str, Path]] = None,
    train_subset: Optional[int] = None,
    resume: bool = False,
    overwrite: bool = False,
    stop_after: Optional[int] = None,
    data: Optional[tuple] = None,
    on_epoch: Optional[Callable[[dict[str, Any]], None]] = None,
    normalize: bool = True,
) -> tuple[nn.Module, list[dict[str, Any]]]:
    """Build the model (seeded by ``train.seed``), train it adversarially with the engine.

    ``data`` may pass ``(train_set, test_set, info)`` already loaded. ``train_subset`` trains on a
    fixed random subset (seeded by 0, the same for every run). ``normalize=False`` feeds raw [0, 1]
    inputs to the model (released). Returns ``(model, history)``: the model is the
    checkpoint-averaged one when ``train.ema_decay`` is set (``history.averaged_model``), else the
    last-epoch weights; the checkpoint's ``meta`` records how to rebuild it (see :func:`load_trained`).
    """
    train_set, test_set, info = data if data is not None else get_dataset(dataset, data_root)
    for part, name in ((train_set, "training"), (test_set, "test")):
        x = getattr(part, "inputs", None)  # uint8 images are served as floats in [0, 1]
        if x is not None and x.numel() and x.is_floating_point() and (float(x.min()) < 0.0 or float(x.max()) > 1.0):
            raise ValueError(f"{dataset}: the {name} inputs span [{float(x.min()):.3g}, {float(x.max()):.3g}], but the "
                             "attacks keep every input in the box [0, 1]; rescale the data into [0, 1] first"
                             + (" (the data set 'mnist1d-box')" if dataset == "mnist1d" else ""))
    if train_subset is not None and train_subset < len(train_set):
        train_set = train_set.subset(train_subset, seed=0)
    kw = info.model_kwargs(normalize, in_channels=True, **(model_kwargs or {}))
    seed_everything(train.seed, deterministic=train.deterministic)
    model = build_model(model_name, info.num_classes, **kw)
    meta = {
        "task": "adversarial",
        "dataset": dataset,
        "model": model_name,
        "model_kwargs": {k: list(v) if isinstance(v, tuple) else v for k, v in kw.items()},
        "num_classes": info.num_classes,
        "input_shape": list(info.input_shape),
        "adversarial": adv.to_dict(),
    }
    objective = AdversarialObjective(adv, info.num_classes)
    history = fit(
        model, objective, train_set, test_set, train, out_dir,
        resume=resume, overwrite=overwrite, meta=meta, stop_after=stop_after, on_epoch=on_epoch,
    )
    averaged = getattr(history, "averaged_model", None)
    return (averaged if averaged is not None else model), history


def load_trained(
    checkpoint: Union[str, Path], model_name: Optional[str] = None, device: Optional[torch.device] = None,
    weights: str = "averaged",
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model from a checkpoint written by the engine; returns ``(model, checkpoint)``.

    ``checkpoint`` is the file or its run folder. ``model_name``, if given, must match the
    checkpoint's (a clear ``ValueError`` otherwise, as for weights that do not fit the model).
    ``weights="averaged"`` loads the checkpoint-averaged weights when the run kept them (else the
    last ones); ``"last"`` always the last epoch's.
    """
    if weights not in ("averaged", "last"):
        raise ValueError(f"weights must be 'averaged' or 'last', got {weights!r}")
    path = Path(checkpoint)
    if path.is_dir():
        path = path / "checkpoint.pt"
    ckpt = load_checkpoint(path)
    meta = ckpt.get("meta") or {}
    if "model" not in meta or "num_classes" not in meta:
        raise ValueError(f"checkpoint {path} does not say which model it holds (no meta)")
    if model_name is not None and model_name != meta["model"]:
        raise ValueError(f"checkpoint {path} holds a {meta['model']!r} model, not {model_name!r}")
    model = build_model(meta["model"], int(meta["num_classes"]), **(meta.get("model_kwargs") or {}))
    state = ckpt["model"]
    if weights == "averaged" and "averaged_model" in ckpt:  # AveragedModel: "module.<name>" + n_averaged
        state = {k[len("module."):]: v for k, v in ckpt["averaged_model"].items() if k.startswith("module.")}
    try:
        model.load_state_dict(state)
    except (RuntimeError, KeyError) as err:
        first = str(err).strip().splitlines()[0]
        raise ValueError(f"checkpoint {path} does not fit model {meta['model']!r}: {first}") from None
    if device is not None:
        model.to(device)
    return model.eval(), ckpt
