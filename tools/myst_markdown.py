"""MyST markup of a chapter's Markdown cell rewritten as plain Markdown + HTML (Colab, Jupyter).

The book's ``.md`` chapters use MyST: admonitions, dropdown solutions, ``{doc}`` links, ``{cite}``
roles, ``{glue:text}`` values ...  Colab and Jupyter render CommonMark + HTML only and show that
markup as literal text, so ``tools/notebooks.py`` passes every Markdown cell of a generated notebook
through :func:`convert`:

* an admonition (```` ```{note} ````, ```` ```{admonition} Title ````) becomes a quoted box headed by
  its title in bold (an HTML ``<blockquote>`` when math in it spans lines, which ``>`` would break);
* a solution (an admonition or dropdown titled "Solution") is dropped: solutions are for
  instructors only (``tools/solutions.py`` collects them; the site removes them too);
* any other dropdown (``:class: dropdown``, ``{dropdown}``) becomes ``<details><summary>Title</summary>``
  with its body as Markdown (blank lines around it, so Jupyter renders it);
* ``{doc}`` and relative ``.md`` links point to the page on the built site, with the page's title;
* ``{cite:p}`` / ``{cite:t}`` become author-year text linked to the references page;
* ``{func}``, ``{mod}``, ``{class}`` ... become inline code, ``{math}`` becomes ``$...$``;
* a glued value (``{glue:text}``) cannot be known before the code runs: it becomes a short note;
* ``(label)=`` lines and ``%`` comments are dropped; code blocks and code spans are left alone.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Context", "convert", "read_bibtex"]

DEFAULT_TITLES = {"seealso": "See also", "margin": "", "sidebar": "", "aside": "", "epigraph": "",
                  "pull-quote": "", "highlights": "", "card": "", "admonition": ""}
GLUE_NOTE = "*(a value the code computes; shown on [the book's page]({url}))*"


@dataclass
class Context:
    """What a conversion needs to know about the book around one page."""

    docname: str = "index"                             #: this page, e.g. ``book/theory/decoupling``
    site_url: str = ""                                 #: the built site, ending in ``/``
    titles: dict[str, str] = field(default_factory=dict)       #: docname -> page title
    citations: dict[str, tuple[str, str]] = field(default_factory=dict)  #: key -> (authors, year)
    references_page: str = "book/references"           #: the page with the bibliography

    def page_url(self, docname: str, anchor: str = "") -> str:
        return f"{self.site_url}{docname}.html" + (f"#{anchor}" if anchor else "")

    def resolve(self, target: str) -> str:
        """A ``{doc}`` target (relative to this page, or ``/``-rooted) as a docname."""
        target = target.strip().removesuffix(".md").removesuffix(".ipynb")
        if target.startswith("/"):
            return posixpath.normpath(target.lstrip("/"))
        return posixpath.normpath(posixpath.join(posixpath.dirname(self.docname), target))


# --- blocks ---------------------------------------------------------------------------------------

FENCE_RE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,}|:{3,})(?P<info>.*)$")
DIRECTIVE_RE = re.compile(r"^\s*\{(?P<name>[\w:.-]+)\}\s*(?P<arg>.*?)\s*$")
OPTION_RE = re.compile(r"^:(?P<key>[\w-]+):\s*(?P<value>.*?)\s*$")
LABEL_RE = re.compile(r"^\s*\([\w:.-]+\)=\s*$")
#: The title of a solution block, which the notebooks never show (as book/_ext/gkl_solutions.py).
SOLUTION_TITLE_RE = re.compile(r"^\s*solution\b", re.IGNORECASE)
COMMENT_RE = re.compile(r"^\s*%")


def convert(text: str, ctx: Context | None = None) -> str:
    """The Markdown ``text`` of a MyST cell with its MyST-only markup rewritten (see the module)."""
    ctx = ctx or Context()
    return "\n".join(_blocks(text.split("\n"), ctx))


def _closing(lines: list[str], start: int, fence: str) -> int:
    """Index of the line closing the fence opened at ``start`` (``len(lines)`` if none)."""
    char, n = fence[0], len(fence)
    close = re.compile(rf"^\s*{re.escape(char)}{{{n},}}\s*$")
    return next((j for j in range(start + 1, len(lines)) if close.match(lines[j])), len(lines))


def _blocks(lines: list[str], ctx: Context) -> list[str]:
    out: list[str] = []
    prose: list[str] = []

    def flush() -> None:
        if prose:
            out.extend(_inline("\n".join(prose), ctx).split("\n"))
            prose.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        m = FENCE_RE.match(line)
        if m and (m["fence"][0] != ":" or DIRECTIVE_RE.match(m["info"])):
            flush()
            j = _closing(lines, i, m["fence"])
            d = DIRECTIVE_RE.match(m["info"]) if m["fence"][0] != "~" else None
            if d:
                indent = m["indent"]
                body = [b[len(indent):] if b.startswith(indent) else b.lstrip() for b in lines[i + 1:j]]
                rendered = _directive(d["name"], d["arg"], body, ctx)
                out.extend(indent + r if r else r for r in rendered)
            else:  # a code block: verbatim
                out.extend(lines[i:j + 1])
            i = j + 1
            continue
        if not (LABEL_RE.match(line) or COMMENT_RE.match(line)):
            prose.append(line)
        i += 1
    flush()
    return out


def _options(body: list[str]) -> tuple[dict[str, str], list[str]]:
    """A directive's options (``:key: value`` lines or a ``---`` YAML block) and the rest of its body."""
    opts: dict[str, str] = {}
    if body and body[0].strip() == "---":
        end = next((k for k in range(1, len(body)) if body[k].strip() == "---"), None)
        if end is not None:
            for line in body[1:end]:
                key, _, value = line.partition(":")
                opts[key.strip()] = value.strip()
            return opts, body[end + 1:]
    k = 0
    while k < len(body) and (m := OPTION_RE.match(body[k])):
        opts[m["key"]] = m["value"]
        k += 1
    return opts, body[k:]


