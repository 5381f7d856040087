"""Sharded runs: parts, per-part journals, the merge on rank 0, resume with any number of ranks.

The fast tests run ranks as threads of this process with an in-memory coordinator (the
collectives of :class:`~regionkit.inference.distributed.Coordinator`), so every rule of the
sharded path is checked without starting torch.  The slow tests run the real thing: two CPU
processes under ``torchrun`` on gloo, one of them killed with SIGKILL mid-run, then resumed
with two ranks and with one process.
"""
from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from regionkit.config.loader import load_config
from regionkit.errors import ConfigError
from regionkit.inference import distributed
from regionkit.inference.distributed import DistEnv, RankLost, run_sharded
from regionkit.inference.job import _output_relevant, build_runner, config_fingerprint, run_infer
from regionkit.inference.run_folder import SHARDS_DIR, RunStateError
from tests.conftest import REPO, write_distribution

SALIENCY_CFG = REPO / "configs" / "saliency_four_box.py"
OUTPUTS = ("four_box.json", "object_box.json")
REGIONKIT = shutil.which("regionkit", path=os.path.dirname(sys.executable))
TORCHRUN = shutil.which("torchrun", path=os.path.dirname(sys.executable))


# ---------------------------------------------------------------------- ranks as threads
class _Group:
    def __init__(self, n: int) -> None:
        self.barrier = threading.Barrier(n, timeout=60)
        self.data: dict[Any, Any] = {}


class ThreadCoordinator:
    """The collectives of a sharded run between threads (a broken barrier is a lost rank, as with gloo)."""

    def __init__(self, env: DistEnv, group: _Group) -> None:
        self.env, self.group, self.calls = env, group, 0

    def start(self) -> None:
        pass

    def _wait(self) -> None:
        try:
            self.group.barrier.wait()
        except threading.BrokenBarrierError:
            raise RankLost(f"{self.env.label()}: lost contact with the other ranks") from None

    def broadcast(self, obj: Any) -> Any:
        self.calls += 1
        if self.env.is_main:
            self.group.data[self.calls] = obj
        self._wait()
        return self.group.data[self.calls]

    def gather(self, obj: Any, what: str = "") -> list[Any]:
        self.calls += 1
        self.group.data[(self.calls, self.env.rank)] = obj
        self._wait()
        return [self.group.data[(self.calls, r)] for r in range(self.env.world_size)]

    def close(self) -> None:
        pass


class _Hook:
    """Lifecycle hook relay: calls ``action(rank, rel_path)`` after each image's detections."""

    def __init__(self, rank: int, action: Any) -> None:
        self.rank, self.action = rank, action

    def regionkit_run_start(self, run: Any) -> None:
        pass

    def regionkit_after_detections(self, run: Any, result: Any) -> None:
        if self.action is not None:
            self.action(self.rank, result.rel_path)

    def regionkit_before_write(self, **kwargs: Any) -> None:
        pass

    def regionkit_run_end(self, run: Any, summary: Any) -> None:
        pass


def _cfg(config: Path | str, images: Path | str, *options: str) -> Any:
    return load_config(config, [f"dataset.root={str(images)!r}", "runtime.num_workers=0", *options])


def run_ranks(n: int, cfg: Any, out: Path, resume: bool = False, overwrite: bool = False,
              action: Any = None, max_images: int | None = None) -> tuple[list[Any], list[BaseException | None]]:
    """Run ``cfg`` into ``out`` with ``n`` ranks as threads; per rank its result (rank 0: the summary) or error."""
    group = _Group(n)
    results: list[Any] = [None] * n
    errors: list[BaseException | None] = [None] * n

    def rank(r: int) -> None:
        env = DistEnv(r, n, r, n, n > 1)
        try:
            runner, dataset = build_runner(cfg, progress=False, hook=_Hook(r, action), env=env)
            results[r] = run_sharded(runner, dataset, out, env, fingerprint=config_fingerprint(cfg),
                                     config_part=_output_relevant(cfg), resume=resume, overwrite=overwrite,
                                     max_images=max_images, progress=False, coordinator=ThreadCoordinator(env, group))
        except BaseException as exc:
            errors[r] = exc
            time.sleep(0.2)  # let ranks already released from the last collective leave it, as gloo would
            group.barrier.abort()  # then the others' next collective fails, as with a dead gloo peer

    threads = [threading.Thread(target=rank, args=(r,)) for r in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a rank hangs"
    return results, errors


def _read(out: Path, names=OUTPUTS) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in names}


