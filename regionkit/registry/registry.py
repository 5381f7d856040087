"""``ComponentRegistry``: an mmengine ``Registry`` whose names come from entry points.

Name resolution (see :meth:`ComponentRegistry.resolve`):

* ``namespace.name`` always resolves; the namespace is the providing distribution
  (``regionkit-plugin-example`` / ``regionkit_plugin_example``) or its top-level package.
* A bare ``name`` resolves when exactly one active plugin provides it.  regionkit's own
  built-ins keep their bare names even when a plugin reuses one (the plugin's entry is
  reachable by its qualified name and the clash is reported), so installing a plugin never
  changes what an existing config builds.  Otherwise several providers are an error that
  lists the qualified names.
* Components registered in-process with ``register_module`` take part under the namespace
  of their top-level module.
* Anything else falls back to mmengine's own lookup (``mmdet.SomeModel`` style), then
  fails with close matches, the registries searched and the plugins that failed to load.
"""
from __future__ import annotations

import fnmatch
import logging
import re
from dataclasses import dataclass
from typing import Any, Mapping

from mmengine.registry import Registry

from regionkit.registry.discovery import EntrySpec, get_index
from regionkit.registry.errors import (AmbiguousNameError, ComponentNotFoundError, ConfigError,
                                       PluginLoadError, did_you_mean)
from regionkit.registry.kinds import KINDS, Kind
from regionkit.registry.params import check_parameters
from regionkit.registry.policy import canonical
from regionkit.registry.summaries import static_summary

__all__ = ["ComponentRegistry", "Candidate", "ComponentInfo", "PLANNED_COMPONENTS"]

logger = logging.getLogger(__name__)

#: names users will meet in configs before the component exists: a clear message beats "unknown"
PLANNED_COMPONENTS: dict[tuple[str, str], str] = {
    ("detectors", "baron"): (
        "the BARON open-vocabulary detector (Patch Matters' divide stage) is planned but not yet "
        "available in this release of regionkit; configs/saliency_four_box.py runs today"),
}


@dataclass(frozen=True)
class Candidate:
    """A component that can answer a name: an entry point or an in-process registration."""

    name: str
    namespace: str
    entry: EntrySpec | None = None
    local_obj: Any = None

    @property
    def qualified_name(self) -> str:
        return f"{self.namespace}.{self.name}"

    @property
    def is_builtin(self) -> bool:
        return self.entry is not None and self.entry.is_builtin

    def matches_namespace(self, namespace: str) -> bool:
        ns = canonical(namespace)
        if self.entry is not None:
            return ns in (canonical(self.entry.dist), canonical(self.entry.package))
        return ns == self.namespace


@dataclass(frozen=True)
class ComponentInfo:
    """What ``regionkit list`` shows for one component (no plugin code imported)."""

    kind: str
    name: str
    qualified_name: str
    distribution: str
    version: str
    target: str
    summary: str

    def as_dict(self) -> dict[str, str]:
        return dict(self.__dict__)


