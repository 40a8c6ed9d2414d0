"""The house rules of the package, checked from its source (CONTRIBUTING.md explains them).

* every module is at most 400 lines, every function at most 80 unless its docstring says why
  ("Long because ...");
* imports go down the layers (core at the bottom, the CLI at the top) and never form a cycle —
  lazy imports inside functions included;
* ``import gkl`` loads torch and the loss core only;
* the public functions and methods of the library layers carry type hints.
"""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "gkl"

#: Layers, lowest first: a module may import from its own layer or a lower one.
LAYERS: list[tuple[str, ...]] = [
    ("gkl.core",),
    ("gkl.data", "gkl.models", "gkl.derivations", "gkl.reported"),
    ("gkl.attacks", "gkl.toy", "gkl.bench"),
    ("gkl.training",),
    ("gkl.methods",),
    ("gkl.experiments",),
    ("gkl.figures",),
    ("gkl.cli", "gkl.__main__"),
]
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _layer(module: str) -> int | None:
    if module == "gkl":
        return 0  # the package root re-exports the loss core
    if module.endswith("__main__"):  # entry points (python -m gkl, python -m gkl.bench) sit with the CLI
        return len(LAYERS) - 1
    for level, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return level
    return None


def _imports(module: str, source: str | None = None) -> set[str]:
    """Every ``gkl`` module imported anywhere in ``module`` (top level and inside functions)."""
    tree = ast.parse(MODULES[module].read_text() if source is None else source)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "gkl")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "gkl":
                continue
            for a in node.names:  # `from gkl.core import losses` imports the module gkl.core.losses
                sub = f"{node.module}.{a.name}"
                found.add(sub if sub in MODULES else node.module)
    return {m for m in found if m in MODULES and m != module}


def test_every_module_has_a_layer():
    assert [m for m in MODULES if _layer(m) is None] == []


def test_modules_are_short():
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_long_functions_say_why():
    offenders = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                doc = ast.get_docstring(node) or ""
                if n > MAX_FUNCTION_LINES and "long because" not in doc.lower():
                    offenders.append(f"{module}.{node.name} ({n} lines)")
    assert offenders == []


def test_imports_go_down_the_layers():
    upward = [f"{m} -> {i}" for m in MODULES for i in _imports(m) if _layer(i) > _layer(m)]
    assert upward == []


def test_no_import_cycles():
    graph = {m: _imports(m) for m in MODULES}
    state: dict[str, int] = {}  # 1 visiting, 2 done
    cycles: list[list[str]] = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycles.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n, stack + [n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert cycles == []


def test_layer_checker_sees_a_violation():
    """The checkers are not vacuous: a lazy upward import inside a function is found and ranked upward."""
    src = "def f():\n    from gkl.figures import palette\n    import gkl.cli\n"
    found = _imports("gkl.core.losses", src)
    assert found == {"gkl.figures.palette", "gkl.cli"}
    assert all(_layer(i) > _layer("gkl.core.losses") for i in found)


def test_import_gkl_is_torch_only():
    heavy = ("plotly", "sympy", "matplotlib", "torchvision", "torchattacks", "sklearn", "ipywidgets", "scipy")
    code = f"import gkl, sys; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == ""


#: Layers whose public API must be typed (figures and the CLI are leaves with their own conventions).
TYPED = ("gkl.core", "gkl.data", "gkl.models", "gkl.attacks", "gkl.training", "gkl.methods", "gkl.experiments")


def _public_functions():
    import importlib

    for module in MODULES:
        if not module.startswith(TYPED):
            continue
        mod = importlib.import_module(module)
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name, None)
            if inspect.isfunction(obj) and obj.__module__ == module:
                yield f"{module}.{name}", obj
            elif inspect.isclass(obj) and obj.__module__ == module:
                for attr, fn in vars(obj).items():
                    if inspect.isfunction(fn) and not attr.startswith("_"):
                        yield f"{module}.{name}.{attr}", fn


@pytest.mark.parametrize("layer", TYPED)
def test_public_api_is_typed(layer):
    missing = []
    for qual, fn in _public_functions():
        if not qual.startswith(layer + "."):
            continue
        sig = inspect.signature(fn)
        params = [p for p in sig.parameters.values() if p.name not in ("self", "cls")]
        untyped = [p.name for p in params if p.annotation is inspect.Parameter.empty
                   and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if untyped or sig.return_annotation is inspect.Signature.empty:
            missing.append(f"{qual}({', '.join(untyped)}){'' if sig.return_annotation is not inspect.Signature.empty else ' -> ?'}")
    assert missing == []


def test_contributing_maps_every_room():
    """CONTRIBUTING.md's picture names every sub-package and top-level module (a new room gets a line)."""
    text = (ROOT / "CONTRIBUTING.md").read_text()
    rooms = {p.name + ("/" if p.is_dir() else "") for p in PKG.iterdir()
             if (p.is_dir() and (p / "__init__.py").is_file()) or (p.suffix == ".py" and not p.name.startswith("__"))}
    assert rooms and [r for r in sorted(rooms) if r not in text] == []
