"""pytest plugin: regionkit's conformance suite for every component a distribution registers.

Registered as the ``pytest11`` entry point ``regionkit``, so it is active wherever regionkit
is installed (before that: ``pytest -p regionkit.devkit.pytest_plugin``).  It does nothing
unless asked::

    pytest --regionkit-conformance=my-dets          # repeatable
    # or in pytest.ini / pyproject.toml [tool.pytest.ini_options]:
    regionkit_conformance = ["my-dets"]

For the named distribution (as installed: ``pip install -e .`` first) it adds, next to the
collected tests:

* ``regionkit-conformance[DIST]::api_version``: the distribution declares
  ``REGIONKIT_PLUGIN_API`` in its top-level package, compatible with this regionkit;
* ``regionkit-conformance[DIST]::entry_points``: ``regionkit plugins validate DIST --imports``
  finds no error (entry-point groups, names, targets, contract methods, constructors);
* for each component and parameter set (``conformance_params``, default: its defaults), a
  ``build`` test and one test per contract check of its kind (see :mod:`regionkit.testing`),
  e.g. ``regionkit-conformance[my-dets]::detectors.center_box::deterministic``.

Select with ``-k`` as usual (``-k "center_box and not batch"``) or ``-m regionkit_conformance``.
Importing this module imports only pytest; regionkit's registry is loaded when the option is set.
"""
from __future__ import annotations

import re
import shutil
import tempfile
import unittest
from pathlib import Path
from typing import Any, cast

import pytest

__all__ = ["pytest_addoption", "pytest_configure", "pytest_report_header", "pytest_collection_modifyitems"]

_OPTION = "regionkit_conformance"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("regionkit", "regionkit plugin conformance")
    group.addoption("--regionkit-conformance", action="append", default=[], metavar="DIST", dest=_OPTION,
                    help="run regionkit's conformance suite against every component the installed "
                         "distribution DIST registers (repeatable)")
    parser.addini(_OPTION, type="args", default=[],
                  help="distributions to run regionkit's conformance suite against "
                       "(like --regionkit-conformance)")


def _requested(config: pytest.Config) -> list[str]:
    names = list(config.getoption(_OPTION) or []) or list(config.getini(_OPTION) or [])
    out: list[str] = []
    for name in names:
        for part in filter(None, (p.strip() for p in str(name).split(","))):
            if part not in out:
                out.append(part)
    return out


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "regionkit_conformance: a regionkit plugin conformance check")


def pytest_report_header(config: pytest.Config) -> str | None:
    dists = _requested(config)
    return f"regionkit conformance: {', '.join(dists)}" if dists else None


@pytest.hookimpl(tryfirst=True)  # before -k / -m deselection, so they apply to these items too
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    dists = _requested(config)
    if not dists:
        return
    for name in dists:
        node_name = f"regionkit-conformance[{name}]"
        node = DistributionNode.from_parent(session, name=node_name, nodeid=node_name, dist_name=name)
        new_items = node.collect()
        # report them as collected, so the terminal's "collected N items" counts them
        session.ihook.pytest_collectreport(report=pytest.CollectReport(node.nodeid, "passed", None, list(new_items)))
        items.extend(new_items)


# ---------------------------------------------------------------------- nodes
def _find_distribution(name: str) -> Any:
    """The index record of ``name`` (distribution or top-level package); ``pytest.UsageError`` if none."""
    from regionkit.discovery.index import PluginIndex
    from regionkit.discovery.policy import PluginPolicy
    from regionkit.errors import did_you_mean

    index = PluginIndex(PluginPolicy())  # every installed plugin, whatever the autoload settings
    record = index.find(name)
    if record is None:
        names = sorted(d.name for d in index.dists.values())
        raise pytest.UsageError(
            f"--regionkit-conformance: no installed distribution {name!r} declares regionkit entry points"
            f"{did_you_mean(name, names)}; installed: {', '.join(names)}. Install the plugin first "
            f"(pip install -e . in its folder) and check its setup.py entry_points")
    return record


def _params_id(params: dict[str, Any], i: int) -> str:
    if not params:
        return "" if i == 0 else f"[{i}]"
    text = ",".join(f"{k}={v!r}" for k, v in params.items())
    text = re.sub(r"\s+", "", text)
    return f"[{text}]" if len(text) <= 48 else f"[params{i}]"


