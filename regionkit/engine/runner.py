"""Train and test from a regionkit config on mmengine's ``Runner`` (``regionkit train`` / ``regionkit test``).

:func:`run_train` and :func:`run_test` load the config (``--cfg-options`` applied), prepare it
(:mod:`regionkit.engine.config`), check it completely, build a :class:`RegionkitRunner` and
run it.  :class:`RegionkitRunner` is mmengine's ``Runner`` with two changes:

* checkpoints are written as plain values (:class:`~regionkit.engine.hooks.PlainCheckpointHook`)
  and loaded (``resume``, ``load_from``) with torch's ``weights_only=True`` and the allow-list
  of :mod:`regionkit.engine.checkpoint`; a checkpoint holding anything else is a one-line
  error;
* when the config has a seed, an :class:`~regionkit.engine.hooks.EpochReseedHook` makes a
  resumed run reproduce an uninterrupted one.

Distributed runs use mmengine's launchers (``torchrun --nproc-per-node N tools/train.py CONFIG
--launcher pytorch``; multi-node with torchrun's ``--nnodes``/``--node-rank``/``--master-addr``).
On machines without CUDA the process group is gloo (set up here, since mmengine's own setup
selects a CUDA device) and DDP wraps the CPU model without device ids.
"""
from __future__ import annotations

import itertools
import json
import os
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmengine.runner import Runner

from regionkit.engine.checkpoint import load_checkpoint_file, refusal_message, safe_checkpoint_globals
from regionkit.engine.config import check_config, prepare_config
from regionkit.engine.hooks import EpochReseedHook, PlainCheckpointHook
from regionkit.errors import ConfigError

__all__ = ["RegionkitRunner", "build_runner", "run_train", "run_test", "checkpoint_format"]


