"""Entry-point discovery: an index of every installed component, built without importing plugin code.

Each distribution declares components as entry points, one group per kind
(``regionkit.detectors``, ``regionkit.box_selectors``, …), each entry
``name = "package.module:attr"``.  Reading entry points only reads package metadata;
the plugin module is imported the first time one of its components is used
(:meth:`EntrySpec.load`).  Problems (malformed entries, unknown groups, name clashes,
import failures) are recorded per distribution and never stop the host.

Each third-party distribution's declared plugin-API version (``REGIONKIT_PLUGIN_API = "1.0"``
in its top-level package, read with :mod:`ast`) is checked when the index is built; see
:mod:`regionkit.registry.api_version`.  A different major version makes the distribution
``incompatible``: none of its entries become active.
"""
from __future__ import annotations

import importlib
import importlib.metadata as md
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from regionkit.registry.api_version import check_plugin_api
from regionkit.registry.errors import PluginLoadError, PluginPolicyError, did_you_mean
from regionkit.registry.kinds import ENTRY_POINT_PREFIX, KINDS, LIFECYCLE_GROUP
from regionkit.registry.policy import HOST_DIST, PluginPolicy, canonical

__all__ = ["EntrySpec", "PluginDist", "PluginIndex", "get_index", "configure_plugins", "refresh_index"]

logger = logging.getLogger(__name__)

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TARGET_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


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
        try:
            obj: Any = importlib.import_module(self.module)
            for part in self.attr.split("."):
                obj = getattr(obj, part)
        except Exception as exc:  # any failure inside third-party code must not crash the host
            raise PluginLoadError(
                f"{KINDS[self.kind].singular if self.kind in KINDS else self.kind} "
                f"'{self.qualified_name}' ({self.target}) from {self.dist} {self.version} "
                f"failed to load: {type(exc).__name__}: {exc}") from exc
        if not callable(obj):
            raise PluginLoadError(
                f"'{self.qualified_name}' ({self.target}) from {self.dist} {self.version} is "
                f"{type(obj).__name__}, not a class or function")
        return obj


@dataclass
class PluginDist:
    """A distribution that declares regionkit entry points, with its load status.

    ``problems`` is everything ``regionkit plugins`` shows for it; ``advice`` is the subset that
    is advice only (a missing or newer-minor plugin-API declaration): those lines do not make the
    distribution "partly loaded" and are left out of "unknown component" errors.
    ``api_version`` is the plugin-API version it declares (``None``: undeclared or unreadable).
    """

    name: str
    version: str
    status: str = "ok"  # ok | disabled | blocked | error | incompatible
    entries: list[EntrySpec] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)
    api_version: str | None = None

    @property
    def key(self) -> str:
        return canonical(self.name)

    @property
    def packages(self) -> set[str]:
        return {e.package for e in self.entries}

    @property
    def is_builtin(self) -> bool:
        return self.key == HOST_DIST

    @property
    def serious_problems(self) -> list[str]:
        """Problems that are not mere advice."""
        return [p for p in self.problems if p not in self.advice]

    def status_line(self) -> str:
        if self.status == "ok" and self.serious_problems:
            return "partly loaded"
        if self.status == "incompatible":
            return f"incompatible (plugin API {self.api_version})"
        return {"ok": "loaded", "disabled": "disabled (autoload off)", "blocked": "blocked",
                "error": "failed"}.get(self.status, self.status)

    def add_advice(self, message: str) -> None:
        if message not in self.problems:
            self.problems.append(message)
        if message not in self.advice:
            self.advice.append(message)


