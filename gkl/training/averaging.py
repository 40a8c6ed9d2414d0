r"""Checkpoint averaging (``TrainConfig.ema_decay``, e.g. 0.9 as in the released adversarial-training code).

After every epoch an exponential moving average of the weights, buffers included, is updated with
:class:`torch.optim.swa_utils.AveragedModel` — :math:`\bar w \leftarrow d\,\bar w + (1-d)\,w_e`,
:math:`\bar w = w_1` after the first epoch. The engine saves it in the checkpoint (so it survives a
resume), evaluates it after the last epoch (metrics ``ema_<name>``) and returns it as
``history.averaged_model``.
"""

from __future__ import annotations

from torch import nn

__all__ = ["make_averaged"]


def make_averaged(model: nn.Module, decay: float) -> nn.Module:
    """An :class:`~torch.optim.swa_utils.AveragedModel` of ``model`` (parameters and buffers) with EMA
    decay ``decay``; call ``update_parameters(model)`` once per epoch."""
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
