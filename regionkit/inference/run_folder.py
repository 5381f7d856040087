"""The output folder of a run: its reserved files, the checks made before any image is read, and its lock.

A run owns its output folder for its whole lifetime through an exclusive lock on
``run.lock`` (``fcntl.flock``): a second run on the same folder stops at once with a
one-line error naming the live process.  The operating system releases the lock when the
process dies, however it dies, so a lock left by a killed run is simply taken over (the
file's old contents are only a note of who held it).

Before the first image, :meth:`RunFolder.prepare` checks everything that would otherwise
fail after the last one: the folder can be created and written, no output name collides
with another or with a run file, no output is blocked by a folder (or, for writers that
write a folder, by a file), and temporary files a killed run left behind are removed.
"""
from __future__ import annotations

import errno
import json
import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from regionkit.errors import RegionkitError
from regionkit.inference.journal import JOURNAL_FILE
from regionkit.io.atomic import stale_temporaries

__all__ = ["RunFolder", "RunStateError", "OutputError", "writer_outputs", "describe_os_error", "FAILURES_FILE", "LOCK_FILE",
           "SHARDS_DIR", "RESERVED_NAMES"]

FAILURES_FILE = "failures.json"
LOCK_FILE = "run.lock"
#: the folder of a sharded run's per-part journals and layout (:mod:`regionkit.inference.distributed`)
SHARDS_DIR = "journals"
#: files every run keeps in its output folder; no writer may use these names
RESERVED_FILES = (JOURNAL_FILE, FAILURES_FILE, LOCK_FILE)
RESERVED_NAMES = (*RESERVED_FILES, SHARDS_DIR)


class RunStateError(RegionkitError):
    """The output folder holds a run that conflicts with this one (resume/overwrite needed, or a live run)."""


class OutputError(RegionkitError):
    """The output folder or an output file cannot be written (permissions, a file in the way, a full disk)."""


def describe_os_error(exc: OSError) -> str:
    """A short reason for ``exc`` with advice where the cause is common."""
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        return f"{reason} (free some space, then rerun with --resume)"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{reason} (choose a writable --out-dir)"
    return reason


class RunFolder:
    """One run's output folder: ``outputs`` maps each writer's name to the file (or folder) it writes."""

    def __init__(self, out_dir: str | os.PathLike[str], outputs: Mapping[str, tuple[str, bool]]) -> None:
        """``outputs``: writer name -> ``(file name, is_folder)``."""
        self.path = Path(out_dir)
        self.outputs = dict(outputs)
        self._lock_fd: int | None = None

    # ------------------------------------------------------------------ checks without touching the disk
    @staticmethod
    def check_names(outputs: Mapping[str, tuple[str, bool]]) -> None:
        """Output names must be unique and must not be a run file; :class:`OutputError` naming the writers."""
        seen: dict[str, str] = {}
        for writer, (name, _) in outputs.items():
            if name in RESERVED_NAMES:
                raise OutputError(f"writer '{writer}' writes '{name}', a file every run keeps for itself "
                                  f"({', '.join(RESERVED_NAMES)}); give it another filename")
            key = name.casefold()  # case-insensitive file systems would make 'A.json' and 'a.json' one file
            if key in seen:
                raise OutputError(f"writers '{seen[key]}' and '{writer}' both write '{name}'; one would overwrite "
                                  f"the other, so give one of them another filename")
            seen[key] = writer

    # ------------------------------------------------------------------ before the first image
    def prepare(self) -> None:
        """Create the folder, take the lock, check every output path, remove stale temporaries."""
        self.check_names(self.outputs)
        self._create()
        self.acquire()
        try:
            self._check_targets()
            for stale in stale_temporaries(self.path, [*RESERVED_NAMES, *(n for n, _ in self.outputs.values())]):
                stale.unlink(missing_ok=True)
            for name, is_folder in self.outputs.values():
                if is_folder and (self.path / name).is_dir():
                    for stale in (self.path / name).glob(".*.tmp"):
                        if stale.is_file():
                            stale.unlink(missing_ok=True)
        except BaseException:
            self.release()
            raise

    def _create(self) -> None:
        if str(self.path) == "":
            raise OutputError("the output folder must not be empty (give --out-dir a folder name)")
        for parent in [self.path, *self.path.parents]:
            if parent.exists():
                if not parent.is_dir():
                    raise OutputError(f"cannot use {self.path} as the output folder: {parent} is a file")
                break
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the output folder {self.path}: {describe_os_error(exc)}") from exc

    def _check_targets(self) -> None:
        if (self.path / SHARDS_DIR).exists() and not (self.path / SHARDS_DIR).is_dir():
            raise OutputError(f"{self.path / SHARDS_DIR} is a file, but sharded runs keep their journals in a folder "
                              f"of that name; remove it or choose another --out-dir")
        for name in RESERVED_FILES:
            if (self.path / name).is_dir():
                raise OutputError(f"{self.path / name} is a folder, but the run keeps a file of that name there; "
                                  f"remove it or choose another --out-dir")
        for writer, (name, is_folder) in self.outputs.items():
            target = self.path / name
            if is_folder and target.exists() and not target.is_dir():
                raise OutputError(f"writer '{writer}' writes into the folder {target}, but a file of that name is "
                                  f"in the way; remove it or choose another --out-dir")
            if not is_folder and target.is_dir():
                raise OutputError(f"writer '{writer}' writes the file {target}, but a folder of that name is in "
                                  f"the way; remove it or give the writer another filename")

    # ------------------------------------------------------------------ the lock
    def acquire(self) -> None:
        """Take the exclusive lock (non-blocking); :class:`RunStateError` naming the holder if another run has it."""
        import fcntl

        lock_path = self.path / LOCK_FILE
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise OutputError(f"cannot write in the output folder {self.path}: {describe_os_error(exc)}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunStateError(f"another regionkit run is using {self.path} ({self._holder(lock_path)}); "
                                    f"wait for it to finish or choose another --out-dir") from None
            raise OutputError(f"cannot lock {lock_path}: {describe_os_error(exc)}") from exc
        note = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()})
        try:
            os.ftruncate(fd, 0)
            os.write(fd, note.encode("utf-8"))
        except OSError as exc:
            os.close(fd)
            raise OutputError(f"cannot write in the output folder {self.path}: {describe_os_error(exc)}") from exc
        self._lock_fd = fd

    @staticmethod
    def _holder(lock_path: Path) -> str:
        try:
            info: Any = json.loads(lock_path.read_text(encoding="utf-8"))
            started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(info["started"])))
            return f"process {int(info['pid'])} on {info['host']}, started {started}"
        except (OSError, ValueError, KeyError, TypeError):
            return "a process that is starting"

    def release(self) -> None:
        """Give the lock back (the lock file stays: deleting it would race with a run taking it)."""
        if self._lock_fd is not None:
            try:
                os.close(self._lock_fd)
            finally:
                self._lock_fd = None

    def __enter__(self) -> RunFolder:
        self.prepare()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def writer_outputs(writers: Mapping[str, Any]) -> dict[str, tuple[str, bool]]:
    """``{writer name: (file name, writes a folder)}`` for built writers (the ``writes_folder`` trait)."""
    from regionkit.kinds import WRITER

    return {name: (str(w.filename), WRITER.trait(w, "writes_folder")) for name, w in writers.items()}
