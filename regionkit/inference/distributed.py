"""Sharded runs: one part of the dataset per rank under ``torchrun``, merged into the files of a single run.

``torchrun --nproc-per-node N tools/infer.py CONFIG ...`` (or ``srun torchrun --nnodes M
... --rdzv-backend c10d ...``) starts N processes per node; each reads its rank from the
environment torchrun sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``)
and the ranks talk over a gloo process group (small messages only: the state of the run
folder at the start, per-rank statistics at the end).  A detector on CUDA runs on
``cuda:LOCAL_RANK``.

* **Parts.**  The dataset is cut into parts that do not depend on the number of ranks:
  the tar shards of a ``webdataset`` dataset, or blocks of consecutive images of any other
  dataset (the block size is fixed when the run starts and kept in the layout).  Rank ``r``
  of ``n`` takes parts ``r, r + n, r + 2n, ...``.
* **Journals.**  Each part has its own journal, ``journals/<part>.jsonl`` in the output
  folder (the format of :mod:`regionkit.inference.journal`), written by one rank only;
  ``journals/layout.json`` records the parts, the config fingerprint and whether the merge
  is done.  A rank that dies leaves at most a torn last line in its current part's
  journals; the other parts are untouched.
* **Resume.**  ``--resume`` reopens every part's journal and processes only the images it
  lacks (and those that failed), whatever the number of ranks now: parts are reassigned,
  never split.  Without ``--resume`` an unfinished sharded run is refused, naming the rank
  count it was started with.  ``regionkit infer --resume`` without torchrun continues a
  sharded run in one process.
* **Merge.**  When every rank has finished its parts (they meet in one collective), rank 0
  checks that every part's journal is complete and writes the final files from the parts'
  journals in dataset order: byte-identical to a single-process run of the same config
  (for a torch detector on CPU, with the same ``runtime.threads`` number on both sides:
  torch's kernels may round differently with another thread count, see
  :mod:`regionkit.inference.threads`).
  Writers that write per shard (``shard_jsonl``) write each shard's file as soon as the
  shard is finished, and the manifest at the merge.
* **Locking.**  Rank 0 holds the output folder's lock (``run.lock``) from before any rank
  starts until the merge is done; every node must see the output folder (a shared file
  system for multi-node runs).

When a rank dies, torchrun stops the others with SIGTERM; each says so in one line and
keeps what it finished: rerun the same command with ``--resume`` to finish only what is
missing.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from regionkit.errors import ConfigError, RegionkitError
from regionkit.inference.journal import JOURNAL_FILE, ImageId, Journal
from regionkit.inference.run_folder import (
    FAILURES_FILE,
    SHARDS_DIR,
    OutputError,
    RunFolder,
    RunStateError,
    describe_os_error,
)
from regionkit.io.atomic import atomic_open, write_json_list_atomic
from regionkit.structures.boxes import SanitizeReport
from regionkit.structures.results import ImageItem

__all__ = ["DistEnv", "Coordinator", "Part", "run_sharded", "is_sharded_dataset", "holds_sharded_run",
           "refuse_unfinished_sharded_run", "place_on_local_device", "LAYOUT_FILE", "RankStopped", "RankLost",
           "ShardedRunError"]

LAYOUT_FILE = "layout.json"
_LAYOUT_MARK = "sharded_run"
_LAYOUT_VERSION = 1
#: parts per rank a new run of an unsharded dataset aims at (balance), and the largest block of images per part
_PARTS_PER_RANK = 8
_MAX_BLOCK = 4096
#: how long a rank waits for the others (a slow part, a long merge) before giving up
_DEFAULT_TIMEOUT_S = 7 * 24 * 3600
_ENV_TIMEOUT = "REGIONKIT_DIST_TIMEOUT"
_ENV_BACKEND = "REGIONKIT_DIST_BACKEND"


class ShardedRunError(RunStateError):
    """A sharded run cannot go on (another rank's problem, a part missing at the merge)."""


class RankLost(ShardedRunError):
    """Another rank stopped answering (it died, or the network between nodes failed)."""


class RankStopped(KeyboardInterrupt):
    """torchrun (or the user) sent SIGTERM: another rank died or the run was cancelled.

    A ``KeyboardInterrupt`` so that no per-image ``except`` clause records it as an image's failure.
    """


# ---------------------------------------------------------------------- environment
@dataclass(frozen=True)
class DistEnv:
    """This process's place in a ``torchrun`` job (``launched`` is ``False`` outside one)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    launched: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DistEnv:
        env = os.environ if environ is None else environ
        if "WORLD_SIZE" not in env or "RANK" not in env:
            return cls()

        def number(name: str, default: int) -> int:
            raw = env.get(name)
            if raw is None or raw == "":
                return default
            try:
                return int(raw)
            except ValueError:
                raise ConfigError(f"environment variable {name}={raw!r} is not a number; start sharded runs "
                                  f"with torchrun, which sets it") from None

        world = number("WORLD_SIZE", 1)
        rank = number("RANK", 0)
        local_world = number("LOCAL_WORLD_SIZE", world)
        local_rank = number("LOCAL_RANK", rank)
        if world < 1 or not 0 <= rank < world or not 0 <= local_rank < max(local_world, 1):
            raise ConfigError(f"inconsistent torchrun environment: RANK={rank}, WORLD_SIZE={world}, "
                              f"LOCAL_RANK={local_rank}, LOCAL_WORLD_SIZE={local_world}")
        return cls(rank, world, local_rank, max(local_world, 1), True)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def label(self) -> str:
        return f"rank {self.rank}/{self.world_size}"


def place_on_local_device(cfg: Any, env: DistEnv) -> Any:
    """``cfg`` with every ``device='cuda'`` (at any depth) made ``cuda:LOCAL_RANK``; sets torch's current device."""
    if not env.launched:
        return cfg
    found = False

    def walk(value: Any) -> Any:
        nonlocal found
        if isinstance(value, Mapping):
            out = {}
            for k, v in value.items():
                if k == "device" and isinstance(v, str) and v.strip().lower() in ("cuda", "gpu"):
                    found = True
                    out[k] = f"cuda:{env.local_rank}"
                else:
                    out[k] = walk(v)
            return out
        if isinstance(value, (list, tuple)):
            return type(value)(walk(v) for v in value)
        return value

    placed = walk(cfg)
    if found:
        _set_cuda_device(env.local_rank)
    return placed


def _set_cuda_device(index: int) -> None:
    import torch

    if torch.cuda.is_available() and index < torch.cuda.device_count():
        torch.cuda.set_device(index)


# ---------------------------------------------------------------------- the process group
class Coordinator:
    """The few collectives a sharded run needs, over gloo; a no-op for one process."""

    def __init__(self, env: DistEnv) -> None:
        self.env = env
        self._owns_group = False

    def start(self) -> None:
        if self.env.world_size <= 1:
            return
        import torch.distributed as dist

        if dist.is_initialized():
            return
        backend = os.environ.get(_ENV_BACKEND, "gloo")
        try:
            timeout = float(os.environ.get(_ENV_TIMEOUT, _DEFAULT_TIMEOUT_S))
        except ValueError:
            raise ConfigError(f"{_ENV_TIMEOUT} must be a number of seconds, got {os.environ[_ENV_TIMEOUT]!r}") from None
        try:
            dist.init_process_group(backend=backend, timeout=timedelta(seconds=timeout))
        except (RuntimeError, ValueError) as exc:
            raise RankLost(f"{self.env.label()}: cannot join the other ranks ({_first_line(exc)}); start sharded runs "
                           f"with torchrun (it sets MASTER_ADDR, MASTER_PORT, RANK and WORLD_SIZE)") from exc
        self._owns_group = True

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except RuntimeError as exc:
            raise RankLost(f"{self.env.label()}: lost contact with the other ranks while {what} "
                           f"({_first_line(exc)}); a rank probably died: rerun the same command with --resume to "
                           f"finish only what is missing") from exc

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        if self.env.world_size <= 1:
            return obj
        import torch.distributed as dist

        box = [obj if self.env.is_main else None]
        self._call("starting", lambda: dist.broadcast_object_list(box, src=0))
        return box[0]

    def gather(self, obj: Any, what: str = "waiting for the other ranks to finish") -> list[Any]:
        """Every rank's ``obj``, in rank order, on every rank (also the barrier before the merge)."""
        if self.env.world_size <= 1:
            return [obj]
        import torch.distributed as dist

        out: list[Any] = [None] * self.env.world_size
        self._call(what, lambda: dist.all_gather_object(out, obj))
        return out

    def close(self) -> None:
        if self._owns_group:
            import torch.distributed as dist

            with contextlib.suppress(Exception):
                dist.destroy_process_group()
            self._owns_group = False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


@contextlib.contextmanager
def _stop_on_sigterm(env: DistEnv, out_dir: Path) -> Iterator[None]:
    """Turn torchrun's SIGTERM (sent when another rank died) into a one-line message and :class:`RankStopped`."""
    if not env.launched or threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process at once
        print(f"regionkit {env.label()}: stopping (SIGTERM: another rank died, or the run was cancelled); the "
              f"finished images are kept in {out_dir / SHARDS_DIR}: rerun the same command with --resume to finish "
              f"only what is missing", file=sys.stderr, flush=True)
        raise RankStopped()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# ---------------------------------------------------------------------- parts and the layout
def is_sharded_dataset(dataset: Any) -> bool:
    """Whether ``dataset`` comes in shards (``shard_names()`` and ``shard_items(i)``, as ``webdataset``)."""
    return callable(getattr(dataset, "shard_names", None)) and callable(getattr(dataset, "shard_items", None))


def holds_sharded_run(out_dir: Path) -> bool:
    """Whether ``out_dir`` holds the layout of a sharded run (finished or not)."""
    return (Path(out_dir) / SHARDS_DIR / LAYOUT_FILE).is_file()


def refuse_unfinished_sharded_run(out_dir: Path) -> None:
    """For a single-process run without --resume: :class:`RunStateError` if ``out_dir`` holds an unfinished sharded run."""
    folder = Path(out_dir) / SHARDS_DIR
    layout = _read_layout(folder) if (folder / LAYOUT_FILE).is_file() else None
    if layout is not None and not layout.get("finished"):
        raise RunStateError(f"{out_dir} holds an unfinished sharded run (started with {layout.get('ranks', '?')} "
                            f"rank(s)); pass --resume to continue it (in this process, or with torchrun and any "
                            f"number of ranks) or --overwrite to start again")


@dataclass(frozen=True)
class Part:
    """One unit of work: shard ``source`` of a sharded dataset, or images ``[start, stop)`` of another."""

    index: int
    name: str
    source: int = -1
    start: int = 0
    stop: int = 0
    limit: int | None = None


def _plan_layout(dataset: Any, items: Sequence[ImageItem] | None, world_size: int,
                 max_images: int | None) -> dict[str, Any]:
    """The layout of a new run (parts, independent of the rank count once written)."""
    if items is None:  # shards
        names = dataset.shard_names()
        limits: list[int | None] = [None] * len(names)
        if max_images is not None:
            left = max_images
            kept = 0
            for i in range(len(names)):
                if left <= 0:
                    break
                n = len(dataset.shard_items(i))
                limits[i] = min(n, left) if n > left else None
                left -= min(n, left)
                kept = i + 1
            names, limits = names[:kept], limits[:kept]
        return {"mode": "shards", "parts": names, "limits": limits, "max_images": max_images}
    n = len(items)
    block = max(1, min(_MAX_BLOCK, math.ceil(n / (world_size * _PARTS_PER_RANK))))
    return {"mode": "images", "images": n, "block": block, "max_images": max_images}


def _parts(layout: Mapping[str, Any]) -> list[Part]:
    if layout["mode"] == "shards":
        return [Part(i, str(name), source=i, limit=limit)
                for i, (name, limit) in enumerate(zip(layout["parts"], layout["limits"]))]
    n, block = int(layout["images"]), int(layout["block"])
    return [Part(i, f"part-{i:06d}", start=s, stop=min(n, s + block)) for i, s in enumerate(range(0, n, block))]


def _same_work(old: Mapping[str, Any], new: Mapping[str, Any]) -> str | None:
    """Why ``old``'s parts are not ``new``'s (``None`` if they are the same)."""
    if old.get("mode") != new.get("mode"):
        return "the dataset kind changed (shards vs. a list of images)"
    if old.get("max_images") != new.get("max_images"):
        return f"--max-images changed ({old.get('max_images')} then, {new.get('max_images')} now)"
    if new["mode"] == "shards":
        if list(old.get("parts") or []) != list(new["parts"]):
            return f"the shards changed ({len(old.get('parts') or [])} then, {len(new['parts'])} now)"
        return None
    if int(old.get("images", -1)) != int(new["images"]):
        return f"the dataset changed ({old.get('images')} images then, {new['images']} now)"
    return None


# ---------------------------------------------------------------------- one rank's work
@dataclass
class _Open:
    part: Part
    journal: Journal
    keys: list[str]
    outstanding: int
    fresh_output: bool


class _PartRouter:
    """Routes each recorded image to its part's journal; finishes a part when its last image is recorded."""

    def __init__(self, on_finish: Callable[[_Open], None]) -> None:
        self._by_key: dict[str, _Open] = {}
        self._on_finish = on_finish
        self.open: list[_Open] = []

    def begin(self, state: _Open, todo: Sequence[ImageItem]) -> None:
        self.open.append(state)
        for item in todo:
            self._by_key[item.rel_path] = state
        if state.outstanding == 0:
            self._done(state)

    def _route(self, key: str) -> _Open:
        state = self._by_key.pop(key)
        state.outstanding -= 1
        return state

    def _after(self, state: _Open) -> None:
        if state.outstanding == 0:
            self._done(state)

    def _done(self, state: _Open) -> None:
        self.open.remove(state)
        self._on_finish(state)

    def add_result(self, key: str, path: str, ident: ImageId, records: dict[str, Any]) -> None:
        state = self._route(key)
        state.journal.add_result(key, path, ident, records)
        self._after(state)

    def add_failure(self, key: str, path: str, ident: ImageId, stage: str, reason: str) -> None:
        state = self._route(key)
        state.journal.add_failure(key, path, ident, stage, reason)
        self._after(state)

    def close(self) -> None:
        for state in self.open:
            state.journal.close()
        self.open.clear()


class _Progress:
    """Each rank's count of finished images in ``journals/.progress/rank<k>``; rank 0 shows their sum in one bar."""

    def __init__(self, folder: Path, env: DistEnv, enabled: bool, total: int | None) -> None:
        self.folder = folder / ".progress"
        self.env = env
        self.enabled = enabled
        self.done = 0
        self.parts = 0
        self._written = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._bar: Any = None
        self.total = total

    def start(self, initial: int) -> None:
        self.done = initial
        if not self.enabled:
            return
        if self.env.world_size > 1:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._write(force=True)
        if self.env.is_main:
            from tqdm.auto import tqdm

            desc = f"infer ({self.env.world_size} ranks)" if self.env.world_size > 1 else "infer"
            self._bar = tqdm(total=self.total, unit="img", desc=desc, dynamic_ncols=True)
            if self.env.world_size > 1:
                self._thread = threading.Thread(target=self._poll, name="regionkit-progress", daemon=True)
                self._thread.start()
            else:
                self._bar.update(initial)

    def tick(self, n: int) -> None:
        self.done += n
        if not self.enabled:
            return
        if self.env.world_size == 1 and self._bar is not None:
            self._bar.update(n)
        else:
            self._write()

    def part_done(self) -> None:
        self.parts += 1
        if self.enabled:
            self._write(force=True)

    def _write(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._written < 0.5:
            return
        self._written = now
        with contextlib.suppress(OSError):
            tmp = self.folder / f".rank{self.env.rank}.tmp"
            tmp.write_text(f"{self.done} {self.parts}", encoding="ascii")
            os.replace(tmp, self.folder / f"rank{self.env.rank}")

    def _read_all(self) -> tuple[int, int]:
        done = parts = 0
        for k in range(self.env.world_size):
            try:
                a, b = (self.folder / f"rank{k}").read_text(encoding="ascii").split()
                done, parts = done + int(a), parts + int(b)
            except (OSError, ValueError):
                continue
        return done, parts

    def _poll(self) -> None:
        shown = 0
        while not self._stop.wait(0.5):
            done, parts = self._read_all()
            if done > shown and self._bar is not None:
                self._bar.update(done - shown)
                self._bar.set_postfix_str(f"{parts} part(s) done", refresh=False)
                shown = done

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._bar is not None:
            if self.env.world_size > 1:
                done, _ = self._read_all()
                self._bar.update(max(0, done - self._bar.n))
            self._bar.close()
            self._bar = None


@dataclass
class _RankResult:
    stats: Any
    sanitize: SanitizeReport
    restarts: int
    skipped: dict[int, list[tuple[str, str]]] = field(default_factory=dict)


def _per_shard_writers(writers: Mapping[str, Any]) -> dict[str, Any]:
    return {name: w for name, w in writers.items() if getattr(w, "per_shard", False)}


class _RankWork:
    """What one rank does between the start and the merge."""

    def __init__(self, runner: Any, dataset: Any, items: Sequence[ImageItem] | None, layout: Mapping[str, Any],
                 out_dir: Path, env: DistEnv, fingerprint: str, config_part: dict[str, Any], run: Any) -> None:
        self.run_info = run
        self.runner = runner
        self.dataset = dataset
        self.items = items
        self.layout = layout
        self.out_dir = out_dir
        self.folder = out_dir / SHARDS_DIR
        self.env = env
        self.fingerprint = fingerprint
        self.config_part = config_part
        self.sharded = layout["mode"] == "shards"
        self.shard_writers = _per_shard_writers(runner.writers) if self.sharded else {}
        self.resumed = 0
        self.processed = 0

    def part_items(self, part: Part) -> list[ImageItem]:
        if self.items is not None:
            return list(self.items[part.start:part.stop])
        items = self.dataset.shard_items(part.source)
        return list(items[:part.limit]) if part.limit is not None else list(items)

    def _shard_identity(self, part: Part) -> list[int] | None:
        identity = getattr(self.dataset, "shard_identity", None)
        ident = identity(part.source) if self.sharded and callable(identity) else None
        return list(ident) if ident else None

    def finished_shard(self, part: Part) -> int | None:
        """The image count of a shard finished earlier (its summary, outputs and archive unchanged), else ``None``.

        Such a shard is not scanned again, nor its journal read: resuming a run of many shards costs
        only the unfinished ones.
        """
        if not self.sharded:
            return None
        done = _read_done(self.folder, part)
        if done is None or done.get("fingerprint") != self.fingerprint or done.get("failed") or \
                done.get("shard_id") is None or done.get("shard_id") != self._shard_identity(part):
            return None
        if any(not w.shard_path(self.out_dir, part.name).is_file() for w in self.shard_writers.values()):
            return None
        return int(done.get("images", 0))

    def _open(self, part: Part, items: list[ImageItem]) -> tuple[_Open, list[ImageItem]]:
        from regionkit.inference.runner import check_identities

        path = self.folder / f"{part.name}.jsonl"
        _done_path(self.folder, part).unlink(missing_ok=True)  # written again when the part is finished
        journal = Journal(path)
        keys = [item.rel_path for item in items]
        if len(set(keys)) != len(keys):
            raise ConfigError(f"part {part.name} of the dataset yields the same relative path twice; image keys must "
                              f"be unique")
        existing = path.is_file()
        if existing:
            try:
                journal.reopen()
            except ValueError:
                existing = False
        if existing and journal.header.get("fingerprint") != self.fingerprint:
            journal.close()
            raise RunStateError(f"cannot resume in {self.out_dir}: the journal of part {part.name} was written with "
                                f"a different config; use --overwrite to start again")
        if existing:
            check_identities(journal, items, self.out_dir)
        else:
            journal.start(self.fingerprint, self.config_part, {"part": part.name})
        done = journal.done_keys()
        todo = [item for item in items if item.rel_path not in done]
        self.resumed += len(items) - len(todo)
        complete = existing and journal.finished and not todo and journal.order == keys
        fresh = not complete or any(not w.shard_path(self.out_dir, part.name).is_file()
                                    for w in self.shard_writers.values())
        return _Open(part, journal, keys, len(todo), fresh), todo

    def _finish(self, state: _Open) -> None:
        journal = state.journal
        try:
            if not (journal.finished and journal.order == state.keys):
                journal.finish(len(state.keys), state.keys)
            if state.fresh_output:
                for name, writer in self.shard_writers.items():
                    records = (e["records"][name] for e in journal.entries(state.keys) if "records" in e)
                    try:
                        writer.finalize_shard(self.out_dir, state.part.name, records)
                    except OSError:
                        raise
                    except Exception as exc:
                        raise OutputError(f"writer '{name}' could not write shard {state.part.name}: "
                                          f"{type(exc).__name__}: {exc}; the results are kept in {journal.path}: fix "
                                          f"the cause and rerun with --resume") from exc
            failed = journal.failed_keys()
            failures = [{"image": e["path"], **e["failure"]}
                        for e in journal.entries([k for k in state.keys if k in failed])]
            _write_done(self.folder, state.part, {"part": state.part.name, "fingerprint": self.fingerprint,
                                                  "images": len(state.keys), "failed": len(failures),
                                                  "failures": failures, "shard_id": self._shard_identity(state.part)})
        finally:
            journal.close()
        self.progress.part_done()

    def run(self, mine: Sequence[Part], progress: _Progress) -> tuple[SanitizeReport, int]:
        self.progress = progress
        router = _PartRouter(self._finish)

        def todo() -> Iterator[ImageItem]:
            for part in mine:
                finished = self.finished_shard(part)
                if finished is not None:
                    self.resumed += finished
                    progress.tick(finished)
                    progress.part_done()
                    continue
                items = self.part_items(part)
                state, pending = self._open(part, items)
                progress.tick(len(items) - len(pending))
                self.processed += len(pending)
                router.begin(state, pending)
                yield from pending

        try:
            return self.runner.process_items(todo(), router, self.run_info, progress.tick)
        finally:
            router.close()


# ---------------------------------------------------------------------- start, merge
def _read_layout(folder: Path) -> dict[str, Any] | None:
    path = folder / LAYOUT_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunStateError(f"{path} cannot be read ({exc}); pass --overwrite to start a new run in "
                            f"{folder.parent}") from None
    if not isinstance(data, dict) or data.get("regionkit") != _LAYOUT_MARK:
        raise RunStateError(f"{path} is not a regionkit sharded-run layout; pass --overwrite to start a new run in "
                            f"{folder.parent}")
    return data


def _write_layout(folder: Path, layout: Mapping[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_open(folder / LAYOUT_FILE) as fh:
        fh.write(json.dumps(layout, indent=1, ensure_ascii=False, sort_keys=True) + "\n")


def _prepare(out_dir: Path, planned: dict[str, Any], env: DistEnv, fingerprint: str, config_part: dict[str, Any],
             resume: bool, overwrite: bool) -> dict[str, Any]:
    """Rank 0, holding the lock: the layout to run (new, or the one to resume); raises for a conflict."""
    from regionkit.inference.runner import _config_change

    folder = out_dir / SHARDS_DIR
    old = None if overwrite else _read_layout(folder)
    if old is not None and resume:
        if old.get("fingerprint") != fingerprint:
            raise RunStateError(f"cannot resume in {out_dir}: {_config_change(old.get('config'), config_part)}; "
                                f"use another --out-dir, or --overwrite to start again")
        why = _same_work(old, planned)
        if why:
            raise RunStateError(f"cannot resume in {out_dir}: {why} since the run started; use --overwrite to start "
                                f"again")
        if old.get("finished"):
            old["finished"] = False
            _write_layout(folder, old)
        return old
    if old is not None and not old.get("finished") and not overwrite:
        then = int(old.get("ranks") or 1)
        change = f" (it was started with {then} rank(s), this run has {env.world_size})" if then != env.world_size \
            else ""
        raise RunStateError(f"{out_dir} holds an unfinished sharded run{change}; pass --resume to continue it (with "
                            f"any number of ranks) or --overwrite to start again")
    single = out_dir / JOURNAL_FILE
    if old is None and not overwrite and single.is_file():
        state = Journal.inspect(single) if single.is_file() else None
        if state is not None and not state.finished:
            if resume:
                raise RunStateError(f"{out_dir} holds an unfinished single-process run ({state.num_ok} images done); "
                                    f"resume it with 'regionkit infer --resume' in one process, or pass --overwrite "
                                    f"to start a sharded run")
            raise RunStateError(f"{out_dir} holds an unfinished run ({state.num_ok} images done); pass --resume "
                                f"(in one process) to continue it or --overwrite to start again")
    shutil.rmtree(folder, ignore_errors=True)
    single.unlink(missing_ok=True)
    layout = {"regionkit": _LAYOUT_MARK, "version": _LAYOUT_VERSION, "fingerprint": fingerprint,
              "config": config_part, "ranks": env.world_size, "finished": False, **planned}
    _write_layout(folder, layout)
    return layout


def _done_path(folder: Path, part: Part) -> Path:
    return folder / f"{part.name}.done.json"


def _read_done(folder: Path, part: Part) -> dict[str, Any] | None:
    """A finished part's summary (written last, so it proves the part complete), or ``None``."""
    try:
        data = json.loads(_done_path(folder, part).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("part") == part.name else None


def _write_done(folder: Path, part: Part, summary: dict[str, Any]) -> None:
    with atomic_open(_done_path(folder, part)) as fh:
        fh.write(json.dumps(summary, ensure_ascii=False) + "\n")


def _merge(runner: Any, layout: dict[str, Any], parts: Sequence[Part], out_dir: Path,
           fingerprint: str) -> tuple[list[Path], list[dict[str, str]], int, int]:
    """Rank 0: the final files from every part's journal, in dataset order; ``(outputs, failures, images, ok)``.

    One part's journal is open at a time; writers that write per shard need only the parts' summaries.
    """
    folder = out_dir / SHARDS_DIR
    summaries = [_read_done(folder, part) for part in parts]
    missing = [part.name for part, done in zip(parts, summaries)
               if done is None or done.get("fingerprint") != fingerprint]
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise ShardedRunError(f"cannot merge in {out_dir}: part(s) {shown} are not finished (a rank died?); rerun the "
                              f"same command with --resume to finish only what is missing")
    done = [d for d in summaries if d is not None]

    def entries() -> Iterator[dict[str, Any]]:
        for part in parts:
            journal = Journal.open_read(folder / f"{part.name}.jsonl")
            if journal.order is None:
                raise ShardedRunError(f"cannot merge in {out_dir}: the journal of part {part.name} is incomplete; "
                                      f"rerun with --resume")
            yield from journal.entries(journal.order)

    sharded = layout["mode"] == "shards"
    per_shard = _per_shard_writers(runner.writers) if sharded else {}
    outputs: list[Path] = []
    for name, writer in runner.writers.items():
        try:
            if name in per_shard:
                counts = [{"shard": part.name, "images": int(d["images"]) - int(d["failed"]), "failed": int(d["failed"])}
                          for part, d in zip(parts, done)]
                outputs.append(writer.finalize_manifest(out_dir, counts))
                outputs.extend(writer.shard_path(out_dir, part.name) for part in parts)
            else:
                records = (e["records"][name] for e in entries() if "records" in e)
                outputs.extend(writer.finalize(out_dir, records))
        except (OSError, RegionkitError):
            raise
        except Exception as exc:
            raise OutputError(f"writer '{name}' could not write its output: {type(exc).__name__}: {exc}; the results "
                              f"are kept in {folder}: fix the cause and rerun with --resume") from exc
    failures = [failure for d in done for failure in d.get("failures") or ()]
    failures_path = out_dir / FAILURES_FILE
    if failures:
        outputs.append(write_json_list_atomic(failures_path, failures, indent=2))
    elif failures_path.exists():
        failures_path.unlink()
    total = sum(int(d["images"]) for d in done)
    return outputs, failures, total, total - len(failures)


def run_sharded(runner: Any, dataset: Any, out_dir: Path, env: DistEnv, *, fingerprint: str,
                config_part: dict[str, Any], items: Sequence[ImageItem] | None = None, resume: bool = False,
                overwrite: bool = False, max_images: int | None = None, progress: bool = True,
                config: dict[str, Any] | None = None, coordinator: Any = None) -> Any:
    """Run this rank's parts of ``dataset`` into ``out_dir``; rank 0 merges and returns the
    :class:`~regionkit.inference.runner.RunSummary`, other ranks return ``None``.

    ``items``: the images of a dataset without shards (default: all of it, up to ``max_images``);
    ignored for a sharded dataset.  ``coordinator``: something with :class:`Coordinator`'s
    methods (tests run ranks as threads; :func:`~regionkit.inference.job.run_infer` passes one
    for all the splits of a run, so the process group is set up once): the caller closes it.
    Default: a torch.distributed group over gloo for this call alone.
    """
    start = time.perf_counter()
    out_dir = Path(out_dir)
    if is_sharded_dataset(dataset):
        items = None
    else:
        if items is None:
            items = list(dataset)[:max_images] if max_images else list(dataset)
        keys = [item.rel_path for item in items]
        if len(set(keys)) != len(keys):
            raise ConfigError("the dataset yields the same relative path twice; image keys must be unique")
    coord = coordinator if coordinator is not None else Coordinator(env)
    coord.start()
    try:
        with _stop_on_sigterm(env, out_dir):
            return _run(runner, dataset, items, out_dir, env, coord, start, fingerprint, config_part, resume,
                        overwrite, max_images, progress, dict(config or {}))
    finally:
        if coordinator is None:
            coord.close()


def _run(runner: Any, dataset: Any, items: Sequence[ImageItem] | None, out_dir: Path, env: DistEnv,
         coord: Any, start: float, fingerprint: str, config_part: dict[str, Any], resume: bool,
         overwrite: bool, max_images: int | None, progress: bool, config: dict[str, Any]) -> Any:
    from regionkit.inference.runner import RankStats, RunInfo, RunSummary
    folder = RunFolder(out_dir, runner.outputs)
    status: tuple[str, Any]
    if env.is_main:
        try:
            planned = _plan_layout(dataset, items, env.world_size, max_images)
            if not planned.get("parts", True) or planned.get("images", 1) == 0:
                raise ConfigError(f"no images found in {getattr(dataset, 'root', 'the dataset')}")
            folder.prepare()
            try:
                layout = _prepare(out_dir, planned, env, fingerprint, config_part, resume, overwrite)
            except BaseException:
                folder.release()
                raise
            status = ("ok", layout)
        except RegionkitError as exc:
            coord.broadcast(("error", str(exc)))
            raise
        except OSError as exc:
            coord.broadcast(("error", f"cannot write in {out_dir}: {describe_os_error(exc)}"))
            raise OutputError(f"cannot write in {out_dir}: {describe_os_error(exc)}") from exc
        except BaseException:
            coord.broadcast(("error", "rank 0 stopped before the run started"))
            raise
        coord.broadcast(status)
    else:
        status = coord.broadcast(None)
        if status[0] != "ok":
            raise ShardedRunError(f"{env.label()}: stopped because rank 0 could not start the run: {status[1]}")
        layout = status[1]
    try:
        parts = _parts(layout)
        mine = parts[env.rank::env.world_size]
        run = RunInfo(out_dir=out_dir, num_images=int(layout.get("images") or 0), config=config)
        if runner.hook is not None:
            runner.hook.regionkit_run_start(run=run)
        try:
            for writer in runner.writers.values():
                writer.start(out_dir)
            work = _RankWork(runner, dataset, items, layout, out_dir, env, fingerprint, config_part, run)
            bar = _Progress(out_dir / SHARDS_DIR, env, progress,
                            int(layout["images"]) if layout["mode"] == "images" else None)
            began = time.perf_counter()
            bar.start(0)
            try:
                sanitize, restarts = work.run(mine, bar)
                stats = RankStats(env.rank, env.world_size, work.processed, work.resumed,
                                  time.perf_counter() - began, len(mine), runner.thread_plan.describe())
                skipped = dict(getattr(dataset, "_skips", {}) or {}) if items is None else {}
                gathered = coord.gather(_RankResult(stats, sanitize, restarts, skipped))
            finally:
                bar.close()  # rank 0: after every rank has finished, so the bar ends at the total
        except OSError as exc:
            raise OutputError(f"cannot write in {out_dir}: {describe_os_error(exc)}") from exc
        if not env.is_main:
            return None
        if items is None and hasattr(dataset, "_skips"):
            for result in gathered:
                dataset._skips.update(result.skipped)
        try:
            outputs, failures, total, ok = _merge(runner, layout, parts, out_dir, fingerprint)
            layout["finished"] = True
            _write_layout(out_dir / SHARDS_DIR, layout)
        except OSError as exc:
            raise OutputError(f"cannot write in {out_dir}: {describe_os_error(exc)}") from exc
        shutil.rmtree(out_dir / SHARDS_DIR / ".progress", ignore_errors=True)
        total_sanitize = SanitizeReport()
        for result in gathered:
            total_sanitize += result.sanitize
        summary = RunSummary(total, ok, sum(r.stats.resumed for r in gathered), failures, outputs, total_sanitize,
                             time.perf_counter() - start, sum(r.restarts for r in gathered),
                             [r.stats for r in gathered])
        if runner.hook is not None:
            runner.hook.regionkit_run_end(run=run, summary=summary)
        return summary
    finally:
        if env.is_main:
            folder.release()
