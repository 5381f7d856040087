"""Errors raised by :mod:`regionkit.models`."""
from __future__ import annotations

from collections.abc import Sequence

from regionkit.errors import ConfigError

__all__ = ["WeightsError", "describe_key_problems"]


class WeightsError(ConfigError):
    """A checkpoint / weights file is missing, unreadable or does not fit the model.

    The message names the file and, for missing files, where the weights come from.  It is a
    :class:`~regionkit.errors.ConfigError` (a user mistake: the CLI shows it as one line).
    """


def describe_key_problems(missing: Sequence[str], unexpected: Sequence[str], mismatched: Sequence[str],
                          limit: int = 12) -> str:
    """``"2 missing key(s): a, b; 1 shape mismatch key(s): c: ..."`` (at most ``limit`` keys each); ``""`` if none."""
    parts = []
    for title, keys in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", mismatched)):
        if keys:
            shown = ", ".join(keys[:limit]) + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")
            parts.append(f"{len(keys)} {title} key(s): {shown}")
    return "; ".join(parts)
