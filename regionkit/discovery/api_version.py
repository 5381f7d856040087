"""The plugin-API version a plugin targets, read statically, and the host's compatibility rules.

A plugin declares the version of regionkit's plugin API it was written for with one line in
its top-level package's ``__init__.py`` (or in its single module)::

    REGIONKIT_PLUGIN_API = "1.0"

The host reads that line with :mod:`ast`, so checking a plugin never imports it.  The rules,
against this regionkit's :data:`regionkit._version.PLUGIN_API_VERSION`:

* same major, same or older minor: compatible;
* same major, newer minor: the plugin loads, with a warning to upgrade regionkit (it may use
  features this regionkit lacks);
* different major: the plugin is refused ("incompatible"): none of its components load;
* no declaration (or one that is not a ``"MAJOR.MINOR"`` string literal): the plugin loads,
  with a hint naming the exact line to add.

regionkit itself is exempt.
"""
from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from regionkit._version import PLUGIN_API_VERSION
from regionkit.discovery.summaries import find_module_file

__all__ = ["API_ATTR", "ApiDeclaration", "ApiCheck", "parse_api_version", "read_declaration",
           "check_plugin_api", "declaration_line"]

#: the module-level name a plugin assigns its target API version to
API_ATTR = "REGIONKIT_PLUGIN_API"

_VERSION_RE = re.compile(r"^\s*(\d+)\.(\d+)\s*$")


def parse_api_version(text: str) -> tuple[int, int]:
    """``"1.2"`` -> ``(1, 2)``; :class:`ValueError` for anything else."""
    match = _VERSION_RE.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"a plugin API version is 'MAJOR.MINOR', such as {PLUGIN_API_VERSION!r}; got {text!r}")
    return int(match.group(1)), int(match.group(2))


def declaration_line(version: str = PLUGIN_API_VERSION) -> str:
    """The exact line a plugin adds to declare ``version``."""
    return f'{API_ATTR} = "{version}"'


@dataclass(frozen=True)
class ApiDeclaration:
    """What one package's source says about the API version.

    ``value`` is the declared string (``None`` when the name is not assigned at top level);
    ``problem`` is set when the name is assigned something other than a ``"MAJOR.MINOR"``
    string literal.  ``where`` is the file as a user would name it (``my_pkg/__init__.py``).
    """

    package: str
    path: Path
    value: str | None
    problem: str | None = None
    lineno: int | None = None

    @property
    def where(self) -> str:
        return f"{self.package}/__init__.py" if self.path.name == "__init__.py" else self.path.name


@cache
def _read_assignment(path: Path, mtime: float) -> tuple[str | None, str | None, int | None]:
    """``(value, problem, lineno)`` of the top-level ``REGIONKIT_PLUGIN_API`` assignment in ``path``."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as exc:
        return None, f"cannot be parsed (SyntaxError line {exc.lineno}: {exc.msg})", exc.lineno
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return None, f"cannot be read ({type(exc).__name__}: {exc})", None
    found: tuple[str | None, str | None, int | None] = (None, None, None)
    for node in tree.body:
        value: ast.expr | None = None
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == API_ATTR for t in node.targets)) or (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == API_ATTR):
            value = node.value
        if value is None:
            continue
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            try:
                parse_api_version(value.value)
            except ValueError:
                found = (value.value, f"{API_ATTR} = {value.value!r} is not a 'MAJOR.MINOR' version", node.lineno)
            else:
                found = (value.value.strip(), None, node.lineno)
        else:
            found = (None, f"{API_ATTR} must be assigned a string literal such as \"{PLUGIN_API_VERSION}\" "
                           f"(the host reads it without importing the plugin), got `{ast.unparse(value)}`",
                     node.lineno)
    return found


def read_declaration(package: str) -> ApiDeclaration | None:
    """The declaration in ``package``'s ``__init__.py`` (or module file); ``None`` if no source is found.

    Nothing is imported: the file is located with :func:`~regionkit.discovery.summaries.find_module_file`
    and parsed with :mod:`ast`.
    """
    path = find_module_file(package)
    if path is None:
        return None
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return None
    value, problem, lineno = _read_assignment(path, mtime)
    return ApiDeclaration(package, path, value, problem, lineno)


@dataclass(frozen=True)
class ApiCheck:
    """The verdict on one distribution.

    ``status`` is ``ok``, ``newer_minor`` (loads, warn), ``incompatible`` (refused),
    ``missing`` (loads, hint), ``invalid`` (loads as if undeclared, hint) or ``unknown``
    (no source file found to read; nothing to say).  ``version`` is the declared version.
    """

    status: str
    message: str = ""
    version: str | None = None
    declaration: ApiDeclaration | None = None


def check_plugin_api(dist: str, dist_version: str, packages: Iterable[str],
                     host: str = PLUGIN_API_VERSION) -> ApiCheck:
    """Apply the compatibility rules to the declarations in ``packages`` of distribution ``dist``.

    Several top-level packages may declare; the first incompatible or newer one decides.
    """
    host_major, host_minor = parse_api_version(host)
    decls = [d for d in (read_declaration(p) for p in sorted(set(packages))) if d is not None]
    if not decls:
        return ApiCheck("unknown")
    declared = [d for d in decls if d.value is not None and d.problem is None]
    verdicts: list[ApiCheck] = []
    for decl in declared:
        assert decl.value is not None
        major, minor = parse_api_version(decl.value)
        if major != host_major:
            if major > host_major:
                fix = (f"upgrade regionkit to a release that provides plugin API {major}.x, or install "
                       f"a {dist} release for API {host_major}.x")
            else:
                fix = (f"install a {dist} release for API {host_major}.x, or use a regionkit release "
                       f"that provides plugin API {major}.x")
            verdicts.append(ApiCheck(
                "incompatible",
                f"{dist} {dist_version} targets regionkit plugin API {decl.value}; this regionkit provides "
                f"{host} — {fix}. Its components are not loaded.", decl.value, decl))
        elif minor > host_minor:
            verdicts.append(ApiCheck(
                "newer_minor",
                f"{dist} {dist_version} targets regionkit plugin API {decl.value}, newer than this "
                f"regionkit's {host}; it is loaded, but it may rely on features this regionkit lacks — "
                f"upgrade regionkit", decl.value, decl))
        else:
            verdicts.append(ApiCheck("ok", f"{decl.where} declares {declaration_line(decl.value)} "
                                           f"(compatible with this regionkit's plugin API {host})",
                                     decl.value, decl))
    for status in ("incompatible", "newer_minor", "ok"):
        for verdict in verdicts:
            if verdict.status == status:
                return verdict
    invalid = [d for d in decls if d.problem is not None]
    if invalid:
        decl = invalid[0]
        where = f"{decl.where}" + (f" line {decl.lineno}" if decl.lineno else "")
        return ApiCheck("invalid", f"{where}: {decl.problem}; treated as undeclared — write "
                                   f"`{declaration_line()}` there", None, decl)
    decl = decls[0]
    return ApiCheck("missing", f"{dist} does not declare the plugin API it targets; add the line "
                               f"`{declaration_line()}` to {decl.where} (this regionkit provides plugin API "
                               f"{host})", None, decl)
