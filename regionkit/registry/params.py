"""Check a config's parameters against a component's signature before calling it."""
from __future__ import annotations

import inspect
from typing import Any, Mapping

from regionkit.registry.errors import ConfigError, did_you_mean

__all__ = ["check_parameters", "accepted_parameters"]

_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def _signature(obj: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(obj)
    except (TypeError, ValueError):  # some builtins have no introspectable signature
        return None


def accepted_parameters(obj: Any) -> list[str]:
    """``name=default`` / ``name`` strings for the keyword parameters ``obj`` accepts."""
    sig = _signature(obj)
    if sig is None:
        return []
    out = []
    for p in sig.parameters.values():
        if p.kind in _NAMED:
            out.append(p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}")
    return out


def check_parameters(obj: Any, params: Mapping[str, Any], what: str, n_positional: int = 0) -> None:
    """Raise :class:`ConfigError` if ``params`` has unknown names or misses required ones.

    ``what`` names the component in the message, e.g. ``"detector 'saliency'"``.
    """
    sig = _signature(obj)
    if sig is None:
        return
    named = [p for p in sig.parameters.values() if p.kind in _NAMED]
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
    names = [p.name for p in named]
    accepts = ", ".join(accepted_parameters(obj)) or "no parameters"
    unknown = [k for k in params if k not in names]
    if unknown and not takes_any:
        first = unknown[0]
        plural = "parameters" if len(unknown) > 1 else "parameter"
        raise ConfigError(
            f"{what} got unknown {plural} {', '.join(repr(u) for u in unknown)}"
            f"{did_you_mean(first, names)}; it accepts: {accepts}")
    positional_filled = {p.name for p in named[:n_positional]}
    missing = [p.name for p in named if p.default is inspect.Parameter.empty
               and p.name not in params and p.name not in positional_filled]
    if missing:
        raise ConfigError(f"{what} is missing required parameter(s) {', '.join(repr(m) for m in missing)}; "
                          f"it accepts: {accepts}")
