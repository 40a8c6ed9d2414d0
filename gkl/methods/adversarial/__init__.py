r"""Adversarial-training methods, one file each, registered in :data:`ADVERSARIAL`.

``o_c`` = clean logits, ``o_a`` = adversarial logits (both from the model in train mode):

* :mod:`.pgd_at` — PGD-AT: :math:`\mathcal{L}_{CE}(o_a, y)`, the last PGD iterate on the label CE;
* :mod:`.trades` — TRADES: :math:`\mathcal{L}_{CE}(o_c, y) + \beta\,\mathrm{KL}(s_c \| s_a)`;
* :mod:`.gkl`, :mod:`.ikl` — as released: :math:`\mathcal{L}_{CE}(o_c, y) + \beta\,\mathrm{wMSE}_\gamma(o_a, o_c)
  + \alpha\,\mathrm{CE}(s_c, s_a)` with the epoch-ahead class prior (GKL; IKL is its :math:`\gamma = 1` case).

What they share: :mod:`.base` (the threat model, schedules, AWP and evaluation settings; the method
interface; the full :class:`AdversarialConfig`), :mod:`.attack_losses` (the inner maximisations),
:mod:`.objective` (the engine adapter), :mod:`.train` (one run; the released recipe).

Adding a method: one file with a ``Config`` dataclass (fields declared with
:func:`gkl.methods.registry.param`) and a class decorated ``@ADVERSARIAL.register``, imported below.
"""

# One line per method: the import registers it in ADVERSARIAL (gkl.methods.registry), in this order
# (the order of --method and of the tables).
# isort: off
from gkl.methods.adversarial.pgd_at import PGDAT
from gkl.methods.adversarial.trades import TRADES
from gkl.methods.adversarial.ikl import IKL
from gkl.methods.adversarial.gkl import GKL
# isort: on
from gkl.methods.adversarial.attack_losses import ATTACK_LOSSES, released_attack_loss, soft_label_ce
from gkl.methods.adversarial.base import (
    DATASET_ATTACKS,
    EPS_SCHEDULES,
    AdversarialConfig,
    AdversarialMethod,
    AttackSetup,
    DivergenceMethod,
    attack_defaults,
)
from gkl.methods.adversarial.objective import AdversarialObjective
from gkl.methods.adversarial.train import load_trained, released_recipe, train_adversarial
from gkl.methods.registry import ADVERSARIAL

__all__ = [
    "ADVERSARIAL",
    "ATTACK_LOSSES",
    "EPS_SCHEDULES",
    "DATASET_ATTACKS",
    "attack_defaults",
    "AttackSetup",
    "AdversarialConfig",
    "AdversarialMethod",
    "DivergenceMethod",
    "AdversarialObjective",
    "PGDAT",
    "TRADES",
    "IKL",
    "GKL",
    "released_attack_loss",
    "released_recipe",
    "soft_label_ce",
    "train_adversarial",
    "load_trained",
]