def _strip_blank(lines: list[str]) -> list[str]:
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


def _directive(name: str, arg: str, body: list[str], ctx: Context) -> list[str]:
    """One directive (name, argument, body lines) as plain Markdown/HTML lines: one case per kind."""
    if name in {"admonition", "dropdown"} and SOLUTION_TITLE_RE.match(arg):
        return []  # instructors only
    opts, body = _options(body)
    classes = opts.get("class", "").split()
    if name == "math":
        return ["$$", *_strip_blank(body), "$$"]
    if name in {"code", "code-block", "sourcecode"}:
        return [f"```{arg}", *body, "```"]
    if name in {"raw", "only"}:
        return _strip_blank(body) if name == "only" or arg.strip() == "html" else []
    if name.startswith("glue"):
        return [GLUE_NOTE.format(url=ctx.page_url(ctx.docname))]
    if name in {"bibliography", "tableofcontents", "toctree", "contents"}:
        return []
    if name == "eval-rst":
        return [f"*(see [the book's page]({ctx.page_url(ctx.docname)}))*"]
    if name in {"figure", "image"}:
        alt = opts.get("alt", "")
        caption = _inline(" ".join(b.strip() for b in _strip_blank(body)), ctx)
        lines = [f"![{alt or caption}]({arg})"]
        return lines + (["", f"*{caption}*"] if caption and name == "figure" else [])
    content = _blocks(_strip_blank(body), ctx)
    if name in {"table", "list-table", "csv-table"}:
        return ([f"**{_inline(arg, ctx)}**", ""] if arg else []) + content
    title = _inline(arg, ctx) if arg else DEFAULT_TITLES.get(name, name.replace("-", " ").capitalize())
    if name in {"dropdown", "toggle"} or "dropdown" in classes or "toggle" in classes:
        summary = _strip_markdown(title) or "Details"
        return ["<details>", f"<summary>{summary}</summary>", "", *content, "", "</details>"]
    # an admonition (note, tip, warning, margin ...) or any other directive: a quoted box with its body
    head = [f"**{title}**", ""] if title else []
    if _math_spans_lines("\n".join(content)):
        return ["<blockquote>", "", *head, *content, "", "</blockquote>"]
    return [("> " + line).rstrip() for line in head + content]


def _strip_markdown(text: str) -> str:
    return re.sub(r"[*_`]", "", text).strip()


MATH_RE = re.compile(r"\$\$.+?\$\$|\$[^$]+?\$", re.DOTALL)


def _math_spans_lines(text: str) -> bool:
    """True if a ``$...$`` / ``$$...$$`` span of ``text`` crosses a line break (``>`` would enter it)."""
    text = re.sub(r"(`+).*?\1", "", text, flags=re.DOTALL)
    return any("\n" in m.group(0) for m in MATH_RE.finditer(text))


# --- inline ---------------------------------------------------------------------------------------

