"""``regionkit plugins validate DIST [--imports]``: check a plugin distribution before users do.

Modelled on ``npe2 validate``.  Without ``--imports`` nothing of the plugin is imported; its
package metadata and source files are read (the source with :mod:`ast`):

* the distribution is installed and declares regionkit entry points (entry points in a group
  that looks like a misspelt regionkit group are errors);
* every group is a known ``regionkit.<kind>`` group; names are identifiers, unique per group,
  and do not reuse a built-in's name or another installed plugin's (warnings: they still work
  by qualified name);
* every ``package.module:attr`` target exists: the module file is found and ``attr`` is
  defined at its top level; a class visibly missing its contract method (``detect``,
  ``__call__``, ``make_record``/``finalize``, ``caption``, ``match``) is an error, and a
  constructor with positional-only or undefaulted parameters is reported;
* the plugin-API declaration (``REGIONKIT_PLUGIN_API = "1.0"``) is present and compatible.

With ``imports=True`` every target is imported and checked for real: it is a class or function;
a class is not abstract and has its contract methods with callable signatures; constructor
parameters can be passed by keyword and have defaults, or the class lists
``conformance_params`` (which must be accepted by the constructor); lifecycle plugins pass
pluggy's validation against regionkit's hook specs.
"""
from __future__ import annotations

import ast
import importlib.metadata as md
import importlib.util
import inspect
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from regionkit.discovery.api_version import check_plugin_api, declaration_line
from regionkit.discovery.entry_points import (
    LIFECYCLE_KIND,
    EntrySpec,
    find_distribution,
    known_groups,
    parse_entry_point,
    regionkit_entry_points,
)
from regionkit.discovery.index import PluginIndex
from regionkit.discovery.policy import HOST_DIST, PluginPolicy, canonical
from regionkit.discovery.summaries import find_module_file
from regionkit.errors import PluginLoadError, did_you_mean
from regionkit.kinds import ENTRY_POINT_PREFIX, KINDS, ContractMethod
from regionkit.registry.signature import required_parameters, signature_from_ast, signature_of

__all__ = ["Finding", "validate_distribution"]

#: names of regionkit's base classes, so a class deriving only from them can be checked statically
_KNOWN_BASES = {k.base.__name__ for k in KINDS.values() if k.base is not None} | {"object", "ABC"}
#: kinds the conformance kit builds and checks
_CHECKED_KINDS = {k.key for k in KINDS.values() if k.conformance is not None}


@dataclass(frozen=True)
class Finding:
    """One result line: ``severity`` is ``error``, ``warning`` or ``ok``.

    ``topic`` groups findings: ``dist``, ``entry``, ``target``, ``api``, ``import``,
    ``contract``, ``signature`` or ``lifecycle``.
    """

    severity: str
    message: str
    topic: str = "dist"

    def line(self) -> str:
        return f"{self.severity}: {self.message}"


class _Report:
    def __init__(self) -> None:
        self.findings: list[Finding] = []

    def error(self, message: str, topic: str) -> None:
        self.findings.append(Finding("error", message, topic))

    def warning(self, message: str, topic: str) -> None:
        self.findings.append(Finding("warning", message, topic))

    def ok(self, message: str, topic: str) -> None:
        self.findings.append(Finding("ok", message, topic))

    def errors_since(self, start: int) -> bool:
        return any(f.severity == "error" for f in self.findings[start:])


