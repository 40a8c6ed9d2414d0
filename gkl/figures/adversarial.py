"""Figures of the adversarial-training chapter (plotly for curves, matplotlib for image grids).

Every function takes plain results (the records of :func:`gkl.experiments.adversarial.run_experiment`, models,
tensors) and returns a figure; nothing here trains. Method colours come from :mod:`gkl.figures.palette`.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

from torch import Tensor, nn

from gkl.figures.common import band, column_mean_std, plotly_go
from gkl.figures.palette import ROLE_COLORS, method_colors

__all__ = ["learning_curves", "robustness_curve", "adversarial_grid", "masking_bars", "validation_curves",
           "sweep_scatter"]


def _add_mean_std(fig, x, values: list[list[float]], label: str, color: str, row: int, col: int, show: bool) -> None:
    """Mean ± std over seeds (``values[seed][i]``) of one method, added to panel ``(row, col)``."""
    mean, std = column_mean_std(zip(*values))
    for trace in band(x, mean, std, color, label, mode="lines+markers", showlegend=show,
                      hovertemplate="%{y:.1%}<extra>" + label + "</extra>"):
        fig.add_trace(trace, row=row, col=col)


def _by_method(records: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    out: dict[str, list[Mapping[str, Any]]] = {}
    for r in records:
        out.setdefault(r["method"], []).append(r)
    return out


def learning_curves(records: Sequence[Mapping[str, Any]], title: Optional[str] = None):
    """Test accuracy per epoch (clean, and PGD at the training ε), mean ± std over seeds."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("clean test accuracy", "robust test accuracy (PGD-10)"))
    by_method = _by_method(records)
    colours = method_colors(by_method)
    for label, rs in by_method.items():
        epochs = [m["epoch"] for m in rs[0]["history"]]
        for col, key in ((1, "clean_acc"), (2, "robust_acc")):
            vals = [[m[key] for m in r["history"]] for r in rs]
            _add_mean_std(fig, epochs, vals, label, colours[label], 1, col, show=col == 1)
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(tickformat=".0%")
    fig.update_layout(height=380, title=title, legend=dict(orientation="h", y=-0.2), margin=dict(t=60, b=40))
    return fig