@pytest.fixture(scope="module")
def reference(sample_images, tmp_path_factory) -> dict[str, bytes]:
    """The single-process run's files (``regionkit infer`` as it always ran)."""
    out = tmp_path_factory.mktemp("reference")
    run_infer(SALIENCY_CFG, images=sample_images, out_dir=out, progress=False, cfg_options=["runtime.num_workers=0"])
    assert not (out / SHARDS_DIR).exists()
    return _read(out)


# ---------------------------------------------------------------------- units
def test_env_comes_from_torchrun_variables():
    assert DistEnv.from_env({}) == DistEnv()
    env = DistEnv.from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"})
    assert (env.rank, env.world_size, env.local_rank, env.local_world_size, env.launched) == (3, 4, 1, 2, True)
    with pytest.raises(ConfigError, match="not a number"):
        DistEnv.from_env({"RANK": "x", "WORLD_SIZE": "2"})
    with pytest.raises(ConfigError, match="inconsistent"):
        DistEnv.from_env({"RANK": "2", "WORLD_SIZE": "2"})


def test_parts_do_not_depend_on_the_rank_count_once_laid_out():
    items = [object()] * 100
    layout = distributed._plan_layout(None, items, 2, None)  # type: ignore[arg-type]
    parts = distributed._parts(layout)
    assert parts[0].start == 0 and parts[-1].stop == 100 and len(parts) == 15  # blocks of ceil(100 / 16)
    assert all(a.stop == b.start for a, b in itertools.pairwise(parts))
    mine = [parts[r::3] for r in range(3)]  # resumed with 3 ranks: every part once
    assert sorted(p.index for m in mine for p in m) == list(range(len(parts)))
    assert distributed._same_work(layout, distributed._plan_layout(None, items, 7, None)) is None
    assert "101 now" in distributed._same_work(layout, distributed._plan_layout(None, items + [1], 2, None))


def test_a_cuda_detector_goes_to_the_local_rank(monkeypatch):
    cfg = {"type": "hybrid", "detectors": [{"type": "yolo", "device": "cuda"}, {"type": "saliency"}], "device": "cpu"}
    env = DistEnv(1, 2, 1, 2, True)
    monkeypatch.setattr(distributed, "_set_cuda_device", lambda index: None)
    placed = distributed.place_on_local_device(cfg, env)
    assert placed["detectors"][0]["device"] == "cuda:1" and placed["device"] == "cpu"
    assert distributed.place_on_local_device(cfg, DistEnv()) is cfg  # not under torchrun: untouched


# ---------------------------------------------------------------------- ranks as threads
def test_two_ranks_merge_to_the_single_process_files_after_the_slow_rank(sample_images, tmp_path, reference):
    cfg = _cfg(SALIENCY_CFG, sample_images)
    seen: dict[int, list[str]] = {0: [], 1: []}

    def slow_rank_one(rank: int, rel: str) -> None:
        seen[rank].append(rel)
        if rank == 1:
            time.sleep(0.3)  # rank 0 finishes first and must wait for rank 1 before merging

    out = tmp_path / "out"
    (summary, other), errors = run_ranks(2, cfg, out, action=slow_rank_one)
    assert errors == [None, None] and other is None
    assert seen[0] and seen[1] and not set(seen[0]) & set(seen[1])  # both worked, on different images
    assert _read(out) == reference
    assert summary.num_images == 6 and summary.ok and [s.rank for s in summary.ranks] == [0, 1]
    assert sum(s.processed for s in summary.ranks) == 6
    layout = json.loads((out / SHARDS_DIR / "layout.json").read_text())
    assert layout["finished"] and layout["ranks"] == 2


