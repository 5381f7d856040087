"""Build an inference run from a config and execute it (the code path behind ``regionkit infer``).

Config layout (see ``configs/``)::

    dataset   = dict(type='image_folder', root='path/to/images')       # --images overrides root
    detector  = dict(type='saliency', threshold=0.5)
    selectors = [dict(type='patch_matters_score_filter', input='detections', output='kept'), ...]
    writers   = [dict(type='patch_matters_four_box'), ...]              # optional name='...'
    runtime   = dict(batch_size=4, num_workers=2, seed=0)

``--split NAME`` sets ``dataset.split``; ``--all-splits`` runs every split the dataset class
lists in ``ALL_SPLITS``, each into ``<out-dir>/<split>/``.
"""
from __future__ import annotations

import functools
import hashlib
import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from regionkit.core.config import load_config
from regionkit.core.runner import InferenceRunner, RunSummary, SelectorStage
from regionkit.registry.errors import ConfigError, did_you_mean

__all__ = ["build_runner", "run_infer", "default_out_dir", "config_fingerprint", "SplitRun"]

_TOP_LEVEL_KEYS = ("dataset", "detector", "selectors", "writers", "runtime")
_RUNTIME_KEYS = ("batch_size", "num_workers", "seed")
#: runtime options that cannot change results, so a run may be resumed with other values
_SPEED_ONLY_KEYS = ("batch_size", "num_workers")


def default_out_dir(config_path: str | Path) -> Path:
    """``work_dirs/<config file stem>``, relative to the current folder."""
    return Path("work_dirs") / Path(config_path).stem


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    if "torch" in sys.modules:  # never import torch just to seed it
        sys.modules["torch"].manual_seed(seed)


def build_detector(cfg: dict[str, Any]) -> Any:
    """Build a detector from its config dict (a picklable factory target for worker processes)."""
    from regionkit.registry import DETECTORS

    return DETECTORS.build(dict(cfg))


def _stage_list(cfg: Any) -> list[SelectorStage]:
    from regionkit.registry import BOX_SELECTORS

    raw = cfg.get("selectors") or []
    if not isinstance(raw, (list, tuple)):
        raise ConfigError("'selectors' must be a list of dicts, each with a 'type'")
    stages, previous = [], "detections"
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ConfigError(f"selectors[{i}] must be a dict with a 'type', got {item!r}")
        params = dict(item)
        source = params.pop("input", previous)
        target = params.pop("output", None) or str(params.get("type", f"stage{i}")).rpartition(".")[2]
        stages.append(SelectorStage(BOX_SELECTORS.build(params), str(source), str(target)))
        previous = str(target)
    return stages


def _writers(cfg: Any) -> dict[str, Any]:
    from regionkit.registry import WRITERS

    raw = cfg.get("writers") or []
    if not raw:
        raise ConfigError("the config has no 'writers': nothing would be saved")
    writers: dict[str, Any] = {}
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ConfigError(f"writers[{i}] must be a dict with a 'type', got {item!r}")
        params = dict(item)
        name = str(params.pop("name", None) or params.get("type"))
        if name in writers:
            raise ConfigError(f"two writers are named '{name}'; give one a distinct name='...'")
        writers[name] = WRITERS.build(params)
    return writers


