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
* For kinds that mmengine builds (models, datasets, metrics, hooks), ``scope.Name`` finds
  ``Name`` in the mmengine registry of that scope (``mmdet.FasterRCNN``).
* A dotted ``package.module.Name`` resolves only when the config's ``custom_imports`` names
  that module (see :func:`allow_custom_imports`).  Nothing else is ever imported: a config
  cannot reach arbitrary code through ``type``.

The same guarantees hold when mmengine builds one of our components through its own root
registries (a Runner building datasets, models, hooks, metrics): parameter names are
checked with a did-you-mean and constructor failures become one-line
:class:`~regionkit.errors.ConfigError` s.
"""
from __future__ import annotations

import contextlib
import contextvars
import fnmatch
import importlib
import logging
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mmengine.registry import Registry

from regionkit.discovery.entry_points import EntrySpec
from regionkit.discovery.index import get_index
from regionkit.discovery.policy import canonical
from regionkit.discovery.summaries import static_summary
from regionkit.errors import (
    AmbiguousNameError,
    ComponentNotFoundError,
    ConfigError,
    PluginLoadError,
    RegionkitError,
    did_you_mean,
)
from regionkit.kinds import KINDS, Kind
from regionkit.registry.signature import check_parameters

__all__ = ["ComponentRegistry", "Candidate", "ComponentInfo", "allow_custom_imports", "SCOPE"]

logger = logging.getLogger(__name__)

#: the mmengine scope of every regionkit registry
SCOPE = "regionkit"

_ALLOWED_IMPORTS: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("regionkit_custom_imports",
                                                                                   default=())


@contextlib.contextmanager
def allow_custom_imports(modules: Sequence[str]) -> Iterator[None]:
    """While active, ``type='pkg.module.Name'`` may resolve to objects of ``modules`` (and their submodules).

    The inference job enters it with the ``custom_imports`` of the config file as written
    (``--cfg-options`` cannot add to it).
    """
    token = _ALLOWED_IMPORTS.set(tuple(str(m) for m in modules))
    try:
        yield
    finally:
        _ALLOWED_IMPORTS.reset(token)


@dataclass(frozen=True)
class Candidate:
    """A component that can answer a name: an entry point or an in-process registration."""

    name: str
    namespace: str
    kind: str
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


def _mmengine_build_codes() -> set[Any]:
    """Code objects of mmengine's generic build functions (the callers that instantiate what ``get`` returns)."""
    module = sys.modules.get("mmengine.registry.build_functions")
    if module is None:
        return set()
    return {getattr(module, name).__code__ for name in ("build_from_cfg",) if hasattr(module, name)}


