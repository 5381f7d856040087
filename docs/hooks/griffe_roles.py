"""Griffe extension: regionkit's reST-flavoured docstrings, made readable as Markdown.

The package's docstrings are plain prose with Sphinx habits: roles such as
``:class:`~regionkit.Boxes``` and ``:func:`checked```, ``double backticks`` for code, and
``Public surface::`` before an indented example.  mkdocstrings renders docstrings as Markdown,
where the roles would show as ``:class:`` followed by a code span.  This extension rewrites
each docstring as it is loaded (the package's files are never touched):

* ``:role:`~pkg.mod.Name``` becomes ```Name``` (the ``~`` form keeps the last part, as Sphinx
  shows it) and ``:role:`pkg.Name``` becomes ```pkg.Name```; ``:func:`` and ``:meth:`` add
  ``()``; the reST plural ``:class:`Boxes` s`` becomes ```Boxes`s``;
* a paragraph ending in ``::`` ends in ``:`` (the indented block after it is already a
  Markdown code block);
* a reST definition-list item (an unindented term line followed by indented lines) becomes a
  Markdown definition (``def_list``), so the term is not run into its text.

Listed under ``extensions`` of the mkdocstrings Python handler in ``mkdocs.yml``.
"""
from __future__ import annotations

import re
from typing import Any

import griffe

__all__ = ["SphinxRoles", "rewrite_roles"]

_ROLE = re.compile(r":(?:py:)?(?P<role>class|func|data|mod|meth|attr|exc|obj|const):`(?P<target>[^`]+)`"
                   r"(?P<plural> s\b)?")
_LITERAL_INTRO = re.compile(r"(?<=\S)::[ \t]*$", re.MULTILINE)


def _role_text(match: re.Match[str]) -> str:
    """The code span a Sphinx role stands for."""
    role, target = match.group("role"), match.group("target").strip()
    explicit = re.fullmatch(r"(?P<title>.+?)\s*<(?P<target>[^>]+)>", target)  # :class:`title <target>`
    plural = "s" if match.group("plural") else ""  # ":class:`Boxes` s" is reST for "Boxes-es"
    if explicit:
        return f"`{explicit.group('title')}`{plural}"
    if target.startswith("~"):
        target = target[1:].rsplit(".", 1)[-1]
    if role in ("func", "meth") and not target.endswith(")"):
        target += "()"
    return f"`{target}`{plural}"


def _definition_groups(lines: list[str]) -> list[tuple[str, list[str]]] | None:
    """``[(term, definition lines), ...]`` if ``lines`` are all reST definition items, else ``None``."""
    groups: list[tuple[str, list[str]]] = []
    for line in lines:
        if line.startswith("  "):
            if not groups:
                return None
            groups[-1][1].append(line.strip())
        elif line.strip() and not re.match(r"([*+-]|\d+\.)\s", line):
            groups.append((line, []))
        else:
            return None
    return groups if groups and all(body for _, body in groups) else None


def _definitions(text: str) -> str:
    """reST definition-list items as Markdown ``term`` / ``:   definition`` pairs (not after a ``::`` paragraph)."""
    paragraphs = re.split(r"\n[ \t]*\n", text)
    out = []
    for i, paragraph in enumerate(paragraphs):
        groups = _definition_groups(paragraph.split("\n"))
        if groups is not None and not (i > 0 and paragraphs[i - 1].rstrip().endswith("::")):
            paragraph = "\n\n".join(term + "\n:   " + "\n    ".join(body) for term, body in groups)
        out.append(paragraph)
    return "\n\n".join(out)


def rewrite_roles(text: str) -> str:
    """``text`` with Sphinx roles as code spans, ``::`` introductions as ``:`` and definition lists as Markdown's."""
    return _LITERAL_INTRO.sub(":", _definitions(_ROLE.sub(_role_text, text)))


class SphinxRoles(griffe.Extension):
    """Rewrites every loaded object's docstring with :func:`rewrite_roles`."""

    def on_instance(self, *, node: Any, obj: griffe.Object, agent: Any, **kwargs: Any) -> None:
        """Called by griffe for each module, class, function and attribute it loads."""
        if obj.docstring is not None:
            obj.docstring.value = rewrite_roles(obj.docstring.value)
