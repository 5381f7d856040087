"""One-line summaries of components read from source files, without importing them.

The summary is the first line of the target's docstring, found by parsing the module with
:mod:`ast`.  Only the top-level package is located (``importlib.util.find_spec`` on a
top-level name does not execute it); the rest of the path is walked on disk.
"""
from __future__ import annotations

import ast
import importlib.util
import sys
from functools import cache
from pathlib import Path

__all__ = ["static_summary", "find_module_file"]


def find_module_file(module: str) -> Path | None:
    """Path of ``module``'s source file, or ``None``; never imports anything new."""
    top, *rest = module.split(".")
    loaded = sys.modules.get(top)
    if loaded is not None:
        origin = getattr(loaded, "__file__", None)
        locations = list(getattr(loaded, "__path__", []) or [])
    else:
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            return None
        if spec is None:
            return None
        origin = spec.origin
        locations = list(spec.submodule_search_locations or [])
    if not rest:
        return Path(origin) if origin and origin.endswith(".py") else None
    for loc in locations:
        base = Path(loc, *rest[:-1])
        for candidate in (base / f"{rest[-1]}.py", base / rest[-1] / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


@cache
def _docstrings(path: Path, mtime: float) -> dict[str, str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return {}
    docs: dict[str, str] = {}
    aliases: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            docs[node.name] = ast.get_docstring(node) or ""
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Name):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    aliases[target.id] = node.value.id
    for alias, original in aliases.items():
        docs.setdefault(alias, docs.get(original, ""))
    return docs


def static_summary(module: str, attr: str) -> str:
    """First docstring line of ``module:attr`` read from source, or ``""`` if unavailable."""
    path = find_module_file(module)
    if path is None:
        return ""
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return ""
    doc = _docstrings(path, mtime).get(attr.split(".")[0], "")
    return doc.strip().splitlines()[0].strip() if doc.strip() else ""
