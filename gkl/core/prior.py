r"""Class-wise global information: the per-class prior of IKL/GKL.

Row :math:`c` of the :math:`C \times C` prior is the mean of :math:`\mathrm{softmax}(o_m / T)` over the
training samples of class :math:`c`:

.. math:: P_{c,:} = \frac{\sum_i [y_i = c]\, \mathrm{softmax}(o_{m,i}/T)}{\sum_i [y_i = c]}
          = \big(\mathrm{onehot}(y)^\top \mathrm{softmax}(O_m/T)\big)_{c,:} / n_c

accumulated over one epoch and used during the next one (uniform :math:`1/C` before any data, and for a
class with no samples). A sample of class :math:`y` then uses the weights :math:`u = P_{y,:}`.

**The epoch-ahead roll** is :meth:`ClassPrior.roll`, called once at the end of every epoch: the
statistics of that epoch become :attr:`ClassPrior.current` (the prior used during the next epoch) and
the accumulators restart. Every training method uses it, so all share one first-epoch convention
(uniform) and one checkpoint content: saved right after the roll, a checkpoint holds the prior of the
next epoch, identical on every rank, and empty accumulators.

Under ``torch.distributed`` every rank sees a different shard of the data; :meth:`ClassPrior.compute`
sums the per-class statistics over all ranks so each gets the prior one process would compute over
all the data (the released code has no such synchronisation).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor

from gkl.core.checks import check_logits, check_positive, check_targets

__all__ = ["ClassPrior"]


class ClassPrior:
    """Accumulates per-class mean soft labels; see the module docstring for the formula.

    Example (one epoch ahead, as in IKL/GKL)::

        prior = ClassPrior(num_classes=10, temperature=4.0)   # prior.current: uniform at first
        for epoch in range(epochs):
            for x, y in loader:
                ...
                prior.update(teacher_logits, y)  # no gradient is kept
                loss = gkl.gkl(student_logits, teacher_logits, y, prior.current, ...)
            prior.roll()                         # this epoch's statistics weight the next epoch

    Statistics are kept in float64 (float32 on devices without it) on the device of the first update.
    """

    def __init__(self, num_classes: int, temperature: float = 1.0) -> None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int):
            raise TypeError(f"num_classes must be an int, got {type(num_classes).__name__}")
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        self.num_classes = num_classes
        self.temperature = check_positive(temperature, "temperature")
        self._sums = torch.zeros(num_classes, num_classes, dtype=torch.float64)
        self._counts = torch.zeros(num_classes, dtype=torch.float64)
        #: The prior in use this epoch (uniform until the first :meth:`roll`), float32.
        self.current: Tensor = torch.full((num_classes, num_classes), 1.0 / num_classes)

    @property
    def device(self) -> torch.device:
        return self._sums.device

    def to(self, device: torch.device | str) -> "ClassPrior":
        """Move the statistics to ``device`` (returns ``self``)."""
        device = torch.device(device)
        dtype = torch.float32 if device.type == "mps" else torch.float64
        self._sums = self._sums.to(device, dtype)
        self._counts = self._counts.to(device, dtype)
        self.current = self.current.to(device)
        return self

    @property
    def num_samples(self) -> int:
        """Samples accumulated since the last :meth:`reset` (this process only)."""
        return int(self._counts.sum().item())

    @torch.no_grad()
    def update(self, teacher_logits: Tensor, targets: Tensor) -> None:
        """Add ``softmax(teacher_logits / T)`` of each sample to its class's row; no gradient."""
        logits = check_logits(teacher_logits, "teacher_logits")
        if logits.shape[1] != self.num_classes:
            raise ValueError(f"teacher_logits has {logits.shape[1]} classes, the prior has {self.num_classes}")
        check_targets(targets, logits.shape[0], self.num_classes, logits.device)
        if self._sums.device != logits.device:
            self.to(logits.device)
        probs = F.softmax(logits.detach().to(self._sums.dtype) / self.temperature, dim=1)
        self._sums.index_add_(0, targets, probs)  # onehot(y)ᵀ @ softmax
        self._counts += torch.bincount(targets, minlength=self.num_classes).to(self._counts.dtype)

    @torch.no_grad()
    def compute(self) -> Tensor:
        """The ``(C, C)`` prior, float32, rows summing to 1; synchronised over ranks if distributed."""
        sums, counts = self._sums, self._counts
        if dist.is_available() and dist.is_initialized():
            sums, counts = sums.clone(), counts.clone()  # reduce copies: compute() may be called again
            dist.all_reduce(sums)
            dist.all_reduce(counts)
        uniform = torch.full_like(sums, 1.0 / self.num_classes)
        seen = counts > 0
        prior = torch.where(seen[:, None], sums / counts.clamp_min(1.0)[:, None], uniform)
        return prior.float()

    def reset(self) -> None:
        """Forget all accumulated samples (call after :meth:`compute` at an epoch's end)."""
        self._sums.zero_()
        self._counts.zero_()

    @torch.no_grad()
    def roll(self) -> Tensor:
        """End of an epoch: :meth:`compute` (all-reduced over ranks) becomes :attr:`current`, then
        :meth:`reset`. Collective under ``torch.distributed``: call it on every rank. Returns ``current``."""
        self.current = self.compute().to(self._sums.device)
        self.reset()
        return self.current

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: sizes, temperature and the running sums (on CPU)."""
        return {
            "num_classes": self.num_classes,
            "temperature": self.temperature,
            "sums": self._sums.detach().cpu().clone(),
            "counts": self._counts.detach().cpu().clone(),
            "current": self.current.detach().cpu().clone(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict`; refuses a state of another size or a corrupted one."""
        if not isinstance(state, dict) or not {"num_classes", "sums", "counts"} <= state.keys():
            raise ValueError("not a ClassPrior state: expected keys 'num_classes', 'sums', 'counts'")
        if state["num_classes"] != self.num_classes:
            raise ValueError(f"state is for {state['num_classes']} classes, this prior has {self.num_classes}")
        sums, counts = state["sums"], state["counts"]
        C = self.num_classes
        if not isinstance(sums, Tensor) or sums.shape != (C, C):
            raise ValueError(f"ClassPrior state 'sums' must be a ({C}, {C}) tensor")
        if not isinstance(counts, Tensor) or counts.shape != (C,):
            raise ValueError(f"ClassPrior state 'counts' must be a ({C},) tensor")
        if not (torch.isfinite(sums).all() and torch.isfinite(counts).all()) or (sums < 0).any() or (counts < 0).any():
            raise ValueError("ClassPrior state has negative or non-finite statistics")
        current = state.get("current")
        if current is not None:
            if not isinstance(current, Tensor) or current.shape != (C, C):
                raise ValueError(f"ClassPrior state 'current' must be a ({C}, {C}) tensor")
            if not torch.isfinite(current).all() or (current < 0).any():
                raise ValueError("ClassPrior state 'current' has negative or non-finite entries")
        if "temperature" in state:
            self.temperature = check_positive(state["temperature"], "temperature")
        self._sums = sums.to(self._sums.device, self._sums.dtype).clone()
        self._counts = counts.to(self._counts.device, self._counts.dtype).clone()
        if current is not None:
            self.current = current.to(self._sums.device, torch.float32).clone()

    def __repr__(self) -> str:
        return f"ClassPrior(num_classes={self.num_classes}, temperature={self.temperature}, samples={self.num_samples})"
