"""Two runs in one process never share mmengine's per-name logger and visualizer."""
from __future__ import annotations

import time

import torch
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.registry import MODELS

from regionkit.engine.runner import build_runner


@MODELS.register_module(force=True)
class _OneWeightModel(BaseModel):
    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Linear(1, 1)

    def forward(self, *args, mode: str = "tensor", **kwargs):
        return {}


def test_runs_started_in_the_same_second_log_to_their_own_folders(tmp_path, monkeypatch):
    """mmengine keys the logger and visualizer by config name + timestamp to the second; a second run got the first's."""
    monkeypatch.setattr(time, "strftime", lambda fmt, t=None: "20260101_000000")  # both runs start "in the same second"
    runners = []
    for i in range(2):
        cfg = Config(dict(model=dict(type="_OneWeightModel"), work_dir=str(tmp_path / f"run{i}"),
                          visualizer=dict(type="Visualizer", vis_backends=[dict(type="LocalVisBackend")])))
        runners.append(build_runner(cfg))
    first, second = runners
    assert first.experiment_name != second.experiment_name
    assert first.visualizer is not second.visualizer and first.logger is not second.logger
    assert str(tmp_path / "run1") in second.visualizer._vis_backends["LocalVisBackend"]._save_dir


def test_an_explicit_experiment_name_is_kept(tmp_path):
    for i in range(2):
        cfg = Config(dict(model=dict(type="_OneWeightModel"), work_dir=str(tmp_path / f"run{i}"),
                          experiment_name=f"mine{i}"))
        assert build_runner(cfg).experiment_name.startswith(f"mine{i}_")