# ---------------------------------------------------------------------- entry
def validate_distribution(dist_name: str, imports: bool = False) -> list[Finding]:
    """Check distribution ``dist_name`` (or the one providing top-level package ``dist_name``).

    Returns the findings in order; any ``error`` means the plugin is broken or will not load.
    """
    report = _Report()
    dist = find_distribution(dist_name)
    if dist is None:
        names = sorted({d.metadata["Name"] or "" for d in md.distributions()} - {""})
        plugins = sorted(d.name for d in PluginIndex(PluginPolicy()).dists.values() if not d.is_builtin)
        report.error(f"no installed distribution named {dist_name!r}{did_you_mean(dist_name, names)}; "
                     f"installed regionkit plugins: {', '.join(plugins) or 'none'}. Install it into this "
                     f"Python first (pip install -e . in the plugin's folder)", "dist")
        return report.findings
    name, version = dist.metadata["Name"], dist.version
    is_host = canonical(name) == HOST_DIST
    report.ok(f"distribution {name} {version} is installed", "dist")

    eps = list(dist.entry_points)
    for ep in eps:
        if ep.group.startswith(ENTRY_POINT_PREFIX):
            continue
        hint = did_you_mean(ep.group, known_groups())
        if hint:
            report.error(f"entry point '{ep.name} = {ep.value}' is in group '{ep.group}', which regionkit does not "
                         f"read{hint}", "entry")
    ours = regionkit_entry_points(dist)
    if not ours:
        report.error(f"{name} declares no regionkit entry points; add them to setup.py, e.g. entry_points="
                     f"{{'regionkit.detectors': ['my_detector = {KINDS['detectors'].example_target}']}}, then "
                     f"reinstall it", "entry")
        return report.findings

    if not is_host:
        _check_api(report, name, version, ours)

    builtin = _builtin_names() if not is_host else {}
    others = _other_plugin_names(canonical(name))
    seen: set[tuple[str, str]] = set()
    for ep in ours:
        _check_entry(report, ep, name, version, seen, builtin, others, imports)
    return report.findings


def _builtin_names() -> dict[str, set[str]]:
    names: dict[str, set[str]] = {}
    try:
        host = md.distribution(HOST_DIST)
    except md.PackageNotFoundError:  # pragma: no cover - regionkit runs this code
        return names
    for ep in host.entry_points:
        if ep.group.startswith(ENTRY_POINT_PREFIX):
            names.setdefault(ep.group[len(ENTRY_POINT_PREFIX):], set()).add(ep.name)
    return names


def _other_plugin_names(own_key: str) -> dict[tuple[str, str], list[str]]:
    found: dict[tuple[str, str], list[str]] = {}
    for record in PluginIndex(PluginPolicy()).dists.values():
        if record.key == own_key or record.is_builtin:
            continue
        for entry in record.entries:
            found.setdefault((entry.kind, entry.name), []).append(record.name)
    return found


# ---------------------------------------------------------------------- API version
def _check_api(report: _Report, name: str, version: str, eps: Iterable[md.EntryPoint]) -> None:
    packages = sorted({ep.value.strip().split(":")[0].split(".")[0] for ep in eps if ep.value.strip()})
    verdict = check_plugin_api(name, version, packages)
    if verdict.status == "ok":
        report.ok(verdict.message, "api")
    elif verdict.status in ("newer_minor", "missing"):
        report.warning(verdict.message, "api")
    elif verdict.status in ("invalid", "incompatible"):
        report.error(verdict.message, "api")
    else:
        report.warning(f"cannot find the source of {', '.join(packages)} to read its plugin-API declaration "
                       f"({declaration_line()})", "api")


