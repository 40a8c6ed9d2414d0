"""Sphinx local extension: the ``gkl-api`` directive, the API reference generated from the package.

``.. gkl-api:: gkl`` walks the package (:func:`pkgutil.walk_packages`) and writes one section per
sub-package with its docstring, then one ``automodule`` (members, in source order) per module. A
module that is added or moved appears without editing the page; ``__main__`` modules are skipped
(never imported). Objects re-exported by a package are documented once, where they are defined.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles


def package_modules(root: str) -> list[str]:
    """Every importable module under ``root`` (packages included), ``__main__`` modules left out."""
    pkg = importlib.import_module(root)
    names = [root] + [m.name for m in pkgutil.walk_packages(pkg.__path__, root + ".")]
    return sorted(n for n in names if not n.endswith("__main__"))


def _is_package(name: str) -> bool:
    return hasattr(importlib.import_module(name), "__path__")


def ordered(names: list[str], root: str, order: list[str]) -> list[str]:
    """``names`` grouped by sub-package of ``root``, the groups in ``order`` first (others after, by name)."""
    rank = {f"{root}.{o}": i for i, o in enumerate(order)}

    def key(name: str) -> tuple[int, str, str]:
        top = ".".join(name.split(".")[:2])
        return (rank.get(top, len(rank)), top, name)

    return sorted(names, key=key)


class GklApi(SphinxDirective):
    """``.. gkl-api:: <package>`` with an optional ``:order:`` of its sub-packages (lowest floor first):
    a section per sub-package or top-level module, ``automodule`` per module."""

    required_arguments = 1
    option_spec = {"order": str}

    def run(self) -> list[nodes.Node]:
        root = self.arguments[0]
        order = self.options.get("order", "").split()
        lines: list[str] = []
        for name in ordered(package_modules(root), root, order):
            depth = name.count(".")
            if name == root:
                continue
            head = [name, "-" * len(name)] if depth == 1 else [f".. rubric:: ``{name}``"]
            if _is_package(name):  # its docstring; what it re-exports is documented where it is defined
                lines += [*head, "", f".. automodule:: {name}", "   :no-members:", ""]
            elif depth == 1:
                lines += [*head, "", f".. automodule:: {name}", "   :members:", "   :member-order: bysource", ""]
            else:
                lines += [f".. rubric:: ``{name}``", "", f".. automodule:: {name}", "   :members:",
                          "   :member-order: bysource", "   :show-inheritance:", ""]
        container = nodes.container()
        nested_parse_with_titles(self.state, StringList(lines, source=f"gkl-api:{root}"), container)
        return container.children


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("gkl-api", GklApi)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
