"""Build the pluggy plugin manager for lifecycle hooks from entry points and in-process plugins.

A lifecycle plugin that fails to import, or implements a hook that does not exist or with
arguments the spec lacks, is reported (warning plus an entry in ``regionkit plugins``) and
left out; the run goes on with the others.
"""
from __future__ import annotations

import importlib
import logging
from typing import Any, Iterable

import pluggy

from regionkit.registry.discovery import get_index
from regionkit.registry.errors import did_you_mean
from regionkit.registry.hookspecs import PROJECT, LifecycleSpec

__all__ = ["create_plugin_manager"]

logger = logging.getLogger(__name__)


def _load_target(target: str) -> Any:
    module, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


def _register_checked(pm: pluggy.PluginManager, plugin: Any, name: str) -> str | None:
    """Register ``plugin``; return a problem description instead of raising."""
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        return f"lifecycle plugin '{name}' is invalid: {exc}"
    except ValueError as exc:  # duplicate name or object
        return f"lifecycle plugin '{name}' could not be registered: {exc}"
    specs = [h for h in dir(LifecycleSpec) if h.startswith(PROJECT + "_")]
    for caller in pm.get_hookcallers(plugin) or []:
        if caller.spec is None:
            pm.unregister(plugin)
            return (f"lifecycle plugin '{name}' implements unknown hook '{caller.name}'"
                    f"{did_you_mean(caller.name, specs)}; known hooks: {', '.join(specs)}")
    return None


def create_plugin_manager(extra_plugins: Iterable[Any] = ()) -> pluggy.PluginManager:
    """A plugin manager with the lifecycle specs, every allowed entry-point plugin and ``extra_plugins``."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(LifecycleSpec)
    index = get_index()
    for entry in index.lifecycle:
        name = f"{entry.namespace}.{entry.name}"
        try:
            plugin = _load_target(entry.target)
        except Exception as exc:  # third-party import failures must not stop the run
            problem = f"lifecycle plugin '{name}' ({entry.target}) failed to load: {type(exc).__name__}: {exc}"
        else:
            problem = _register_checked(pm, plugin, name)
        if problem:
            index.record_problem(entry.dist, problem)
            logger.warning(problem)
    for i, plugin in enumerate(extra_plugins):
        problem = _register_checked(pm, plugin, getattr(plugin, "__name__", f"in-process-{i}"))
        if problem:
            raise ValueError(problem)
    return pm
