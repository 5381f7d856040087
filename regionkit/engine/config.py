"""Turn a regionkit training config into the config mmengine's ``Runner`` takes, and check it first.

A training config is an mmengine Runner config (``model``, ``train_dataloader``,
``optim_wrapper``, ``param_scheduler``, ``train_cfg``, ``val_dataloader``, ``val_evaluator``,
``default_hooks``, ...) plus a few regionkit keys, so that the usual experiment changes are one
value or one ``--cfg-options`` override:

========================= ===================================================================
key                       meaning
========================= ===================================================================
``losses``                the model's losses, ``[dict(type='itc'), dict(type='rtc', weight=0.4), ...]``
                          (copied into ``model.losses``; ``weight`` is the plugins' ``loss_weight``);
                          an entry with ``enabled=False`` is left out, so
                          ``-o losses.3.enabled=True`` turns a configured region loss on
``amp``                   ``'auto'`` (default: mmengine's ``AmpOptimWrapper`` when CUDA is there, as
                          SPRC's fp16 autocast + GradScaler), ``True`` or ``False``
``log_to``                visualisation backends: any of ``'local'``, ``'tensorboard'``, ``'wandb'``
``wandb``                 ``wandb.init`` arguments (``project``, ``name``, ``entity``, ``mode``, ``tags``)
                          and ``best_checkpoint`` (the ``wandb_best_checkpoint`` hook's
                          parameters; ``None``: no artifact uploads)
``data_root``             the dataset folder, filled into every dataloader's dataset that sets none
                          (``-o data_root=/data/cirr_dataset``)
``reseed_each_epoch``     reseed every generator from ``(seed, epoch)`` at each epoch start (default
                          ``True``; what makes a resumed run reproduce an uninterrupted one)
========================= ===================================================================

What :func:`prepare_config` also does: bare regionkit names in the component slots become
``regionkit.<name>`` (``type='sprc'``, ``'cirr'``, ``'cirr_recall'``, ``'RetrievalValLoop'``,
``'OneCycleLR'``, ``'retrieval_collate'``), so they resolve through mmengine's registries while
mmengine's own names (``CheckpointHook``, ``DefaultSampler``) keep working; a by-epoch
parameter scheduler without ``end`` or ``total_steps`` spans ``train_cfg.max_epochs`` (SPRC
hard-codes 80 epochs for CIRR; here the schedule follows the config); a distributed run on
CPUs uses gloo.  :func:`check_config` lists every problem before anything is built.
"""
from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping, MutableMapping
from pathlib import Path
from typing import Any, Literal

from regionkit.errors import ConfigError, did_you_mean

__all__ = ["prepare_config", "check_config", "REGIONKIT_KEYS", "Stage"]

Stage = Literal["train", "test"]
#: the regionkit keys of a training config (module docstring)
REGIONKIT_KEYS = ("losses", "amp", "log_to", "wandb", "data_root", "reseed_each_epoch")
_BACKENDS = {"local": "LocalVisBackend", "tensorboard": "TensorboardVisBackend", "wandb": "WandbVisBackend"}
_DATALOADERS = ("train_dataloader", "val_dataloader", "test_dataloader")
_EVALUATORS = ("val_evaluator", "test_evaluator")
_ENGINE_SLOTS = {"loops": ("val_cfg", "test_cfg"), "schedulers": ("param_scheduler",)}
_REGION_LOSSES = ("region_itc",)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _qualify(entry: Any, known: Iterable[str] | Any) -> None:
    """``type='name'`` -> ``'regionkit.name'`` in place when ``name`` is one of regionkit's."""
    if isinstance(entry, MutableMapping) and isinstance(entry.get("type"), str):
        name = entry["type"]
        if "." not in name and name in known:
            entry["type"] = f"regionkit.{name}"


def _engine_names(registry_name: str) -> set[str]:
    from regionkit.engine.registry import ENGINE_OBJECTS

    return set(ENGINE_OBJECTS[registry_name])


def _component_names(kind: str) -> Any:
    from regionkit.registry import registry_for

    return registry_for(kind)


