r"""Adversarial weight perturbation (AWP, Wu et al. 2020), as the released GKL adversarial training uses it.

Before each training step, the weights are moved a little in the direction that *increases* the
full training loss :math:`\mathcal L` (e.g. TRADES' or GKL's), the step's gradient is taken at the
perturbed weights, and the perturbation is taken back before the optimiser applies that gradient:

.. math::
    v_l = \gamma\,\|w_l\|\,\frac{g_l}{\|g_l\|}, \quad g_l = \nabla_{w_l}\mathcal L(w),
    \qquad w_{t+1} = \mathrm{opt}\big(w_t,\ \nabla_w \mathcal L(w_t + v)\big)

for every weight tensor :math:`w_l` with more than one dimension (convolution and linear weights;
biases and normalisation parameters are not perturbed), so each perturbed layer moves by exactly
the *relative* norm :math:`\|v_l\| / \|w_l\| = \gamma` (0.005 in the released code, from epoch 10).

The ascent direction is computed on a copy of the model (the *proxy*, in train mode like the model),
so the model's batch-norm running statistics are not touched. The released code takes one SGD step
on the proxy and rescales the difference; with no momentum or weight decay on the proxy that
difference is :math:`\mathrm{lr}\cdot g_l`, so after rescaling it is exactly :math:`v_l` above, which
is computed here directly from the gradient.

Departure from the released code, on purpose: the released code takes the perturbation back
*after* the optimiser step (``w ← opt(w + v) − v``); here it is taken back before the step, by
copying the saved weights (``w ← opt(w)`` with the gradient taken at ``w + v``). The weights are then
restored bit for bit; the two differ only in the weight-decay term, evaluated at :math:`w` instead
of :math:`w + v` (a relative change of :math:`\gamma` in a term that is itself ~5e-4 of the weights).

Under ``torch.distributed`` the proxy's gradients are averaged over ranks, so every rank applies the
same perturbation (the released code runs on one process with DataParallel, i.e. on the whole batch).
"""

from __future__ import annotations

import copy
from typing import Callable, Optional

import torch
import torch.distributed as dist
from torch import Tensor, nn

__all__ = ["AdversarialWeightPerturbation", "perturbed_parameters"]


def perturbed_parameters(model: nn.Module) -> list[str]:
    """Names of the parameters AWP perturbs: weights with more than one dimension."""
    return [n for n, p in model.named_parameters() if p.requires_grad and p.dim() > 1 and "weight" in n]


class AdversarialWeightPerturbation:
    """Perturb a model's weights towards higher loss for one step, then restore them exactly.

    Usage inside a training step::

        awp = AdversarialWeightPerturbation(model, gamma=0.005)
        awp.perturb(lambda net: loss_of(net))   # ascent direction from a proxy copy; model += v
        loss = loss_of(model); loss.backward()  # gradient at the perturbed weights
        awp.restore()                           # model weights back, bit for bit
        optimizer.step()

    Args:
        model: the (unwrapped) model being trained.
        gamma: relative size :math:`\\gamma` of the perturbation of each weight tensor (``> 0``).
    """

    def __init__(self, model: nn.Module, gamma: float = 0.005) -> None:
        if not (isinstance(gamma, (int, float)) and gamma > 0):
            raise ValueError(f"AWP gamma must be > 0, got {gamma!r}")
        self.model = model
        self.gamma = float(gamma)
        self.names = perturbed_parameters(model)
        if not self.names:
            raise ValueError("AWP found no weight tensor with more than one dimension to perturb")
        self._proxy: Optional[nn.Module] = None
        self._saved: Optional[dict[str, Tensor]] = None

    @property
    def active(self) -> bool:
        """True between :meth:`perturb` and :meth:`restore`."""
        return self._saved is not None

    def _proxy_of(self) -> nn.Module:
        if self._proxy is None:
            self._proxy = copy.deepcopy(self.model)
        self._proxy.load_state_dict(self.model.state_dict())
        self._proxy.train(self.model.training)
        return self._proxy

    def directions(self, loss_fn: Callable[[nn.Module], Tensor]) -> dict[str, Tensor]:
        """The perturbation :math:`v_l` per perturbed weight (not applied): ``loss_fn(proxy)`` must
        return the scalar training loss computed with the module it is given."""
        proxy = self._proxy_of()
        params = dict(proxy.named_parameters())
        weights = [params[n] for n in self.names]
        grads = torch.autograd.grad(loss_fn(proxy), weights, allow_unused=True)
        grads = [torch.zeros_like(w) if g is None else g for w, g in zip(weights, grads)]
        if dist.is_available() and dist.is_initialized():
            world = dist.get_world_size()
            for g in grads:
                dist.all_reduce(g)
                g.div_(world)
        model_params = dict(self.model.named_parameters())
        out = {}
        for n, g in zip(self.names, grads):
            w = model_params[n].detach()
            out[n] = self.gamma * w.norm() * g / (g.norm() + 1e-20)  # ‖v_l‖ = γ‖w_l‖
        return out

    @torch.no_grad()
    def perturb(self, loss_fn: Callable[[nn.Module], Tensor]) -> dict[str, Tensor]:
        """Save the weights and add :math:`v` (see :meth:`directions`); returns :math:`v`."""
        if self.active:
            raise RuntimeError("AWP perturbation already applied: call restore() first")
        with torch.enable_grad():
            v = self.directions(loss_fn)
        params = dict(self.model.named_parameters())
        self._saved = {n: params[n].detach().clone() for n in self.names}
        for n, d in v.items():
            params[n].add_(d)
        return v

    @torch.no_grad()
    def restore(self) -> None:
        """Copy the saved weights back (a no-op when nothing is perturbed)."""
        if self._saved is None:
            return
        params = dict(self.model.named_parameters())
        for n, w in self._saved.items():
            params[n].copy_(w)
        self._saved = None
