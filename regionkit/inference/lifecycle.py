"""Build the pluggy plugin manager for lifecycle hooks from entry points and in-process plugins.

A lifecycle plugin that fails to import, or implements a hook that does not exist or with
arguments the spec lacks, is reported (warning plus an entry in ``regionkit plugins``) and
left out; the run goes on with the others.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import pluggy

from regionkit.discovery.index import get_index
from regionkit.errors import PluginLoadError, did_you_mean
from regionkit.inference.hookspecs import PROJECT, LifecycleSpec

__all__ = ["create_plugin_manager"]

logger = logging.getLogger(__name__)


def register_checked(pm: pluggy.PluginManager, plugin: Any, name: str) -> str | None:
    """Register ``plugin``; return a problem description (and leave it out) instead of raising.

    pluggy validates each implementation against its spec on registration, and
    ``check_pending`` finds implementations of hooks that do not exist.
    """
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        return f"lifecycle plugin '{name}' is invalid: {exc}"
    except ValueError as exc:  # duplicate name or object
        return f"lifecycle plugin '{name}' could not be registered: {exc}"
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        specs = sorted(h for h in dir(LifecycleSpec) if h.startswith(PROJECT + "_"))
        unknown = [c.name for c in pm.get_hookcallers(plugin) or [] if c.spec is None]
        pm.unregister(plugin)
        hint = did_you_mean(unknown[0], specs) if unknown else ""
        if not unknown:
            return f"lifecycle plugin '{name}' is invalid: {exc}"
        return (f"lifecycle plugin '{name}' implements unknown hook '{unknown[0]}'{hint}; known hooks: "
                f"{', '.join(specs)}")
    return None


def create_plugin_manager(extra_plugins: Iterable[Any] = ()) -> pluggy.PluginManager:
    """A plugin manager with the lifecycle specs, every allowed entry-point plugin and ``extra_plugins``."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(LifecycleSpec)
    index = get_index()
    for entry in index.lifecycle:
        name = f"{entry.namespace}.{entry.name}"
        problem: str | None
        try:
            plugin = entry.load()
        except PluginLoadError as exc:  # third-party import failures must not stop the run
            problem = str(exc)
        else:
            problem = register_checked(pm, plugin, name)
        if problem:
            index.record_problem(entry.dist, problem)
            logger.warning(problem)
    for i, plugin in enumerate(extra_plugins):
        problem = register_checked(pm, plugin, getattr(plugin, "__name__", f"in-process-{i}"))
        if problem:
            raise ValueError(problem)
    return pm
