"""Models by name: ``build_model("small_cnn", 10, mean=..., std=...)``.

Importing this package registers every model: :mod:`.small` (digits), :mod:`.preact_resnet` and
:mod:`.wide_resnet` (CIFAR adversarial training), :mod:`.cifar_kd` and :mod:`.mnist1d` (distillation).
Every model returns logits and normalises its [0, 1] inputs itself.
"""

from . import cifar_kd, mnist1d, preact_resnet, small, wide_resnet  # noqa: E402,F401  (register)  # noqa: E402,F401  (register; distillation models)
from .registry import Normalize, available_models, build_model, register_model

__all__ = ["build_model", "register_model", "available_models", "Normalize"]