def test_a_dead_rank_stops_the_others_and_resume_finishes_only_what_is_missing(sample_images, tmp_path, reference):
    cfg = _cfg(SALIENCY_CFG, sample_images)
    done: list[str] = []

    def die(rank: int, rel: str) -> None:
        if rank == 1 and rel == "coffee.png":
            raise distributed.RankStopped()  # as when torchrun stops a rank; nothing is recorded for the image
        done.append(rel)

    killed = tmp_path / "killed"
    (summary, _), errors = run_ranks(2, cfg, killed, action=die)
    assert summary is None and isinstance(errors[1], distributed.RankStopped) and isinstance(errors[0], RankLost)
    assert not (killed / "four_box.json").exists()
    copies = {n: tmp_path / f"resume{n}" for n in (1, 3)}
    for target in copies.values():
        shutil.copytree(killed, target)

    (_, _), errors = run_ranks(2, cfg, killed)  # no --resume: refused on every rank, nothing changes
    assert isinstance(errors[0], RunStateError) and "pass --resume" in str(errors[0])
    assert "rank 0 could not start" in str(errors[1])
    with pytest.raises(RunStateError, match=r"unfinished sharded run \(started with 2 rank"):
        run_infer(SALIENCY_CFG, images=sample_images, out_dir=killed, progress=False)

    processed: list[str] = []
    (summary, _), errors = run_ranks(2, cfg, killed, resume=True, action=lambda r, rel: processed.append(rel))
    assert errors == [None, None] and _read(killed) == reference
    every = {p.name for p in sample_images.iterdir()}
    assert sorted(processed) == sorted(every - set(done)) and "coffee.png" in processed
    assert summary.num_resumed == len(done)

    (run,) = run_infer(SALIENCY_CFG, images=sample_images, out_dir=copies[1], progress=False, resume=True,
                       cfg_options=["runtime.num_workers=0"])  # one process, no torchrun
    assert run.summary.num_resumed == len(done) and _read(copies[1]) == reference
    (summary, *_), errors = run_ranks(3, cfg, copies[3], resume=True)
    assert errors == [None] * 3 and _read(copies[3]) == reference


