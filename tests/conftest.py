"""Shared fixtures: fake plugin distributions on sys.path, sample images, a clean plugin index."""
from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from regionkit.discovery import configure_plugins, refresh_index

REPO = Path(__file__).resolve().parents[1]


def write_distribution(site: Path, name: str, version: str, entry_points: dict[str, list[str]],
                       modules: dict[str, str]) -> Path:
    """Create a real ``.dist-info`` (METADATA + entry_points.txt) plus module files under ``site``."""
    dist_info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = []
    for group, entries in entry_points.items():
        lines.append(f"[{group}]")
        lines.extend(entries)
        lines.append("")
    (dist_info / "entry_points.txt").write_text("\n".join(lines))
    for rel, source in modules.items():
        path = site / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return dist_info


@pytest.fixture
def plugin_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """Factory: ``plugin_site(name, version, entry_points, modules)`` installs a fake distribution.

    The site folder is on ``sys.path`` for the test only; the plugin index is rebuilt after
    each call and once more at teardown, and the fake modules are forgotten.
    """
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    created: list[str] = []

    def install(name: str, version: str = "1.0", entry_points: dict[str, list[str]] | None = None,
                modules: dict[str, str] | None = None) -> Path:
        modules = modules or {}
        created.extend(Path(rel).parts[0].removesuffix(".py") for rel in modules)
        path = write_distribution(site, name, version, entry_points or {}, modules)
        refresh_index()
        return path

    yield install
    for mod in list(sys.modules):
        if mod.split(".")[0] in created:
            del sys.modules[mod]
    monkeypatch.undo()
    configure_plugins(None)


@pytest.fixture(autouse=True)
def _fresh_index(monkeypatch: pytest.MonkeyPatch):
    """Each test starts from the environment's default plugin policy."""
    monkeypatch.delenv("REGIONKIT_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("REGIONKIT_PLUGINS", raising=False)
    configure_plugins(None)
    yield
    configure_plugins(None)


@pytest.fixture(scope="session")
def sample_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the real sample photographs (from scikit-image's bundled files)."""
    from regionkit.io.samples import write_sample_images

    folder = tmp_path_factory.mktemp("samples")
    write_sample_images(folder)
    return folder