INLINE_RE = re.compile(
    r"(?P<role>\{(?P<name>[\w:.+-]+)\}`(?P<content>[^`]*)`)"
    r"|(?P<code>(?P<ticks>`+).*?(?P=ticks))"
    r"|(?P<mdlink>\]\((?P<href>(?![a-z][\w+.-]*:|#|/)[^)\s]+?\.(?:md|ipynb))(?:#(?P<anchor>[^)\s]*))?\))",
    re.DOTALL,
)
TITLED_RE = re.compile(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", re.DOTALL)
CODE_ROLES = {"func", "meth", "class", "mod", "attr", "data", "obj", "exc", "const", "any", "code",
              "literal", "samp", "file", "command", "program", "envvar", "option", "var", "type",
              "member", "macro", "enum", "struct", "function"}


def _split_title(content: str) -> tuple[str, str]:
    m = TITLED_RE.match(content.strip())
    return (m["text"], m["target"]) if m else ("", content.strip())


def _inline(text: str, ctx: Context) -> str:
    def sub(m: re.Match) -> str:
        if m["code"]:
            return m["code"]
        if m["mdlink"]:
            return f"]({ctx.page_url(ctx.resolve(m['href']), m['anchor'] or '')})"
        return _role(m["name"], m["content"], ctx)

    return INLINE_RE.sub(sub, text)


def _role(name: str, content: str, ctx: Context) -> str:
    """One role as plain Markdown/HTML: one case per kind (an unknown role shows its content as code)."""
    kind = name.split(":")[-1] if name.startswith(("py:", "std:")) else name
    text, target = _split_title(content)
    if kind == "doc":
        docname = ctx.resolve(target)
        label = text or ctx.titles.get(docname) or posixpath.basename(docname).replace("_", " ")
        return f"[{label}]({ctx.page_url(docname)})"
    if kind.startswith("cite"):
        return _cite(kind, content, ctx)
    if kind.startswith("glue"):
        return GLUE_NOTE.format(url=ctx.page_url(ctx.docname))
    if kind in {"math", "m"}:
        return f"${content}$"
    if kind in {"sub", "sup", "kbd"}:
        return f"<{kind}>{content}</{kind}>"
    if kind in {"ref", "numref", "term", "eq", "abbr", "dfn", "guilabel", "menuselection"}:
        plain = text or target
        if kind == "abbr":
            plain = re.sub(r"\s*\(.*\)$", "", content)
        return f"({plain})" if kind == "eq" and not text else plain
    if kind == "download":
        return f"[{text or target}]({target})"
    if kind in CODE_ROLES:
        shown = text or (target[1:].rsplit(".", 1)[-1] if target.startswith("~") else target)
        if kind in {"func", "meth"} and not text and not shown.endswith(")"):
            shown += "()"
        return f"`{shown}`"
    return f"`{content}`"  # an unknown role: its content, as code


def _cite(kind: str, content: str, ctx: Context) -> str:
    parts = []
    for key in (k.strip() for k in content.split(",") if k.strip()):
        authors, year = ctx.citations.get(key, (f"[{key}]", ""))
        if kind in {"cite:t", "cite:ts", "cite:ct", "cite:cts"}:
            parts.append(f"{authors} ({year})" if year else authors)
        elif kind in {"cite:author", "cite:authors"}:
            parts.append(authors)
        elif kind == "cite:year":
            parts.append(year or authors)
        else:
            parts.append(f"{authors}, {year}" if year else authors)
    text = "; ".join(parts)
    if kind in {"cite", "cite:p", "cite:ps", "cite:cp", "cite:cps"}:
        text = f"({text})"
    return f"[{text}]({ctx.page_url(ctx.references_page)})"


# --- the bibliography -----------------------------------------------------------------------------

ENTRY_RE = re.compile(r"@\w+\s*\{\s*(?P<key>[^,\s]+)\s*,")


def _field(entry: str, name: str) -> str:
    """The value of ``name = {...}`` (balanced braces) or ``name = "..."`` in one BibTeX entry."""
    m = re.search(rf"\b{name}\s*=\s*", entry, re.IGNORECASE)
    if not m:
        return ""
    rest = entry[m.end():]
    if rest.startswith("{"):
        depth = 0
        for k, ch in enumerate(rest):
            depth += {"{": 1, "}": -1}.get(ch, 0)
            if depth == 0:
                return rest[1:k]
    if rest.startswith('"'):
        return rest[1:rest.index('"', 1)]
    return re.match(r"[^,}\s]*", rest).group(0)


def _split_authors(field_text: str) -> list[str]:
    names, depth, start = [], 0, 0
    for k, ch in enumerate(field_text):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth == 0 and field_text.startswith(" and ", k):
            names.append(field_text[start:k])
            start = k + 5
    return [*names, field_text[start:]]


def _last_name(name: str) -> str:
    name = name.strip()
    if name.startswith("{") and name.endswith("}"):
        return name[1:-1]
    last = name.split(",")[0] if "," in name else name.split()[-1]
    return last.replace("{", "").replace("}", "").strip()


def read_bibtex(path: Path) -> dict[str, tuple[str, str]]:
    """``key -> (authors, year)`` of a ``.bib`` file: "Hinton et al.", "Croce and Hein", "2015"."""
    text = path.read_text(encoding="utf-8")
    starts = list(ENTRY_RE.finditer(text))
    out = {}
    for m, nxt in zip(starts, [*starts[1:], None]):
        entry = text[m.end():nxt.start() if nxt else len(text)]
        last = [_last_name(n) for n in _split_authors(_field(entry, "author")) if n.strip()]
        authors = (last[0] if len(last) == 1 else " and ".join(last) if len(last) == 2
                   else f"{last[0]} et al." if last else m["key"])
        out[m["key"]] = (authors, _field(entry, "year"))
    return out