class DistributionNode(pytest.Collector):
    """All conformance items of one distribution."""

    def __init__(self, *, dist_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dist_name = dist_name
        self.add_marker("regionkit_conformance")

    def collect(self) -> list[pytest.Item]:
        from regionkit.kinds import KINDS

        record = _find_distribution(self.dist_name)
        self.record = record
        items: list[pytest.Item] = []
        if not record.is_builtin:
            items.append(DistCheckItem.from_parent(self, name="api_version", what="api_version"))
        items.append(DistCheckItem.from_parent(self, name="entry_points", what="entry_points"))
        for entry in record.entries:
            if entry.kind not in KINDS:
                continue  # lifecycle plugins: checked by entry_points (pluggy validation)
            items.extend(self._component_items(entry))
        return items

    def _component_items(self, entry: Any) -> list[pytest.Item]:
        from regionkit.devkit.conformance import applicable_checks

        base = f"{entry.kind}.{entry.name}"
        try:
            obj = entry.load()
        except Exception as exc:
            node = ComponentNode.from_parent(self, name=base, entry=entry, obj=None, params={}, load_error=exc)
            return [ComponentItem.from_parent(node, name="import", check=None)]
        checks = applicable_checks(entry.kind, obj)
        if not checks:  # nothing to check for this kind: do not even build it
            node = ComponentNode.from_parent(self, name=base, entry=entry, obj=obj, params={}, load_error=None)
            return [ComponentItem.from_parent(node, name="no_checks", check=None)]
        raw = getattr(obj, "conformance_params", None)
        bad = None
        if raw is None:
            param_sets: list[Any] = [{}]
        elif isinstance(raw, (list, tuple)) and raw and all(isinstance(p, dict) for p in raw):
            param_sets = [dict(p) for p in raw]
        else:
            param_sets, bad = [{}], raw
        items: list[pytest.Item] = []
        for i, params in enumerate(param_sets):
            node = ComponentNode.from_parent(self, name=base + _params_id(params, i), entry=entry, obj=obj,
                                             params=params, load_error=None, bad_params=bad)
            items.append(ComponentItem.from_parent(node, name="build", check=None))
            for check in checks:
                items.append(ComponentItem.from_parent(node, name=check.name, check=check))
        return items


class DistCheckItem(pytest.Item):
    """Distribution-level checks: the API declaration and ``plugins validate --imports``."""

    def __init__(self, *, what: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.what = what

    def runtest(self) -> None:
        from regionkit.devkit.conformance import ConformanceError
        from regionkit.devkit.validate import validate_distribution
        from regionkit.discovery.api_version import check_plugin_api, declaration_line

        record = cast(DistributionNode, self.parent).record  # set by DistributionNode.collect
        if self.what == "api_version":
            verdict = check_plugin_api(record.name, record.version, record.packages)
            if verdict.status == "unknown":
                raise ConformanceError(f"cannot find the source of {', '.join(sorted(record.packages))} to read "
                                       f"its plugin-API declaration ({declaration_line()})")
            if verdict.status in ("missing", "invalid", "incompatible"):
                raise ConformanceError(verdict.message)
            if verdict.status == "newer_minor":
                import warnings

                warnings.warn(UserWarning(verdict.message), stacklevel=2)
            return
        findings = validate_distribution(record.name, imports=True)
        errors = [f for f in findings if f.severity == "error" and f.topic != "api"]
        if errors:
            raise ConformanceError(f"regionkit plugins validate {record.name} --imports found "
                                   f"{len(errors)} error(s):\n" + "\n".join(f"  {f.line()}" for f in errors))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        return _repr_failure(self, excinfo, style)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, 0, f"regionkit conformance: {self.parent.dist_name} {self.name}"  # type: ignore


class ComponentNode(pytest.Collector):
    """One component with one parameter set; builds it once for all its checks."""

    def __init__(self, *, entry: Any, obj: Any, params: Any, load_error: BaseException | None,
                 bad_params: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entry = entry
        self.obj = obj
        self.params = params
        self.load_error = load_error
        self.bad_params = bad_params
        self._built: Any = None
        self._build_error: BaseException | None = None
        self._tmp: Path | None = None

    def collect(self) -> list[pytest.Item]:  # items are made by DistributionNode
        return []

    @property
    def label(self) -> str:
        from regionkit.kinds import KINDS

        return f"{KINDS[self.entry.kind].singular} '{self.entry.qualified_name}' ({self.entry.target})"

    def instance(self) -> Any:
        """The built component; raises the (cached) build failure."""
        if self._built is None and self._build_error is None:
            try:
                self._built = self._build(self.params)
            except unittest.SkipTest:
                raise
            except BaseException as exc:
                self._build_error = exc
        if self._build_error is not None:
            raise self._build_error
        return self._built

    def _build(self, params: Any) -> Any:
        from regionkit.devkit.conformance import ConformanceError
        from regionkit.errors import ConfigError
        from regionkit.registry import REGISTRIES

        if self.load_error is not None:
            raise ConformanceError(str(self.load_error)) from self.load_error
        if self.entry.kind == "losses":
            from regionkit.devkit.conformance.losses import require_torch

            require_torch()
        if self.bad_params is not None:
            raise ConformanceError(
                f"{self.label}: conformance_params must be a non-empty list of dicts of constructor parameters, "
                f"e.g. conformance_params = [dict(threshold=0.3)]; got {self.bad_params!r}")
        try:
            return REGISTRIES[self.entry.kind].build(dict(type=self.obj, **params))
        except ConfigError as exc:
            missing = _required_parameters(self.obj)
            missing = [m for m in missing if m not in params]
            if getattr(self.obj, "conformance_params", None) is None:
                example = ", ".join(f"{m}=..." for m in missing) or "..."
                raise ConformanceError(
                    f"{self.label} cannot be built with its defaults: {exc}.\nThe conformance suite builds each "
                    f"component with its defaults unless it lists parameter sets to test with. Add to "
                    f"{self.entry.target.replace(':', '.')}:\n\n    conformance_params = [dict({example})]\n\n"
                    f"(or, if it cannot be built here at all, e.g. it needs model weights: "
                    f"conformance_skip = \"<reason>\")") from exc
            raise ConformanceError(f"{self.label} cannot be built with {params or 'its defaults'}: {exc}") from exc
        except Exception as exc:
            raise ConformanceError(f"{self.label}: building with {params or 'its defaults'} raised "
                                   f"{type(exc).__name__}: {exc}") from exc

    def factory(self, params: dict[str, Any]) -> Any:
        return self._build(params)

    def tmp_path(self) -> Path:
        if self._tmp is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="regionkit-conformance-"))
        return self._tmp

    def teardown(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def source(self) -> tuple[Path | None, int]:
        """The component's source file and the 0-based line of its definition (0 if unknown)."""
        import ast

        from regionkit.discovery.summaries import find_module_file

        path = find_module_file(self.entry.module)
        if path is None:
            return None, 0
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            return path, 0
        name = self.entry.attr.split(".")[0]
        for node in tree.body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
                return path, node.lineno - 1
        return path, 0


def _required_parameters(obj: Any) -> list[str]:
    import inspect

    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return []
    return [p.name for p in sig.parameters.values()
            if p.default is inspect.Parameter.empty
            and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]


class ComponentItem(pytest.Item):
    """One contract check (or the build / import step) of one component."""

    def __init__(self, *, check: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check

    def runtest(self) -> None:
        from regionkit.devkit.conformance import CheckContext, ConformanceError, run_check

        node: ComponentNode = self.parent  # type: ignore[assignment]
        if self.name == "import":
            if node.entry.kind == "losses":
                from regionkit.devkit.conformance.losses import require_torch

                require_torch()  # no torch: skip, as every loss check does
            error = node.load_error
            assert error is not None
            raise ConformanceError(str(error)) from (error.__cause__ or error)  # show the import's traceback
        if self.name == "no_checks":
            _skip(f"regionkit has no conformance checks for {node.entry.kind}")
        reason = getattr(node.obj, "conformance_skip", None)
        if reason:
            _skip(f"{node.label}: conformance_skip = {reason!r}")
        if self.check is None:  # build
            node.instance()
            return
        try:
            component = node.instance()
        except (unittest.SkipTest, pytest.skip.Exception):
            raise
        except BaseException as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConformanceError(f"cannot build the component (its 'build' test says how to fix it): "
                                   f"{first}") from None
        ctx = CheckContext(label=node.label, params=dict(node.params), factory=node.factory,
                           tmp_path=node.tmp_path() / self.name if self.check.kind == "writers" else None)
        if ctx.tmp_path is not None:
            ctx.tmp_path.mkdir(parents=True, exist_ok=True)
        run_check(self.check.kind, self.check.name, component, ctx)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        return _repr_failure(self, excinfo, style)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        node: ComponentNode = self.parent  # type: ignore[assignment]
        doc = f": {self.check.doc}" if self.check is not None else ""
        path, line = node.source()
        return path or self.path, line, f"{node.label} {self.name}{doc}"


def _skip(reason: str) -> None:
    """Skip, reported at the component's source file rather than at this module."""
    try:
        raise pytest.skip.Exception(reason, _use_item_location=True)
    except TypeError:  # a pytest without that (private) keyword
        pytest.skip(reason)


def _repr_failure(item: pytest.Item, excinfo: pytest.ExceptionInfo[BaseException], style: Any) -> str:
    from regionkit.devkit.conformance import ConformanceError, format_traceback
    from regionkit.errors import RegionkitError

    exc = excinfo.value
    if isinstance(exc, ConformanceError):
        text = str(exc)
        cause = exc.__cause__
        if cause is not None and not isinstance(cause, (ConformanceError, RegionkitError)):
            text += "\n\n" + format_traceback(cause)
        return text
    return str(pytest.Item.repr_failure(item, excinfo, style="short"))
