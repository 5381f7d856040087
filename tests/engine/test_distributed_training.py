"""``torchrun ... tools/train.py CONFIG --launcher pytorch`` with 2 CPU processes on gloo: metrics gathered over ranks."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.engine.test_training import RECIPE, REPO, invoke, scalars, small


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_two_gloo_processes_train_and_validate_every_query_once(tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")
    if torchrun is None:
        pytest.skip("torchrun is not installed")
    options = [o for o in small(tmp_path / "photo_edits") if not o.startswith("train_cfg.max_epochs")]
    options += ["train_cfg.max_epochs=1", "train_dataloader.batch_size=8", "losses.3.enabled=False"]
    work = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([torchrun, "--nproc-per-node", "2", "--master-port", str(free_port()),
                           str(REPO / "tools" / "train.py"), RECIPE, "--launcher", "pytorch", "--work-dir", str(work),
                           "--cfg-options", *options], cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Distributed training: True" in done.stdout + done.stderr
    logged = scalars(work)
    train = [r for r in logged if "loss_itc" in r]
    assert len(train) == 7  # 112 triplets / (2 ranks x 8), drop_last
    (val,) = [r for r in logged if "cirr/R@1" in r]
    assert val["cirr/queries"] == 40  # every validation query, gathered from both ranks, none twice

    # one process evaluating the same checkpoint gets the same numbers
    out = tmp_path / "single.json"
    result = invoke("test", RECIPE, str(work / "epoch_1.pth"), "--work-dir", str(tmp_path / "test"), "--out",
                    str(out), "--cfg-options", *options)
    assert result.exit_code == 0, result.output
    single = json.loads(out.read_text())["metrics"]
    for key in ("cirr/R@1", "cirr/R@5", "cirr/R@10", "cirr/Rs@1", "cirr/avg"):
        assert single[key] == pytest.approx(val[key], abs=1e-3), key
