"""The adversarial-training experiment's settings: :class:`Profile` and the named :data:`PROFILES`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from gkl.experiments.cache import run_key
from gkl.experiments.profile import RELEASED, ExperimentProfile
from gkl.experiments.sizing import Sizing, at_sizing
from gkl.methods.adversarial import ADVERSARIAL, AdversarialConfig, AttackSetup, attack_defaults, released_recipe
from gkl.methods.registry import MethodConfig
from gkl.training import TrainConfig

__all__ = ["Profile", "PROFILES", "GPU_EPOCHS", "GPU_AA_POINTS", "gpu_sizing"]

#: Every attack default comes from one place: AttackSetup (and, per data set, attack_defaults).
_SETUP = AttackSetup()
_DIGITS = attack_defaults("digits")

#: A method of a profile: ``(registered name, settings)`` or the method's config itself.
MethodSpec = Union[tuple[str, dict[str, Any]], MethodConfig]


@dataclass(frozen=True)
class Profile(ExperimentProfile):
    """Everything an experiment needs: data, model, training, attacks, seeds, methods.

    ``methods`` maps a label to ``(method, settings)`` (settings of the method's config or of the
    attack setup, over the profile's) or to a method config (e.g. ``GKL.Config(gamma=0.0)``).
    ``attacks`` are names understood by :func:`gkl.attacks.robustness` (``"autoattack"`` is the
    standard AutoAttack, ``"autoattack_fast"`` a reduced budget, labelled as such).
    ``autoattack_subset`` ``None`` evaluates AutoAttack on the full test split (``test_subset``: the
    final evaluation uses only the first that many test points); ``autoattack_rotate`` moves each
    seed's AutoAttack subset to its own slice of the test split (see
    :func:`gkl.experiments.adversarial.runs.aa_points`). ``eps_schedule``,
    ``awp_gamma``/``awp_warmup`` (AWP), ``ema_decay`` (checkpoint averaging, evaluated at the end) and
    ``normalize=False`` (raw inputs) switch on the parts of the released recipe (see
    :func:`gkl.methods.adversarial.released_recipe`); ``amp`` is the engine's mixed precision
    (``"fp16"`` on the GPU profile, sized for a T4). ``progress`` draws the engine's progress bar
    (``tqdm.auto``: steps of the epoch and its time left; on for the GPU profile); ``source`` says where
    the methods' settings come from (:func:`gkl.experiments.adversarial.selection.tuned_profile`:
    a recorded sweep, or :data:`gkl.experiments.profile.RELEASED`). Neither is part of a run key.

    ``validation = (n, n_val)`` carves a validation part from the training split
    (:meth:`gkl.data.TensorDataset.split` seeded by ``split_seed``): runs train on the first ``n``
    samples only, the tuning sweep (:mod:`gkl.experiments.adversarial.sweep`) evaluates on the next
    ``n_val``, and the test split is never used for a choice. ``eval_every`` sets how often the
    engine evaluates during training (always after the last epoch).
    """

    model: str
    epsilon: float
    epochs: int
    methods: dict[str, MethodSpec]
    seeds: tuple[int, ...] = (0, 1, 2)
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 64
    optimizer: str = "sgd"
    lr: float = 0.05
    weight_decay: float = 5e-4
    warmup_epochs: float = 0.0
    attack_steps: int = _SETUP.attack_steps
    step_ratio: float = _SETUP.step_ratio
    eps_schedule: str = _SETUP.eps_schedule
    eps_warmup: float = _SETUP.eps_warmup
    awp_gamma: Optional[float] = None
    awp_warmup: int = _SETUP.awp_warmup
    ema_decay: Optional[float] = None
    normalize: bool = True
    schedule: str = "cosine"
    pgd_steps: int = 20
    attacks: tuple[str, ...] = ("pgd", "autoattack")
    autoattack_subset: Optional[int] = None
    autoattack_rotate: bool = False
    test_subset: Optional[int] = None
    eval_subset: Optional[int] = None
    train_subset: Optional[int] = None
    curve_epsilons: tuple[float, ...] = ()
    validation: Optional[tuple[int, int]] = None
    split_seed: int = 0
    eval_every: int = 1
    data_root: Optional[str] = None
    num_workers: int = 0
    deterministic: bool = True
    amp: Optional[str] = None
    progress: bool = False
    source: str = "as defined in gkl.experiments.adversarial.profiles"

    @property
    def train_epochs(self) -> int:
        return int(self.epochs)

    def with_epochs(self, epochs: int) -> "Profile":
        return self.replace(epochs=int(epochs))

    def split(self, train_set: Any) -> tuple[Any, Any]:
        """``(training part, validation part)`` of ``train_set`` (``validation`` set), else
        ``(train_set, None)``; ``train_subset`` applies only without a validation split."""
        if self.validation is None:
            return train_set, None
        return train_set.split(*self.validation, seed=self.split_seed)

    def key(self, method_label: str, seed: int) -> str:
        """The run key of one method and seed: the profile's settings that shape a run (not its other
        methods, seeds, data folder, progress bar or source) and the method's full config, so a change to one method's
        config never changes another's key."""
        shared = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                  if f.name not in _NOT_IN_KEY}
        return run_key({"profile": shared, "method": method_label, "seed": seed,
                        "adversarial": self.adversarial_config(method_label).to_dict()})

    def adversarial_config(self, label: str) -> AdversarialConfig:
        """The full config of method ``label``: the profile's attack setup and the method's settings."""
        spec = self.methods[label]
        base = {
            "epsilon": self.epsilon,
            "attack_steps": self.attack_steps,
            "step_ratio": self.step_ratio,
            "eps_schedule": self.eps_schedule,
            "eps_warmup": self.eps_warmup,
            "awp_gamma": self.awp_gamma,
            "awp_warmup": self.awp_warmup,
            "eval_steps": _SETUP.eval_steps,
        }
        if isinstance(spec, MethodConfig):
            return AdversarialConfig(AttackSetup(**{k: v for k, v in base.items() if v is not None}), spec)
        method, overrides = spec
        return AdversarialConfig.for_method(method, **{**base, **overrides})

    def train_config(self, seed: int, device: Optional[str] = None) -> TrainConfig:
        return TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            optimizer=self.optimizer,
            lr=self.lr,
            weight_decay=self.weight_decay,
            schedule=self.schedule,
            warmup_epochs=self.warmup_epochs,
            ema_decay=self.ema_decay,
            seed=seed,
            eval_subset=self.eval_subset,
            eval_every=self.eval_every,
            num_workers=self.num_workers,
            deterministic=self.deterministic,
            amp=self.amp,
            device=device,
            progress=self.progress,
        )


