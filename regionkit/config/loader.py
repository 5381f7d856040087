"""Load mmengine configs (Python, JSON or YAML, with ``_base_``) and apply ``key=value`` overrides that only set values.

**A Python config file is code** (as any mmengine config): loading it runs it.  Load only
Python configs you trust.  To accept configs from others, use JSON or YAML: regionkit
refuses a JSON/YAML config whose ``_base_`` names a Python file or that has
``custom_imports``, so such a config cannot run code.

``--cfg-options`` (``-o``) items are parsed as literals (plus ``dict(key=value)``; never ``eval``) and
can only set values: keys that start with ``_`` (``_base_``, ``_delete_``, ``_scope_``) and
``custom_imports`` are refused, at any depth of the key and of the value.  A component
``type`` resolves only to registered components (see :mod:`regionkit.registry.registry`),
so an override cannot name arbitrary code either.

``PACKAGE::PATH`` names a config shipped inside an installed package, as the config file to
load and in ``_base_`` lists (:mod:`regionkit.config.packaged`), e.g.
``regionkit::saliency_four_box.py`` or ``_base_ = ['regionkit::_base_/patch_matters_divide.py']``.
"""
from __future__ import annotations

import ast
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from regionkit.config.packaged import is_packaged, packaged_bases, resolve_packaged
from regionkit.errors import ConfigError, did_you_mean

__all__ = ["load_config", "parse_overrides", "parse_value", "custom_imports_of", "DATA_SUFFIXES"]

_WORDS = {"true": True, "false": False, "none": None, "null": None}
#: config file suffixes that hold data only (no code can run while loading them)
DATA_SUFFIXES = (".json", ".yaml", ".yml")
_ALL_SUFFIXES = (".py", *DATA_SUFFIXES)


class _NotLiteral(ValueError):
    """The expression holds something other than literals and ``dict(key=literal, ...)`` calls."""


def _literal(node: ast.AST, depth: int = 0) -> Any:
    """:func:`ast.literal_eval` plus ``dict(key=value, ...)`` (as mmengine configs write dicts); nothing is run."""
    if depth > 50:
        raise _NotLiteral("nested too deeply")
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        if node.args or any(kw.arg is None for kw in node.keywords):
            raise _NotLiteral("dict(...) takes key=value items only")
        return {kw.arg: _literal(kw.value, depth + 1) for kw in node.keywords}
    if isinstance(node, ast.List):
        return [_literal(e, depth + 1) for e in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_literal(e, depth + 1) for e in node.elts)
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise _NotLiteral("no ** in a dict")
        return {_literal(k, depth + 1): _literal(v, depth + 1)  # type: ignore[arg-type]  # None is refused above
                for k, v in zip(node.keys, node.values)}
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise _NotLiteral(f"{ast.unparse(node)[:40]} is not a literal") from None


def parse_value(text: str) -> Any:
    """A Python literal (``0.5``, ``[1, 2]``, ``'a'``, ``True``, ``[dict(type='LinearLR', end=20)]``) or the raw string.

    Nothing is evaluated: literals, lists, tuples, dicts and ``dict(key=value)`` calls only;
    ``true``/``false``/``none`` work too.  A value that starts like a structure (``[``, ``{``,
    ``(`` or ``dict(``) but is not one is a :class:`ConfigError`, not a string passed on.
    """
    stripped = text.strip()
    if stripped.lower() in _WORDS:
        return _WORDS[stripped.lower()]
    try:
        return _literal(ast.parse(stripped, mode="eval").body)
    except (_NotLiteral, SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        if stripped.startswith(("[", "{", "(", "dict(")):
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigError(f"value {stripped!r:.100} is not a literal ({reason:.80}): use numbers, "
                              f"quoted strings, lists, tuples, {{...}} or dict(key=value); quote it to pass a "
                              f"string") from None
        return text


def _forbidden_keys(value: Any, path: str, depth: int = 0) -> str | None:
    """The first key in ``value`` (nested dicts/lists) an override may not set, as ``path.key``."""
    if depth > 50:
        return f"{path} (nested too deeply)"
    if isinstance(value, dict):
        for key, inner in value.items():
            if not isinstance(key, str) or key.startswith("_") or key == "custom_imports":
                return f"{path}.{key}" if path else str(key)
            found = _forbidden_keys(inner, f"{path}.{key}" if path else key, depth + 1)
            if found:
                return found
    elif isinstance(value, (list, tuple)):
        for i, inner in enumerate(value):
            found = _forbidden_keys(inner, f"{path}.{i}", depth + 1)
            if found:
                return found
    return None


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``["a.b=1", "c=[1,2]"]`` -> ``{"a.b": 1, "c": [1, 2]}``; a malformed or structural item is a ConfigError."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--cfg-options item {item!r:.100} must look like KEY=VALUE (e.g. detector.threshold=0.4)")
        parts = key.split(".")
        if any(not p for p in parts):
            raise ConfigError(f"--cfg-options key {key!r:.100} has an empty part; write it like detector.threshold")
        bad = next((p for p in parts if p.startswith("_") or p == "custom_imports"), None)
        try:
            parsed = parse_value(value)
        except ConfigError as exc:
            raise ConfigError(f"--cfg-options {key!r:.100}: {exc}") from None
        if bad is None:
            nested = _forbidden_keys(parsed, key)
            bad = nested.split(".")[-1] if nested else None
        if bad is not None:
            raise ConfigError(f"--cfg-options {key!r:.100} would set {bad!r}: overrides only set values; "
                              f"'_base_', '_delete_', '_scope_' and 'custom_imports' belong in the config file")
        out[key] = parsed
    return out


