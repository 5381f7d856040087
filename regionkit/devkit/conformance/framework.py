"""The conformance kit's machinery: checks, their context, and running them.

A :class:`Check` is one contract rule of one kind; each kind's module in this package lists
its checks in ``CHECKS``, and the kind's :class:`~regionkit.kinds.Kind` names that module, so
the checks of a kind are found from the kind alone.  :func:`check_component` runs every
applicable check and raises one :class:`ConformanceError` listing all failures.
"""
from __future__ import annotations

import shutil
import tempfile
import traceback
import unittest
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ConformanceError", "Check", "CheckContext", "checks_for", "applicable_checks", "run_check",
           "check_component", "format_traceback", "call_component", "default_label", "DEFAULT_TOLERANCE"]

#: default absolute tolerance of the determinism and batch comparisons
DEFAULT_TOLERANCE = 1e-6


class ConformanceError(AssertionError):
    """A component broke its kind's contract; the message says which check, on which input, and how."""


@dataclass
class CheckContext:
    """What a check may use besides the component.

    ``label`` names the component in messages (``detector 'edge_density'``); ``params`` are
    the parameters it was built with; ``factory(params)`` builds another instance (the loss
    weight check needs one; default: the component's class called with ``params``);
    ``tmp_path`` is a folder writers may write into (a temporary one by default).
    """

    label: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    factory: Callable[[dict[str, Any]], Any] | None = None
    tmp_path: Path | None = None

    def build(self, component: Any, params: dict[str, Any]) -> Any:
        if self.factory is not None:
            return self.factory(params)
        return type(component)(**params)


@dataclass(frozen=True)
class Check:
    """One contract check: ``func(component, context)`` raises :class:`ConformanceError` on a violation.

    ``applies(component)`` says whether the check is relevant (e.g. idempotence only for
    selectors that declare it); ``doc`` is a one-line description.
    """

    name: str
    kind: str
    func: Callable[[Any, CheckContext], None]
    doc: str
    applies: Callable[[Any], bool] | None = None

    def is_applicable(self, component: Any) -> bool:
        return self.applies is None or bool(self.applies(component))


def checks_for(kind: str) -> dict[str, Check]:
    """``{name: Check}`` of ``kind``, in the order they run (from the kind's conformance module)."""
    from regionkit.kinds import KINDS

    return {c.name: c for c in KINDS[kind].checks()} if kind in KINDS else {}


def applicable_checks(kind: str, component: Any) -> list[Check]:
    """The checks of ``kind`` that apply to ``component`` (a class or an instance)."""
    return [c for c in checks_for(kind).values() if c.is_applicable(component)]


def default_label(kind: str, component: Any) -> str:
    """``detector my_pkg.dets.MyDetector``: how messages name a component."""
    from regionkit.kinds import KINDS

    singular = KINDS[kind].singular if kind in KINDS else kind
    cls = component if isinstance(component, type) else type(component)
    return f"{singular} {cls.__module__}.{cls.__qualname__}"


def run_check(kind: str, name: str, component: Any, context: CheckContext | None = None) -> None:
    """Run one named check; raises :class:`ConformanceError` (or ``unittest.SkipTest``)."""
    check = checks_for(kind)[name]
    ctx = context or CheckContext(label=default_label(kind, component))
    if ctx.tmp_path is not None or kind != "writers":
        check.func(component, ctx)
        return
    tmp = Path(tempfile.mkdtemp(prefix="regionkit-conformance-"))
    try:
        ctx.tmp_path = tmp
        check.func(component, ctx)
    finally:
        ctx.tmp_path = None
        shutil.rmtree(tmp, ignore_errors=True)


def check_component(kind: str, component: Any, context: CheckContext | None = None) -> None:
    """Run every applicable check of ``kind``; raise one :class:`ConformanceError` listing all failures."""
    ctx = context or CheckContext(label=default_label(kind, component))
    checks = applicable_checks(kind, component)
    failures: list[str] = []
    for check in checks:
        try:
            run_check(kind, check.name, component, ctx)
        except unittest.SkipTest:
            continue
        except ConformanceError as exc:
            failures.append(f"{check.name}: {exc}" + _cause_traceback(exc))
        except Exception as exc:  # a crash inside the component is a failure of that check
            failures.append(f"{check.name}: raised {type(exc).__name__}: {exc}\n" + format_traceback(exc))
    if failures:
        body = "\n".join("  - " + f.replace("\n", "\n    ") for f in failures)
        raise ConformanceError(f"{ctx.label}: {len(failures)} of {len(checks)} checks failed:\n{body}")


def format_traceback(exc: BaseException, limit: int = -4) -> str:
    """The last ``limit`` frames of ``exc``'s traceback (the component's code, not the kit's)."""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=limit, chain=False)).rstrip()


def _cause_traceback(exc: BaseException) -> str:
    cause = exc.__cause__
    if cause is None or isinstance(cause, ConformanceError):
        return ""
    return "\n" + format_traceback(cause)


def call_component(where: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call component code; an exception becomes a ConformanceError saying on what input it happened."""
    try:
        return func(*args, **kwargs)
    except (ConformanceError, unittest.SkipTest):
        raise
    except Exception as exc:
        raise ConformanceError(f"{where}: raised {type(exc).__name__}: {exc}") from exc