def _losses(cfg: Any) -> None:
    model = cfg.get("model")
    if not isinstance(model, MutableMapping):
        raise ConfigError("the config has no model section: model = dict(type='sprc', ...)")
    if "losses" in cfg:
        if "losses" in model and _plain(model["losses"]) != _plain(cfg["losses"]):
            raise ConfigError("the config sets both losses and model.losses; set the losses in one place (losses)")
        model["losses"] = copy.deepcopy(_plain(cfg["losses"]))
    if "losses" not in model:
        return
    entries = _as_list(_plain(model["losses"]))
    kept = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, MutableMapping):
            raise ConfigError(f"losses[{i}] must be a dict(type=..., loss_weight=...), got {entry!r:.80}")
        entry = dict(entry)
        enabled = entry.pop("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigError(f"losses[{i}].enabled must be True or False, got {enabled!r}")
        if "weight" in entry:  # the and SPRC's word for it; the loss plugins call it loss_weight
            if "loss_weight" in entry:
                raise ConfigError(f"losses[{i}] ({entry.get('type')}) sets both weight and loss_weight; set one")
            entry["loss_weight"] = entry.pop("weight")
        if enabled:
            kept.append(entry)
    if not kept:
        raise ConfigError("every loss is disabled; enable at least one (losses.N.enabled=True)")
    model["losses"] = kept


def _plain(value: Any) -> Any:
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _amp(cfg: Any) -> None:
    amp = cfg.get("amp", "auto")
    if amp not in (True, False, "auto"):
        raise ConfigError(f"amp must be 'auto', True or False, got {amp!r}")
    wrapper = cfg.get("optim_wrapper")
    if not isinstance(wrapper, MutableMapping):
        return
    kind = wrapper.get("type", "OptimWrapper")
    if amp and _cuda() and kind == "OptimWrapper":
        wrapper["type"] = "AmpOptimWrapper"
        wrapper.setdefault("loss_scale", "dynamic")
    elif amp is True and not _cuda():
        from mmengine.logging import print_log

        print_log("amp=True but no CUDA device is available: training in fp32", logger="current", level=30)
    if not _cuda() and wrapper.get("type") == "AmpOptimWrapper":
        wrapper["type"] = "OptimWrapper"
        wrapper.pop("loss_scale", None)
        wrapper.pop("dtype", None)


def _schedulers(cfg: Any) -> None:
    schedulers = cfg.get("param_scheduler")
    if schedulers is None:
        return
    max_epochs = (cfg.get("train_cfg") or {}).get("max_epochs")
    names = _engine_names("PARAM_SCHEDULERS")
    for entry in _as_list(schedulers):
        if not isinstance(entry, MutableMapping):
            continue
        _qualify(entry, names)
        if entry.get("by_epoch", True) and "end" not in entry and entry.get("total_steps") is None \
                and max_epochs is not None:
            entry["end"] = int(max_epochs)


def _visualizer(cfg: Any) -> None:
    log_to = cfg.get("log_to")
    if log_to is None:
        return
    if cfg.get("visualizer") is not None:
        raise ConfigError("the config sets both log_to and visualizer; use one (log_to=['local', 'tensorboard', "
                          "'wandb'] builds the visualizer)")
    names = [log_to] if isinstance(log_to, str) else list(log_to)
    bad = [n for n in names if n not in _BACKENDS]
    if bad:
        raise ConfigError(f"log_to: unknown backend {bad[0]!r}{did_you_mean(str(bad[0]), _BACKENDS)}; "
                          f"choose from {', '.join(_BACKENDS)}")
    backends: list[dict[str, Any]] = []
    for name in dict.fromkeys(names):
        if name == "tensorboard":
            _require("tensorboard", "TensorBoard logging")
            backends.append(dict(type=_BACKENDS[name]))
        elif name == "wandb":
            _require("wandb", "W&B logging")
            options = dict(_plain(cfg.get("wandb") or {}))
            best = options.pop("best_checkpoint", {})
            init = {k: v for k, v in options.items() if v is not None}
            backends.append(dict(type=_BACKENDS[name], init_kwargs=init))
            if best is not None:
                hooks = _as_list(_plain(cfg.get("custom_hooks")))
                if not any(isinstance(h, MutableMapping) and str(h.get("type", "")).endswith("wandb_best_checkpoint")
                           for h in hooks):
                    hooks.append(dict(type="wandb_best_checkpoint", **dict(best)))
                cfg["custom_hooks"] = hooks
        else:
            backends.append(dict(type=_BACKENDS[name]))
    cfg["visualizer"] = dict(type="Visualizer", vis_backends=backends)


def _require(module: str, what: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ConfigError(f"{what} needs the {module} package: pip install 'regionkit[train]'")


def _slots(cfg: Any) -> None:
    _qualify(cfg.get("model"), _component_names("models"))
    datasets, metrics, hooks = _component_names("datasets"), _component_names("metrics"), _component_names("hooks")
    collates = _engine_names("FUNCTIONS")
    for key in _DATALOADERS:
        loader = cfg.get(key)
        if isinstance(loader, MutableMapping):
            _qualify(loader.get("dataset"), datasets)
            _qualify(loader.get("collate_fn"), collates)
    for key in _EVALUATORS:
        for entry in _as_list(cfg.get(key)):
            _qualify(entry, metrics)
    for entry in _as_list(cfg.get("custom_hooks")):
        _qualify(entry, hooks)
    loops = _engine_names("LOOPS")
    for key in _ENGINE_SLOTS["loops"]:
        _qualify(cfg.get(key), loops)


def _data_root(cfg: Any) -> None:
    root = cfg.get("data_root")
    if root is None:
        return
    for key in _DATALOADERS:
        loader = cfg.get(key)
        dataset = loader.get("dataset") if isinstance(loader, MutableMapping) else None
        if isinstance(dataset, MutableMapping) and dataset.get("data_root") is None:
            dataset["data_root"] = str(root)


def _distributed(cfg: Any, launcher: str) -> None:
    cfg["launcher"] = launcher
    if launcher == "none":
        return
    env = cfg.get("env_cfg") or {}
    dist_cfg = dict(env.get("dist_cfg") or {})
    if not _cuda():
        dist_cfg["backend"] = "gloo"
    env = dict(env)
    env["dist_cfg"] = dist_cfg
    cfg["env_cfg"] = env
    wrapper = dict(cfg.get("model_wrapper_cfg") or dict(type="MMDistributedDataParallel", broadcast_buffers=False,
                                                         find_unused_parameters=True))
    if not _cuda():
        wrapper["device_ids"] = None  # a CPU module: DDP takes no device ids
    cfg["model_wrapper_cfg"] = wrapper


def prepare_config(cfg: Any, *, stage: Stage = "train", config_path: str | os.PathLike[str] | None = None,
                   work_dir: str | None = None, resume: str | None = None, load_from: str | None = None,
                   launcher: str = "none") -> Any:
    """The Runner config for ``stage`` (module docstring); ``cfg`` is changed in place and returned.

    ``resume``: ``"auto"`` (the latest checkpoint in the work dir) or a checkpoint path;
    ``load_from``: weights to start from (``stage="test"``: the checkpoint to evaluate).
    """
    from regionkit.engine.registry import register_engine_components

    register_engine_components()
    scope = cfg.get("default_scope")
    if scope == "regionkit":
        raise ConfigError("default_scope='regionkit' would hide mmengine's own hooks and data preprocessor; leave "
                          "default_scope unset (regionkit's names are found as regionkit.<name>)")
    cfg["default_scope"] = scope or "mmengine"
    if launcher not in ("none", "pytorch", "slurm", "mpi"):
        raise ConfigError(f"launcher must be none, pytorch, slurm or mpi, got {launcher!r}")
    stem = Path(str(config_path)).stem if config_path is not None else "experiment"
    cfg["work_dir"] = str(work_dir or cfg.get("work_dir") or os.path.join("work_dirs", stem))
    _losses(cfg)
    _data_root(cfg)
    _visualizer(cfg)
    _slots(cfg)
    _schedulers(cfg)
    _amp(cfg)
    _distributed(cfg, launcher)
    if stage == "train":
        if resume is not None:
            cfg["resume"] = True
            cfg["load_from"] = None if resume == "auto" else str(resume)
        elif load_from is not None:
            cfg["load_from"] = str(load_from)
    else:
        cfg["resume"] = False
        cfg["load_from"] = None if load_from is None else str(load_from)
    reseed = cfg.get("reseed_each_epoch", True)
    if not isinstance(reseed, bool):
        raise ConfigError(f"reseed_each_epoch must be True or False, got {reseed!r}")
    return cfg


# ---------------------------------------------------------------------- checks
def _needs_boxes(model: Mapping[str, Any]) -> bool:
    from regionkit.models.retrieval.sprc.model import REGION_KEYS
    from regionkit.registry import registry_for

    for entry in _as_list(model.get("losses")):
        if not isinstance(entry, MutableMapping) or not isinstance(entry.get("type"), str):
            continue
        try:
            consumes = getattr(registry_for("losses").get(entry["type"]), "consumes", ())
        except Exception:  # an unknown loss: check_components reports it
            continue
        if set(consumes) & set(REGION_KEYS):
            return True
    return False


def _ours_or_unknown(entry: Any, mm_registry: str) -> bool:
    """Whether a metric / hook entry is regionkit's (``regionkit.<name>``) or a name mmengine does not know either."""
    if not isinstance(entry, MutableMapping) or not isinstance(entry.get("type"), str):
        return False
    name = entry["type"]
    if name.startswith("regionkit."):
        return True
    import mmengine.registry

    return "." not in name and getattr(mmengine.registry, mm_registry).get(name) is None


def check_config(cfg: Any, stage: Stage = "train") -> None:
    """Raise one ``ConfigError`` listing every problem of a prepared config (components, files, boxes)."""
    from regionkit.config.check import Problem, check_components
    from regionkit.config.files import file_problems

    problems: list[Problem] = []
    problems += check_components(cfg.get("model"), "model", "models")
    loaders = ("train_dataloader", "val_dataloader") if stage == "train" else ("test_dataloader",)
    for key in loaders:
        loader = cfg.get(key)
        if loader is None:
            if key != "val_dataloader":
                problems.append(Problem(key, f"the config has no {key}"))
            continue
        if not isinstance(loader, MutableMapping) or "dataset" not in loader:
            problems.append(Problem(key, "must be a dict with a dataset"))
            continue
        problems += check_components(loader["dataset"], f"{key}.dataset", "datasets")
    for key in (("val_evaluator",) if stage == "train" else ("test_evaluator",)):
        for i, entry in enumerate(_as_list(cfg.get(key))):
            where = key if not isinstance(cfg.get(key), (list, tuple)) else f"{key}[{i}]"
            if _ours_or_unknown(entry, "METRICS"):
                problems += check_components(entry, where, "metrics")
    for i, entry in enumerate(_as_list(cfg.get("custom_hooks"))):
        if _ours_or_unknown(entry, "HOOKS"):
            problems += check_components(entry, f"custom_hooks[{i}]", "hooks")
    problems += file_problems({"model": cfg.get("model")})
    model = cfg.get("model")
    train = cfg.get("train_dataloader")
    if stage == "train" and isinstance(model, MutableMapping) and isinstance(train, MutableMapping) and _needs_boxes(model):
        dataset = train.get("dataset") or {}
        default = "auto" if isinstance(dataset, MutableMapping) and str(dataset.get("type", "")).endswith("photo_edits") \
            else None
        if isinstance(dataset, MutableMapping) and dataset.get("box_file", default) is None:
            problems.append(Problem("train_dataloader.dataset", "a region loss is enabled but the training dataset "
                                    "has no box_file (set train_dataloader.dataset.box_file=PATH)"))
    if problems:
        if len(problems) == 1:
            raise ConfigError(str(problems[0]))
        raise ConfigError(f"{len(problems)} problems: " + "; ".join(f"({i}) {p}" for i, p in
                                                                     enumerate(problems, start=1)))
