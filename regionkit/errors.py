"""Errors raised for user mistakes: each message says what went wrong and how to fix it.

The CLI prints any :class:`RegionkitError` as a one-line message (no traceback).  This module
imports nothing but the standard library, so any layer may use it.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["RegionkitError", "ComponentNotFoundError", "AmbiguousNameError", "PluginLoadError",
           "ConfigError", "PluginPolicyError", "ContractError", "close_matches", "did_you_mean"]


#: characters that would break a message over several lines, and their escapes
_LINE_BREAKS = str.maketrans({c: repr(c)[1:-1] for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"})


class RegionkitError(Exception):
    """Base class of errors caused by input, configuration or installed plugins.

    ``str(error)`` is always one line: line breaks that reach a message from user input (a
    file name, a config value) are shown escaped.
    """

    def __str__(self) -> str:
        return super().__str__().translate(_LINE_BREAKS)


class ComponentNotFoundError(RegionkitError, KeyError):
    """No registered component has the requested name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]).translate(_LINE_BREAKS) if self.args else ""


class AmbiguousNameError(RegionkitError, KeyError):
    """A bare name is provided by several plugins; the message lists the qualified names."""

    def __str__(self) -> str:
        return str(self.args[0]).translate(_LINE_BREAKS) if self.args else ""


class PluginLoadError(RegionkitError, ImportError):
    """A plugin's code could not be imported, or its entry point is malformed."""


class ConfigError(RegionkitError, ValueError):
    """A config is malformed: unknown key, wrong parameter, bad value."""


class PluginPolicyError(RegionkitError, ValueError):
    """An allow/deny list names a plugin that is not installed, or blocks the host."""


class ContractError(RegionkitError, TypeError):
    """A component broke its kind's contract (wrong return type or count, bad trait value).

    During a run this is recorded as the failure of the image being processed, naming the
    component and the violation; it never stops the run.
    """


def close_matches(word: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` candidates close to ``word`` (case-insensitive), best first.

    Only candidates almost as close as the best one are kept, so a shared prefix such as
    ``regionkit.`` does not drag in unrelated names.
    """
    lowered = {c.lower(): c for c in sorted(set(candidates))}
    scored = []
    for low, original in lowered.items():
        matcher = difflib.SequenceMatcher(None, word.lower(), low)
        if matcher.real_quick_ratio() >= 0.6 and matcher.quick_ratio() >= 0.6:
            ratio = matcher.ratio()
            if ratio >= 0.6:
                scored.append((ratio, original))
    if not scored:
        return []
    scored.sort(key=lambda t: (-t[0], t[1]))
    best = scored[0][0]
    return [name for ratio, name in scored[:n] if ratio >= best - 0.08]


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'a' or 'b'?)`` or an empty string."""
    hits = close_matches(word, candidates)
    if not hits:
        return ""
    return " (did you mean " + " or ".join(repr(h) for h in hits) + "?)"