class RegionkitRunner(Runner):
    """mmengine's ``Runner`` that writes plain checkpoints and loads them safely (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register_hook(PlainCheckpointHook())

    def load_checkpoint(self, filename: str, map_location: Any = "cpu", strict: bool = False,
                        revise_keys: list | None = None) -> Any:
        if not os.path.isfile(filename):
            raise ConfigError(f"checkpoint not found: {filename}")
        keys = [(r"^module.", "")] if revise_keys is None else revise_keys
        try:
            with safe_checkpoint_globals():
                return super().load_checkpoint(filename, map_location=map_location, strict=strict, revise_keys=keys)
        except pickle.UnpicklingError as exc:
            raise ConfigError(refusal_message(filename, exc)) from None


def _init_cpu_distributed(launcher: str) -> None:
    """A gloo process group for ``--launcher pytorch`` without CUDA (mmengine's setup would pick a CUDA device)."""
    import torch
    import torch.distributed as dist

    if launcher != "pytorch" or torch.cuda.is_available() or dist.is_initialized():
        return
    missing = [v for v in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT") if v not in os.environ]
    if missing:
        raise ConfigError(f"--launcher pytorch needs the environment torchrun sets ({', '.join(missing)} missing); "
                          f"start with: torchrun --nproc-per-node N tools/train.py CONFIG --launcher pytorch")
    dist.init_process_group(backend="gloo")


_RUNS_IN_THIS_PROCESS = itertools.count(1)


def _name_this_run(cfg: Any) -> None:
    """Give the second and later runs of one process their own experiment name.

    mmengine names a run ``<config stem>_<timestamp to the second>`` and keys its logger,
    visualizer and default scope by that name: a second run that starts within the same second
    (train then test, or two trainings from Python) would get the first run's logger and
    visualizer back, logging into the first run's folder and to its backends.  Every rank runs
    the same sequence, so the numbering agrees across ranks.  An explicit ``experiment_name``
    in the config is left alone.
    """
    n = next(_RUNS_IN_THIS_PROCESS)
    if n == 1 or cfg.get("experiment_name"):
        return
    stem = Path(cfg.filename).stem if cfg.filename else "run"  # mmengine's own stem, from the config file
    cfg["experiment_name"] = f"{stem}_run{n}"


def build_runner(cfg: Any) -> RegionkitRunner:
    """A :class:`RegionkitRunner` from a prepared config (plus the reseeding hook when the config has a seed)."""
    _init_cpu_distributed(cfg.get("launcher", "none"))
    _name_this_run(cfg)
    runner = RegionkitRunner.from_cfg(cfg)
    randomness = cfg.get("randomness") or {}
    if cfg.get("reseed_each_epoch", True) and randomness.get("seed") is not None:
        runner.register_hook(EpochReseedHook(runner.seed, bool(randomness.get("diff_rank_seed", False))))
    return runner


def _load(config: str | os.PathLike[str], cfg_options: Sequence[str]) -> Any:
    from regionkit.config.loader import load_config

    return load_config(str(config), cfg_options)


def run_train(config: str | os.PathLike[str], *, work_dir: str | None = None, resume: str | None = None,
              load_from: str | None = None, cfg_options: Sequence[str] = (), launcher: str = "none") -> RegionkitRunner:
    """Train ``config``; ``resume``: ``"auto"`` (latest checkpoint of the work dir) or a checkpoint path."""
    cfg = _load(config, cfg_options)
    prepare_config(cfg, stage="train", config_path=config, work_dir=work_dir, resume=resume, load_from=load_from,
                   launcher=launcher)
    check_config(cfg, "train")
    runner = build_runner(cfg)
    runner.train()
    return runner


def checkpoint_format(path: str | os.PathLike[str]) -> str:
    """``"mmengine"`` for a Runner checkpoint (``meta`` + ``state_dict``), ``"model"`` for other weight files."""
    try:
        checkpoint = load_checkpoint_file(path, map_location="cpu", mmap=True)
    except ConfigError:
        if not os.path.isfile(path):
            raise
        return "model"  # the model's own loader reads (or refuses) it with its own rules
    if isinstance(checkpoint, dict) and "state_dict" in checkpoint and "meta" in checkpoint:
        return "mmengine"
    return "model"


def run_test(config: str | os.PathLike[str], checkpoint: str | os.PathLike[str] | None, *, work_dir: str | None = None,
             cfg_options: Sequence[str] = (), launcher: str = "none", out: str | None = None) -> dict[str, Any]:
    """Evaluate ``config``'s test split with ``checkpoint`` (a Runner checkpoint, or SPRC / LAVIS weights).

    SPRC's and LAVIS's own files are loaded by the model (``model.checkpoint``), which knows
    their layouts.  The metrics are returned and written as JSON to ``out`` (default
    ``<work_dir>/test_metrics.json``) by rank 0.
    """
    cfg = _load(config, cfg_options)
    load_from = None
    if checkpoint is not None:
        if checkpoint_format(checkpoint) == "mmengine":
            load_from = str(checkpoint)
        else:
            cfg["model"]["checkpoint"] = str(checkpoint)
    if cfg.get("test_dataloader") is None and cfg.get("val_dataloader") is not None:
        cfg["test_dataloader"] = cfg.get("val_dataloader")  # a config without a test split tests on val
        if cfg.get("test_evaluator") is None:
            cfg["test_evaluator"] = cfg.get("val_evaluator")
        val_loop = dict(cfg.get("val_cfg") or {})
        if str(val_loop.get("type", "")).endswith("RetrievalValLoop"):
            val_loop["type"] = "RetrievalTestLoop"
        elif val_loop.get("type") == "ValLoop":
            val_loop["type"] = "TestLoop"
        if cfg.get("test_cfg") is None:
            cfg["test_cfg"] = val_loop
    prepare_config(cfg, stage="test", config_path=config, work_dir=work_dir, load_from=load_from, launcher=launcher)
    check_config(cfg, "test")
    runner = build_runner(cfg)
    metrics = dict(runner.test())
    if runner.rank == 0:
        target = Path(out) if out else Path(runner.work_dir) / "test_metrics.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps({"config": str(config), "checkpoint": None if checkpoint is None else
                                      str(checkpoint), "metrics": metrics}, indent=2, default=float) + "\n")
    return metrics