class PluginIndex:
    """Every regionkit entry point of the installed distributions, filtered by a policy."""

    def __init__(self, policy: PluginPolicy | None = None) -> None:
        self.policy = policy or PluginPolicy.from_env()
        self.dists: dict[str, PluginDist] = {}
        self._active: dict[str, list[EntrySpec]] = {k: [] for k in KINDS}
        self.lifecycle: list[EntrySpec] = []
        self._scan()
        self._check_policy_names()
        self._resolve_builtin_clashes()

    # ------------------------------------------------------------------ scanning
    def _scan(self) -> None:
        for dist in md.distributions():
            name = dist.metadata["Name"] or ""
            if not name or canonical(name) in self.dists:
                continue  # a shadowed copy further down sys.path; importlib ignores it too
            eps = [ep for ep in dist.entry_points if ep.group.startswith(ENTRY_POINT_PREFIX)]
            if not eps:
                continue
            record = PluginDist(name=name, version=dist.version or "?")
            self.dists[record.key] = record
            self._read_entries(record, eps)
            record.status = self.policy.decide([record.name, *record.packages])
            if record.status == "ok" and not record.is_builtin:
                self._check_api(record)
            if record.status == "ok":
                for spec in record.entries:
                    (self.lifecycle if spec.kind == "lifecycle" else self._active[spec.kind]).append(spec)

    def _read_entries(self, record: PluginDist, eps: list[md.EntryPoint]) -> None:
        seen: set[tuple[str, str]] = set()
        for ep in eps:
            kind_key = ep.group[len(ENTRY_POINT_PREFIX):]
            where = f"entry point '{ep.name} = {ep.value}' in group '{ep.group}'"
            if ep.group == LIFECYCLE_GROUP:
                if not re.match(r"^[A-Za-z_][\w.]*(:[A-Za-z_][\w.]*)?$", ep.value.strip()):
                    record.problems.append(f"{where}: value must be 'module' or 'module:object'")
                    continue
                record.entries.append(EntrySpec("lifecycle", ep.name, ep.value.strip(), record.name, record.version))
                continue
            if kind_key not in KINDS:
                known = [k.group for k in KINDS.values()] + [LIFECYCLE_GROUP]
                record.problems.append(f"{where}: unknown group{did_you_mean(ep.group, known)}")
                continue
            if not _NAME_RE.match(ep.name):
                record.problems.append(f"{where}: name must be a Python identifier (letters, digits, _)")
                continue
            if not _TARGET_RE.match(ep.value.strip()):
                record.problems.append(f"{where}: value must look like 'package.module:attr'")
                continue
            if (kind_key, ep.name) in seen:
                record.problems.append(f"{where}: name declared twice in this group")
                continue
            seen.add((kind_key, ep.name))
            record.entries.append(EntrySpec(kind_key, ep.name, ep.value.strip(), record.name, record.version))
        if record.problems and not record.entries:
            record.status = "error"

    def _check_api(self, record: PluginDist) -> None:
        """Apply the plugin-API version rules; an incompatible major refuses the distribution."""
        packages = sorted(record.packages)
        if not packages:
            return
        verdict = check_plugin_api(record.name, record.version, packages)
        record.api_version = verdict.version
        if verdict.status == "incompatible":
            record.status = "incompatible"
            record.problems.append(verdict.message)
            _warn_once(verdict.message)
        elif verdict.status == "newer_minor":
            record.add_advice(verdict.message)
            _warn_once(verdict.message)
        elif verdict.status in ("missing", "invalid"):
            record.add_advice(verdict.message)

    def _check_policy_names(self) -> None:
        known: dict[str, PluginDist] = {}
        for record in self.dists.values():
            for key in {record.key, *(canonical(p) for p in record.packages)}:
                known[key] = record
        if HOST_DIST in self.policy.blocked:
            raise PluginPolicyError("regionkit's own components cannot be blocked (no:regionkit)")
        unknown = sorted((self.policy.enabled | self.policy.blocked) - set(known))
        if unknown:
            names = sorted(r.name for r in self.dists.values() if not r.is_builtin)
            hint = did_you_mean(unknown[0], [canonical(n) for n in names])
            raise PluginPolicyError(
                f"unknown plugin {unknown[0]!r} in the plugin allow/block list{hint}; "
                f"installed plugins: {', '.join(names) or 'none'}")

    def _resolve_builtin_clashes(self) -> None:
        """A third-party entry reusing a built-in name stays reachable only by its qualified name."""
        for kind, specs in self._active.items():
            builtin = {s.name for s in specs if s.is_builtin}
            for spec in specs:
                if not spec.is_builtin and spec.name in builtin:
                    self.dists[canonical(spec.dist)].problems.append(
                        f"{KINDS[kind].singular} name '{spec.name}' clashes with regionkit's built-in; "
                        f"use '{spec.qualified_name}' to select the plugin's version")

    # ------------------------------------------------------------------ queries
    def entries(self, kind: str) -> list[EntrySpec]:
        """Active (allowed) entries of one kind, built-ins first."""
        return sorted(self._active[kind], key=lambda s: (not s.is_builtin, s.dist.lower(), s.name))

    def problems(self, include_advice: bool = False) -> list[str]:
        """One line per problem of any distribution, prefixed by its name and version.

        Advice (plugin-API declaration hints) is left out unless ``include_advice``.
        """
        return [f"{d.name} {d.version}: {p}" for d in self.dists.values()
                for p in (d.problems if include_advice else d.serious_problems)]

    def record_problem(self, dist: str, message: str) -> None:
        record = self.dists.get(canonical(dist))
        if record is not None and message not in record.problems:
            record.problems.append(message)
            if record.status == "ok" and not record.is_builtin:
                logger.warning(message)


_INDEX: PluginIndex | None = None
_POLICY: PluginPolicy | None = None
_WARNED: set[str] = set()


def _warn_once(message: str) -> None:
    """Log a plugin-API warning once per process (the index may be rebuilt many times)."""
    if message not in _WARNED:
        _WARNED.add(message)
        logger.warning(message)


def get_index() -> PluginIndex:
    """The process-wide index, built on first use from the configured or environment policy."""
    global _INDEX
    if _INDEX is None:
        _INDEX = PluginIndex(_POLICY)
    return _INDEX


def configure_plugins(policy: PluginPolicy | None) -> None:
    """Set the plugin policy (``None``: from the environment); the index is rebuilt on next use."""
    global _POLICY, _INDEX
    _POLICY = policy
    _INDEX = None


def refresh_index() -> PluginIndex:
    """Rescan installed distributions (after installing a plugin in this process)."""
    global _INDEX
    importlib.invalidate_caches()
    _INDEX = None
    return get_index()