def build_runner(cfg: Any, progress: bool = True, hook: Any = None) -> tuple[InferenceRunner, Any]:
    """Build ``(runner, dataset)`` from a loaded config."""
    from regionkit.registry import DATASETS

    unknown = [k for k in cfg.keys() if k not in _TOP_LEVEL_KEYS and not k.startswith("_")]
    for key in unknown:
        hint = did_you_mean(key, _TOP_LEVEL_KEYS)
        if hint:  # a near miss of a known key is surely a typo; other keys may be helper variables
            raise ConfigError(f"unknown top-level config key '{key}'{hint}")
    for key in ("dataset", "detector"):
        if not cfg.get(key):
            raise ConfigError(f"the config has no '{key}' section")
    runtime = dict(cfg.get("runtime") or {})
    for key in runtime:
        if key not in _RUNTIME_KEYS:
            raise ConfigError(f"unknown runtime option '{key}'{did_you_mean(key, _RUNTIME_KEYS)}; "
                              f"runtime accepts: {', '.join(_RUNTIME_KEYS)}")
    _seed_everything(int(runtime.get("seed", 0)))
    detector_cfg = cfg["detector"].to_dict() if hasattr(cfg["detector"], "to_dict") else dict(cfg["detector"])
    detector = build_detector(detector_cfg)
    try:
        runner = InferenceRunner(detector, _stage_list(cfg), _writers(cfg), batch_size=int(runtime.get("batch_size", 1)),
                                 num_workers=int(runtime.get("num_workers", 0)), hook=hook, progress=progress,
                                 detector_factory=functools.partial(build_detector, detector_cfg))
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(str(exc)) from exc
    dataset = DATASETS.build(dict(cfg["dataset"]))  # last: config mistakes surface before folder problems
    return runner, dataset


def config_fingerprint(cfg: Any) -> str:
    """sha256 of everything in the config that can change results (not batch size or workers)."""
    data = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg)
    runtime = {k: v for k, v in dict(data.get("runtime") or {}).items() if k not in _SPEED_ONLY_KEYS}
    relevant = {k: data.get(k) for k in ("dataset", "detector", "selectors", "writers")}
    relevant["runtime"] = runtime
    text = json.dumps(relevant, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class SplitRun:
    """One split's run: ``split`` is ``None`` for datasets without splits."""

    split: str | None
    out_dir: Path
    summary: RunSummary
    dataset: Any


def run_infer(config_path: str | Path, images: str | Path | None = None, out_dir: str | Path | None = None,
              cfg_options: Iterable[str] = (), progress: bool = True, extra_plugins: Iterable[Any] = (),
              max_images: int | None = None, split: str | None = None, all_splits: bool = False,
              resume: bool = False, overwrite: bool = False) -> list[SplitRun]:
    """Load the config, apply overrides, build everything and run (once per split)."""
    from regionkit.registry import DATASETS
    from regionkit.registry.lifecycle import create_plugin_manager

    if max_images is not None and max_images < 1:
        raise ConfigError(f"--max-images must be at least 1, got {max_images}")
    if split is not None and all_splits:
        raise ConfigError("use either --split or --all-splits, not both")
    options = list(cfg_options)
    if images is not None:
        options.append(f"dataset.root={str(images)!r}")
    if split is not None:
        options.append(f"dataset.split={split!r}")
    cfg = load_config(config_path, options)
    base_out = Path(out_dir) if out_dir is not None else default_out_dir(config_path)
    splits: Sequence[str | None] = [None]
    if all_splits:
        dataset_cls = DATASETS.get(str(cfg["dataset"].get("type")))
        splits = list(getattr(dataset_cls, "ALL_SPLITS", ()) or ())
        if not splits:
            raise ConfigError(f"dataset '{cfg['dataset'].get('type')}' has no splits; drop --all-splits")
    pm = create_plugin_manager(extra_plugins)
    runs = []
    for name in splits:
        if name is not None:
            cfg.merge_from_dict({"dataset.split": name})
        runner, dataset = build_runner(cfg, progress=progress, hook=pm.hook)
        items = list(dataset)[:max_images] if max_images else list(dataset)
        if not items:
            raise ConfigError(f"no images found in {getattr(dataset, 'root', 'the dataset')}"
                              f" (extensions: {', '.join(getattr(dataset, 'extensions', ()))})")
        target = base_out / name if name is not None else base_out
        summary = runner.run(items, target, config=cfg.to_dict(), fingerprint=config_fingerprint(cfg),
                             resume=resume, overwrite=overwrite)
        runs.append(SplitRun(name, target, summary, dataset))
    return runs
