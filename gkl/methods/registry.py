"""Registries of methods: one file per method, one ``@REGISTRY.register`` line to make it known.

A *method* is a class with three class attributes:

* ``name`` — the identifier the CLI, the profiles and the run cache use (``"gkl"``, ``"trades"``);
* ``label`` — how tables and figures call it (``"GKL"``, ``"TRADES"``);
* ``Config`` — a dataclass derived from :class:`MethodConfig` holding **only this method's**
  hyper-parameters, so a field added to one method never changes another method's run keys.

Both families declare a config field the same way, with :func:`param` (its default, its ``--flag``
help, its bounds or choices), and :meth:`MethodConfig.__post_init__` checks every field from that
declaration: one dialect, one validation style, read by the command line's flag generator too.

:meth:`Registry.register` also sets ``Config.method = name``; a config therefore knows its method,
and :meth:`Registry.config` builds one from a name and keyword arguments. The CLI's ``--method``
choices, the chapters' tables and the figure colours all read the registries, so a registered
method appears in them without further edits.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar, Generic, Iterator, Mapping, Optional, Sequence, TypeVar

__all__ = ["MethodConfig", "Registry", "check_number", "check_field", "param", "ADVERSARIAL", "DISTILLERS"]


def check_number(value: Any, name: str, low: float = 0.0, strict: bool = False) -> None:
    """One-line ``ValueError`` unless ``value`` is a finite real ``>= low`` (``> low`` if ``strict``)."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if not ok or value < low or (strict and value == low):
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} {low:g}, got {value!r}")


def param(default: Any, help: str, *, low: float = 0.0, strict: bool = False,
          choices: Optional[Sequence[str]] = None, flag: Optional[str] = None) -> Any:
    """A config field with its ``--flag`` help and its check (:func:`check_field`).

    The default's type sets both: a ``bool`` makes a switch (``--x/--no-x``), an ``int`` an integer
    ``>= low``, a ``float`` a finite number ``>= low`` (``> low`` if ``strict``), a ``str`` one of
    ``choices`` (any text without them). ``flag`` renames the option (default ``--field-name``).
    """
    meta: dict[str, Any] = {"help": help, "low": low, "strict": strict}
    if choices is not None:
        meta["choices"] = tuple(choices)
    if flag is not None:
        meta["flag"] = flag
    return dataclasses.field(default=default, metadata=meta)


def check_field(f: dataclasses.Field, value: Any) -> None:
    """One-line ``ValueError`` unless ``value`` fits field ``f`` as :func:`param` declared it (a field
    declared otherwise is checked by its default's type with ``low = 0``; a default of another type,
    or none, is not checked)."""
    low = f.metadata.get("low", 0.0)
    if isinstance(f.default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{f.name} must be True or False, got {value!r}")
    elif isinstance(f.default, int):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{f.name} must be an int >= {low:g}, got {value!r}")
    elif isinstance(f.default, float):
        check_number(value, f.name, low, f.metadata.get("strict", False))
    elif isinstance(f.default, str):
        choices = f.metadata.get("choices")
        if not isinstance(value, str) or (choices is not None and value not in choices):
            allowed = f"one of {', '.join(choices)}" if choices is not None else "a string"
            raise ValueError(f"{f.name} must be {allowed}, got {value!r}")


@dataclasses.dataclass
class MethodConfig:
    """Base of every method's hyper-parameter dataclass. ``method`` is set by :meth:`Registry.register`.

    Every field is checked at construction (:func:`check_field`); a rule that a field's declaration
    cannot state goes in an override of ``__post_init__`` that also calls this one.
    """

    method: ClassVar[str] = ""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            check_field(f, getattr(self, f.name))

    def to_dict(self) -> dict[str, Any]:
        """``{"method": name, **fields}``: what run keys and checkpoints record."""
        return {"method": self.method, **dataclasses.asdict(self)}

    def replace(self, **changes: Any) -> "MethodConfig":
        """A copy with ``changes`` (unknown field: one-line ``ValueError``)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"{self.method} has no setting {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)


M = TypeVar("M")


class Registry(Generic[M]):
    """Name → method class, in registration order."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._methods: dict[str, type] = {}

    def register(self, cls: Optional[type] = None, *, before: Optional[str] = None) -> Any:
        """Class decorator: make ``cls`` known under ``cls.name`` (names are unique), last in order.

        ``@REGISTRY.register(before="gkl")`` places it before ``gkl`` (if registered) instead: a method
        whose file imports another's to extend it (IKL, GKL's γ = 1 case) keeps its place in the tables
        although the method it extends registers first.
        """
        if cls is None:
            return lambda c: self.register(c, before=before)
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise ValueError(f"{cls.__name__} needs a class attribute 'name'")
        config = getattr(cls, "Config", None)
        if not (isinstance(config, type) and issubclass(config, MethodConfig)):
            raise ValueError(f"{cls.__name__}.Config must be a MethodConfig dataclass")
        if name in self._methods and self._methods[name] is not cls:
            raise ValueError(f"{self.kind} method {name!r} is already registered")
        config.method = name
        self._methods[name] = cls
        if before is not None and before in self._methods and before != name:
            order = [n for n in self._methods if n != name]
            order.insert(order.index(before), name)
            self._methods = {n: self._methods[n] for n in order}
        return cls

    def unregister(self, name: str) -> None:
        """Forget ``name`` (tests that register a throw-away method clean up with this)."""
        self._methods.pop(name, None)

    def __getitem__(self, name: str) -> type:
        if name not in self._methods:
            raise ValueError(f"unknown {self.kind} method {name!r}; choose one of {', '.join(self._methods)}")
        return self._methods[name]

    def __contains__(self, name: object) -> bool:
        return name in self._methods

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._methods))

    def __len__(self) -> int:
        return len(self._methods)

    def names(self) -> tuple[str, ...]:
        """Registered names, in registration order."""
        return tuple(self._methods)

    def config(self, method: str, **settings: Any) -> MethodConfig:
        """The config of ``method`` with ``settings`` (``None`` values mean "the method's default")."""
        cls = self[method].Config
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = {k for k, v in settings.items() if v is not None} - fields
        if unknown:
            raise ValueError(f"{self.kind} method {method!r} has no setting {', '.join(sorted(unknown))}")
        return cls(**{k: v for k, v in settings.items() if v is not None})

    def from_dict(self, d: Mapping[str, Any]) -> MethodConfig:
        """Inverse of :meth:`MethodConfig.to_dict`."""
        d = dict(d)
        if "method" not in d:
            raise ValueError(f"a {self.kind} config needs a 'method' key")
        return self.config(d.pop("method"), **d)


#: Adversarial-training methods (``pgd-at``, ``trades``, ``ikl``, ``gkl``), filled by the files of
#: :mod:`gkl.methods.adversarial` when that package is imported.
ADVERSARIAL: Registry = Registry("adversarial-training")

#: Distillers (``none``, ``kd``, ``dkd``, ``ikl``, ``gkl``), filled by the files of :mod:`gkl.methods.distill`.
DISTILLERS: Registry = Registry("distillation")
