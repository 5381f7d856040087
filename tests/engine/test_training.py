"""Training on mmengine's Runner from the tiny photo-edits recipe: losses logged, save-best, kill and resume, test.

The recipe is shrunk by ``--cfg-options`` only (smaller images, one crop per photograph, two
epochs), the way a user changes an experiment.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from regionkit.cli.main import cli, expand_cfg_options
from regionkit.engine.checkpoint import load_checkpoint_file
from regionkit.engine.runner import run_train

REPO = Path(__file__).resolve().parents[2]
RECIPE = str(REPO / "configs" / "training" / "sprc_tiny_photo_edits.py")


def small(data_root: Path) -> list[str]:
    """Overrides that make the tiny recipe a seconds-long run (both datasets must build the same task)."""
    out = [f"data_root={data_root}", "model.img_size=42", "train_cfg.max_epochs=2", "train_cfg.val_interval=1",
           "train_dataloader.batch_size=16", "default_hooks.logger.interval=1", "losses.3.enabled=True"]
    for loader in ("train_dataloader", "val_dataloader"):
        out += [f"{loader}.dataset.transform.size=42", f"{loader}.dataset.crops_per_photo=1",
                f"{loader}.dataset.image_side=48"]
    return out


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the killed run (a subprocess) uses one thread too: same arithmetic
    yield
    torch.set_num_threads(threads)


def invoke(*args: str):
    """``regionkit ARGS`` as the console script parses them (``--cfg-options a=1 b=2``)."""
    return CliRunner().invoke(cli, expand_cfg_options(list(args)))


def scalars(work_dir: Path) -> list[dict]:
    (path,) = work_dir.glob("*/vis_data/scalars.json")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint_file(path)["state_dict"]


def kill_after_first_epoch(work_dir: Path, options: list[str], timeout: float = 400.0) -> None:
    """Start ``tools/train.py`` and SIGKILL it as soon as the epoch-1 checkpoint is complete."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    command = [sys.executable, str(REPO / "tools" / "train.py"), RECIPE, "--work-dir", str(work_dir),
               "--cfg-options", *options]
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    marker = work_dir / "last_checkpoint"
    started = time.time()
    try:
        while time.time() - started < timeout:
            if marker.is_file() and marker.read_text().strip().endswith("epoch_1.pth"):
                break
            if proc.poll() is not None:
                raise AssertionError(f"training ended before it was killed: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.02)
        else:
            raise AssertionError("no epoch-1 checkpoint in time")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
    assert not (work_dir / "epoch_2.pth").exists(), "the run got past epoch 1 before the kill; nothing was tested"


@pytest.mark.slow
def test_kill_and_resume_ends_with_the_weights_of_an_uninterrupted_run(tmp_path, one_thread):
    options = small(tmp_path / "photo_edits")
    whole = tmp_path / "whole"
    run_train(RECIPE, work_dir=str(whole), cfg_options=options)

    # every configured loss is logged on its own, and validation logs the recall metric
    logged = scalars(whole)
    train_keys = set().union(*(r for r in logged if "loss" in r))
    assert {"loss_itc", "loss_rtc", "loss_align", "loss_region_itc"} <= train_keys
    val = [r for r in logged if "cirr/R@1" in r]
    assert len(val) == 2 and all(0 <= r["cirr/R@5"] <= 100 for r in val)
    # save-best with rule greater: the best and the latest survive, older epochs are removed
    best_epoch = 1 + max(range(2), key=lambda i: (val[i]["cirr/avg"], -i))
    assert sorted(p.name for p in whole.glob("*.pth")) == sorted({f"best_cirr_avg_epoch_{best_epoch}.pth",
                                                                  "epoch_2.pth"})

    interrupted = tmp_path / "interrupted"
    kill_after_first_epoch(interrupted, options)
    first = weights(interrupted / "epoch_1.pth")
    result = invoke("train", RECIPE, "--work-dir", str(interrupted), "--resume", "--cfg-options", *options)
    assert result.exit_code == 0, result.output
    resumed, uninterrupted = weights(interrupted / "epoch_2.pth"), weights(whole / "epoch_2.pth")
    assert resumed.keys() == uninterrupted.keys()
    assert any(not torch.equal(first[k], resumed[k]) for k in resumed)  # epoch 2 did train
    different = [k for k in resumed if not torch.equal(resumed[k], uninterrupted[k])]
    assert different == []

    # regionkit test on the best checkpoint reproduces the validation of that epoch
    out = tmp_path / "metrics.json"
    result = invoke("test", RECIPE, str(whole / f"best_cirr_avg_epoch_{best_epoch}.pth"), "--work-dir",
                    str(tmp_path / "test"), "--out", str(out), "--cfg-options", *options)
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())["metrics"]
    for key in ("cirr/R@1", "cirr/R@5", "cirr/Rs@1", "cirr/avg"):
        assert metrics[key] == pytest.approx(val[best_epoch - 1][key], abs=1e-3), key


@pytest.mark.slow
def test_a_missing_resume_checkpoint_is_a_one_line_error(tmp_path):
    result = invoke("train", RECIPE, "--work-dir", str(tmp_path / "w"), "--resume", str(tmp_path / "nowhere.pth"),
                    "--cfg-options", *small(tmp_path / "photo_edits"))
    assert result.exit_code != 0
    assert "checkpoint not found" in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_tensorboard_and_offline_wandb_from_the_config(tmp_path, monkeypatch):
    """log_to builds real backends: TensorBoard event files, an offline W&B run, best-only artifacts."""
    pytest.importorskip("tensorboard")
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb_dir"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    (tmp_path / "wandb_dir").mkdir()
    work = tmp_path / "work"
    run_train(RECIPE, work_dir=str(work), cfg_options=small(tmp_path / "photo_edits") + [
        "log_to=['local','tensorboard','wandb']", "wandb.mode=offline", "wandb.project=regionkit-test"])
    assert list(work.glob("*/vis_data/events.out.tfevents.*")), "no TensorBoard event file"
    runs = [p for p in tmp_path.rglob("offline-run-*") if p.is_dir()]  # mmengine puts it under vis_data
    assert len(runs) == 1 and list(runs[0].glob("*.wandb")), "no offline W&B run"
    (log,) = work.glob("*/*.log")
    uploads = log.read_text().count("wandb_best_checkpoint: uploaded")
    val = [r for r in scalars(work) if "cirr/avg" in r]
    improved = sum(1 for i, r in enumerate(val) if all(r["cirr/avg"] > p["cirr/avg"] for p in val[:i]))
    assert uploads == improved >= 1  # only a new best is uploaded, never every checkpoint
