"""The W&B best-checkpoint hook uploads only new bests; epoch reseeding makes epochs independent of what ran before."""
from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np
import torch

from regionkit.engine.hooks import EpochReseedHook, WandbBestCheckpointHook


class FakeArtifact:
    def __init__(self, name: str, type: str, metadata: dict) -> None:
        self.name, self.type, self.metadata, self.files = name, type, metadata, []

    def add_file(self, path: str, name: str) -> None:
        self.files.append((path, name))


class FakeRun:
    settings = SimpleNamespace(mode="offline")

    def __init__(self) -> None:
        self.logged: list[tuple[FakeArtifact, list[str]]] = []

    def log_artifact(self, artifact: FakeArtifact, aliases: list[str]) -> FakeArtifact:
        self.logged.append((artifact, aliases))
        return artifact


class FakeRunner:
    """What the hook reads from mmengine's Runner: the visualizer's W&B backend and the message hub."""

    def __init__(self, with_wandb: bool = True) -> None:
        self.run = FakeRun()
        wandb = SimpleNamespace(run=self.run, Artifact=FakeArtifact)
        backend = SimpleNamespace(experiment=wandb)
        self.visualizer = SimpleNamespace(get_backend=lambda name: backend if with_wandb else None)
        self.info: dict = {}
        self.message_hub = SimpleNamespace(get_info=self.info.get)
        self.rank, self.epoch, self.iter, self.experiment_name = 0, 0, 0, "exp"


def test_only_a_new_best_checkpoint_is_uploaded(tmp_path):
    runner = FakeRunner()
    hook = WandbBestCheckpointHook()
    for epoch, best in [(1, "best_1.pth"), (2, "best_1.pth"), (3, "best_3.pth"), (4, "best_3.pth")]:
        (tmp_path / best).write_bytes(b"x")
        runner.epoch = epoch
        runner.info.update(best_ckpt=str(tmp_path / best), best_score=float(epoch))
        hook.after_val_epoch(runner)
    uploaded = [(a.files[0][1], aliases[:2]) for a, aliases in runner.run.logged]
    assert uploaded == [("best_1.pth", ["best", "epoch_1"]), ("best_3.pth", ["best", "epoch_3"])]
    assert runner.run.logged[1][0].metadata["best_score"] == 3.0
    assert runner.run.logged[0][0].name == "exp-best"


def test_when_end_uploads_once_and_without_a_wandb_backend_nothing(tmp_path):
    (tmp_path / "best.pth").write_bytes(b"x")
    runner = FakeRunner()
    runner.info.update(best_ckpt=str(tmp_path / "best.pth"))
    hook = WandbBestCheckpointHook(when="end")
    hook.after_val_epoch(runner)
    assert runner.run.logged == []
    hook.after_train(runner)
    assert len(runner.run.logged) == 1
    quiet = FakeRunner(with_wandb=False)
    quiet.info.update(best_ckpt=str(tmp_path / "best.pth"))
    WandbBestCheckpointHook().after_val_epoch(quiet)
    assert quiet.run.logged == []


def draws() -> tuple[float, float, float]:
    return random.random(), float(np.random.rand()), float(torch.rand(()))


def test_each_epoch_draws_the_same_numbers_whatever_ran_before():
    hook = EpochReseedHook(seed=3)
    runner = SimpleNamespace(epoch=1, rank=0)
    hook.before_train_epoch(runner)
    first = draws()
    torch.rand(100)  # e.g. a validation in between, or a fresh process after a resume
    hook.before_train_epoch(runner)
    assert draws() == first
    runner.epoch = 2
    hook.before_train_epoch(runner)
    assert draws() != first
