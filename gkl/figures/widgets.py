"""ipywidgets panels for live exploration of the theory chapters in Colab / Jupyter.

Each panel recomputes one figure of :mod:`gkl.figures.theory` (re-running the experiment of
:mod:`gkl.toy` where the figure shows one) whenever a control moves. They need a
**running kernel**: on the static website the controls are drawn but nothing is recomputed (the
plotly slider figures of the chapters are the kernel-free version of the same explorations).

Every panel is a :class:`Panel` (an ``ipywidgets.VBox``) with ``controls`` (name → widget) and
``render()``, which returns the figure for the current control values (what the panel displays).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Sequence

import ipywidgets
import torch

from gkl import toy
from gkl.figures.theory import asymmetry, decoupling, kl_in_practice, weight_function

__all__ = [
    "Panel",
    "temperature_panel",
    "decoupling_panel",
    "asymmetry_panel",
    "weight_function_panel",
    "convergence_panel",
]

_DEFAULT_TEACHER = (5.0, 2.0, 1.0, 0.5, -1.0)
_DEFAULT_STUDENT = (2.0, 2.5, 0.0, 0.0, -0.5)


def _widgets():
    return ipywidgets


class Panel(ipywidgets.VBox):
    """Controls above an output area showing ``make_figure(**values)``, refreshed on every change.

    Args:
        make_figure: returns the figure for keyword arguments named like ``controls``.
        controls: name → ipywidgets control (anything with ``value`` and ``observe``).
        title: optional bold header.
    """

    def __init__(self, make_figure: Callable[..., Any], controls: Mapping[str, Any], title: str = "") -> None:
        self.controls = dict(controls)
        self._make = make_figure
        self.output = ipywidgets.Output()
        header = [ipywidgets.HTML(f"<b>{title}</b>")] if title else []
        super().__init__(children=[*header, ipywidgets.HBox(list(self.controls.values())), self.output])
        for c in self.controls.values():
            c.observe(self.refresh, names="value")
        self.refresh()

    def values(self) -> dict[str, Any]:
        """Current value of every control."""
        return {k: w.value for k, w in self.controls.items()}

    def render(self) -> Any:
        """The figure for the current control values (what the panel displays)."""
        return self._make(**self.values())

    def refresh(self, _change: Optional[dict] = None) -> None:
        """Redraw the output (called by every control change; needs a running kernel to be seen)."""
        from IPython.display import clear_output, display

        with self.output:
            clear_output(wait=True)
            display(self.render())


def _vec(x: Sequence[float]) -> torch.Tensor:
    return torch.tensor(list(x), dtype=torch.float64)


def temperature_panel(student_logits: Sequence[float] = _DEFAULT_STUDENT, teacher_logits: Sequence[float] = _DEFAULT_TEACHER):
    """Temperature and teacher confidence → soft labels and the KL gradient on the student."""
    w = _widgets()
    s, t = _vec(student_logits), _vec(teacher_logits)

    def make(temperature: float, confidence: float):
        return kl_in_practice.soft_label_temperature_figure(s, t * confidence, [temperature])

    controls = {
        "temperature": w.FloatLogSlider(value=1.0, base=2, min=-2, max=4, step=0.25, description="T"),
        "confidence": w.FloatSlider(value=1.0, min=0.1, max=4.0, step=0.1, description="teacher ×"),
    }
    return Panel(make, controls, "KL at a temperature (live)")


def decoupling_panel(student_logits: Sequence[float] = _DEFAULT_STUDENT, teacher_logits: Sequence[float] = _DEFAULT_TEACHER):
    """Shift of one teacher logit and temperature → gradients of KL, DKL and MSELoss on probabilities."""
    w = _widgets()
    s, t = _vec(student_logits), _vec(teacher_logits)

    def make(shift: float, temperature: float, shifted_class: int):
        return decoupling.decoupling_gradient_figure(s, t, [shift], temperature, shifted_class)

    controls = {
        "shift": w.FloatSlider(value=0.0, min=-6, max=6, step=0.5, description="shift"),
        "temperature": w.FloatLogSlider(value=1.0, base=2, min=-2, max=3, step=0.25, description="T"),
        "shifted_class": w.IntSlider(value=0, min=0, max=len(t) - 1, description="class"),
    }
    return Panel(make, controls, "KL = DKL, gradient by gradient (live)")


def asymmetry_panel(student_logits: Sequence[float] = _DEFAULT_STUDENT, teacher_logits: Sequence[float] = _DEFAULT_TEACHER):
    """Teacher confidence, γ and temperature → which term moves which side, KL vs IKL/GKL."""
    w = _widgets()
    s, t = _vec(student_logits), _vec(teacher_logits)

    def make(confidence: float, gamma: float, temperature: float):
        return asymmetry.term_gradients_figure(s, t, [confidence], temperature, gamma, active=0)

    controls = {
        "confidence": w.FloatSlider(value=1.0, min=0.1, max=4.0, step=0.1, description="teacher ×"),
        "gamma": w.FloatSlider(value=1.0, min=0.0, max=1.0, step=0.05, description="γ"),
        "temperature": w.FloatLogSlider(value=1.0, base=2, min=-2, max=3, step=0.25, description="T"),
    }
    return Panel(make, controls, "The asymmetry (live)")


def weight_function_panel(teacher_logits: Sequence[float] = _DEFAULT_TEACHER):
    """γ, temperature and teacher confidence → the pair weights ``u^γ u^γ``."""
    w = _widgets()
    t = _vec(teacher_logits)

    def make(gamma: float, temperature: float, confidence: float):
        return weight_function.weight_function_figure(t * confidence, [gamma], temperature)

    controls = {
        "gamma": w.FloatSlider(value=1.0, min=0.0, max=1.0, step=0.05, description="γ"),
        "temperature": w.FloatLogSlider(value=1.0, base=2, min=-2, max=3, step=0.25, description="T"),
        "confidence": w.FloatSlider(value=1.0, min=0.1, max=4.0, step=0.1, description="teacher ×"),
    }
    return Panel(make, controls, "The weight function (live)")


def convergence_panel(seeds: Sequence[int] = (0, 1), num_samples: int = 32, steps: int = 100):
    """γ, β and learning rate → re-run the convergence experiment (KL vs GKL at that γ; ~1–2 s a change)."""
    w = _widgets()

    def make(gamma: float, beta: float, lr: float, kind: str):
        configs = [{"label": "KL", "loss": "kl"},
                   {"label": f"GKL γ={gamma:g}", "loss": "gkl", "gamma": gamma, "beta": beta}]
        res = toy.convergence_experiment(configs, seeds=seeds, num_samples=num_samples, steps=steps, lr=lr)
        return asymmetry.convergence_figure(res, kind)

    controls = {
        "gamma": w.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.1, description="γ"),
        "beta": w.FloatSlider(value=8.0, min=0.0, max=20.0, step=1.0, description="β"),
        "lr": w.FloatLogSlider(value=1.0, base=10, min=-1, max=1, step=0.25, description="lr"),
        "kind": w.Dropdown(options=["logit", "prob"], value="logit", description="error"),
    }
    return Panel(make, controls, "Convergence by class rank (live)")