# ---------------------------------------------------------------------- one entry point
def _check_entry(report: _Report, ep: md.EntryPoint, dist: str, version: str, seen: set[tuple[str, str]],
                 builtin: dict[str, set[str]], others: dict[tuple[str, str], list[str]], imports: bool) -> None:
    value = ep.value.strip()
    where = f"entry point '{ep.name} = {value}' in [{ep.group}]"
    start = len(report.findings)
    spec, problem = parse_entry_point(ep, dist, version)
    if spec is None:
        report.error(str(problem), "lifecycle" if ep.group.endswith(LIFECYCLE_KIND) else "entry")
        return
    if spec.kind == LIFECYCLE_KIND:
        _check_lifecycle(report, spec, where, imports)
        return
    kind = spec.kind
    singular = KINDS[kind].singular
    if (kind, ep.name) in seen:
        report.error(f"{where}: the name '{ep.name}' is declared twice in [{ep.group}]", "entry")
        return
    seen.add((kind, ep.name))
    qualified = f"{canonical(dist)}.{ep.name}"
    if ep.name in builtin.get(kind, set()):
        report.warning(f"{where}: '{ep.name}' is the name of a regionkit built-in {singular}; configs get the "
                       f"built-in for '{ep.name}' and the plugin's only as '{qualified}' — pick another name", "entry")
    clash = others.get((kind, ep.name))
    if clash:
        report.warning(f"{where}: {', '.join(clash)} also provide{'s' if len(clash) == 1 else ''} a {singular} "
                       f"'{ep.name}'; while both are installed a bare '{ep.name}' is ambiguous and configs must "
                       f"write '{qualified}'", "entry")
    module, _, attr = value.partition(":")
    node = _check_target_static(report, where, module, attr)
    if node is _MISSING:
        return
    if imports:
        _check_imported(report, where, spec)
    elif isinstance(node, ast.ClassDef):
        _check_class_static(report, where, kind, node)
    if not report.errors_since(start):
        how = "imports and honours the contract" if imports else "found in source"
        report.ok(f"{singular} '{ep.name}' -> {value}: {how}", "entry")


_MISSING = object()


def _check_target_static(report: _Report, where: str, module: str, attr: str) -> Any:
    """The target's top-level AST node (``None`` if it cannot be told statically); ``_MISSING`` after an error."""
    path = find_module_file(module)
    if path is None:
        top = module.split(".")[0]
        try:
            spec = importlib.util.find_spec(top) if top not in sys.modules else sys.modules[top].__spec__
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            report.error(f"{where}: package '{top}' is not importable from this Python (not found on sys.path); "
                         f"is it listed in setup.py packages=[...] and the distribution installed?", "target")
            return _MISSING
        locations = list(spec.submodule_search_locations or [])
        rest = module.split(".")[1:]
        compiled = [p for loc in locations for p in Path(loc, *rest[:-1]).glob(f"{rest[-1]}.*")
                    if p.suffix in (".so", ".pyd")] if rest else []
        if compiled or (not rest and spec.origin and not spec.origin.endswith(".py")):
            report.warning(f"{where}: module '{module}' has no Python source; its target is checked only with "
                           f"--imports", "target")
            return None
        report.error(f"{where}: module '{module}' not found (looked in {', '.join(locations) or spec.origin}); "
                     f"check the spelling and that the file is included in the distribution", "target")
        return _MISSING
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as exc:
        report.error(f"{where}: {path} line {exc.lineno}: SyntaxError: {exc.msg}", "target")
        return _MISSING
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        report.error(f"{where}: cannot read {path}: {exc}", "target")
        return _MISSING
    names, uncertain = _top_level_names(tree)
    first = attr.split(".")[0]
    if first in names:
        return names[first] if "." not in attr else None
    if uncertain:
        report.warning(f"{where}: '{first}' is not visibly defined in {path.name} (it uses a star import or a "
                       f"module __getattr__); checked only with --imports", "target")
        return None
    report.error(f"{where}: '{first}' is not defined at the top level of {module} ({path})"
                 f"{did_you_mean(first, names)}", "target")
    return _MISSING


def _top_level_names(tree: ast.Module) -> tuple[dict[str, ast.AST | None], bool]:
    names: dict[str, ast.AST | None] = {}
    uncertain = False

    def targets(node: ast.AST) -> Iterable[str]:
        if isinstance(node, ast.Name):
            yield node.id
        elif isinstance(node, (ast.Tuple, ast.List)):
            for elt in node.elts:
                yield from targets(elt)

    def visit(body: list[ast.stmt]) -> None:
        nonlocal uncertain
        for node in body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                names[node.name] = node
                if node.name == "__getattr__":
                    uncertain = True
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    for n in targets(target):
                        names[n] = None
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                for n in targets(node.target):
                    names[n] = None
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    names[alias.asname or alias.name.split(".")[0]] = None
            elif isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if alias.name == "*":
                        uncertain = True
                    else:
                        names[alias.asname or alias.name] = None
            elif isinstance(node, ast.If):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, (ast.Try, ast.TryStar)):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)
                visit(node.orelse)
                visit(node.finalbody)
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                visit(node.body)
    visit(tree.body)
    return names, uncertain