class ComponentRegistry(Registry):
    """Registry of one component kind (scope ``regionkit``), backed by entry points.

    ``also`` names further kinds this registry resolves: our child of mmengine's ``MODELS``
    resolves models and losses, since mmengine model configs build their losses through
    ``MODELS``.
    """

    def __init__(self, kind: Kind, parent: Registry | None = None, also: Sequence[str] = ()) -> None:
        super().__init__(kind.label, parent=parent, scope=SCOPE)
        self.kind = kind
        self.kinds = (kind.key, *also)
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
        """Every component this registry can build: entry points of its kinds, then in-process registrations."""
        index = get_index()
        cands = [Candidate(e.name, e.namespace, k, entry=e) for k in self.kinds for e in index.entries(k)]
        for name, obj in self._module_dict.items():
            namespace = canonical(getattr(obj, "__module__", "local").split(".")[0])
            cands.append(Candidate(name, namespace, self.kind.key, local_obj=obj))
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
        if len(matches) > 1 and len({c.kind for c in matches}) > 1:
            own = [c for c in matches if c.kind == self.kind.key]  # a model named like a loss: the model wins
            matches = own or matches
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
        names = {c.name for c in cands} | {c.qualified_name for c in cands}
        msg = f"unknown {self.kind.singular} '{key}'{did_you_mean(key, names)}"
        elsewhere = [k.singular for k in KINDS.values() if k.key not in self.kinds
                     and any(e.name == bare for e in get_index().entries(k.key))]
        if elsewhere:
            msg += f"; '{bare}' is a {' and a '.join(elsewhere)}, not a {self.kind.singular}"
        groups = ", ".join(f"'{KINDS[k].group}'" for k in self.kinds)
        msg += f". Searched the {self.kind.key} registry (entry-point group {groups}"
        msg += f"), {len({c.qualified_name for c in cands})} names; see 'regionkit list {self.kind.key}'"
        if "." in key:
            msg += (". A dotted type is a plugin-qualified name (dist.name), a registered mmengine scope "
                    "(mmdet.Name, for models/datasets/metrics/hooks) or an object of a module the config "
                    "lists in custom_imports; regionkit never imports other code a config names")
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

    def _resolve_elsewhere(self, key: str) -> Any:
        """``scope.Name`` in another mmengine registry of the tree, or an allowed custom import; ``None`` otherwise."""
        prefix, _, name = key.rpartition(".")
        if self.kind.mmengine_parent is not None and "." not in prefix and prefix != SCOPE:
            other = self._get_root_registry()._search_child(prefix)
            while other is not None and not isinstance(other, ComponentRegistry):
                if name in other._module_dict:
                    return other._module_dict[name]
                other = other.parent
        allowed = _ALLOWED_IMPORTS.get()
        if any(prefix == m or prefix.startswith(m + ".") for m in allowed):
            try:
                module = importlib.import_module(prefix)
            except Exception as exc:  # the config's own custom import failing: a config problem
                raise ConfigError(f"{self.kind.singular} type '{key}': cannot import {prefix}: "
                                  f"{type(exc).__name__}: {exc}") from exc
            return getattr(module, name, None)
        return None

    def get(self, key: str) -> Any:
        """Resolve and load ``key`` (see the module docstring for what may resolve)."""
        if not isinstance(key, str):
            raise ConfigError(f"{self.kind.singular} name must be a string, got {type(key).__name__}")
        try:
            obj = self.load(self.resolve(key))
        except ComponentNotFoundError:
            obj = self._resolve_elsewhere(key) if "." in key else None
            if obj is None:
                raise
        if self._called_by_mmengine_build():
            return self._checked_constructor(obj, key)
        return obj

    def _called_by_mmengine_build(self) -> bool:
        """Whether mmengine's ``build_from_cfg`` is about to instantiate what ``get`` returns.

        True when ``get``'s caller is ``build_from_cfg`` itself, or mmengine's ``Registry.get``
        (a root registry delegating a scoped name to us) called from ``build_from_cfg``.
        """
        codes = _mmengine_build_codes()
        frame: Any = sys._getframe(2)
        for _ in range(3):
            if frame is None or not codes:
                return False
            if frame.f_code in codes:
                return True
            if frame.f_code is not Registry.get.__code__:
                return False
            frame = frame.f_back
        return False

    def _checked_constructor(self, obj: Any, label: str) -> Callable[..., Any]:
        """A callable mmengine can instantiate that checks parameters first, as :meth:`build` does."""
        registry = self

        def construct(*args: Any, **kwargs: Any) -> Any:
            return registry._instantiate(obj, label, args, kwargs)

        construct.__name__ = getattr(obj, "__name__", label)
        construct.__qualname__ = getattr(obj, "__qualname__", label)
        construct.__module__ = getattr(obj, "__module__", __name__)
        construct.__doc__ = getattr(obj, "__doc__", None)
        construct.__wrapped__ = obj  # type: ignore[attr-defined]
        return construct

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        try:
            self.resolve(key)
        except (ComponentNotFoundError, AmbiguousNameError):
            return False
        return True

    def __len__(self) -> int:
        """How many components this registry can build (entry points and in-process registrations)."""
        return len({c.qualified_name for c in self.candidates()})

    # ------------------------------------------------------------------ building
    def build(self, cfg: Any, *args: Any, **kwargs: Any) -> Any:
        """Build from ``dict(type=NAME_OR_CALLABLE, **params)`` checking parameter names first.

        ``default_args`` (keyword) fill parameters the config leaves out.  ``_scope_`` picks
        the mmengine registry of another scope (kinds mmengine builds only).  A wrong
        parameter name, a missing required one or any exception of the constructor becomes a
        :class:`ConfigError` naming the component.
        """
        default_args: Mapping[str, Any] = kwargs.pop("default_args", None) or {}
        if not isinstance(cfg, Mapping):
            raise ConfigError(f"a {self.kind.singular} config must be a dict with a 'type' key, got {cfg!r:.200}")
        params = dict(cfg)
        scope = params.pop("_scope_", None)
        if "type" not in params:
            raise ConfigError(f"a {self.kind.singular} config needs a 'type' key, got {dict(cfg)!r:.200}")
        if scope not in (None, SCOPE):
            return self._build_in_scope(scope, {**params, **{k: v for k, v in default_args.items()
                                                            if k not in params}}, args, kwargs)
        obj_type = params.pop("type")
        for k, v in {**default_args, **kwargs}.items():
            params.setdefault(k, v)
        if isinstance(obj_type, str):
            obj = self.get(obj_type)
            label = obj_type
        elif isinstance(obj_type, type) or callable(obj_type):
            obj, label = obj_type, getattr(obj_type, "__qualname__", repr(obj_type))
        else:
            raise ConfigError(f"{self.kind.singular} 'type' must be a name, got {obj_type!r:.200}")
        return self._instantiate(obj, label, args, params)

    def _build_in_scope(self, scope: Any, params: dict[str, Any], args: tuple[Any, ...],
                        kwargs: dict[str, Any]) -> Any:
        if self.kind.mmengine_parent is None or not isinstance(scope, str):
            raise ConfigError(f"{self.kind.singular} configs take no _scope_ other than '{SCOPE}', got {scope!r}")
        other = self._get_root_registry()._search_child(scope)
        if other is None:
            raise ConfigError(f"_scope_ {scope!r}: no mmengine registry of that scope is loaded (is the package "
                              f"installed and imported through custom_imports?)")
        from mmengine.registry import DefaultScope

        # mmengine's build switches to the *current* default scope (a Runner leaves one behind),
        # so make it the asked-for scope while building
        with DefaultScope.overwrite_default_scope(scope):
            return other.build(params, *args, **kwargs)

    def _instantiate(self, obj: Any, label: str, args: Sequence[Any], params: Mapping[str, Any]) -> Any:
        what = f"{self.kind.singular} '{label}'"
        check_parameters(obj, params, what, n_positional=len(args))
        try:
            return obj(*args, **params)
        except RegionkitError as exc:
            if isinstance(exc, ConfigError) and str(exc).startswith(what):
                raise
            raise ConfigError(f"{what}: {exc}") from exc
        except KeyboardInterrupt:
            raise
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{what}: {exc}") from exc
        except SystemExit as exc:  # plugin code must not end the host
            raise ConfigError(f"{what} called sys.exit({exc.code!r}) while being built") from exc
        except BaseException as exc:
            raise ConfigError(f"{what} could not be built: {type(exc).__name__}: {exc}") from exc

    # ------------------------------------------------------------------ listing
    def list_components(self, pattern: str | None = None) -> list[ComponentInfo]:
        """Components of this kind whose bare or qualified name matches the glob ``pattern``."""
        infos = []
        for cand in self.candidates():
            if cand.kind != self.kind.key:
                continue
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
