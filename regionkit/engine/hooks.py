"""Training-loop hooks: best-checkpoint W&B artifacts, per-epoch reseeding for exact resumes, plain checkpoints.

:class:`WandbBestCheckpointHook` (``wandb_best_checkpoint``) uploads a checkpoint to Weights &
Biases only when it is a new best, as one artifact whose versions follow the best score
(aliases ``best`` and ``epoch_<n>``).  Uploading every checkpoint is how a 50-epoch ViT-g run
fills W&B's storage (each mmengine checkpoint holds the frozen ViT too); with
``delete_superseded`` the versions a newer best replaced are deleted (online runs only:
offline runs sync them later), and ``when="end"`` uploads the final best only, once.  The
run itself comes from mmengine's ``WandbVisBackend`` (which records the config in the run).

:class:`EpochReseedHook` reseeds Python's, numpy's and torch's generators at the start of
every training epoch from ``(seed, epoch)``.  mmengine saves no generator state in
checkpoints, and validation draws from the generators too, so without it dropout after a
resume differs from an uninterrupted run; with it, a run resumed from the checkpoint of
epoch *n* produces the same weights as one that never stopped (on the same device).

:class:`PlainCheckpointHook` (registered by every :class:`~regionkit.engine.runner.RegionkitRunner`)
writes checkpoints of plain values and reads them back (:mod:`regionkit.engine.checkpoint`),
so they load under torch's ``weights_only=True``.
"""
from __future__ import annotations

import os
import random
import re
from typing import Annotated, Any, Literal

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log

from regionkit.params import Range, checked

__all__ = ["WandbBestCheckpointHook", "EpochReseedHook", "PlainCheckpointHook", "epoch_seed"]


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """The seed of one epoch (and rank), a 32-bit value mixing its inputs."""
    return (int(seed) * 1_000_003 + int(epoch) * 7_919 + int(rank) * 104_729) % (2 ** 32)


class EpochReseedHook(Hook):
    """Reseed every generator at each training epoch's start (module docstring); ``diff_rank_seed``: per-rank seeds."""

    priority = "VERY_HIGH"

    def __init__(self, seed: int, diff_rank_seed: bool = False) -> None:
        self.seed = int(seed)
        self.diff_rank_seed = bool(diff_rank_seed)

    def before_train_epoch(self, runner: Any) -> None:
        rank = runner.rank if self.diff_rank_seed else 0
        value = epoch_seed(self.seed, runner.epoch, rank)
        random.seed(value)
        np.random.seed(value)
        torch.manual_seed(value)  # all devices


class PlainCheckpointHook(Hook):
    """Checkpoints of plain values: history buffers as lists on save, rebuilt on load (module docstring)."""

    priority = "NORMAL"

    def before_save_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        from regionkit.engine.checkpoint import to_plain_checkpoint

        to_plain_checkpoint(checkpoint)

    def after_load_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        from regionkit.engine.checkpoint import from_plain_checkpoint

        from_plain_checkpoint(checkpoint)


def _artifact_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "checkpoint"


class WandbBestCheckpointHook(Hook):
    """Upload the best checkpoint (and only it) as a W&B artifact (module docstring).

    ``artifact_name``: default ``<experiment name>-best``; ``when``: ``"improve"`` (each time
    the best checkpoint changes) or ``"end"`` (once, after training); ``delete_superseded``:
    delete the artifact versions a newer best replaced (online runs); ``aliases``: extra
    aliases for each upload.  Needs a ``WandbVisBackend`` in the visualizer and mmengine's
    ``CheckpointHook`` with ``save_best``.
    """

    priority = "LOWEST"  # after CheckpointHook (VERY_LOW) has saved the best checkpoint

    @checked
    def __init__(self, artifact_name: str | None = None, when: Literal["improve", "end"] = "improve",
                 delete_superseded: bool = True, aliases: list[str] | tuple[str, ...] = (),
                 max_uploads: Annotated[int, Range(1, 100000)] | None = None) -> None:
        self.artifact_name = artifact_name
        self.when = when
        self.delete_superseded = delete_superseded
        self.aliases = list(aliases)
        self.max_uploads = max_uploads
        self.uploaded: list[str] = []  # checkpoint paths uploaded, in order
        self._warned = False
        self._versions: list[Any] = []

    # ------------------------------------------------------------------ wandb access
    def _run(self, runner: Any) -> Any:
        backend = None
        visualizer = getattr(runner, "visualizer", None)
        if visualizer is not None:
            backend = visualizer.get_backend("WandbVisBackend")
        if backend is None:
            if not self._warned:
                print_log("wandb_best_checkpoint: the visualizer has no WandbVisBackend; nothing is uploaded "
                          "(add 'wandb' to log_to)", logger="current", level=30)
                self._warned = True
            return None
        wandb = backend.experiment  # mmengine's backend returns the wandb module once initialised
        return getattr(wandb, "run", None), wandb

    def _best(self, runner: Any) -> str | None:
        best = runner.message_hub.get_info("best_ckpt")
        return str(best) if best and os.path.isfile(str(best)) else None

    def _upload(self, runner: Any, path: str) -> None:
        if getattr(runner, "rank", 0) != 0:  # the W&B run lives on rank 0
            return
        found = self._run(runner)
        if found is None:
            return
        run, wandb = found
        if run is None:
            return
        if self.max_uploads is not None and len(self.uploaded) >= self.max_uploads:
            return
        name = _artifact_name(self.artifact_name or f"{runner.experiment_name}-best")
        score = runner.message_hub.get_info("best_score")
        metadata = {"epoch": int(runner.epoch), "iter": int(runner.iter), "file": os.path.basename(path)}
        if score is not None:
            metadata["best_score"] = float(score)
        artifact = wandb.Artifact(name=name, type="model", metadata=metadata)
        artifact.add_file(path, name=os.path.basename(path))
        logged = run.log_artifact(artifact, aliases=["best", f"epoch_{runner.epoch}", *self.aliases])
        self.uploaded.append(path)
        print_log(f"wandb_best_checkpoint: uploaded {path} as artifact {name!r}", logger="current")
        if self.delete_superseded:
            self._delete_older(run, logged or artifact)

    def _delete_older(self, run: Any, artifact: Any) -> None:
        """Delete the versions this hook uploaded before (best effort; offline runs have nothing to delete yet)."""
        if getattr(getattr(run, "settings", None), "mode", "") in ("offline", "disabled") or \
                os.environ.get("WANDB_MODE") in ("offline", "disabled", "dryrun"):
            return
        try:
            artifact.wait()
            for old in self._versions:
                old.delete(delete_aliases=True)
            self._versions = [artifact]
        except Exception as exc:  # the upload happened; failing to free space must not stop training
            print_log(f"wandb_best_checkpoint: could not delete superseded artifact versions: {exc}",
                      logger="current", level=30)

    # ------------------------------------------------------------------ hook points
    def after_val_epoch(self, runner: Any, metrics: dict | None = None) -> None:
        if self.when != "improve":
            return
        best = self._best(runner)
        if best is not None and (not self.uploaded or self.uploaded[-1] != best):
            self._upload(runner, best)

    def after_train(self, runner: Any) -> None:
        if self.when != "end":
            return
        best = self._best(runner)
        if best is not None:
            self._upload(runner, best)
