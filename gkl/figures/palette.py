"""The book's one palette: Okabe & Ito's colour-blind-safe colours, one colour per method everywhere.

* :data:`OKABE_ITO` — the eight colours of Okabe & Ito (2008) plus their grey; :data:`EXTRA` — four
  more from Paul Tol's colour-blind-safe "muted" scheme, used only once Okabe–Ito's run out.
* :func:`method_color` — the colour of a method, by name or label, case-insensitively. The methods
  of the paper and its baselines have fixed colours (:data:`METHOD_COLORS`: GKL vermillion, IKL
  bluish green, KD/KL blue, DKD orange, TRADES sky blue, PGD-AT reddish purple, the student alone
  grey, the teacher black). Any other method registered in
  :data:`gkl.methods.adversarial.ADVERSARIAL` or :data:`gkl.methods.distill.DISTILLERS` takes the
  next colour no fixed method uses, in registration order (adversarial methods first) — so a newly
  registered method has a stable colour without an edit here.
* :func:`method_colors` — colours for the series of one figure: known methods as above, any other
  label the next colour not yet used in that figure.
* :data:`ROLE_COLORS` and :data:`SEQUENCE` — the colours of what is not a method: teacher and
  student logits, loss terms, implementations in the benchmark, attack kinds; a sequence for lines
  that only need telling apart (γ values, class ranks, learning-rate runs).

**Matching rule.** A label is matched after lower-casing, turning ``_`` into ``-``, and dropping a
trailing parenthesised variant: ``"GKL (γ = 1)"`` has GKL's colour, ``"student alone"`` and
``"none"`` the same grey.
"""

from __future__ import annotations

import re
from typing import Iterable, Optional, Sequence

__all__ = [
    "OKABE_ITO",
    "EXTRA",
    "PALETTE",
    "METHOD_COLORS",
    "ROLE_COLORS",
    "SEQUENCE",
    "method_key",
    "method_color",
    "method_colors",
    "sequence_color",
    "rgba",
]

#: Okabe & Ito (2008), "Color Universal Design", with its grey.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky blue": "#56B4E9",
    "bluish green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish purple": "#CC79A7",
    "grey": "#999999",
}
#: Paul Tol's "muted" indigo, wine, olive and teal: only for methods beyond Okabe–Ito's colours.
EXTRA = {"indigo": "#332288", "wine": "#882255", "olive": "#999933", "teal": "#44AA99"}
#: Every colour of the book, in the order free colours are handed out.
PALETTE: tuple[str, ...] = (*OKABE_ITO.values(), *EXTRA.values())

_C = OKABE_ITO
#: The fixed colour of each known method (keys: matched names and labels, see :func:`method_key`).
METHOD_COLORS = {
    "gkl": _C["vermillion"],
    "ikl": _C["bluish green"],
    "kd": _C["blue"],
    "kl": _C["blue"],
    "dkd": _C["orange"],
    "trades": _C["sky blue"],
    "pgd-at": _C["reddish purple"],
    "none": _C["grey"],
    "student alone": _C["grey"],
    "alone": _C["grey"],
    "teacher": _C["black"],
}

#: Colours of what is not a method (theory figures, loss terms, attack kinds).
ROLE_COLORS = {
    "teacher": _C["black"],
    "student": _C["orange"],
    "kl": METHOD_COLORS["kl"],
    "dkl": _C["reddish purple"],
    "mse_prob": _C["grey"],
    "wmse": _C["bluish green"],
    "ce": _C["sky blue"],
    "gkl": METHOD_COLORS["gkl"],
    "pairwise": _C["reddish purple"],
    "torch_kl_div": METHOD_COLORS["kl"],
    "torch_kl_div_log": _C["sky blue"],
    "label_ce": _C["grey"],
    "clean": _C["grey"],
    "whitebox": _C["blue"],
    "blackbox": _C["orange"],
    "baseline": _C["grey"],
}

#: Lines that only need telling apart (γ values, class ranks, runs), in this order.
SEQUENCE: tuple[str, ...] = (
    _C["blue"], _C["vermillion"], _C["bluish green"], _C["orange"], _C["reddish purple"], _C["sky blue"],
    _C["black"], _C["yellow"],
)

_FREE = tuple(c for c in PALETTE if c not in set(METHOD_COLORS.values()))


def method_key(label: str) -> str:
    """The matching key of a method name or label: lower case, ``_`` → ``-``, no trailing ``(...)``."""
    key = re.sub(r"\s*\([^()]*\)\s*$", "", str(label)).strip().lower().replace("_", "-")
    return " ".join(key.split())


def _registered() -> dict[str, str]:
    """Key → colour of every registered method (its name and its label), read at call time."""
    from gkl.methods.adversarial import ADVERSARIAL
    from gkl.methods.distill import DISTILLERS

    colours: dict[str, str] = {}
    free = iter(_FREE)
    for registry in (ADVERSARIAL, DISTILLERS):
        for name in registry.names():
            cls = registry[name]
            keys = [method_key(name), method_key(getattr(cls, "label", name))]
            fixed = next((METHOD_COLORS[k] for k in keys if k in METHOD_COLORS), None)
            known = next((colours[k] for k in keys if k in colours), None)
            colour = fixed or known or next(free, None) or PALETTE[len(colours) % len(PALETTE)]
            for k in keys:
                colours.setdefault(k, colour)
    return colours


def method_color(label: str, default: Optional[str] = None) -> str:
    """The colour of a method, from its name or label (case-insensitive, see the matching rule).

    Fixed methods first (:data:`METHOD_COLORS`), then the registered ones. An unknown label returns
    ``default``, or raises ``ValueError`` when there is none (use :func:`method_colors` for the
    series of a figure, which colours unknown labels too).
    """
    key = method_key(label)
    if key in METHOD_COLORS:
        return METHOD_COLORS[key]
    colour = _registered().get(key, default)
    if colour is None:
        raise ValueError(f"no colour for method {label!r}: neither a known nor a registered method")
    return colour


def method_colors(labels: Iterable[str]) -> dict[str, str]:
    """Label → colour for the series of one figure.

    Known and registered methods keep their colours; every other label takes the next colour of
    :data:`PALETTE` that no method of the figure and no registered method uses (then any colour not
    yet in the figure; colours repeat only once all are in use).
    """
    labels = list(dict.fromkeys(labels))
    registered = _registered()
    out = {lab: METHOD_COLORS.get(method_key(lab)) or registered.get(method_key(lab)) for lab in labels}
    taken = {c for c in out.values() if c}
    order = [c for c in _FREE if c not in registered.values()] + list(PALETTE)
    spare = iter([c for c in dict.fromkeys(order) if c not in taken])
    for i, lab in enumerate(labels):
        if out[lab] is None:
            out[lab] = next(spare, None) or PALETTE[i % len(PALETTE)]
    return out  # type: ignore[return-value]


def rgba(hex_color: str, alpha: float) -> str:
    """``"#RRGGBB"`` → ``"rgba(r,g,b,alpha)"`` (plotly fill colours)."""
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def sequence_color(i: int, colours: Sequence[str] = SEQUENCE) -> str:
    """The ``i``-th colour of :data:`SEQUENCE` (cyclic)."""
    return colours[i % len(colours)]
