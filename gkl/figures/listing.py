r"""Source listings for the chapters: a function's code with its reST docstring replaced by a plain
one-line comment.

The chapters show the package's code with ``inspect.getsource`` (one home for every line of code).
A docstring written for Sphinx (``:math:`...```, ``.. math::`` blocks, ````x````) prints as raw markup
in a notebook output, so :func:`source` keeps the code and turns the docstring's first sentence into a
readable ``# ...`` comment; the full docstring is rendered on the API page.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from typing import Any

__all__ = ["source", "plain_summary"]


def plain_summary(docstring: str) -> str:
    """The first sentence of a reST docstring as plain text: roles and literals unwrapped
    (``:math:`T^2``` → ``T^2``, ````x```` → ``x``, ``:func:`~a.b``` → ``b``), one line."""
    first = inspect.cleandoc(docstring).split("\n\n")[0]
    first = " ".join(first.split())
    first = re.sub(r":(?:math|func|class|mod|meth|attr|data|obj):`~?([^`]*)`",
                   lambda m: m.group(1).split(".")[-1] if "math" not in m.group(0)[:6] else m.group(1), first)
    first = first.replace("``", "`")
    first = re.sub(r"\\(mathrm|operatorname|text)\{([^}]*)\}", r"\2", first)
    first = first.replace("\\,", " ").replace("\\|", "||").replace("\\", "")
    first = " ".join(first.split())
    end = re.search(r"(?<=[.:])\s", first)  # first sentence
    return (first[: end.start()] if end else first).strip()


def source(obj: Any, *, docstring: str = "summary") -> str:
    """The source of a function or class with its docstring replaced.

    Args:
        obj: what ``inspect.getsource`` accepts.
        docstring: ``"summary"`` (a ``# first sentence`` comment, the default), ``"drop"`` (no
            docstring) or ``"keep"`` (unchanged, the same as ``inspect.getsource``).
    """
    if docstring not in ("summary", "drop", "keep"):
        raise ValueError(f"docstring must be 'summary', 'drop' or 'keep', got {docstring!r}")
    code = textwrap.dedent(inspect.getsource(obj))
    if docstring == "keep":
        return code
    node = ast.parse(code).body[0]
    body = getattr(node, "body", None)
    if not body or not isinstance(body[0], ast.Expr) or not isinstance(getattr(body[0], "value", None), ast.Constant) \
            or not isinstance(body[0].value.value, str):
        return code
    doc = body[0]
    lines = code.splitlines()
    indent = lines[doc.lineno - 1][: len(lines[doc.lineno - 1]) - len(lines[doc.lineno - 1].lstrip())]
    keep = [] if docstring == "drop" else [f"{indent}# {plain_summary(doc.value.value)}"]
    return "\n".join(lines[: doc.lineno - 1] + keep + lines[doc.end_lineno:]) + "\n"