#: Profile fields that never change a run's result (nor, therefore, its key).
_NOT_IN_KEY = ("methods", "seeds", "data_root", "progress", "source")


#: The methods of the chapters, keyed by label: every registered method at its released settings (each
#: method's defaults: IKL/GKL α=4, β=20, CE at T=1, prior at T=4, the released inner attack; TRADES β=6
#: with its KL attack).
_METHODS: dict[str, MethodSpec] = {ADVERSARIAL[m].label: (m, {}) for m in ADVERSARIAL.names()}


def _released_cifar10_profile(base: Profile) -> Profile:
    rec = released_recipe("cifar10")
    adv, train = rec["adversarial"], rec["train"]
    return base.replace(
        name="gpu-released", model=rec["model"]["name"], normalize=False,
        attack_steps=adv["attack_steps"], step_ratio=adv["step_ratio"], eps_schedule=adv["eps_schedule"],
        awp_gamma=adv["awp_gamma"], awp_warmup=adv["awp_warmup"], ema_decay=train["ema_decay"],
        epochs=train["epochs"], batch_size=train["batch_size"], lr=train["lr"], weight_decay=train["weight_decay"],
        train_subset=None, validation=None, seeds=(0,), amp=None, eval_every=1, source=RELEASED,
    )


#: ``cpu``: the digits experiment (its runs train on 1,137 of the 1,437 training images; the other
#: 300 are the validation part of the tuning sweep; the chapter runs the sweep's chosen settings).
#: ``gpu``: the released CIFAR-10 recipe (5-step attack of step ε/2, linear ε ramp, lr 0.2, weight
#: averaging, raw inputs; AWP from epoch 10, so never within this budget) on PreActResNet-18 and
#: 45,000 of the 50,000 training images (5,000 validation), fp16 mixed precision; its epochs are the
#: number that fit 30 minutes on a Colab T4 for the four methods with their evaluation,
#: by :func:`gkl.experiments.sizing.at_sizing` (an estimate until a device check measures the epoch;
#: ``tests/test_sizing.py`` keeps the two equal). Its methods run at their released settings (the
#: authors' tuning) until a ``gpu`` sweep is recorded; it checkpoints every epoch (a run resumes after a
#: disconnect, losing at most the epoch under way) and draws progress bars. ``gpu-released``: the full released recipe on
#: CIFAR-10 (WRN-34-10, 200 epochs: days on one GPU).
PROFILES: dict[str, Profile] = {
    "cpu": Profile(
        name="cpu",
        dataset="digits",
        model="small_cnn",
        model_kwargs={"widths": [16, 32, 64]},
        epochs=10,
        methods=_METHODS,
        seeds=(0, 1, 2),
        batch_size=64,
        lr=0.05,
        **{k: _DIGITS[k] for k in ("epsilon", "attack_steps", "step_ratio")},  # the digits threat model
        eps_warmup=3.0,  # the chapter's ε ramp: 3 of its epochs
        autoattack_subset=120,  # standard AutoAttack costs ~0.25 s per point here: a stated third
        curve_epsilons=(0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3),
        validation=(1137, 300),  # of digits' 1,437 training images: 1,137 to train on, 300 to choose with
    ),
}