def _check_data_config(path: Path, seen: frozenset[Path] = frozenset()) -> None:
    """A JSON/YAML config may only inherit from JSON/YAML configs and may not import code."""
    resolved = path.resolve()
    if resolved in seen:
        raise ConfigError(f"config {path}: its _base_ files include each other in a cycle")
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ConfigError(f"cannot read config {path}: {type(exc).__name__}: {exc}") from None
    except Exception as exc:  # yaml.YAMLError and friends
        raise ConfigError(f"cannot read config {path}: {type(exc).__name__}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config {path} must hold a mapping of sections, got a {type(data).__name__}")
    if "custom_imports" in data:
        raise ConfigError(f"config {path}: custom_imports would run code; JSON and YAML configs cannot import "
                          f"modules (use a Python config you trust for that)")
    bases = data.get("_base_", [])
    bases = [bases] if isinstance(bases, str) else bases
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ConfigError(f"config {path}: _base_ must be a file name or a list of them")
    for base in bases:
        base_path = resolve_packaged(base) if is_packaged(base) else (path.parent / base)
        if base_path.suffix not in DATA_SUFFIXES:
            raise ConfigError(f"config {path}: _base_ {base!r} is not JSON or YAML; a data config may only "
                              f"inherit from data configs (a Python base file would run code)")
        if not base_path.is_file():
            raise ConfigError(f"config {path}: _base_ file not found: {base_path}")
        _check_data_config(base_path, seen | {resolved})


def load_config(path: str | Path, overrides: Iterable[str] = ()) -> Any:
    """Read a config file and apply ``--cfg-options`` style overrides.

    Every error a user can cause (missing file, Python error inside the config, ``_base_``
    cycles, a dotted key whose top-level part does not exist, an override that is not a plain
    value) is a :class:`ConfigError` with a one-line message.  Keys below the top level may be
    new: a misspelt component parameter is caught when the component is checked or built,
    with the parameters it accepts.
    """
    from mmengine.config import Config  # lazy: keeps `regionkit --help` fast

    if str(path).strip() == "":
        raise ConfigError("no config file given")
    path = resolve_packaged(str(path)) if is_packaged(str(path)) else Path(path)
    if path.is_dir():
        raise ConfigError(f"{path} is a folder; give a config file (e.g. configs/saliency_four_box.py)")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}{_missing_config_hint(path)}")
    if path.suffix not in _ALL_SUFFIXES:
        raise ConfigError(f"config {path}: unknown file type {path.suffix!r}; configs are .py, .json or .yaml files")
    options = parse_overrides(overrides)  # malformed overrides fail before the config runs
    if path.suffix in DATA_SUFFIXES:
        _check_data_config(path)
    try:
        with packaged_bases():
            cfg = Config.fromfile(str(path))
    except ConfigError as exc:  # a PACKAGE::PATH _base_ that does not resolve
        raise ConfigError(f"config {path}: _base_ {exc}") from None
    except RecursionError:
        raise ConfigError(f"cannot read config {path}: its _base_ files include each other in a cycle") from None
    except Exception as exc:  # syntax errors, bad _base_ paths, exceptions inside the file
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ConfigError(f"cannot read config {path}: {type(exc).__name__}: {message}") from exc
    except SystemExit as exc:
        raise ConfigError(f"cannot read config {path}: it called sys.exit({exc.code!r})") from None
    for key in options:
        top = key.split(".")[0]
        if top not in cfg:
            raise ConfigError(f"--cfg-options key '{key}': the config has no top-level key '{top}'"
                              f"{did_you_mean(top, list(cfg.keys()))}; keys: {', '.join(sorted(cfg.keys()))}")
    for key, value in options.items():
        try:
            cfg.merge_from_dict({key: value}, allow_list_keys=True)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError, AssertionError) as exc:
            raise ConfigError(f"--cfg-options {key}={value!r:.100}: cannot set it ({type(exc).__name__}: {exc}); "
                              f"a component config is a dict: set one of its keys, e.g. {key}.type=...") from exc
    return cfg


def _missing_config_hint(path: Path) -> str:
    """Where a config of that name is (configs moved into group folders), or how config files are named."""
    if not path.suffix:
        return f" (configs are Python, JSON or YAML files, e.g. {path}.py)"
    parent = path.parent if str(path.parent) else Path(".")
    try:
        found = sorted(p for p in parent.glob(f"*/{path.name}") if p.is_file())
    except OSError:
        found = []
    return f" (did you mean {found[0]}?)" if found else ""


def custom_imports_of(cfg: Any) -> list[str]:
    """The modules the config file's ``custom_imports`` names (overrides cannot add to them)."""
    spec = cfg.get("custom_imports") if hasattr(cfg, "get") else None
    if not spec:
        return []
    imports = spec.get("imports", []) if hasattr(spec, "get") else []
    imports = [imports] if isinstance(imports, str) else list(imports)
    return [str(m) for m in imports]
