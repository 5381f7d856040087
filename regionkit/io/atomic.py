"""Atomic file writes, and JSON streamed item by item with ``json.dump``'s exact bytes.

Streaming keeps memory flat on any dataset size: a list or dict of a million records is
written one record at a time, yet the file is byte-identical to
``json.dump(whole, fh, indent=indent, ensure_ascii=False)``.  Only strict JSON is written: a
NaN or infinity raises ``ValueError`` instead of becoming ``NaN``/``Infinity``.

Files are created with the permissions ``open()`` would give them (``0o666`` less the
umask), not ``mkstemp``'s private ``0o600``.  A temporary file is named
``.<name>.<random>.tmp`` beside its target (:func:`stale_temporaries` finds leftovers of a
killed run).
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_open", "write_json_list_atomic", "write_json_dict_atomic", "dumps_strict", "stale_temporaries",
           "TMP_SUFFIX"]

TMP_SUFFIX = ".tmp"


def _umask() -> int:
    """The process umask, read without changing it where the platform allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: read it by setting it, then put it back
    os.umask(mask)
    return mask


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def dumps_strict(value: Any, indent: int | None = None) -> str:
    """``json.dumps(value, ensure_ascii=False, allow_nan=False)``: ``ValueError`` for NaN or infinity.

    A lone surrogate (how Python spells a file-name byte that is not UTF-8) is written as
    its ``\\uXXXX`` escape, so the text encodes to UTF-8 and ``json.loads`` gives the same
    string back, which ``os.fsencode`` turns into the original bytes.
    """
    text = json.dumps(value, indent=indent, ensure_ascii=False, allow_nan=False)
    if _LONE_SURROGATE.search(text):
        text = _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text


def stale_temporaries(folder: str | os.PathLike[str], names: Iterable[str]) -> list[Path]:
    """Temporary files :func:`atomic_open` left in ``folder`` for the targets ``names`` (e.g. after a kill)."""
    root = Path(folder)
    out: list[Path] = []
    for name in names:
        out.extend(p for p in root.glob(f".{glob_escape(name)}.*{TMP_SUFFIX}") if p.is_file())
    return sorted(set(out))


def glob_escape(text: str) -> str:
    """``text`` with glob wildcards escaped."""
    import glob

    return glob.escape(text)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], binary: bool = False) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing (UTF-8 text, or bytes); rename it over
    ``path`` on success, delete it on failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8")) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _nested(value: Any, indent: int | None) -> str:
    """``value`` dumped as it appears one level deep inside a container dumped with ``indent``."""
    text = dumps_strict(value, indent=indent)
    if indent is None:
        return text
    return text.replace("\n", "\n" + " " * indent)


def write_json_list_atomic(path: str | os.PathLike[str], items: Iterable[Any], indent: int | None = 4) -> Path:
    """Stream ``items`` as a JSON list; same bytes as ``json.dumps(list(items), indent=indent)``."""
    sep, pad = (", ", "") if indent is None else (",\n" + " " * indent, "\n" + " " * indent)
    with atomic_open(path) as fh:
        first = True
        for item in items:
            fh.write(("[" + pad) if first else sep)
            fh.write(_nested(item, indent))
            first = False
        fh.write("[]" if first else ("" if indent is None else "\n") + "]")
    return Path(path)


def write_json_dict_atomic(path: str | os.PathLike[str], pairs: Iterable[tuple[str, Any]],
                           indent: int | None = 4) -> Path:
    """Stream ``(key, value)`` pairs as a JSON object; same bytes as ``json.dumps(dict(pairs), indent=indent)``.

    Keys must be unique (a repeated key would appear twice, unlike in a dict).
    """
    sep, pad = (", ", "") if indent is None else (",\n" + " " * indent, "\n" + " " * indent)
    with atomic_open(path) as fh:
        first = True
        for key, value in pairs:
            fh.write(("{" + pad) if first else sep)
            fh.write(dumps_strict(str(key)) + ": " + _nested(value, indent))
            first = False
        fh.write("{}" if first else ("" if indent is None else "\n") + "}")
    return Path(path)