def _gpu_profile() -> Profile:
    rec = released_recipe("cifar10")
    adv, train = rec["adversarial"], rec["train"]
    return Profile(
        name="gpu", dataset="cifar10", model="preact_resnet18", epsilon=adv["epsilon"], methods=_METHODS, seeds=(0,),
        epochs=GPU_EPOCHS, batch_size=train["batch_size"], lr=train["lr"], weight_decay=train["weight_decay"],
        attack_steps=adv["attack_steps"], step_ratio=adv["step_ratio"], eps_schedule=adv["eps_schedule"],
        awp_gamma=adv["awp_gamma"], awp_warmup=adv["awp_warmup"], ema_decay=train["ema_decay"], normalize=False,
        validation=(45_000, 5_000), eval_subset=1000, test_subset=1000, autoattack_subset=GPU_AA_POINTS,
        curve_epsilons=(0.0, 4 / 255, 8 / 255, 12 / 255), eval_every=GPU_EPOCHS, num_workers=2,
        deterministic=False, amp="fp16", progress=True, source=RELEASED,
    )


#: The ``gpu`` profile's epochs and AutoAttack points (see :func:`gpu_sizing`).
GPU_EPOCHS = 5
GPU_AA_POINTS = 200
PROFILES["gpu"] = _gpu_profile()
PROFILES["gpu-released"] = _released_cifar10_profile(PROFILES["gpu"])


def gpu_sizing(profile: Optional[Profile] = None, epoch_s: Optional[float] = None) -> Sizing:
    """How many epochs of ``profile`` (default ``gpu``) fit 30 minutes on a Colab T4: every method
    trained once on the training part and evaluated (PGD on ``test_subset`` points, AutoAttack on
    ``autoattack_subset``). ``epoch_s``: a measured epoch (e.g. from a device check) instead of the
    FLOP estimate of :func:`gkl.experiments.sizing.at_sizing`."""
    from gkl.models import build_model

    p = profile or PROFILES["gpu"]
    # PGD-AT trains on the adversarial batch only; TRADES, IKL and GKL on the clean and the adversarial one
    passes = {label: 1 if p.adversarial_config(label).name == "pgd-at" else 2 for label in p.methods}
    n_train = p.validation[0] if p.validation else (p.train_subset or 50_000)
    return at_sizing(build_model(p.model, 10), n_train, p.attack_steps, passes, eval_points=p.test_subset or 10_000,
                     pgd_steps=p.pgd_steps, aa_points=p.autoattack_subset or 10_000, epoch_s=epoch_s)
