"""File-IO helpers: atomic writes, and JSON streamed item by item with ``json.dump``'s exact bytes.

Streaming keeps memory flat on any dataset size: a list or dict of a million records is
written one record at a time, yet the file is byte-identical to
``json.dump(whole, fh, indent=indent, ensure_ascii=False)``.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

__all__ = ["atomic_open", "write_text_atomic", "write_json_atomic", "write_json_list_atomic",
           "write_json_dict_atomic"]


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], binary: bool = False) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing (UTF-8 text, or bytes); rename it over
    ``path`` on success, delete it on failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8")) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file and an atomic rename."""
    with atomic_open(path) as fh:
        fh.write(text)
    return Path(path)


def write_json_atomic(path: str | os.PathLike[str], obj: Any, indent: int | None = 4) -> Path:
    """Dump ``obj`` as JSON (``ensure_ascii=False``, like the original scripts) atomically."""
    return write_text_atomic(path, json.dumps(obj, indent=indent, ensure_ascii=False))


def _nested(value: Any, indent: int | None) -> str:
    """``value`` dumped as it appears one level deep inside a container dumped with ``indent``."""
    text = json.dumps(value, indent=indent, ensure_ascii=False)
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
            fh.write(json.dumps(str(key), ensure_ascii=False) + ": " + _nested(value, indent))
            first = False
        fh.write("{}" if first else ("" if indent is None else "\n") + "}")
    return Path(path)
