"""Load mmengine Python configs (with ``_base_``) and apply ``key=value`` overrides safely."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, Iterable

from regionkit.registry.errors import ConfigError, did_you_mean

__all__ = ["load_config", "parse_overrides", "parse_value"]

_WORDS = {"true": True, "false": False, "none": None, "null": None}


def parse_value(text: str) -> Any:
    """A Python literal (``0.5``, ``[1, 2]``, ``'a'``, ``True``) or, failing that, the raw string.

    Uses :func:`ast.literal_eval`, never ``eval``; ``true``/``false``/``none`` work too.
    """
    stripped = text.strip()
    if stripped.lower() in _WORDS:
        return _WORDS[stripped.lower()]
    try:
        return ast.literal_eval(stripped)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``["a.b=1", "c=[1,2]"]`` → ``{"a.b": 1, "c": [1, 2]}``; a malformed item is a ConfigError."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--cfg-options item {item!r} must look like KEY=VALUE (e.g. detector.threshold=0.4)")
        out[key.strip()] = parse_value(value)
    return out


def load_config(path: str | Path, overrides: Iterable[str] = ()) -> Any:
    """Read a config file and apply ``--cfg-options`` style overrides.

    Every error a user can cause (missing file, Python error inside the config, a dotted key
    whose top-level part does not exist) is a :class:`ConfigError` with a one-line message.
    Keys below the top level may be new: a misspelt component parameter is caught when
    the component is built, with the parameters it accepts.
    """
    from mmengine.config import Config  # lazy: keeps `regionkit --help` fast

    path = Path(path)
    if not path.is_file():
        hint = ""
        if not path.suffix:
            hint = f" (configs are Python files, e.g. {path}.py)"
        raise ConfigError(f"config file not found: {path}{hint}")
    try:
        cfg = Config.fromfile(str(path))
    except Exception as exc:  # syntax errors, bad _base_ paths, exceptions inside the file
        raise ConfigError(f"cannot read config {path}: {type(exc).__name__}: {exc}") from exc
    options = parse_overrides(overrides)
    for key in options:
        top = key.split(".")[0]
        if top not in cfg:
            raise ConfigError(f"--cfg-options key '{key}': the config has no top-level key '{top}'"
                              f"{did_you_mean(top, list(cfg.keys()))}; keys: {', '.join(sorted(cfg.keys()))}")
    try:
        cfg.merge_from_dict(options, allow_list_keys=True)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ConfigError(f"cannot apply --cfg-options {options}: {exc}") from exc
    return cfg
