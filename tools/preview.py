#!/usr/bin/env python3
"""Build a preview of the book in a throw-away copy, with stub pages for the chapters you skip.

Copies the working tree (without .venv, _build, .git) to OUT, keeps the chapters you name (all
existing ones with ``--all``), writes a small stub for every other planned chapter, builds the site
with ``-W --keep-going`` and takes a screenshot of each page (``OUT/_build/screenshots/``).

Examples::

    .venv/bin/python tools/preview.py book/theory/decoupling.md          # one real chapter + stubs
    .venv/bin/python tools/preview.py --all                              # every chapter that exists
    .venv/bin/python tools/preview.py --demo                             # stubs only, with demo figures
    .venv/bin/python tools/preview.py book/theory/decoupling.md --no-screenshots

The stub pages follow the chapter conventions (front matter, "Run this chapter", Colab set-up cell,
exercises).  ``--demo`` puts a plotly slider figure, a matplotlib figure, an ipywidgets slider and a page with
both plotly and widgets into the stubs (used to test the site infrastructure itself).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import notebooks  # noqa: E402  (tools/notebooks.py)

ROOT = notebooks.ROOT
IGNORE = shutil.ignore_patterns(".venv", "_build", ".git", "node_modules", "__pycache__", "*.egg-info",
                                ".pytest_cache", ".hypothesis", "runs", "data", "*.ipynb_checkpoints")

FRONT_MATTER = """\
---
jupytext:
  formats: ipynb,md:myst
  text_representation:
    extension: .md
    format_name: myst
    format_version: 0.13
    jupytext_version: 1.19.6
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
"""

COLAB_CELL = """\
```{{code-cell}} ipython3
:tags: [remove-cell]
# Colab set-up: installs the gkl package when this notebook runs on Google Colab (no-op elsewhere).
import sys
if "google.colab" in sys.modules:
    %pip install -q "gkl[train,viz] @ git+{url}"
```
"""

DEMO_PLOTLY = '''\
A plotly figure with a slider (works on the static site, no kernel needed):

```{code-cell} ipython3
import numpy as np
import plotly.graph_objects as go

x = np.linspace(-3, 3, 200)
gammas = [0.0, 0.25, 0.5, 0.75, 1.0]
fig = go.Figure(
    data=[go.Scatter(x=x, y=np.exp(-gammas[0] * x**2), name="weight")],
    frames=[go.Frame(data=[go.Scatter(x=x, y=np.exp(-g * x**2))], name=f"{g}") for g in gammas],
)
fig.update_layout(
    title="Weight for different γ",
    xaxis_title="logit gap", yaxis_title="weight", yaxis_range=[0, 1.05], height=420,
    sliders=[{"currentvalue": {"prefix": "γ = "}, "steps": [
        {"label": f"{g}", "method": "animate",
         "args": [[f"{g}"], {"mode": "immediate", "frame": {"duration": 0, "redraw": True}}]}
        for g in gammas]}],
)
fig
```
'''

DEMO_MATPLOTLIB = '''\
A matplotlib figure:

```{code-cell} ipython3
import matplotlib.pyplot as plt
import numpy as np

fig, ax = plt.subplots(figsize=(5, 3))
t = np.linspace(0, 1, 50)
ax.plot(t, t**2, label="$t^2$")
ax.legend()
plt.show()
```
'''

DEMO_WIDGET = '''\
An ipywidgets panel (the slider is drawn on the website; moving it needs a running kernel, e.g. Colab):

```{code-cell} ipython3
import ipywidgets as widgets

slider = widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="γ")
out = widgets.Output()

def show(change=None):
    out.clear_output()
    with out:
        print(f"γ = {slider.value:.2f}")

slider.observe(show, names="value")
show()
widgets.VBox([slider, out])
```
'''


def stub_chapter(docname: str, url: str, demo: str = "") -> str:
    title = docname.rsplit("/", 1)[-1].replace("_", " ").capitalize()
    return f"""{FRONT_MATTER}
# {title} (stub)

