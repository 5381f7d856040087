"""``regionkit --version`` and ``regionkit doctor``: what regionkit runs on, for bug reports.

``--version`` reads installed versions from package metadata (nothing heavy is imported, so
it stays instant); ``doctor`` also imports torch to report CUDA, and lists the plugins.
"""
from __future__ import annotations

import platform
import sys
from importlib import metadata

import click

from regionkit._version import PLUGIN_API_VERSION, __version__
from regionkit.cli.errors import echo_safe

__all__ = ["doctor", "print_version", "dependency_versions"]

#: the distributions whose versions matter for a bug report, in the order shown
DEPENDENCIES = ("torch", "torchvision", "mmengine", "numpy", "ultralytics", "opencv-python", "open_clip_torch",
                "transformers", "mmdet", "mmcv", "scikit-image")
#: other distributions that install the same module
_ALSO_AS = {"ultralytics": ("ultralytics-opencv-headless",), "opencv-python": ("opencv-python-headless",)}


def dependency_versions(names: tuple[str, ...] = DEPENDENCIES) -> dict[str, str | None]:
    """``{distribution: version or None}`` from installed metadata (imports nothing)."""
    out: dict[str, str | None] = {}
    for name in names:
        out[name] = None
        for candidate in (name, *_ALSO_AS.get(name, ())):
            try:
                version = metadata.version(candidate)
            except metadata.PackageNotFoundError:
                continue
            out[name] = version if candidate == name else f"{version} ({candidate})"
            break
    return out


def print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """The ``--version`` callback: regionkit, the plugin API and the main dependencies found."""
    if not value or ctx.resilient_parsing:
        return
    found = {k: v for k, v in dependency_versions(("torch", "mmengine", "ultralytics", "transformers")).items()}
    deps = ", ".join(f"{k} {v or 'not installed'}" for k, v in found.items())
    echo_safe(f"regionkit {__version__} (plugin API {PLUGIN_API_VERSION}; Python {platform.python_version()}; {deps})")
    ctx.exit()


def _torch_lines() -> list[str]:
    try:
        import torch
    except Exception as exc:  # not installed or broken: that is the finding
        return [f"torch: cannot be imported ({type(exc).__name__}: {exc})"]
    lines = [f"torch: {torch.__version__} (built for CUDA {torch.version.cuda or 'none: CPU build'})"]
    try:
        available = torch.cuda.is_available()
    except Exception as exc:  # pragma: no cover - driver problems
        return [*lines, f"CUDA: error ({exc})"]
    if not available:
        return [*lines, "CUDA: not available (device='cpu')"]
    for i in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(i)
        lines.append(f"CUDA device {i}: {props.name}, {props.total_memory / 2**30:.1f} GiB")
    return lines


@click.command()
def doctor() -> None:
    """Print the environment a bug report needs: versions, CUDA devices, installed plugins.

    Paste its output into an issue.  Unlike --version it imports torch (to ask about CUDA).
    """
    from regionkit.discovery.index import get_index

    echo_safe(f"regionkit: {__version__} (plugin API {PLUGIN_API_VERSION}) at {__file__.rsplit('/cli/', 1)[0]}")
    echo_safe(f"Python: {sys.version.split()[0]} ({sys.executable}) on {platform.platform()}")
    for name, version in dependency_versions().items():
        echo_safe(f"{name}: {version or 'not installed'}")
    for line in _torch_lines():
        echo_safe(line)
    index = get_index()
    for dist in sorted(index.dists.values(), key=lambda d: (not d.is_builtin, d.name.lower())):
        echo_safe(f"components from {dist.name} {dist.version}: {len(dist.entries)} ({dist.status_line()})")
    for problem in index.problems():
        echo_safe(f"plugin problem: {problem}")
