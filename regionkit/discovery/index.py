"""Entry-point discovery: an index of every installed component, built without importing plugin code.

Each distribution declares components as entry points, one group per kind
(``regionkit.detectors``, ``regionkit.box_selectors``, …), each entry
``name = "package.module:attr"``.  Reading entry points only reads package metadata;
the plugin module is imported the first time one of its components is used
(:meth:`EntrySpec.load`).  Problems (malformed entries, unknown groups, name clashes,
import failures) are recorded per distribution and never stop the host.

Each third-party distribution's declared plugin-API version (``REGIONKIT_PLUGIN_API = "1.0"``
in its top-level package, read with :mod:`ast`) is checked when the index is built; see
:mod:`regionkit.discovery.api_version`.  A different major version makes the distribution
``incompatible``: none of its entries become active.
"""
from __future__ import annotations

import importlib
import importlib.metadata as md
import logging
from dataclasses import dataclass, field

from regionkit.discovery.api_version import check_plugin_api
from regionkit.discovery.entry_points import LIFECYCLE_KIND, EntrySpec, parse_entry_point, regionkit_entry_points
from regionkit.discovery.policy import HOST_DIST, PluginPolicy, canonical
from regionkit.errors import PluginPolicyError, did_you_mean
from regionkit.kinds import KINDS

__all__ = ["EntrySpec", "PluginDist", "PluginIndex", "get_index", "configure_plugins", "refresh_index"]

logger = logging.getLogger(__name__)


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
            eps = regionkit_entry_points(dist)
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
                    (self.lifecycle if spec.kind == LIFECYCLE_KIND else self._active[spec.kind]).append(spec)

    def _read_entries(self, record: PluginDist, eps: list[md.EntryPoint]) -> None:
        seen: set[tuple[str, str]] = set()
        for ep in eps:
            spec, problem = parse_entry_point(ep, record.name, record.version)
            if spec is not None and (spec.kind, spec.name) in seen:
                spec, problem = None, (f"entry point '{ep.name} = {ep.value.strip()}' in [{ep.group}]: the name "
                                       f"'{ep.name}' is declared twice in [{ep.group}]")
            if spec is None:
                record.problems.append(str(problem))
                continue
            seen.add((spec.kind, spec.name))
            record.entries.append(spec)
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
    def find(self, name: str) -> PluginDist | None:
        """The distribution called ``name``, or providing top-level package ``name`` (case and ``-_.`` ignored)."""
        key = canonical(name)
        record = self.dists.get(key)
        if record is None:
            record = next((d for d in self.dists.values() if key in {canonical(p) for p in d.packages}), None)
        return record

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
