"""Reading regionkit entry points: the rules for names and targets, and importing a target.

One place for what both discovery (:mod:`regionkit.discovery.index`) and the plugin
validator (:mod:`regionkit.devkit.validate`) need: which groups exist, what a valid entry
looks like, and how a ``package.module:attr`` target is imported.
"""
from __future__ import annotations

import importlib
import importlib.metadata as md
import re
from dataclasses import dataclass
from typing import Any

from regionkit.discovery.policy import HOST_DIST, canonical
from regionkit.errors import PluginLoadError, did_you_mean
from regionkit.kinds import ENTRY_POINT_PREFIX, KINDS, LIFECYCLE_GROUP

__all__ = ["EntrySpec", "parse_entry_point", "load_target", "known_groups", "suggest_identifier",
           "regionkit_entry_points", "find_distribution", "LIFECYCLE_KIND"]

#: the pseudo-kind of lifecycle (pluggy) plugins
LIFECYCLE_KIND = "lifecycle"

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TARGET_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_LIFECYCLE_RE = re.compile(r"^[A-Za-z_][\w.]*(:[A-Za-z_][\w.]*)?$")


def known_groups() -> list[str]:
    """Every entry-point group regionkit reads."""
    return [k.group for k in KINDS.values()] + [LIFECYCLE_GROUP]


def suggest_identifier(name: str) -> str:
    """A Python identifier close to ``name`` (``my-det`` -> ``my_det``), for error messages."""
    out = re.sub(r"\W", "_", name)
    return "_" + out if out and out[0].isdigit() else out


@dataclass(frozen=True)
class EntrySpec:
    """One declared component: where it lives, who provides it. Loading it imports the module."""

    kind: str
    name: str
    target: str
    dist: str
    version: str

    @property
    def module(self) -> str:
        return self.target.partition(":")[0]

    @property
    def attr(self) -> str:
        return self.target.partition(":")[2]

    @property
    def package(self) -> str:
        """Top-level import package of the target module."""
        return self.module.split(".")[0]

    @property
    def namespace(self) -> str:
        """The qualifier in ``namespace.name``: the canonical distribution name."""
        return canonical(self.dist)

    @property
    def qualified_name(self) -> str:
        return f"{self.namespace}.{self.name}"

    @property
    def is_builtin(self) -> bool:
        return canonical(self.dist) == HOST_DIST

    def load(self) -> Any:
        """Import the module and return the object; :class:`PluginLoadError` on failure."""
        what = KINDS[self.kind].singular if self.kind in KINDS else "lifecycle plugin"
        where = f"{what} '{self.qualified_name}' ({self.target}) from {self.dist} {self.version}"
        obj = load_target(self.target, where)
        if self.kind != LIFECYCLE_KIND and not callable(obj):
            raise PluginLoadError(f"{where} is {type(obj).__name__}, not a class or function")
        return obj


def load_target(target: str, where: str = "") -> Any:
    """Import ``package.module[:attr.path]`` and return the object; :class:`PluginLoadError` on any failure.

    Whatever the plugin's import raises, ``SystemExit`` included (``KeyboardInterrupt``
    excepted), is reported, never propagated: a broken plugin must not end the host.
    """
    module, _, attr = target.partition(":")
    try:
        obj: Any = importlib.import_module(module)
        for part in filter(None, attr.split(".")):
            obj = getattr(obj, part)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit from plugin code included: report it, do not exit
        label = where or f"'{target}'"
        detail = f"{type(exc).__name__}: {exc}" if not isinstance(exc, SystemExit) else \
            f"it called sys.exit({exc.code!r}) while being imported"
        hint = ""
        if isinstance(exc, ModuleNotFoundError) and str(getattr(exc, "name", "")).startswith("regionkit."):
            hint = ("; regionkit's internal modules moved in 0.2: import from the public façade instead "
                    "(from regionkit import Boxes, BaseDetector, ...)")
        raise PluginLoadError(f"{label} failed to load: {detail}{hint}") from exc
    return obj


def parse_entry_point(ep: md.EntryPoint, dist: str, version: str) -> tuple[EntrySpec | None, str | None]:
    """``(spec, None)`` for a valid regionkit entry point, ``(None, problem)`` otherwise.

    ``ep`` must be in a group starting with ``regionkit.``.  The problem text starts with the
    entry point as written, so it can be shown as is.
    """
    value = ep.value.strip()
    where = f"entry point '{ep.name} = {value}' in [{ep.group}]"
    if ep.group == LIFECYCLE_GROUP:
        if not _LIFECYCLE_RE.match(value):
            return None, f"{where}: the value must be 'package.module' or 'package.module:object'"
        return EntrySpec(LIFECYCLE_KIND, ep.name, value, dist, version), None
    kind = ep.group[len(ENTRY_POINT_PREFIX):]
    if kind not in KINDS:
        return None, (f"{where}: unknown group{did_you_mean(ep.group, known_groups())}; "
                      f"groups: {', '.join(known_groups())}")
    if not _NAME_RE.match(ep.name):
        return None, (f"{where}: the name must be a Python identifier (letters, digits, _), "
                      f"e.g. '{suggest_identifier(ep.name)}'")
    if not _TARGET_RE.match(value):
        return None, f"{where}: the value must be 'package.module:ClassName'"
    return EntrySpec(kind, ep.name, value, dist, version), None


def regionkit_entry_points(dist: md.Distribution) -> list[md.EntryPoint]:
    """The entry points of ``dist`` in ``regionkit.*`` groups."""
    return [ep for ep in dist.entry_points if ep.group.startswith(ENTRY_POINT_PREFIX)]


def find_distribution(name: str) -> md.Distribution | None:
    """The installed distribution called ``name``, or whose regionkit entry points live in top-level package ``name``."""
    key = canonical(name)
    dists = list(md.distributions())
    for dist in dists:
        if canonical(dist.metadata["Name"] or "") == key:
            return dist
    for dist in dists:
        for ep in regionkit_entry_points(dist):
            if canonical(ep.value.strip().split(":")[0].split(".")[0]) == key:
                return dist
    return None
