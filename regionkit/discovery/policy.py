"""Which third-party plugins load: autoload switch plus allow and block lists (pytest style).

* ``REGIONKIT_DISABLE_PLUGIN_AUTOLOAD=1`` (or the CLI's ``--no-plugins``) stops third-party
  plugins from loading; regionkit's own components always load.
* ``REGIONKIT_PLUGINS="name,no:other"`` (or ``-p name -p no:other``): ``name`` enables a plugin
  even when autoload is off; ``no:name`` blocks it.  A name is a distribution name
  (``regionkit-plugin-example``) or the plugin's top-level package
  (``regionkit_plugin_example``); comparisons ignore case and ``-``/``_``/``.``.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["PluginPolicy", "canonical", "ENV_DISABLE_AUTOLOAD", "ENV_PLUGINS", "HOST_DIST"]

ENV_DISABLE_AUTOLOAD = "REGIONKIT_DISABLE_PLUGIN_AUTOLOAD"
ENV_PLUGINS = "REGIONKIT_PLUGINS"
HOST_DIST = "regionkit"

_FALSY = {"", "0", "false", "no", "off"}


def canonical(name: str) -> str:
    """Canonical plugin key: lower case, runs of ``-_.`` become ``_``."""
    return re.sub(r"[-_.]+", "_", name).lower()


@dataclass(frozen=True)
class PluginPolicy:
    autoload: bool = True
    enabled: frozenset[str] = field(default_factory=frozenset)
    blocked: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_specs(cls, specs: Iterable[str], autoload: bool = True) -> PluginPolicy:
        """Build from ``["name", "no:name", ...]`` items (commas inside items also split)."""
        enabled: set[str] = set()
        blocked: set[str] = set()
        for spec in specs:
            for item in (s.strip() for s in spec.split(",")):
                if not item:
                    continue
                if item.startswith("no:"):
                    blocked.add(canonical(item[3:]))
                else:
                    enabled.add(canonical(item))
        return cls(autoload=autoload, enabled=frozenset(enabled), blocked=frozenset(blocked))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PluginPolicy:
        env = os.environ if environ is None else environ
        autoload = env.get(ENV_DISABLE_AUTOLOAD, "").strip().lower() in _FALSY
        return cls.from_specs([env.get(ENV_PLUGINS, "")], autoload=autoload)

    def merged(self, specs: Iterable[str], disable_autoload: bool = False) -> PluginPolicy:
        """This policy with CLI items added (CLI wins over the environment)."""
        extra = PluginPolicy.from_specs(specs)
        return PluginPolicy(
            autoload=self.autoload and not disable_autoload,
            enabled=(self.enabled - extra.blocked) | extra.enabled,
            blocked=(self.blocked - extra.enabled) | extra.blocked,
        )

    def decide(self, keys: Iterable[str]) -> str:
        """``"ok"``, ``"blocked"`` or ``"disabled"`` for a plugin known by ``keys``."""
        keys = {canonical(k) for k in keys}
        if HOST_DIST in keys:
            return "ok"
        if keys & self.blocked:
            return "blocked"
        if self.autoload or keys & self.enabled:
            return "ok"
        return "disabled"
