"""The local files a config needs (checkpoints, vocabularies, YOLO weights), found from the components' declarations.

A component declares a path parameter as a file it loads with the
:class:`~regionkit.params.WeightsFile` marker; :func:`required_files` walks a config (the same
way ``regionkit config check`` does, into nested components) and lists every such file with
the value the component will get, its default included.  :func:`file_problems` checks them
(:func:`regionkit.io.weights.inspect_file`), so ``regionkit infer`` fails up front, in one line,
on a missing or truncated file.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from regionkit.config.check import Problem
from regionkit.errors import RegionkitError
from regionkit.io.weights import FileStatus, inspect_file
from regionkit.params import WeightsFile

__all__ = ["RequiredFile", "required_files", "file_problems", "check_files"]


@dataclass(frozen=True)
class RequiredFile:
    """One file a config needs: where in the config (``detector.checkpoint``), the path, and its marker."""

    where: str
    path: Path
    marker: WeightsFile


def _plain(value: Any) -> Any:
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if callable(to_dict) else value


def _component(type_name: str, kind: str | None) -> Any:
    from regionkit.registry import REGISTRIES, registry_for

    try:
        if kind is not None:
            return registry_for(kind).get(type_name)
        hits = [reg for reg in REGISTRIES.values() if type_name in reg]
        return hits[0].get(type_name) if len(hits) == 1 else None
    except RegionkitError:  # unknown or broken components are `config check`'s to report
        return None


def _walk(value: Any, where: str, kind: str | None, out: list[RequiredFile], depth: int = 0) -> None:
    from regionkit.params import component_kind, parameter_specs, weights_marker

    value = _plain(value)
    if depth > 64:
        return
    if isinstance(value, (list, tuple)):
        for i, inner in enumerate(value):
            _walk(inner, f"{where}[{i}]", kind, out, depth + 1)
        return
    if not isinstance(value, Mapping):
        return
    if "type" not in value:
        for key, inner in value.items():
            _walk(inner, f"{where}.{key}" if where else str(key), None, out, depth + 1)
        return
    type_name = value.get("type")
    obj = _component(type_name, kind) if isinstance(type_name, str) else None
    if obj is None:
        return
    for spec in parameter_specs(obj):
        given = spec.name in value
        param = value.get(spec.name, None if spec.required else spec.default)
        nested = component_kind(spec.annotation)
        if nested is not None:
            _walk(param, f"{where}.{spec.name}", nested, out, depth + 1)
            continue
        marker = weights_marker(spec.annotation, _plain(param))
        if marker is not None:
            label = f"{where}.{spec.name}" + ("" if given else " (default)")
            out.append(RequiredFile(label, Path(str(param)).expanduser(), marker))


def _sections(cfg: Any) -> Iterable[tuple[str, Any, str | None]]:
    """The config's component sections with the kind each holds."""
    for key, kind in (("dataset", "datasets"), ("detector", "detectors"), ("selectors", "box_selectors"),
                      ("writers", "writers")):
        if key in cfg:
            yield key, cfg[key], kind
    for key in cfg:
        if key not in ("dataset", "detector", "selectors", "writers", "runtime", "custom_imports") \
                and not str(key).startswith("_"):
            yield str(key), cfg[key], None


def required_files(cfg: Any) -> list[RequiredFile]:
    """Every declared file the config's components will load, in config order (duplicates kept)."""
    from regionkit.config.loader import custom_imports_of
    from regionkit.registry import allow_custom_imports

    out: list[RequiredFile] = []
    with allow_custom_imports(custom_imports_of(cfg)):
        for key, section, kind in _sections(cfg):
            _walk(section, key, kind, out)
    return out


def check_files(files: Iterable[RequiredFile], *, hash_files: bool = False) -> list[tuple[RequiredFile, FileStatus]]:
    """Each required file with what :func:`~regionkit.io.weights.inspect_file` found (each path checked once)."""
    seen: dict[tuple[Path, str], FileStatus] = {}
    out = []
    for item in files:
        key = (item.path, item.marker.format)
        if key not in seen:
            seen[key] = inspect_file(item.path, item.marker.format, hash_file=hash_files,
                                     published_sha256=item.marker.published_sha256(item.path.name))
        out.append((item, seen[key]))
    return out


def describe_problem(item: RequiredFile, status: FileStatus) -> str:
    """One line: what, which path, what is wrong, where to get the file."""
    where = str(item.path) if item.path.is_absolute() else f"{item.path} (resolved to {item.path.resolve()})"
    what = f"{item.marker.what} not found: {where}" if not status.exists else f"{item.marker.what} {where} {status.problem}"
    return f"{what}; {item.marker.source}"


def file_problems(cfg: Any) -> list[Problem]:
    """A :class:`~regionkit.config.check.Problem` per missing, unreadable or damaged file the config needs."""
    problems = []
    for item, status in check_files(required_files(cfg)):
        if not status.ok:
            problems.append(Problem(item.where.split(" ")[0].rsplit(".", 1)[0], describe_problem(item, status)))
    return problems