def test_bad_images_are_failures_of_their_rank_and_merge_like_one_process(sample_images, tmp_path):
    images = tmp_path / "images"
    shutil.copytree(sample_images, images)
    (images / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    (images / "empty.png").write_bytes(b"")
    one = tmp_path / "one"
    (run,) = run_infer(SALIENCY_CFG, images=images, out_dir=one, progress=False, cfg_options=["runtime.num_workers=0"])
    assert len(run.summary.failures) == 2
    names = (*OUTPUTS, "failures.json")
    (summary, _), errors = run_ranks(2, _cfg(SALIENCY_CFG, images), tmp_path / "two")
    assert errors == [None, None] and summary.num_images == 8 and summary.num_ok == 6
    assert [f["image"] for f in summary.failures] == [f["image"] for f in run.summary.failures]
    assert _read(tmp_path / "two", names) == _read(one, names)
    (summary, _), errors = run_ranks(2, _cfg(SALIENCY_CFG, images), tmp_path / "two", resume=True)
    assert errors == [None, None] and summary.num_resumed == 6  # failed images are retried, the rest kept
    assert _read(tmp_path / "two", names) == _read(one, names)


def test_resume_refuses_another_config_or_another_dataset(sample_images, tmp_path):
    cfg = _cfg(SALIENCY_CFG, sample_images)
    out = tmp_path / "out"
    (summary, _), errors = run_ranks(2, cfg, out, action=_die_at("coffee.png"))
    other = _cfg(SALIENCY_CFG, sample_images, "detector.threshold=0.6")
    (_, _), errors = run_ranks(2, other, out, resume=True)
    assert isinstance(errors[0], RunStateError) and "detector changed" in str(errors[0])
    (_, _), errors = run_ranks(2, cfg, out, resume=True, max_images=3)
    assert "--max-images changed" in str(errors[0])
    (summary, _), errors = run_ranks(2, cfg, out, overwrite=True)
    assert errors == [None, None] and summary.num_resumed == 0


def _die_at(name: str):
    def action(rank: int, rel: str) -> None:
        if rel == name:
            raise distributed.RankStopped()
    return action


def test_a_single_process_run_is_not_resumed_sharded(sample_images, tmp_path):
    out = tmp_path / "out"
    cfg = _cfg(SALIENCY_CFG, sample_images)
    journal = out / "journal.jsonl"
    run_infer(SALIENCY_CFG, images=sample_images, out_dir=out, progress=False, max_images=2)
    text = journal.read_text().splitlines(keepends=True)
    journal.write_text("".join(text[:-1]))  # unfinished
    (_, _), errors = run_ranks(2, cfg, out, resume=True)
    assert "single-process run" in str(errors[0]) and "regionkit infer --resume" in str(errors[0])
    _, errors = run_ranks(2, cfg, out, overwrite=True)
    assert errors == [None, None] and not journal.exists()
    run_infer(SALIENCY_CFG, images=sample_images, out_dir=out, progress=False)  # a finished sharded run is replaced
    assert journal.exists() and not (out / SHARDS_DIR).exists()


def test_a_live_run_on_the_folder_stops_every_rank(sample_images, tmp_path):
    from regionkit.inference.run_folder import RunFolder

    out = tmp_path / "out"
    holder = RunFolder(out, {})
    holder.prepare()
    try:
        (_, _), errors = run_ranks(2, _cfg(SALIENCY_CFG, sample_images), out)
    finally:
        holder.release()
    assert "another regionkit run is using" in str(errors[0]) and "rank 1/2: stopped" in str(errors[1])


# ---------------------------------------------------------------------- torchrun, gloo, SIGKILL
KILLER = '''
import os, signal
from regionkit import hookimpl

@hookimpl
def regionkit_after_detections(result):
    if result.rel_path == os.environ.get("RK_KILL_AT"):
        os.kill(os.getpid(), signal.SIGKILL)   # a real, unannounced kill of one rank
'''


def _torchrun(nproc: int, images: Path, out: Path, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``torchrun --standalone`` (a free rendezvous port) in its own session, ended as a whole on a time-out."""
    args = [TORCHRUN, "--standalone", "--nproc-per-node", str(nproc), str(REPO / "tools" / "infer.py"),
            str(SALIENCY_CFG), "--images", str(images), "--out-dir", str(out), "--no-progress", "-o",
            "runtime.num_workers=0", *extra]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env or os.environ.copy(), start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # torchrun and the ranks it started
        proc.communicate()
        raise
    return subprocess.CompletedProcess(args, proc.returncode, stdout, stderr)


@pytest.mark.slow
def test_torchrun_two_ranks_a_sigkilled_rank_and_resume_with_two_and_one(sample_images, tmp_path, reference):
    pytest.importorskip("torch.distributed")
    assert TORCHRUN is not None
    site = tmp_path / "site"
    write_distribution(site, "rk-killer", "1.0", {"regionkit.lifecycle": ["killer = rk_killer_mod"]},
                       {"rk_killer_mod.py": KILLER})
    env = {**os.environ, "PYTHONPATH": str(site), "RK_KILL_AT": "coffee.png"}
    killed = tmp_path / "killed"
    proc = _torchrun(2, sample_images, killed, "-o", "runtime.batch_size=1", env=env)
    assert proc.returncode != 0 and not (killed / "four_box.json").exists()
    assert "exitcode  : -9" in proc.stderr  # torchrun names the killed rank
    assert "rerun the same command with --resume" in proc.stderr  # the survivor says what to do
    one = tmp_path / "one"
    shutil.copytree(killed, one)

    refused = subprocess.run([REGIONKIT, "infer", str(SALIENCY_CFG), "--images", str(sample_images), "--out-dir",
                              str(killed), "--no-progress"], capture_output=True, text=True)
    assert refused.returncode == 2 and "unfinished sharded run (started with 2 rank(s))" in refused.stderr

    resumed = _torchrun(2, sample_images, killed, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "already done" in resumed.stdout and "rank 1/2:" in resumed.stdout and "img/s" in resumed.stdout
    assert _read(killed) == reference

    single = subprocess.run([REGIONKIT, "infer", str(SALIENCY_CFG), "--images", str(sample_images), "--out-dir",
                             str(one), "--no-progress", "--resume"], capture_output=True, text=True)
    assert single.returncode == 0, single.stderr
    assert _read(one) == reference


@pytest.mark.slow
def test_torchrun_two_ranks_write_the_single_process_files(sample_images, tmp_path, reference):
    pytest.importorskip("torch.distributed")
    out = tmp_path / "out"
    proc = _torchrun(2, sample_images, out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _read(out) == reference
    assert "rank 0/2:" in proc.stdout and "Processed 6/6 images" in proc.stdout
