#!/usr/bin/env python3
"""Vendor the JavaScript the book's pages need into ``book/_static/vendor/`` (no CDN at run time).

What is vendored, and from where:

* MathJax 3 (``es5/`` tree: ``tex-mml-svg.js`` and the components it loads lazily) -- npm ``mathjax``;
* require.js (the Jupyter widget manager is an AMD module) -- npm ``requirejs``;
* the Jupyter widget manager ``@jupyter-widgets/html-manager`` (``dist/``: ``embed-amd.js``, its
  chunks and fonts) -- npm;
* reveal.js 4 (``dist/`` and the notes plugin) for the chapters' slide decks -- npm ``reveal.js``;
* plotly.js -- the copy shipped inside the installed ``plotly`` Python package, so the library
  always matches the version that wrote the figures.

npm is used only as a download client (``npm pack``: the package tarballs, no dependency tree, no
``node_modules``).  The directory is git-ignored and rebuilt from scratch on a fresh clone; when the
recorded versions (``versions.json``) match and every file is present the script returns at once.

Usage::

    python tools/vendor_assets.py            # vendor when missing or out of date
    python tools/vendor_assets.py --force    # re-download everything
    python tools/vendor_assets.py --check    # exit 1 if anything is missing or out of date
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT / "book" / "_static" / "vendor"

#: npm packages: name -> (version, [(path inside the package, destination inside VENDOR)]).
NPM_PACKAGES: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "mathjax": ("3.2.2", [("es5", "mathjax")]),
    "requirejs": ("2.3.8", [("require.js", "require.js")]),
    "@jupyter-widgets/html-manager": ("1.0.15", [("dist", "html-manager")]),
    # the chapters' slide decks (tools/slides.py; nbconvert's reveal template expects reveal.js 4)
    "reveal.js": ("4.6.1", [("dist", "reveal.js/dist"), ("plugin/notes", "reveal.js/plugin/notes")]),
}

#: Not copied (source maps, the non-AMD widget bundle the pages never load).
SKIP = ["*.map", "embed.js", "embed.js.LICENSE.txt"]

#: Files that must exist after vendoring (checked by --check and by the Sphinx extension).
REQUIRED = [
    "mathjax/tex-mml-svg.js",
    "require.js",
    "html-manager/embed-amd.js",
    "plotly/plotly.min.js",
    "reveal.js/dist/reveal.js",
    "reveal.js/plugin/notes/notes.js",
]


def plotly_version() -> str:
    import plotly

    return plotly.__version__


def wanted_versions() -> dict[str, str]:
    versions = {name: version for name, (version, _) in NPM_PACKAGES.items()}
    versions["plotly (python package)"] = plotly_version()
    return versions


def up_to_date(vendor: Path = VENDOR) -> bool:
    """True when every required file exists and versions.json matches the wanted versions."""
    stamp = vendor / "versions.json"
    if not stamp.is_file() or not all((vendor / f).is_file() for f in REQUIRED):
        return False
    try:
        return json.loads(stamp.read_text()) == wanted_versions()
    except (json.JSONDecodeError, OSError):
        return False


def _extract(tgz: Path, dest: Path) -> Path:
    with tarfile.open(tgz) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:  # Python < 3.12 without the backport: the tarballs come from the npm registry
            tar.extractall(dest)
    return dest / "package"


def npm_pack(specs: list[str], workdir: Path) -> list[Path]:
    """Download package tarballs with ``npm pack`` (no install, no dependencies)."""
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("vendor_assets: error: npm not found (install Node.js/npm, e.g. apt-get install npm)")
    cmd = [npm, "pack", *specs, "--pack-destination", str(workdir), "--silent", "--json"]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"vendor_assets: error: {' '.join(cmd)} failed:\n{proc.stderr.strip()}")
    info = json.loads(proc.stdout)
    return [workdir / item["filename"] for item in info]


def vendor(force: bool = False, quiet: bool = False) -> None:
    if not force and up_to_date():
        if not quiet:
            print(f"vendor_assets: {VENDOR.relative_to(ROOT)} is up to date")
        return
    VENDOR.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gkl-vendor-") as tmp:
        tmp = Path(tmp)
        specs = [f"{name}@{version}" for name, (version, _) in NPM_PACKAGES.items()]
        tarballs = npm_pack(specs, tmp)
        stage = tmp / "vendor"
        stage.mkdir()
        for (name, (_, copies)), tgz in zip(NPM_PACKAGES.items(), tarballs):
            package = _extract(tgz, tmp / f"pkg-{tgz.stem}")
            for src, dst in copies:
                src_path, dst_path = package / src, stage / dst
                if not src_path.exists():
                    raise SystemExit(f"vendor_assets: error: {name} has no {src}")
                if src_path.is_dir():
                    shutil.copytree(src_path, dst_path, ignore=shutil.ignore_patterns(*SKIP))
                else:
                    dst_path.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src_path, dst_path)
            license_file = package / "LICENSE"
            if license_file.is_file():
                (stage / "licenses").mkdir(exist_ok=True)
                shutil.copy2(license_file, stage / "licenses" / f"{name.replace('/', '__')}.LICENSE")
        import plotly

        plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
        if not plotly_js.is_file():
            raise SystemExit(f"vendor_assets: error: {plotly_js} not found (plotly package incomplete?)")
        (stage / "plotly").mkdir()
        shutil.copy2(plotly_js, stage / "plotly" / "plotly.min.js")
        (stage / "versions.json").write_text(json.dumps(wanted_versions(), indent=2) + "\n")
        missing = [f for f in REQUIRED if not (stage / f).is_file()]
        if missing:
            raise SystemExit(f"vendor_assets: error: missing after download: {missing}")
        # Swap the staged tree in (the old one, if any, is removed only after staging succeeded).
        old = tmp / "old"
        if VENDOR.exists():
            VENDOR.rename(old)
        shutil.move(str(stage), str(VENDOR))
    if not quiet:
        print(f"vendor_assets: vendored {', '.join(specs)} and plotly.js (from the plotly {plotly_version()} Python package) "
              f"into {VENDOR.relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="download again even if up to date")
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if out of date")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.check:
        ok = up_to_date()
        print(f"vendor_assets: {'up to date' if ok else 'missing or out of date: run tools/vendor_assets.py'}")
        return 0 if ok else 1
    vendor(force=args.force, quiet=args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