class ComponentRegistry(Registry):
    """Registry of one component kind, scope ``regionkit``, backed by entry points."""

    def __init__(self, kind: Kind, parent: Registry | None = None) -> None:
        super().__init__(kind.singular.replace(" ", "_"), parent=parent, scope="regionkit")
        self.kind = kind
        self._loaded: dict[EntrySpec, Any] = {}

    # ------------------------------------------------------------------ registration
    def _register_module(self, module: Any, module_name: Any = None, force: bool = False) -> None:
        """mmengine registration with two fixes: re-registering the same object is a no-op,
        and a clash names both locations."""
        names = [module_name or getattr(module, "__name__", None)]
        if isinstance(module_name, (list, tuple)):
            names = list(module_name)
        for name in names:
            if not isinstance(name, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
                raise ValueError(f"{self.kind.singular} name must be an identifier without dots, got {name!r}")
            existing = self._module_dict.get(name)
            if existing is module:
                continue
            if existing is not None and not force:
                raise KeyError(
                    f"{self.kind.singular} '{name}' is already registered by "
                    f"{existing.__module__}.{getattr(existing, '__qualname__', existing)}; "
                    f"{getattr(module, '__module__', '?')}.{getattr(module, '__qualname__', module)} "
                    f"cannot take the name (pass force=True to replace it)")
            self._module_dict[name] = module

    # ------------------------------------------------------------------ resolution
    def candidates(self) -> list[Candidate]:
        cands = [Candidate(e.name, e.namespace, entry=e) for e in get_index().entries(self.kind.key)]
        for name, obj in self._module_dict.items():
            namespace = canonical(getattr(obj, "__module__", "local").split(".")[0])
            cands.append(Candidate(name, namespace, local_obj=obj))
        return cands

    def resolve(self, key: str) -> Candidate:
        """The candidate answering ``key``; raises with guidance when there is none or several."""
        cands = self.candidates()
        namespace, _, bare = key.rpartition(".")
        if namespace:
            matches = [c for c in cands if c.name == bare and c.matches_namespace(namespace)]
        else:
            matches = [c for c in cands if c.name == key]
            builtins = [c for c in matches if c.is_builtin]
            if len(matches) > 1 and builtins:
                matches = builtins
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            options = ", ".join(sorted(c.qualified_name for c in matches))
            raise AmbiguousNameError(
                f"{self.kind.singular} name '{key}' is provided by several plugins: {options}; "
                f"use one of these qualified names")
        raise ComponentNotFoundError(self._not_found_message(key, cands))

    def _not_found_message(self, key: str, cands: list[Candidate]) -> str:
        bare = key.rpartition(".")[2]
        planned = PLANNED_COMPONENTS.get((self.kind.key, bare))
        if planned:
            return f"{self.kind.singular} '{key}' is not available: {planned}"
        names = {c.name for c in cands} | {c.qualified_name for c in cands}
        msg = f"unknown {self.kind.singular} '{key}'{did_you_mean(key, names)}"
        elsewhere = [k.singular for k in KINDS.values() if k.key != self.kind.key
                     and any(e.name == bare for e in get_index().entries(k.key))]
        if elsewhere:
            msg += f"; '{bare}' is a {' and a '.join(elsewhere)}, not a {self.kind.singular}"
        msg += f". Searched the {self.kind.key} registry (entry-point group '{self.kind.group}'"
        msg += f"), {len({c.qualified_name for c in cands})} names; see 'regionkit list {self.kind.key}'"
        problems = get_index().problems()
        if problems:
            msg += ". Plugins with problems: " + "; ".join(problems)
        return msg

    def load(self, candidate: Candidate) -> Any:
        """The class or function behind a candidate, importing its module on first use."""
        if candidate.local_obj is not None:
            return candidate.local_obj
        entry = candidate.entry
        assert entry is not None
        if entry not in self._loaded:
            try:
                obj = entry.load()
            except PluginLoadError as exc:
                get_index().record_problem(entry.dist, str(exc))
                raise
            logger.debug("Get %s '%s' from %s (%s)", self.kind.singular, entry.qualified_name,
                         entry.dist, entry.target)
            self._loaded[entry] = obj
        return self._loaded[entry]

    def get(self, key: str) -> Any:  # type: ignore[override]
        """Resolve and load ``key``; mmengine-style ``scope.Type`` keys of other scopes still work."""
        if not isinstance(key, str):
            raise TypeError(f"{self.kind.singular} name must be a string, got {type(key).__name__}")
        try:
            return self.load(self.resolve(key))
        except ComponentNotFoundError:
            if "." in key and not key.startswith("regionkit."):
                try:
                    found = super().get(key)
                except Exception:  # mmengine raises for unknown scopes or import paths
                    found = None
                if found is not None:
                    return found
            raise

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        try:
            self.resolve(key)
        except (ComponentNotFoundError, AmbiguousNameError):
            return False
        return True

    # ------------------------------------------------------------------ building
    def build(self, cfg: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """Build from ``dict(type=NAME_OR_CALLABLE, **params)`` checking parameter names first.

        ``default_args`` (keyword) fill parameters the config leaves out.  A wrong parameter
        name, a missing required one or a constructor's ``ValueError``/``TypeError`` becomes a
        :class:`ConfigError` naming the component.
        """
        default_args: Mapping[str, Any] = kwargs.pop("default_args", None) or {}
        if not isinstance(cfg, Mapping):
            raise ConfigError(f"a {self.kind.singular} config must be a dict with a 'type' key, got {cfg!r}")
        params = dict(cfg)
        params.pop("_scope_", None)
        if "type" not in params:
            raise ConfigError(f"a {self.kind.singular} config needs a 'type' key, got {dict(cfg)!r}")
        obj_type = params.pop("type")
        for k, v in {**default_args, **kwargs}.items():
            params.setdefault(k, v)
        if isinstance(obj_type, str):
            obj = self.get(obj_type)
            label = obj_type
        elif callable(obj_type):
            obj, label = obj_type, getattr(obj_type, "__qualname__", repr(obj_type))
        else:
            raise ConfigError(f"{self.kind.singular} 'type' must be a name or a class, got {obj_type!r}")
        what = f"{self.kind.singular} '{label}'"
        check_parameters(obj, params, what, n_positional=len(args))
        try:
            return obj(*args, **params)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{what}: {exc}") from exc

    # ------------------------------------------------------------------ listing
    def list_components(self, pattern: str | None = None) -> list[ComponentInfo]:
        """Components of this kind whose bare or qualified name matches the glob ``pattern``."""
        infos = []
        for cand in self.candidates():
            try:
                shown = cand.name if self.resolve(cand.name) == cand else cand.qualified_name
            except (ComponentNotFoundError, AmbiguousNameError):
                shown = cand.qualified_name
            if pattern and not (fnmatch.fnmatch(cand.name, pattern) or fnmatch.fnmatch(cand.qualified_name, pattern)):
                continue
            if cand.entry is not None:
                e = cand.entry
                infos.append(ComponentInfo(self.kind.key, shown, e.qualified_name, e.dist, e.version, e.target,
                                           static_summary(e.module, e.attr)))
            else:
                obj = cand.local_obj
                doc = (getattr(obj, "__doc__", "") or "").strip().splitlines()
                target = f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', '?')}"
                infos.append(ComponentInfo(self.kind.key, shown, cand.qualified_name, "(in-process)", "",
                                           target, doc[0].strip() if doc else ""))
        return sorted(infos, key=lambda i: (i.name.lower(), i.qualified_name))
