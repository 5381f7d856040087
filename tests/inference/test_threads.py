"""The thread budget (``runtime.threads``): how a rank's cores are shared between torch and the decode workers."""
from __future__ import annotations

import os

import pytest
import torch

from regionkit.config.loader import load_config
from regionkit.errors import ConfigError
from regionkit.inference import threads
from regionkit.inference.job import build_runner, config_fingerprint, runtime_of
from regionkit.inference.threads import DECODE_NICE, ThreadPlan, plan_threads
from tests.conftest import REPO

SALIENCY_CFG = REPO / "configs" / "saliency_four_box.py"


@pytest.fixture
def cores(monkeypatch):
    """Pretend this process may run on ``n`` physical cores."""
    def set_cores(n: int) -> None:
        monkeypatch.setattr(threads, "_physical_cores", lambda cpus: n)
    return set_cores


def test_auto_shares_the_cores_of_a_rank(cores):
    cores(8)
    # a torch detector in the main process: every core for torch, decode workers one thread at a lower priority
    assert plan_threads("auto", num_workers=3, detects_in_workers=False) == ThreadPlan(8, 8, 1, DECODE_NICE)
    assert plan_threads("auto", num_workers=0, detects_in_workers=False) == ThreadPlan(8, 8, None)
    # a parallel_safe detector in the workers: the cores split among them, the main process one thread
    assert plan_threads("auto", num_workers=4, detects_in_workers=True) == ThreadPlan(8, 1, 2)
    assert plan_threads("auto", num_workers=16, detects_in_workers=True) == ThreadPlan(8, 1, 1)
    # four ranks on the node (torchrun's LOCAL_WORLD_SIZE): two cores each
    assert plan_threads("auto", num_workers=2, detects_in_workers=False, local_world_size=4) == \
        ThreadPlan(2, 2, 1, DECODE_NICE)
    assert plan_threads("auto", num_workers=0, detects_in_workers=False, local_world_size=16).main_threads == 1


def test_a_number_or_off(cores):
    cores(8)
    assert plan_threads(3, num_workers=2, detects_in_workers=False) == ThreadPlan(8, 3, 1)
    assert plan_threads(3, num_workers=2, detects_in_workers=True) == ThreadPlan(8, 1, 3)
    off = plan_threads("off", num_workers=2, detects_in_workers=False)
    assert off.main_threads is None and off.worker_threads is None and off.describe() == "thread budget off"


def test_hyper_thread_siblings_are_one_core(tmp_path, monkeypatch):
    real_open = open
    topology = {0: ("0", "0"), 1: ("0", "0"), 2: ("0", "1"), 3: ("0", "1")}  # 2 cores, 2 threads each

    def fake_open(path, *args, **kwargs):
        text = str(path)
        if text.startswith("/sys/devices/system/cpu/cpu"):
            cpu = int(text.split("/cpu/cpu")[1].split("/")[0])
            package, core = topology[cpu]
            target = tmp_path / "value"
            target.write_text(package if text.endswith("physical_package_id") else core)
            return real_open(target, *args, **kwargs)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", fake_open)
    assert threads._physical_cores({0, 1, 2, 3}) == 2
    assert threads._physical_cores({0, 2}) == 2
    assert threads._physical_cores({1}) == 1


def test_the_knob_is_checked_and_may_change_on_resume():
    assert runtime_of(load_config(SALIENCY_CFG, ["runtime.threads=4"])).threads == 4
    assert runtime_of(load_config(SALIENCY_CFG, ["runtime.threads='off'"])).threads == "off"
    for bad in ("0", "'many'", "2.5"):
        with pytest.raises(ConfigError, match="threads"):
            runtime_of(load_config(SALIENCY_CFG, [f"runtime.threads={bad}"]))
    a = config_fingerprint(load_config(SALIENCY_CFG, ["runtime.threads=1"]))
    assert a == config_fingerprint(load_config(SALIENCY_CFG, ["runtime.threads='auto'"]))  # speed only


def test_workers_take_their_share_in_the_worker(monkeypatch):
    for var in threads._THREAD_VARS:
        monkeypatch.delenv(var, raising=False)
    niced = []
    monkeypatch.setattr(os, "nice", lambda n: niced.append(n))
    set_to = []
    monkeypatch.setattr(torch, "set_num_threads", lambda n: set_to.append(n))
    threads.apply_worker(ThreadPlan(4, 4, 1, DECODE_NICE))
    assert all(os.environ[var] == "1" for var in threads._THREAD_VARS) and niced == [DECODE_NICE]
    assert set_to == ([1] if torch.get_num_threads() != 1 else [])

    def refuse(n):
        raise PermissionError("not here")

    monkeypatch.setattr(os, "nice", refuse)
    threads.apply_worker(ThreadPlan(4, 4, 1, DECODE_NICE))  # advice only: never fails
    threads.apply_worker(None)  # no plan: nothing happens


def test_a_run_gives_torch_its_threads_back(sample_images, tmp_path):
    before = torch.get_num_threads()
    cfg = load_config(SALIENCY_CFG, [f"dataset.root={str(sample_images)!r}", "runtime.num_workers=0",
                                     "runtime.threads=1"])
    runner, dataset = build_runner(cfg, progress=False)
    seen = []
    original = runner.detector.detect

    def detect(images):
        seen.append(torch.get_num_threads())
        return original(images)

    runner.detector.detect = detect
    summary = runner.run(list(dataset), tmp_path / "out", fingerprint=config_fingerprint(cfg))
    assert summary.ok and seen and set(seen) == {1}  # the budget's count during the run
    assert torch.get_num_threads() == before  # and the caller's afterwards
