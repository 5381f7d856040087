"""Plugin discovery without importing plugin code: entry points, the allow/block policy, API versions, summaries.

Everything here reads package metadata and source files only (no mmengine, no torch);
:mod:`regionkit.registry` builds on it.
"""
from regionkit.discovery.entry_points import EntrySpec
from regionkit.discovery.index import PluginDist, PluginIndex, configure_plugins, get_index, refresh_index
from regionkit.discovery.policy import PluginPolicy

__all__ = ["EntrySpec", "PluginDist", "PluginIndex", "PluginPolicy", "get_index", "configure_plugins", "refresh_index"]
