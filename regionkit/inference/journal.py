"""An append-only JSON-lines journal of per-image results: what makes a run resumable.

Layout of ``journal.jsonl`` (one JSON object per line)::

    {"journal": "regionkit", "version": 2, "fingerprint": "<sha256>", "config": {...}}
    {"key": "<rel path>", "path": "<path>", "id": [size, mtime_ns], "records": {"<writer>": <record>, ...}}
    {"key": "<rel path>", "path": "<path>", "id": [size, mtime_ns], "failure": {"stage": "...", "reason": "..."}}
    {"finished": true, "num_images": N}

A sharded run (:mod:`regionkit.inference.distributed`) keeps one such journal per part of
the dataset; its header also names the part (``"part": "<name>"``) and its finish line
lists the part's keys in dataset order (``"keys": [...]``), so the merge can read the
results back in order without listing the images again.

``fingerprint`` hashes the parts of the config that determine the output and ``config``
holds them, so a refused resume can say which section changed; ``id`` is the image file's
size and modification time when it was processed, so a resume notices an image replaced
under the same name.  Each line is flushed as soon as it is written, so a killed run loses
at most the line being written; a torn last line is cut off when the journal is reopened.
Later lines for a key supersede earlier ones (a resumed run retries failed images).  Memory
stays flat: only a ``key -> byte offset`` index is kept, and records are read back one at a
time.  Lines are strict JSON; file names that are not UTF-8 round-trip (see
:func:`~regionkit.io.atomic.dumps_strict`).
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from regionkit.io.atomic import dumps_strict

__all__ = ["Journal", "JournalState", "JOURNAL_FILE", "JOURNAL_VERSION", "ImageId", "image_id"]

JOURNAL_FILE = "journal.jsonl"
JOURNAL_VERSION = 2

#: ``(size in bytes, modification time in ns)`` of an image file, or ``None`` if it cannot be read
ImageId = tuple[int, int] | None


def image_id(path: str) -> ImageId:
    """The identity of the file at ``path`` as the journal records it (``None`` if it cannot be stat'ed)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (int(st.st_size), int(st.st_mtime_ns))


@dataclass(frozen=True)
class JournalState:
    """What an existing journal says about its run."""

    version: int | None
    fingerprint: str | None
    config: dict[str, Any] | None
    finished: bool
    num_ok: int
    num_failed: int


@dataclass
class _Entry:
    offset: int
    path: str
    id: ImageId
    failed: bool


class Journal:
    """Append results to ``path`` and read them back by key (see module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._entries: dict[str, _Entry] = {}
        self._fh: Any = None
        self.header: dict[str, Any] = {}
        #: the keys of the last finish line that listed them (sharded runs), else ``None``
        self.order: list[str] | None = None
        #: whether the journal ends with a finish line (set by :meth:`reopen` and :meth:`open_read`)
        self.finished = False

    # ------------------------------------------------------------------ opening
    @staticmethod
    def inspect(path: Path) -> JournalState | None:
        """Summary of an existing journal, ``None`` if there is none; ``ValueError`` if it is not a regionkit journal."""
        if not Path(path).is_file():
            return None
        journal = Journal(path)
        finished = journal._scan(repair=False)
        failed = sum(1 for e in journal._entries.values() if e.failed)
        header = journal.header
        return JournalState(header.get("version"), header.get("fingerprint"), header.get("config"), finished,
                            len(journal._entries) - failed, failed)

    @classmethod
    def open_read(cls, path: Path) -> Journal:
        """An existing journal, indexed for reading only (nothing is repaired); ``ValueError`` if it is not one."""
        journal = cls(path)
        journal.finished = journal._scan(repair=False)
        return journal

    def start(self, fingerprint: str, config: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
        """Begin a new journal, replacing any existing one (``extra``: more header fields)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._entries.clear()
        self.order, self.finished = None, False
        self._fh = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - open for the run's lifetime
        self.header = {"journal": "regionkit", "version": JOURNAL_VERSION, "fingerprint": fingerprint,
                       "config": config, **(extra or {})}
        self._write_line(self.header)
        os.fsync(self._fh.fileno())

    def reopen(self) -> None:
        """Open an existing journal for appending, cutting a torn last line."""
        self.finished = self._scan(repair=True)
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - open for the run's lifetime

    def _scan(self, repair: bool) -> bool:
        """Index the journal; returns whether its run finished.  ``ValueError`` if it is not a regionkit journal."""
        finished = False
        good_end = 0
        self._entries.clear()
        self.order = None
        with open(self.path, "rb") as fh:
            offset = 0
            for raw in fh:
                if not raw.endswith(b"\n"):
                    break  # torn line from a killed run
                try:
                    entry = json.loads(raw)
                except (ValueError, RecursionError):
                    break
                if not isinstance(entry, dict):
                    break
                if offset == 0:
                    if entry.get("journal") != "regionkit":
                        raise ValueError(f"{self.path} is not a regionkit journal")
                    self.header = entry
                elif isinstance(entry.get("key"), str):
                    raw_id = entry.get("id")
                    ident = (int(raw_id[0]), int(raw_id[1])) if isinstance(raw_id, list) and len(raw_id) == 2 else None
                    self._entries[entry["key"]] = _Entry(offset, str(entry.get("path", "")), ident,
                                                         "failure" in entry)
                    finished = False
                elif entry.get("finished"):
                    finished = True
                    keys = entry.get("keys")
                    if isinstance(keys, list):
                        self.order = [str(k) for k in keys]
                offset += len(raw)
                good_end = offset
        if offset == 0:
            raise ValueError(f"{self.path} is empty or not a regionkit journal")
        if repair and good_end != self.path.stat().st_size:
            with open(self.path, "r+b") as fh:
                fh.truncate(good_end)
        return finished

    # ------------------------------------------------------------------ writing
    def _write_line(self, entry: dict[str, Any]) -> int:
        line = dumps_strict(entry) + "\n"
        offset = self._fh.tell()
        self._fh.write(line)
        self._fh.flush()
        return offset

    def add_result(self, key: str, path: str, ident: ImageId, records: dict[str, Any]) -> None:
        offset = self._write_line({"key": key, "path": path, "id": list(ident) if ident else None, "records": records})
        self._entries[key] = _Entry(offset, path, ident, False)
        self.finished = False

    def add_failure(self, key: str, path: str, ident: ImageId, stage: str, reason: str) -> None:
        offset = self._write_line({"key": key, "path": path, "id": list(ident) if ident else None,
                                   "failure": {"stage": stage, "reason": reason}})
        self._entries[key] = _Entry(offset, path, ident, True)
        self.finished = False

    def finish(self, num_images: int, keys: Sequence[str] | None = None) -> None:
        """Mark the run (or part) complete; ``keys`` (sharded runs) lists its images in dataset order."""
        line: dict[str, Any] = {"finished": True, "num_images": num_images}
        if keys is not None:
            line["keys"] = list(keys)
            self.order = list(keys)
        self._write_line(line)
        os.fsync(self._fh.fileno())
        self.finished = True

    def close(self) -> None:
        if self._fh is not None:
            try:
                self._fh.close()
            finally:
                self._fh = None

    # ------------------------------------------------------------------ reading
    def failed_keys(self) -> set[str]:
        """Keys whose latest entry is a failure."""
        return {k for k, e in self._entries.items() if e.failed}

    def done_keys(self) -> set[str]:
        """Keys with a successful result (failed ones are retried on resume)."""
        return {k for k, e in self._entries.items() if not e.failed}

    def recorded(self, key: str) -> tuple[str, ImageId] | None:
        """``(path, image id)`` the journal holds for ``key``'s latest entry, or ``None``."""
        entry = self._entries.get(key)
        return None if entry is None else (entry.path, entry.id)

    def entries(self, keys: Sequence[str]) -> Iterator[dict[str, Any]]:
        """The latest entry of each key that has one, in the order of ``keys``."""
        if self._fh is not None:
            self._fh.flush()
        with open(self.path, "rb") as fh:
            for key in keys:
                entry = self._entries.get(key)
                if entry is None:
                    continue
                fh.seek(entry.offset)
                yield json.loads(fh.readline())
