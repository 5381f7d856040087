"""The conformance kit: one module of checks per kind, the machinery in :mod:`.framework`, inputs in :mod:`.inputs`.

Plugin authors use the public entry points re-exported by :mod:`regionkit.testing` (or the
``regionkit`` façade): ``check_detector``, ``check_selector``, ``check_writer``,
``check_loss``, ``check_captioner``, ``check_matcher`` and the pytest plugin.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from regionkit.devkit.conformance.framework import (
    DEFAULT_TOLERANCE,
    Check,
    CheckContext,
    ConformanceError,
    applicable_checks,
    check_component,
    checks_for,
    default_label,
    format_traceback,
    run_check,
)

__all__ = ["ConformanceError", "Check", "CheckContext", "check_detector", "check_selector", "check_writer",
           "check_loss", "check_captioner", "check_matcher", "check_component", "run_check", "applicable_checks",
           "checks_for", "format_traceback", "DEFAULT_TOLERANCE"]


def check_detector(detector: Any, *, label: str | None = None) -> None:
    """Run every detector check on ``detector`` (an instance); :class:`ConformanceError` lists the failures."""
    check_component("detectors", detector, CheckContext(label=label or default_label("detectors", detector)))


def check_selector(selector: Any, *, label: str | None = None) -> None:
    """Run every box-selector check on ``selector`` (an instance)."""
    check_component("box_selectors", selector, CheckContext(label=label or default_label("box_selectors", selector)))


def check_writer(writer: Any, tmp_path: str | Path, *, label: str | None = None) -> None:
    """Run every writer check on ``writer``, writing under ``tmp_path`` (each check in its own sub-folder)."""
    check_component("writers", writer, CheckContext(label=label or default_label("writers", writer),
                                                    tmp_path=Path(tmp_path)))


def check_loss(loss: Any, params: Mapping[str, Any] | None = None, *,
               factory: Callable[[dict[str, Any]], Any] | None = None, label: str | None = None) -> None:
    """Run every loss check on ``loss`` (an instance built with ``params``).

    The ``loss_weight`` check builds two more instances, with ``factory(params)`` if given, else
    ``type(loss)(**params)``.  Raises ``unittest.SkipTest`` (a skip under pytest) without torch.
    """
    from regionkit.devkit.conformance.losses import require_torch

    require_torch()
    check_component("losses", loss, CheckContext(label=label or default_label("losses", loss),
                                                 params=dict(params or {}), factory=factory))


def check_captioner(captioner: Any, *, label: str | None = None) -> None:
    """Run every captioner check on ``captioner``."""
    check_component("captioners", captioner, CheckContext(label=label or default_label("captioners", captioner)))


def check_matcher(matcher: Any, *, label: str | None = None) -> None:
    """Run every matcher check on ``matcher``."""
    check_component("matchers", matcher, CheckContext(label=label or default_label("matchers", matcher)))
