"""Check a config's parameters against a component's signature before calling it.

The rules for "which parameters does this constructor accept / require" live here once and
serve the registry's build (did-you-mean for a wrong name), the plugin validator (with an
imported class, or statically with :func:`signature_from_ast`) and the conformance kit.
"""
from __future__ import annotations

import ast
import inspect
from collections.abc import Mapping
from typing import Any

from regionkit.errors import ConfigError, did_you_mean

__all__ = ["check_parameters", "accepted_parameters", "required_parameters", "signature_of", "signature_from_ast"]

_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def signature_of(obj: Any) -> inspect.Signature | None:
    """``inspect.signature(obj)``, or ``None`` where it cannot be read (some builtins)."""
    try:
        return inspect.signature(obj)
    except (TypeError, ValueError):
        return None


def signature_from_ast(func: ast.FunctionDef | ast.AsyncFunctionDef, drop_self: bool = True) -> inspect.Signature:
    """The signature a ``def`` node declares, defaults shown as ``...`` (read without importing its module)."""
    args = func.args
    P = inspect.Parameter
    params: list[inspect.Parameter] = []
    positional = [*args.posonlyargs, *args.args]
    defaults = [P.empty] * (len(positional) - len(args.defaults)) + [...] * len(args.defaults)
    for i, (arg, default) in enumerate(zip(positional, defaults)):
        kind = P.POSITIONAL_ONLY if i < len(args.posonlyargs) else P.POSITIONAL_OR_KEYWORD
        params.append(P(arg.arg, kind, default=default))
    if args.vararg is not None:
        params.append(P(args.vararg.arg, P.VAR_POSITIONAL))
    for arg, kw_default in zip(args.kwonlyargs, args.kw_defaults):
        params.append(P(arg.arg, P.KEYWORD_ONLY, default=P.empty if kw_default is None else ...))
    if args.kwarg is not None:
        params.append(P(args.kwarg.arg, P.VAR_KEYWORD))
    if drop_self and params and params[0].kind is not P.KEYWORD_ONLY:
        params = params[1:]
    return inspect.Signature(params)


def required_parameters(sig: inspect.Signature, given: Mapping[str, Any] | None = None,
                        n_positional: int = 0) -> list[str]:
    """Parameters without a default that neither ``given`` nor the first ``n_positional`` arguments fill.

    Positional-only ones count too (a config cannot set them at all).
    """
    params = [p for p in sig.parameters.values() if p.kind in (*_NAMED, inspect.Parameter.POSITIONAL_ONLY)]
    filled = {p.name for p in params[:n_positional]} | set(given or {})
    return [p.name for p in params if p.default is inspect.Parameter.empty and p.name not in filled]


def accepted_parameters(obj: Any) -> list[str]:
    """``name=default`` / ``name`` strings for the keyword parameters ``obj`` accepts."""
    sig = signature_of(obj)
    if sig is None:
        return []
    return [p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}"
            for p in sig.parameters.values() if p.kind in _NAMED]


def check_parameters(obj: Any, params: Mapping[str, Any], what: str, n_positional: int = 0) -> None:
    """Raise :class:`ConfigError` if ``params`` has unknown names or misses required ones.

    ``what`` names the component in the message, e.g. ``"detector 'saliency'"``.
    """
    sig = signature_of(obj)
    if sig is None:
        return
    names = [p.name for p in sig.parameters.values() if p.kind in _NAMED]
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
    accepts = ", ".join(accepted_parameters(obj)) or "no parameters"
    unknown = [k for k in params if k not in names]
    if unknown and not takes_any:
        plural = "parameters" if len(unknown) > 1 else "parameter"
        raise ConfigError(
            f"{what} got unknown {plural} {', '.join(repr(u) for u in unknown)}"
            f"{did_you_mean(str(unknown[0]), names)}; it accepts: {accepts}")
    missing = required_parameters(sig, params, n_positional)
    if missing:
        raise ConfigError(f"{what} is missing required parameter(s) {', '.join(repr(m) for m in missing)}; "
                          f"it accepts: {accepts}")
