"""Check every component a config names, at any depth, without building anything.

:func:`check_components` walks a config: each ``dict(type=..., ...)`` is resolved in the
registry of its kind (the kind comes from where it sits: a top-level section, or a parameter
whose annotation carries a :class:`~regionkit.params.Component` marker, which is what makes
the walk descend into a component's parameters; in a section of unknown kind, the one
registry that knows the name), its parameter names are checked against the component's
signature and, for components that declare them (:func:`regionkit.params.checked`), its
values against the declared types and ranges.  All problems are collected
and returned, so a user sees them at once, before any image is read or any model loaded.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from regionkit.errors import RegionkitError

__all__ = ["Problem", "check_components", "format_problems"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config: where (``detector.detectors[1]``) and what."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


def _plain(value: Any) -> Any:
    """mmengine ConfigDicts as plain dicts (shallow)."""
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if callable(to_dict) else value


def _resolve(type_name: str, kind: str | None) -> tuple[Any, str | None, str | None]:
    """``(component object, kind, problem)`` for ``type_name`` in ``kind`` (or the one registry that has it)."""
    from regionkit.registry import REGISTRIES, registry_for

    if kind is not None:
        try:
            return registry_for(kind).get(type_name), kind, None
        except RegionkitError as exc:
            return None, kind, str(exc)
    hits = [key for key, reg in REGISTRIES.items() if type_name in reg]
    if len(hits) == 1:
        try:
            return REGISTRIES[hits[0]].get(type_name), hits[0], None
        except RegionkitError as exc:
            return None, hits[0], str(exc)
    if not hits:
        return None, None, f"no registry knows the type {type_name!r} (see 'regionkit list')"
    return None, None, f"type {type_name!r} is ambiguous here: it is a {' and a '.join(hits)}"


def _check_one(cfg: Mapping[str, Any], where: str, kind: str | None, problems: list[Problem]) -> None:
    from regionkit.kinds import KINDS
    from regionkit.params import check_value, component_kind, parameter_specs
    from regionkit.registry.signature import check_parameters

    type_name = cfg.get("type")
    params = {k: v for k, v in cfg.items() if k not in ("type", "_scope_")}
    if not isinstance(type_name, str):
        if callable(type_name):
            return
        problems.append(Problem(where, f"'type' must be a component name, got {type_name!r:.80}"))
        return
    obj, found_kind, problem = _resolve(type_name, kind)
    if problem is not None:
        problems.append(Problem(where, problem))
        return
    singular = KINDS[found_kind].singular if found_kind in KINDS else "component"
    label = f"{singular} '{type_name}'"
    try:
        check_parameters(obj, params, label)
    except RegionkitError as exc:
        problems.append(Problem(where, str(exc)))
    init = getattr(obj, "__init__", obj) if isinstance(obj, type) else obj
    declared = bool(getattr(init, "__regionkit_checked__", False))  # only declared types are enforced
    specs = {s.name: s for s in parameter_specs(obj)}
    for name, value in params.items():
        spec = specs.get(name)
        if spec is None:
            continue  # an unknown name: reported above
        nested_kind = component_kind(spec.annotation)
        if nested_kind is not None:
            walk(value, f"{where}.{name}", nested_kind, problems)
            continue
        if declared:
            try:
                check_value(name, value, spec.annotation)
            except RegionkitError as exc:
                problems.append(Problem(where, f"{label}: {exc}"))


def walk(value: Any, where: str, kind: str | None, problems: list[Problem], depth: int = 0) -> None:
    """Check ``value`` and everything nested in it; ``kind`` is the kind a config dict here must be."""
    if depth > 64:
        problems.append(Problem(where, "the config is nested too deeply"))
        return
    value = _plain(value)
    if isinstance(value, Mapping):
        if "type" in value:
            _check_one(value, where, kind, problems)
            return
        for key, inner in value.items():
            walk(inner, f"{where}.{key}" if where else str(key), None, problems, depth + 1)
    elif isinstance(value, (list, tuple)):
        for i, inner in enumerate(value):
            walk(inner, f"{where}[{i}]", kind, problems, depth + 1)


def check_components(value: Any, where: str = "", kind: str | None = None) -> list[Problem]:
    """Every problem with the components in ``value`` (see the module docstring); empty when all is well."""
    problems: list[Problem] = []
    walk(value, where, kind, problems)
    return problems


def format_problems(problems: list[Problem]) -> str:
    """One line per problem, numbered."""
    return "\n".join(f"{i}. {p}" for i, p in enumerate(problems, start=1))
