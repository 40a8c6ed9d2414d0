"""Command-line flags generated from the registered methods' configs, for ``distill`` and ``adversarial``.

Every field of every registered method's config (declared with :func:`gkl.methods.registry.param`)
becomes one flag, ``--field-name`` unless ``param(flag=...)`` names it: a switch ``--x/--no-x`` for a
``bool``, else a value typed by the field's default (a float also accepts a fraction such as ``8/255``,
``choices`` restrict a string). Its default is ``None``: "the method's own".

Methods may share a field name with different types (``int`` for one, ``float`` or ``bool`` for
another). Such a flag is read as text and converted for the method that ``--method`` selects, by
:meth:`MethodFlags.given`; so a new method's field never breaks another method's flags.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, Callable

from gkl.cli.common import CLIError, number

__all__ = ["MethodFlags"]


def _option(f: dataclasses.Field) -> str:
    return f.metadata.get("flag", "--" + f.name.replace("_", "-"))


def _kind(f: dataclasses.Field) -> tuple[Callable[[str], Any], tuple | None]:
    """``(convert, choices)`` of a field's flag; ``convert`` is ``bool`` for a switch."""
    d = f.default
    convert = bool if isinstance(d, bool) else int if isinstance(d, int) else number if isinstance(d, float) else str
    return convert, f.metadata.get("choices")


@dataclasses.dataclass
class _Flag:
    dest: str
    owners: list[tuple[str, dataclasses.Field]]  # (method, its field), in registration order

    @property
    def options(self) -> list[str]:
        """The option strings (one unless the methods name the field's flag differently)."""
        return list(dict.fromkeys(_option(f) for _, f in self.owners))

    @property
    def option(self) -> str:
        return self.options[0]

    def kinds(self) -> set:
        return {_kind(f) for _, f in self.owners}


class MethodFlags:
    """The method flags of a registry (:data:`~gkl.methods.registry.DISTILLERS` or ``ADVERSARIAL``).

    ``show_defaults``: the help gives each method's config default (say no where the command starts a
    method from other settings, as ``distill`` does from its profile).
    """

    def __init__(self, registry, show_defaults: bool = True) -> None:
        self.registry, self.show_defaults = registry, show_defaults
        self.flags: dict[str, _Flag] = {}
        for method in registry.names():
            for f in dataclasses.fields(registry[method].Config):
                self.flags.setdefault(f.name, _Flag(f.name, [])).owners.append((method, f))

    def _help(self, flag: _Flag) -> str:
        """``"ikl, gkl: weight of the soft-label CE (default 1.0); dkd: TCKD weight (default 1.0)"``."""
        by_help: dict[str, list[tuple[str, Any]]] = {}
        for method, f in flag.owners:
            by_help.setdefault(f.metadata.get("help", f.name.replace("_", " ")), []).append((method, f.default))
        parts = []
        for text, owners in by_help.items():
            part = f"{', '.join(m for m, _ in owners)}: {text}"
            if self.show_defaults:
                defaults = {repr(d) for _, d in owners}
                part += (f" (default {owners[0][1]})" if len(defaults) == 1
                         else f" (defaults: {', '.join(f'{m} {d}' for m, d in owners)})")
            parts.append(part)
        return "; ".join(parts).replace("%", "%%")

    def add_to(self, parser) -> None:
        """Add every flag to ``parser`` (a parser or an argument group); a clash with a flag already
        there is a one-line ``ValueError``."""
        for flag in self.flags.values():
            kinds, text, options = flag.kinds(), self._help(flag), flag.options
            negated = ["--no-" + o[2:] for o in options]
            try:
                if kinds == {(bool, None)}:
                    g = parser.add_mutually_exclusive_group()
                    g.add_argument(*options, dest=flag.dest, action="store_true", default=None, help=text)
                    g.add_argument(*negated, dest=flag.dest, action="store_false", help=f"switch {flag.option} off")
                elif len(kinds) == 1:  # one type: converted (and checked) while parsing
                    (convert, choices), = kinds
                    parser.add_argument(*options, dest=flag.dest, type=convert, choices=choices, default=None, help=text)
                else:  # types differ between methods: text now, converted by given() for --method's
                    switch = any(convert is bool for convert, _ in kinds)
                    g = parser.add_mutually_exclusive_group()
                    g.add_argument(*options, dest=flag.dest, default=None, help=text, metavar="VALUE",
                                   **({"nargs": "?", "const": True} if switch else {}))
                    if switch:
                        g.add_argument(*negated, dest=flag.dest, action="store_false",
                                       help=f"switch {flag.option} off (methods where it is a switch)")
            except argparse.ArgumentError:
                raise ValueError(f"the {self.registry.kind} setting {flag.dest!r} clashes with the "
                                 f"command-line flag {flag.option}") from None

    def given(self, args: argparse.Namespace, method: str) -> dict[str, Any]:
        """The settings of ``method`` given on the command line (``args``), converted for it; a flag
        given that ``method`` does not have, or a value that does not fit it, is a :class:`CLIError`."""
        own = {f.name: f for f in dataclasses.fields(self.registry[method].Config)}
        given = {d: getattr(args, d) for d in self.flags if getattr(args, d, None) is not None}
        foreign = [self.flags[d].option for d in given if d not in own]
        if foreign:
            its = ", ".join(self.flags[d].option for d in own) or "none"
            verb = "does" if len(foreign) == 1 else "do"
            raise CLIError(f"{', '.join(foreign)} {verb} not apply to method {method} (its flags: {its})")
        return {d: self._convert(self.flags[d], own[d], v, method) for d, v in given.items()}

    def _convert(self, flag: _Flag, f: dataclasses.Field, value: Any, method: str) -> Any:
        """``value`` as parsed for ``flag``, converted for ``method``'s field ``f`` (a no-op where
        the flag's type is the same for every method: argparse already converted it)."""
        if len(flag.kinds()) == 1:
            return value
        convert, choices = _kind(f)
        where = f"argument {flag.option} (method {method})"
        if convert is bool:
            if isinstance(value, str):
                raise CLIError(f"{where}: a switch, it takes no value")
            return value
        if isinstance(value, bool):
            raise CLIError(f"{where}: expected one value" + ("" if value else ", not --no-" + flag.option[2:]))
        try:
            out = convert(value)
        except (ValueError, argparse.ArgumentTypeError) as err:
            msg = str(err) if isinstance(err, argparse.ArgumentTypeError) else \
                f"invalid {convert.__name__} value: {value!r}"
            raise CLIError(f"{where}: {msg}") from None
        if choices is not None and out not in choices:
            raise CLIError(f"{where}: invalid choice: {out!r} (choose from {', '.join(map(repr, choices))})")
        return out
