"""Parameter checks shared by the built-in writers."""
from __future__ import annotations

from pathlib import PurePosixPath, PureWindowsPath

__all__ = ["check_filename", "check_region_name"]


def check_filename(filename: object) -> str:
    """A non-empty path relative to the output folder, without ``..``; ``ValueError`` otherwise."""
    if not isinstance(filename, str) or not filename.strip():
        raise ValueError(f"filename must be a non-empty relative path, got {filename!r}")
    for flavour in (PurePosixPath(filename), PureWindowsPath(filename)):
        if flavour.is_absolute() or flavour.anchor:
            raise ValueError(f"filename must be relative to the output folder, got {filename!r}")
        if ".." in flavour.parts:
            raise ValueError(f"filename must not contain '..', got {filename!r}")
    return filename


def check_region_name(what: str, name: object) -> str:
    """A non-empty region-set name; ``ValueError`` otherwise."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"{what} must be a non-empty region-set name, got {name!r}")
    return name