def robustness_curve(records: Sequence[Mapping[str, Any]], train_epsilon: Optional[float] = None, title: Optional[str] = None):
    """PGD-20 accuracy against the attack radius ε, mean ± std over seeds (one curve per method)."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=1)
    by_method = _by_method(records)
    colours = method_colors(by_method)
    for label, rs in by_method.items():
        eps = rs[0]["curve_epsilons"]
        _add_mean_std(fig, eps, [r["curve_pgd_acc"] for r in rs], label, colours[label], 1, 1, show=True)
    if train_epsilon is not None:
        fig.add_vline(x=train_epsilon, line_dash="dot", line_color="grey", annotation_text="training ε")
    fig.update_xaxes(title_text="attack radius ε (L∞, pixels in [0, 1])")
    fig.update_yaxes(title_text="accuracy under PGD-20", tickformat=".0%", range=[0, 1.02])
    fig.update_layout(height=380, title=title, legend=dict(orientation="h", y=-0.25), margin=dict(t=50, b=40))
    return fig


def adversarial_grid(
    models: Mapping[str, nn.Module],
    x: Tensor,
    y: Tensor,
    eps: float,
    n: int = 8,
    steps: int = 20,
    seed: int = 0,
    class_names: Optional[Sequence[str]] = None,
):
    """A grid of images: the clean inputs (top row, titled with their labels), then each model's PGD
    adversarial examples titled with that model's prediction (red: wrong). Returns a matplotlib figure.
    """
    import matplotlib.pyplot as plt

    from gkl.attacks import pgd, predict

    x, y = x[:n], y[:n]
    names = list(class_names) if class_names is not None else [str(i) for i in range(int(y.max()) + 1)]
    rows = [("clean", x, None)] + [(label, pgd(m, x, y, eps, steps=steps, seed=seed), m) for label, m in models.items()]
    fig, axes = plt.subplots(len(rows), n, figsize=(1.2 * n, 1.35 * len(rows)), squeeze=False)
    for r, (label, imgs, model) in enumerate(rows):
        preds = y if model is None else predict(model, imgs)
        for c in range(n):
            ax = axes[r][c]
            img = imgs[c].detach().cpu().numpy()
            ax.imshow(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0), cmap="gray_r" if img.shape[0] == 1 else None,
                      vmin=0, vmax=1, interpolation="nearest")
            ok = int(preds[c]) == int(y[c])
            ax.set_title(names[int(preds[c])], fontsize=9, color="black" if ok else "red")
            ax.set_xticks([]), ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, fontsize=9)
    fig.suptitle(f"PGD-{steps} adversarial examples, ε = {eps:g} (top: label; below: prediction, red = wrong)",
                 fontsize=10)
    fig.tight_layout()
    return fig


def masking_bars(reports: Mapping[str, Any], title: Optional[str] = None):
    """Clean, white-box and black-box accuracy per model (:class:`gkl.attacks.MaskingReport` values)."""
    import plotly.graph_objects as go

    names = list(reports)
    fig = go.Figure()
    first = reports[names[0]] if names else None
    white = getattr(first, "whitebox_label", None) or "APGD-CE + APGD-T"
    black = getattr(first, "blackbox_label", None) or "Square"
    for key, label, color in (("clean_acc", "clean", ROLE_COLORS["clean"]),
                              ("whitebox_acc", f"white-box: {white}", ROLE_COLORS["whitebox"]),
                              ("blackbox_acc", f"black-box: {black}", ROLE_COLORS["blackbox"])):
        fig.add_trace(go.Bar(x=names, y=[getattr(reports[n], key) for n in names], name=label, marker_color=color,
                             hovertemplate="%{y:.1%}<extra>" + label + "</extra>"))
    fig.update_yaxes(tickformat=".0%", range=[0, 1])
    fig.update_layout(barmode="group", height=360, title=title, legend=dict(orientation="h", y=-0.15))
    return fig


_DASHES = ("dot", "dash", "solid", "dashdot", "longdash")


def validation_curves(record: Mapping[str, Any], title: Optional[str] = None):
    """The recorded sweep's validation curves: per method (columns), clean (top) and PGD (bottom)
    validation accuracy after each epoch, mean over the sweep's seeds, one line per epoch budget
    (solid: the chosen budget)."""
    from plotly.subplots import make_subplots

    from gkl.experiments.adversarial.selection import label as label_of

    rows = [r for r in record["rows"] if r["stage"] == "epochs"]
    names = list(dict.fromkeys(r["method"] for r in rows))
    methods = [label_of(m) for m in names]
    budgets = sorted({int(r["epochs"]) for r in rows})
    chosen = int(record["epoch_budget"]["chosen"])
    colours = method_colors(methods)
    fig = make_subplots(rows=2, cols=len(methods), shared_yaxes=True, subplot_titles=methods,
                        vertical_spacing=0.12, horizontal_spacing=0.03)
    for col, (name, label) in enumerate(zip(names, methods), start=1):
        for i, e in enumerate(budgets):
            rs = [r for r in rows if r["method"] == name and int(r["epochs"]) == e]
            for row, key in ((1, "val_clean"), (2, "val_pgd")):
                mean, _ = column_mean_std(zip(*[r["curves"][key] for r in rs]))
                fig.add_trace(plotly_go().Scatter(
                    x=rs[0]["curves"]["epoch"], y=mean, mode="lines", name=f"{e} epochs", legendgroup=str(e),
                    showlegend=col == 1 and row == 1, opacity=1.0 if e == chosen else 0.55,
                    line=dict(color=colours[label] if e == chosen else "grey", dash="solid" if e == chosen
                              else _DASHES[i % len(_DASHES)]),
                    hovertemplate=f"{label}, budget {e}: " + "%{y:.1%}<extra></extra>"), row=row, col=col)
    fig.update_xaxes(title_text="epoch", row=2)
    fig.update_yaxes(title_text="clean (validation)", tickformat=".0%", row=1, col=1)
    fig.update_yaxes(title_text="PGD (validation)", tickformat=".0%", row=2, col=1)
    fig.update_layout(height=520, title=title, legend=dict(orientation="h", y=-0.15, title="budget"),
                      margin=dict(t=60, b=40))
    return fig


def sweep_scatter(record: Mapping[str, Any], title: Optional[str] = None):
    """Every grid configuration of the recorded sweep: validation clean (x) against validation PGD
    accuracy (y), means over the sweep's seeds; the chosen configuration of each method is the large
    marker. Hover shows the settings."""
    from gkl.experiments.adversarial.selection import config_scores
    from gkl.experiments.adversarial.selection import label as label_of

    go = plotly_go()
    names = list(dict.fromkeys(r["method"] for r in record["rows"] if r["stage"] == "grid"))
    colours = method_colors(label_of(m) for m in names)
    fig = go.Figure()
    for name in names:
        label = label_of(name)
        scores = config_scores(record, name)
        pick = int(record["chosen"][name]["config_id"])
        text = [", ".join(f"{k} = {v}" for k, v in s["settings"].items()) for s in scores]
        fig.add_trace(go.Scatter(
            x=[s["val_clean"] for s in scores], y=[s["val_pgd"] for s in scores], mode="markers", name=label,
            text=text, marker=dict(color=colours[label], size=[16 if s["config_id"] == pick else 8 for s in scores],
                                   symbol=["star" if s["config_id"] == pick else "circle" for s in scores]),
            hovertemplate=label + ": %{text}<br>clean %{x:.1%}, PGD %{y:.1%}<extra></extra>"))
    fig.update_xaxes(title_text="validation clean accuracy", tickformat=".0%")
    fig.update_yaxes(title_text="validation PGD accuracy", tickformat=".0%")
    fig.update_layout(height=420, title=title, legend=dict(orientation="h", y=-0.2), margin=dict(t=50, b=40))
    return fig