def _check_class_static(report: _Report, where: str, kind: str, cls: ast.ClassDef) -> None:
    body_names = {n.name for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    assigned = {t.id for n in cls.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    assigned |= {n.target.id for n in cls.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}
    bases = [ast.unparse(b).split(".")[-1] for b in cls.bases]
    if all(b in _KNOWN_BASES for b in bases):
        for method in KINDS[kind].methods:
            if method.name not in body_names | assigned:
                report.error(f"{where}: class {cls.name} defines no {method.name}(); a {KINDS[kind].singular} "
                             f"implements {method.call}", "contract")
    init = next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
    if init is None:
        return
    args = init.args
    posonly = [a.arg for a in args.posonlyargs[1:]]
    if posonly:
        report.error(f"{where}: {cls.name}.__init__ has positional-only parameter(s) {', '.join(posonly)}; configs "
                     f"pass parameters by keyword, so remove the '/'", "signature")
    if args.vararg is not None:
        report.warning(f"{where}: {cls.name}.__init__ takes *{args.vararg.arg}, which a config cannot set",
                       "signature")
    required = required_parameters(signature_from_ast(init))
    if required and "conformance_params" not in assigned and kind in _CHECKED_KINDS:
        _report_required(report, where, cls.name, required)


def _report_required(report: _Report, where: str, cls_name: str, required: list[str]) -> None:
    example = ", ".join(f"{r}=..." for r in required)
    report.warning(f"{where}: {cls_name} requires {', '.join(required)} (no default): every config must set "
                   f"{'it' if len(required) == 1 else 'them'}, and the conformance kit cannot build it; give "
                   f"defaults or add to the class: conformance_params = [dict({example})]", "signature")


# ---------------------------------------------------------------------- with imports
def _check_imported(report: _Report, where: str, spec: EntrySpec) -> None:
    try:
        obj = spec.load()
    except PluginLoadError as exc:
        cause = exc.__cause__
        origin = ""
        if cause is not None and cause.__traceback__ is not None:
            import traceback

            frame = traceback.extract_tb(cause.__traceback__)[-1]
            origin = f" (at {frame.filename}:{frame.lineno})"
        report.error(f"{where}: {exc}{origin}", "import")
        return
    singular = KINDS[spec.kind].singular
    if inspect.isclass(obj):
        if inspect.isabstract(obj):
            missing = ", ".join(sorted(getattr(obj, "__abstractmethods__", ())))
            report.error(f"{where}: {obj.__qualname__} is abstract: it does not implement {missing}", "contract")
            return
        kind = KINDS[spec.kind]
        for method in kind.methods:
            _check_method(report, where, obj, method, singular)
        if spec.kind == "box_selectors" and _trait(report, where, kind, obj, "needs_image"):
            _check_method(report, where, obj, ContractMethod("__call__", 1, "__call__(boxes, image=rgb) -> Boxes",
                                                             ("image",)), singular)
        for trait in kind.traits:
            _trait(report, where, kind, obj, trait.name)
        for severity, message in (kind.extra_rules(obj) if kind.extra_rules else []):
            (report.error if severity == "error" else report.warning)(f"{where}: {message}", "contract")
    elif not callable(obj):  # pragma: no cover - EntrySpec.load refuses these
        report.error(f"{where}: the target is {type(obj).__name__}, not a class or function", "contract")
        return
    _check_constructor(report, where, obj, spec.kind)


def _defines(cls: type, method: str) -> bool:
    return any(method in vars(k) for k in cls.__mro__ if k is not object)


def _trait(report: _Report, where: str, kind: Any, cls: type, name: str) -> bool:
    from regionkit.errors import ContractError

    try:
        return bool(kind.trait(cls, name))
    except ContractError as exc:
        report.error(f"{where}: {exc}", "contract")
        return False


def _check_method(report: _Report, where: str, cls: type, method: ContractMethod, singular: str) -> None:
    name = method.name
    if not _defines(cls, name) or not callable(getattr(cls, name, None)):
        report.error(f"{where}: {cls.__qualname__} has no {name}(); a {singular} implements {method.call}", "contract")
        return
    func = inspect.getattr_static(cls, name)
    if isinstance(func, (staticmethod, classmethod)):
        report.error(f"{where}: {cls.__qualname__}.{name} must be a plain method, not a "
                     f"{type(func).__name__}", "contract")
        return
    sig = signature_of(getattr(cls, name))
    if sig is None:
        return
    try:
        sig.bind(None, *([None] * method.n_args), **{k: None for k in method.keywords})
    except TypeError:
        report.error(f"{where}: {cls.__qualname__}.{name}{sig} cannot be called as {method.call}", "contract")


def _check_constructor(report: _Report, where: str, obj: Any, kind: str) -> None:
    from regionkit.errors import ConfigError
    from regionkit.registry.signature import check_parameters

    label = getattr(obj, "__qualname__", repr(obj))
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        report.warning(f"{where}: cannot read the signature of {label}; parameters are not checked", "signature")
        return
    params = list(sig.parameters.values())
    posonly = [p.name for p in params if p.kind is inspect.Parameter.POSITIONAL_ONLY]
    if posonly:
        report.error(f"{where}: {label} has positional-only parameter(s) {', '.join(posonly)}; configs pass "
                     f"parameters by keyword", "signature")
    varargs = [p.name for p in params if p.kind is inspect.Parameter.VAR_POSITIONAL]
    if varargs:
        report.warning(f"{where}: {label} takes *{varargs[0]}, which a config cannot set", "signature")
    required = required_parameters(sig)
    sets = getattr(obj, "conformance_params", None)
    if sets is None:
        if required and kind in _CHECKED_KINDS:
            _report_required(report, where, label, required)
        return
    if not isinstance(sets, (list, tuple)) or not sets or not all(isinstance(s, dict) for s in sets):
        report.error(f"{where}: {label}.conformance_params must be a non-empty list of dicts of constructor "
                     f"parameters, got {sets!r}", "signature")
        return
    for i, params_set in enumerate(sets):
        try:
            check_parameters(obj, params_set, f"{label}.conformance_params[{i}]")
        except ConfigError as exc:
            report.error(f"{where}: {exc}", "signature")


# ---------------------------------------------------------------------- lifecycle plugins
def _check_lifecycle(report: _Report, spec: EntrySpec, where: str, imports: bool) -> None:
    start = len(report.findings)
    module, _, attr = spec.target.partition(":")
    if attr:
        if _check_target_static(report, where, module, attr) is _MISSING:
            return
    elif find_module_file(module) is None and _check_target_static(report, where, module, "__name__") is _MISSING:
        return
    if imports:
        import pluggy

        from regionkit.inference.hookspecs import PROJECT, LifecycleSpec
        from regionkit.inference.lifecycle import register_checked

        try:
            plugin = spec.load()
        except PluginLoadError as exc:
            report.error(f"{where}: {exc}", "lifecycle")
            return
        pm = pluggy.PluginManager(PROJECT)
        pm.add_hookspecs(LifecycleSpec)
        problem = register_checked(pm, plugin, spec.qualified_name)
        if problem:
            report.error(f"{where}: {problem}", "lifecycle")
            return
        if not pm.get_hookcallers(plugin):
            report.warning(f"{where}: implements no regionkit hook (mark functions with "
                           f"@regionkit.hookimpl)", "lifecycle")
    if not report.errors_since(start):
        report.ok(f"lifecycle plugin '{spec.name}' -> {spec.target}: {'imports and registers' if imports else 'found'}",
                  "lifecycle")
