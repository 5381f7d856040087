"""Check a local weights or data file without loading it: present, readable, not truncated, its sha256.

Used by ``regionkit check`` and before every ``regionkit infer`` run, so a missing or cut-off
file is one clear error up front.  Reading a file here never runs code: a torch checkpoint is
checked through its zip index, a NumPy file through its header.
"""
from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FileStatus", "inspect_file", "sha256_of", "format_size"]

_CHUNK = 1 << 20
_PICKLE_START = b"\x80"  # torch's legacy (non-zip) format starts with a pickle protocol marker


@dataclass(frozen=True)
class FileStatus:
    """What :func:`inspect_file` found: ``problem`` is ``None`` when the file is usable."""

    path: Path
    exists: bool
    size: int | None
    sha256: str | None
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def format_size(size: int | None) -> str:
    """``512 B``, ``1.5 MB``, ``2.3 GB`` (decimal units), or ``-``."""
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"  # pragma: no cover - unreachable


def sha256_of(path: str | os.PathLike[str]) -> str:
    """The file's sha256 in hex, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _torch_problem(path: Path) -> str | None:
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            return f"is damaged or truncated (its zip index cannot be read: {exc})"
        if not any(n.endswith("data.pkl") for n in names):
            return "is a zip file but not a torch checkpoint (no data.pkl inside)"
        return None
    if head.startswith(_PICKLE_START):
        return None
    return "is not a torch checkpoint (neither torch's zip format nor its legacy pickle format)"


def _npy_problem(path: Path, size: int) -> str | None:
    import numpy as np

    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, _fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, _fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            data_start = fh.tell()
    except (ValueError, OSError, SyntaxError) as exc:
        return f"is not a NumPy .npy file ({exc})"
    if dtype.hasobject:
        return "holds Python objects, not numbers (regionkit never loads pickled arrays)"
    expected = data_start + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if size < expected:
        return f"is truncated: its header says {expected} bytes, the file has {size}"
    return None


def inspect_file(path: str | os.PathLike[str], file_format: str = "any", *, hash_file: bool = False,
                 published_sha256: str | None = None) -> FileStatus:
    """Check one file; ``hash_file`` (or a ``published_sha256`` to compare with) also computes its sha256."""
    p = Path(path).expanduser()
    if p.is_dir():
        return FileStatus(p, True, None, None, "is a folder, not a file")
    if not p.is_file():
        return FileStatus(p, False, None, None, "not found")
    try:
        size = p.stat().st_size
        if size == 0:
            return FileStatus(p, True, 0, None, "is empty")
        problem = None
        if file_format == "torch":
            problem = _torch_problem(p)
        elif file_format == "npy":
            problem = _npy_problem(p, size)
        digest = sha256_of(p) if (hash_file or published_sha256) else None
    except OSError as exc:
        return FileStatus(p, True, None, None, f"cannot be read ({exc.strerror or exc})")
    if problem is None and published_sha256 and digest != published_sha256.lower():
        problem = f"has sha256 {digest}, not the published {published_sha256.lower()} (a different or damaged file)"
    return FileStatus(p, True, size, digest, problem)
