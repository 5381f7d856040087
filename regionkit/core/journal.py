"""An append-only JSON-lines journal of per-image results: what makes a run resumable.

Layout of ``journal.jsonl`` (one JSON object per line)::

    {"journal": "regionkit", "version": 1, "fingerprint": "<sha256 of the config>"}
    {"key": "<rel path>", "path": "<path>", "records": {"<writer>": <record>, ...}}
    {"key": "<rel path>", "path": "<path>", "failure": {"stage": "...", "reason": "..."}}
    {"finished": true, "num_images": N}

Each line is flushed as soon as it is written, so a killed run loses at most the line being
written; a torn last line is cut off when the journal is reopened.  Later lines for a key
supersede earlier ones (a resumed run retries failed images).  Memory stays flat: only a
``key -> byte offset`` index is kept, and records are read back one at a time.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

__all__ = ["Journal", "JournalState", "JOURNAL_FILE"]

JOURNAL_FILE = "journal.jsonl"
_VERSION = 1


@dataclass(frozen=True)
class JournalState:
    """What an existing journal says about its run."""

    fingerprint: str | None
    finished: bool
    num_ok: int
    num_failed: int


class Journal:
    """Append results to ``path`` and read them back by key (see module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._offsets: dict[str, int] = {}
        self._failed: set[str] = set()
        self._fh: Any = None

    # ------------------------------------------------------------------ opening
    @staticmethod
    def inspect(path: Path) -> JournalState | None:
        """Summary of an existing journal, or ``None`` if there is none (or it is unreadable)."""
        if not Path(path).is_file():
            return None
        journal = Journal(path)
        try:
            fingerprint, finished = journal._scan(repair=False)
        except ValueError:
            return JournalState(None, False, 0, 0)
        return JournalState(fingerprint, finished, len(journal._offsets) - len(journal._failed),
                            len(journal._failed))

    def start(self, fingerprint: str) -> None:
        """Begin a new journal, replacing any existing one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._offsets.clear()
        self._failed.clear()
        self._fh = open(self.path, "w", encoding="utf-8")
        self._write_line({"journal": "regionkit", "version": _VERSION, "fingerprint": fingerprint})

    def reopen(self) -> str | None:
        """Open an existing journal for appending (cutting a torn last line); return its fingerprint."""
        fingerprint, _ = self._scan(repair=True)
        self._fh = open(self.path, "a", encoding="utf-8")
        return fingerprint

    def _scan(self, repair: bool) -> tuple[str | None, bool]:
        fingerprint, finished = None, False
        good_end = 0
        with open(self.path, "rb") as fh:
            offset = 0
            for raw in fh:
                if not raw.endswith(b"\n"):
                    break  # torn line from a killed run
                try:
                    entry = json.loads(raw)
                except ValueError:
                    break
                if offset == 0:
                    if entry.get("journal") != "regionkit":
                        raise ValueError(f"{self.path} is not a regionkit journal")
                    fingerprint = entry.get("fingerprint")
                elif "key" in entry:
                    self._offsets[entry["key"]] = offset
                    if "failure" in entry:
                        self._failed.add(entry["key"])
                    else:
                        self._failed.discard(entry["key"])
                    finished = False
                elif entry.get("finished"):
                    finished = True
                offset += len(raw)
                good_end = offset
        if repair and good_end != self.path.stat().st_size:
            with open(self.path, "r+b") as fh:
                fh.truncate(good_end)
        return fingerprint, finished

    # ------------------------------------------------------------------ writing
    def _write_line(self, entry: dict[str, Any]) -> int:
        offset = self._fh.tell()
        self._fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self._fh.flush()
        return offset

    def add_result(self, key: str, path: str, records: dict[str, Any]) -> None:
        self._offsets[key] = self._write_line({"key": key, "path": path, "records": records})
        self._failed.discard(key)

    def add_failure(self, key: str, path: str, stage: str, reason: str) -> None:
        self._offsets[key] = self._write_line({"key": key, "path": path,
                                               "failure": {"stage": stage, "reason": reason}})
        self._failed.add(key)

    def finish(self, num_images: int) -> None:
        self._write_line({"finished": True, "num_images": num_images})
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    # ------------------------------------------------------------------ reading
    def done_keys(self) -> set[str]:
        """Keys with a successful result (failed ones are retried on resume)."""
        return set(self._offsets) - self._failed

    def entries(self, keys: list[str]) -> Iterator[dict[str, Any]]:
        """The latest entry of each key that has one, in the order of ``keys``."""
        if self._fh is not None:
            self._fh.flush()
        with open(self.path, "rb") as fh:
            for key in keys:
                offset = self._offsets.get(key)
                if offset is None:
                    continue
                fh.seek(offset)
                yield json.loads(fh.readline())
