"""mkdocs hook: the API reference's mkdocstrings directives, generated from the façade's own lists.

``docs/api.md`` holds two markers.  ``<!-- regionkit:api-facade -->`` becomes one
``::: regionkit.NAME`` directive per name of ``regionkit.__all__``, grouped as the façade's
source groups them (the ``# data structures``-style comments of its ``_PUBLIC`` table).
``<!-- regionkit:api-modules -->`` becomes a section per documented module
(:data:`MODULES`) with the names of its ``__all__`` that the façade does not already
re-export, so no object is documented twice and a name added to the façade or to a module
appears without editing the page.  mkdocstrings then renders the directives.
"""
from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

__all__ = ["FACADE_MARKER", "MODULES_MARKER", "MODULES", "facade_groups", "facade_markdown", "modules_markdown",
           "on_page_markdown"]

FACADE_MARKER = "<!-- regionkit:api-facade -->"
MODULES_MARKER = "<!-- regionkit:api-modules -->"

#: the modules documented after the façade, with a sentence on what each is for
MODULES: dict[str, str] = {
    "regionkit.testing": "The conformance kit: the checks behind `pytest --regionkit-conformance=DIST`.",
    "regionkit.params": "Declared parameter types: `@checked`, the constraints, and the declarations they make.",
    "regionkit.structures": "Boxes, box operations and the items and results of a run (the façade re-exports all of them).",
    "regionkit.kinds": "The component kinds: one `Kind` record per kind, and their base classes.",
}

_GROUP_COMMENT = re.compile(r"^\s*#\s*(?P<title>[^:#][^#]*?)\s*$")
_ENTRY = re.compile(r"\"(?P<name>[A-Za-z_][A-Za-z0-9_]*)\"\s*:\s*\"[\w.]+\"")


def facade_groups() -> list[tuple[str, list[str]]]:
    """``(group title, names)`` in the façade's order, read from the comments of its ``_PUBLIC`` table.

    Names of ``regionkit.__all__`` that no comment groups (``__version__``, ...) come first,
    under "Versions".
    """
    import regionkit

    public = list(regionkit.__all__)
    source = Path(regionkit.__file__).read_text(encoding="utf-8")
    start = source.find("_PUBLIC")
    end = source.find("\n}", start)
    groups: list[tuple[str, list[str]]] = []
    for line in source[start:end].splitlines()[1:]:
        comment = _GROUP_COMMENT.match(line)
        if comment and not _ENTRY.search(line):
            title = comment.group("title").split("(")[0].strip()
            groups.append((title[:1].upper() + title[1:], []))
            continue
        for entry in _ENTRY.finditer(line):
            if not groups:
                groups.append(("Other names", []))
            groups[-1][1].append(entry.group("name"))
    grouped = {name for _, names in groups for name in names}
    ungrouped = [name for name in public if name not in grouped]
    listed = [(title, [n for n in names if n in public]) for title, names in groups]
    return ([("Versions", ungrouped)] if ungrouped else []) + [(title, names) for title, names in listed if names]


def _directive(path: str, heading_level: int, **options: Any) -> str:
    lines = [f"::: {path}", "    options:", f"      heading_level: {heading_level}"]
    for key, value in options.items():
        rendered = "[" + ", ".join(value) + "]" if isinstance(value, list) else str(value).lower() \
            if isinstance(value, bool) else str(value)
        lines.append(f"      {key}: {rendered}")
    return "\n".join(lines)


def facade_markdown() -> str:
    """The façade section: a heading per group and a directive per name."""
    out: list[str] = []
    for title, names in facade_groups():
        out.append(f"### {title}\n")
        out.append("Names: " + ", ".join(f"`{n}`" for n in names) + ".\n")
        for name in names:
            if name in ("__version__", "PLUGIN_API_VERSION"):
                import regionkit

                out.append(f"#### `regionkit.{name}`\n\n`{getattr(regionkit, name)!r}` in this build.\n")
                continue
            out.append(_directive(f"regionkit.{name}", 4, show_root_full_path=True) + "\n")
    return "\n".join(out)


def modules_markdown() -> str:
    """A section per module of :data:`MODULES`: its docstring and the names the façade does not export."""
    import regionkit

    facade = set(regionkit.__all__)
    out: list[str] = []
    for module_name, purpose in MODULES.items():
        module = importlib.import_module(module_name)
        names = [n for n in getattr(module, "__all__", []) if n not in facade]
        shared = [n for n in getattr(module, "__all__", []) if n in facade]
        out.append(f"## `{module_name}`\n\n{purpose}\n")
        if shared:
            out.append("Documented with the façade above: " + ", ".join(
                f"[`{n}`](#regionkit.{n})" for n in shared) + ".\n")
        out.append(_directive(module_name, 3, members=names or False, show_root_heading=False) + "\n")
    return "\n".join(out)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """mkdocs event: fill the markers of the API page."""
    if FACADE_MARKER in markdown:
        markdown = markdown.replace(FACADE_MARKER, facade_markdown())
    if MODULES_MARKER in markdown:
        markdown = markdown.replace(MODULES_MARKER, modules_markdown())
    return markdown