:::{{admonition}} Run this chapter
:class: tip
About 5 seconds on a laptop CPU. The rocket (launch) button at the top opens this chapter in Colab.
:::

{COLAB_CELL.format(url=url)}
This page stands in for `{docname}.md`, which is not part of this preview.
Inline math $\\mathrm{{KL}}(p \\,\\|\\, q)$ and display math:

$$
\\mathrm{{KL}}(p \\,\\|\\, q) = \\sum_j p_j \\log \\frac{{p_j}}{{q_j}}.
$$

```{{code-cell}} ipython3
import gkl
print("gkl", gkl.__version__)
```

{demo}
## Summary

A stub.

## Exercises

1. Show that $\\mathrm{{KL}}(p \\,\\|\\, p) = 0$.

```{{admonition}} Solution
:class: dropdown
Every term is $p_j \\log 1 = 0$.
```

2. Is KL symmetric?

```{{admonition}} Solution
:class: dropdown
No: in general $\\mathrm{{KL}}(p \\,\\|\\, q) \\ne \\mathrm{{KL}}(q \\,\\|\\, p)$.
```
"""


def make_copy(out: Path, keep: set[str] | None, demo: bool) -> list[str]:
    """Copy the tree to OUT and write stubs; return the chapters that are stubs."""
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(ROOT, out, ignore=IGNORE, symlinks=True)
    os.symlink(ROOT / ".venv", out / ".venv")
    url = notebooks.repo_url(out)
    demos = {"book/theory/decoupling": DEMO_PLOTLY, "book/theory/asymmetry": DEMO_MATPLOTLIB,
             "book/theory/weight_function": DEMO_WIDGET,
             # plotly beside the widget manager's require.js on one page
             "book/theory/class_prior": DEMO_WIDGET + "\n" + DEMO_PLOTLY} if demo else {}
    stubs = []
    for md in notebooks.planned_chapters(out):
        docname = md.relative_to(out).with_suffix("").as_posix()
        if keep is not None and docname not in keep or not md.is_file():
            md.parent.mkdir(parents=True, exist_ok=True)
            md.write_text(stub_chapter(docname, url, demos.get(docname, "")), encoding="utf-8")
            md.with_suffix(".ipynb").unlink(missing_ok=True)
            stubs.append(docname)
    notebooks.sync(notebooks.planned_chapters(out), out)
    return stubs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="*", help="chapter .md files to keep (others become stubs)")
    parser.add_argument("--all", action="store_true", help="keep every chapter that exists")
    parser.add_argument("--demo", action="store_true", help="stubs with plotly/matplotlib/widget demos")
    parser.add_argument("--out", type=Path, default=Path("/tmp/gkl-preview"), help="where to build")
    parser.add_argument("--no-screenshots", action="store_true")
    args = parser.parse_args(argv)
    keep = None if args.all else {Path(c).with_suffix("").as_posix() for c in args.chapters}
    out = args.out.resolve()
    if out == ROOT or ROOT in out.parents:
        parser.error("--out must lie outside the repository")
    subprocess.run([sys.executable, str(ROOT / "tools" / "vendor_assets.py"), "--quiet"], check=True)
    stubs = make_copy(out, keep, args.demo)
    print(f"preview: {out} (stubs: {', '.join(stubs) or 'none'})")
    jb = Path(sys.executable).parent / "jupyter-book"
    t0 = time.perf_counter()
    build = subprocess.run([str(jb), "build", str(out), "--warningiserror", "--keep-going"])
    print(f"preview: build {'OK' if build.returncode == 0 else 'FAILED'} in {time.perf_counter() - t0:.0f} s; "
          f"open {out}/_build/html/index.html")
    if build.returncode == 0 and not args.no_screenshots:
        subprocess.run([sys.executable, str(ROOT / "tools" / "screenshot.py"),
                        str(out / "_build" / "html"), str(out / "_build" / "screenshots")], check=False)
    return build.returncode


if __name__ == "__main__":
    sys.exit(main())
