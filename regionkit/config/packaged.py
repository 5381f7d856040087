"""Configs shipped inside Python packages: ``regionkit::saliency_four_box.py`` and ``_base_ = ['regionkit::...']``.

``PACKAGE::PATH`` names the file ``PATH`` inside the ``configs/`` folder of the installed
package ``PACKAGE`` (regionkit ships its recipes in ``regionkit/configs/``; a plugin package may
ship its own the same way).  This follows mmengine's ``package::path`` convention; packages
mmengine itself knows (``mmdet::``, ...) keep mmengine's own lookup (their ``.mim`` folder).

Nothing here imports the named package: its folder is found with :func:`importlib.util.find_spec`.
"""
from __future__ import annotations

import importlib.util
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from regionkit.errors import ConfigError, did_you_mean

__all__ = ["PackagedConfig", "is_packaged", "packaged_bases", "packaged_configs", "resolve_packaged"]

SEPARATOR = "::"
CONFIGS_FOLDER = "configs"
_PACKAGE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
_patch_lock = threading.RLock()


@dataclass(frozen=True)
class PackagedConfig:
    """One recipe a package ships: ``name`` as users type it (``regionkit::ovd_four_box.py``), its file, a summary."""

    name: str
    path: Path
    summary: str


def is_packaged(text: str) -> bool:
    """Whether ``text`` is a ``PACKAGE::PATH`` config name."""
    return SEPARATOR in str(text)


def _mmengine_owns(package: str) -> bool:
    """Whether mmengine resolves ``package::`` itself (OpenMMLab packages with a ``.mim`` folder)."""
    try:
        from mmengine.config.utils import MODULE2PACKAGE
    except ImportError:  # pragma: no cover - mmengine is a dependency
        return False
    return package in MODULE2PACKAGE and package != "regionkit"


def package_configs_dir(package: str) -> Path:
    """The ``configs/`` folder of an installed package (without importing it); ConfigError if there is none."""
    if not _PACKAGE.match(package):
        raise ConfigError(f"{package!r} is not a package name; packaged configs are named PACKAGE::PATH, "
                          f"e.g. regionkit::saliency_four_box.py")
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"package {package!r} is not installed, so {package}::... configs cannot be found")
    for location in spec.submodule_search_locations:
        folder = Path(location) / CONFIGS_FOLDER
        if folder.is_dir():
            return folder
    raise ConfigError(f"package {package!r} ships no configs (no {CONFIGS_FOLDER}/ folder in it)")


def resolve_packaged(text: str) -> Path:
    """The file a ``PACKAGE::PATH`` name refers to; a one-line ConfigError naming what exists otherwise."""
    package, _, relative = str(text).partition(SEPARATOR)
    if SEPARATOR in relative:
        raise ConfigError(f"config name {text!r} has more than one '{SEPARATOR}'; write PACKAGE::PATH")
    relative = relative.strip().lstrip("/")
    if not relative:
        raise ConfigError(f"config name {text!r} names no file; e.g. {package}::saliency_four_box.py")
    folder = package_configs_dir(package.strip())
    path = (folder / relative).resolve()
    if folder.resolve() not in path.parents:
        raise ConfigError(f"config name {text!r} points outside {package}'s configs folder")
    if not path.is_file():
        raise ConfigError(f"no config {relative!r} in package {package.strip()!r}{_suggestions(folder, relative)}")
    return path


def _suggestions(folder: Path, relative: str) -> str:
    """``(did you mean ...?)`` and the config files beside where ``relative`` was looked for."""
    parent = (folder / relative).parent
    if not parent.is_dir() or folder.resolve() not in [parent.resolve(), *parent.resolve().parents]:
        parent = folder
    beside = sorted(p.relative_to(folder).as_posix() for p in parent.glob("*.py"))
    if not beside:
        return ""
    return f"{did_you_mean(relative, beside)}; there: {', '.join(beside)}"


def _summary(path: Path) -> str:
    """The first comment line of a config file (its one-line description)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return ""
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("#"):
            return stripped.lstrip("#").strip()
        if stripped:
            break
    return ""


def _alias_target(path: Path) -> Path | None:
    """The file a short alias config inherits from, when the alias only forwards to one ``_base_``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    body = [ln for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    match = re.fullmatch(r"_base_\s*=\s*\[\s*'([^']+)'\s*\]", body[0].strip()) if len(body) == 1 else None
    return (path.parent / match.group(1)).resolve() if match else None


def packaged_configs(package: str = "regionkit") -> list[PackagedConfig]:
    """The recipes a package ships (not ``_base_`` files), by the names users type, each with its summary.

    A short top-level alias (``regionkit::ovd_four_box.py``) stands for the grouped file it
    forwards to (``regionkit::box_generation/ovd_four_box.py``), which is then not listed twice.
    """
    folder = package_configs_dir(package)
    found: dict[Path, PackagedConfig] = {}
    aliases: dict[Path, PackagedConfig] = {}
    for path in sorted(folder.rglob("*.py")):
        relative = path.relative_to(folder)
        if any(part.startswith("_") for part in relative.parts):
            continue
        name = f"{package}{SEPARATOR}{relative.as_posix()}"
        target = _alias_target(path)
        if target is not None and target.is_file():
            aliases[target] = PackagedConfig(name, path, _summary(target))
        else:
            found[path.resolve()] = PackagedConfig(name, path, _summary(path))
    for target, alias in aliases.items():
        found[target] = alias
    return sorted(found.values(), key=lambda c: c.name)


def _resolve_base(cfg_path: str) -> tuple[str, None] | None:
    package = cfg_path.partition(SEPARATOR)[0].strip()
    if _mmengine_owns(package):
        return None
    return str(resolve_packaged(cfg_path)), None


@contextmanager
def packaged_bases() -> Iterator[None]:
    """While loading a config with mmengine, ``_base_`` entries ``PACKAGE::PATH`` resolve as :func:`resolve_packaged`.

    mmengine resolves ``package::`` names only for OpenMMLab packages (through their ``.mim``
    folder); this swaps its resolver for the duration of one load (under a lock, restored
    afterwards) and defers to it for those packages.
    """
    from mmengine.config import Config

    with _patch_lock:
        original: Any = Config.__dict__["_get_cfg_path"]
        original_func = original.__func__ if isinstance(original, staticmethod) else original

        def get_cfg_path(cfg_path: str, filename: str) -> tuple[str, str | None]:
            if is_packaged(cfg_path):
                resolved = _resolve_base(cfg_path)
                if resolved is not None:
                    return resolved
            return original_func(cfg_path, filename)

        Config._get_cfg_path = staticmethod(get_cfg_path)
        try:
            yield
        finally:
            Config._get_cfg_path = original
