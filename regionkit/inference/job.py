"""Build an inference run from a config and execute it (the code path behind ``regionkit infer``).

Config layout (see ``configs/``)::

    dataset   = dict(type='image_folder', root='path/to/images')       # --images overrides root
    detector  = dict(type='saliency', threshold=0.5)
    selectors = [dict(type='patch_matters_score_filter', input='detections', output='kept'), ...]
    writers   = [dict(type='patch_matters_four_box'), ...]              # optional name='...'
    runtime   = dict(batch_size=4, num_workers=2, seed=0, image_timeout=None, threads='auto')

``--split NAME`` sets ``dataset.split``; ``--all-splits`` runs every split the dataset class
lists in ``ALL_SPLITS``, each into ``<out-dir>/<split>/``, with the detector, selectors and
writers built once.  :func:`check_infer_config` reports every problem of a config at once,
before anything is built; :func:`run_infer` runs it first.

Under ``torchrun`` (or for a dataset that comes in shards, or to resume a sharded run) the
run is sharded: :mod:`regionkit.inference.distributed` gives each rank its parts and rank 0
merges them into the same files a single process writes.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np

from regionkit.config.check import Problem, check_components
from regionkit.config.loader import custom_imports_of, load_config
from regionkit.errors import ConfigError, RegionkitError, did_you_mean
from regionkit.inference.distributed import (
    Coordinator,
    DistEnv,
    holds_sharded_run,
    is_sharded_dataset,
    place_on_local_device,
    run_sharded,
)
from regionkit.inference.run_folder import RunFolder, writer_outputs
from regionkit.inference.runner import InferenceRunner, RunSummary, SelectorStage
from regionkit.params import MAX_WORKERS, Range, checked
from regionkit.registry.signature import check_parameters

__all__ = ["RuntimeOptions", "check_infer_config", "build_runner", "run_infer", "default_out_dir",
           "config_fingerprint", "SplitRun", "SECTIONS"]

#: top-level config sections of an inference config and the kind of component each holds
SECTIONS: dict[str, str | None] = {"dataset": "datasets", "detector": "detectors", "selectors": "box_selectors",
                                   "writers": "writers", "runtime": None}
#: other top-level keys mmengine or regionkit give a meaning
_OTHER_KEYS = ("custom_imports", "default_scope")
#: runtime options that cannot change results, so a run may be resumed with other values
_SPEED_ONLY_KEYS = ("batch_size", "num_workers", "image_timeout", "threads")


class RuntimeOptions:
    """The ``runtime`` section: how a run executes (not what it computes, except ``seed``).

    ``batch_size`` images per detector call; ``num_workers`` decode (and CPU-detector)
    processes (per rank in a sharded run), 0 for none, at most
    :data:`~regionkit.params.MAX_WORKERS`; ``seed`` for Python's, numpy's and torch's
    generators; ``image_timeout`` seconds after which an image becomes a failure (``None``:
    no limit); ``threads`` the thread budget (:mod:`regionkit.inference.threads`): ``'auto'``
    shares each rank's cores between torch and the workers, a number sets the torch threads
    of the process that runs the detector, ``'off'`` changes nothing.
    """

    @checked
    def __init__(self, *, batch_size: Annotated[int, Range(1, 4096)] = 1,
                 num_workers: Annotated[int, Range(0, MAX_WORKERS)] = 0,
                 seed: Annotated[int, Range(0, 2**32 - 1)] = 0,
                 image_timeout: Annotated[float, Range(0.001, 7 * 24 * 3600)] | None = None,
                 threads: Annotated[int, Range(1, 1024)] | Literal["auto", "off"] = "auto") -> None:
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.image_timeout = image_timeout
        self.threads = threads


def default_out_dir(config_path: str | Path) -> Path:
    """``work_dirs/<config file stem>``, relative to the current folder."""
    return Path("work_dirs") / Path(str(config_path).rpartition("::")[2]).stem  # regionkit::x.py -> x


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    if "torch" in sys.modules:  # never import torch just to seed it
        sys.modules["torch"].manual_seed(seed)


def _plain(value: Any) -> Any:
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if callable(to_dict) else value


# ---------------------------------------------------------------------- checking
def _section(cfg: Any, key: str) -> Any:
    return _plain(cfg.get(key)) if hasattr(cfg, "get") else None


def _check_sections(cfg: Any, problems: list[Problem]) -> set[str]:
    """Check the top-level layout; return the sections too malformed to look inside."""
    broken: set[str] = set()
    known = (*SECTIONS, *_OTHER_KEYS)
    for key in cfg:
        if key in known or str(key).startswith("_"):
            continue
        hint = did_you_mean(str(key), known)
        if hint:  # a near miss of a known key is surely a typo; other keys may be helper variables
            problems.append(Problem(str(key), f"unknown top-level config key{hint}"))
    for key in ("dataset", "detector"):
        value = _section(cfg, key)
        if value is None or value == {}:
            problems.append(Problem(key, f"the config has no '{key}' section"))
        elif not isinstance(value, Mapping):
            problems.append(Problem(key, f"'{key}' must be a dict with a 'type' key, e.g. {key} = dict(type=...), "
                                         f"got {value!r:.80}"))
        elif "type" not in value:
            problems.append(Problem(key, f"'{key}' needs a 'type' key"))
        else:
            continue
        broken.add(key)
    for key in ("selectors", "writers"):
        value = _section(cfg, key)
        if value is None:
            if key == "writers":
                problems.append(Problem(key, "the config has no 'writers': nothing would be saved"))
                broken.add(key)
            continue
        if not isinstance(value, (list, tuple)):
            problems.append(Problem(key, f"'{key}' must be a list of dicts, each with a 'type', got {value!r:.80}"))
            broken.add(key)
            continue
        if key == "writers" and not value:
            problems.append(Problem(key, "'writers' is empty: nothing would be saved"))
        for i, item in enumerate(value):
            item = _plain(item)
            if not isinstance(item, Mapping) or "type" not in item:
                problems.append(Problem(f"{key}[{i}]", f"must be a dict with a 'type', got {item!r:.80}"))
                broken.add(key)
    runtime = _section(cfg, "runtime")
    if runtime is not None and not isinstance(runtime, Mapping):
        problems.append(Problem("runtime", f"'runtime' must be a dict, e.g. runtime = dict(batch_size=4), "
                                           f"got {runtime!r:.80}"))
    elif runtime:
        try:
            check_parameters(RuntimeOptions, runtime, "runtime")
            RuntimeOptions(**runtime)
        except RegionkitError as exc:
            problems.append(Problem("runtime", str(exc)))
    return broken


def _stage_specs(cfg: Any) -> list[tuple[dict[str, Any], str, str]]:
    """``(selector config without input/output, input, output)`` per stage, outputs defaulting to the type name."""
    specs = []
    previous = "detections"
    for i, item in enumerate(_section(cfg, "selectors") or []):
        params = dict(_plain(item))
        source = params.pop("input", previous)
        target = params.pop("output", None) or str(params.get("type", f"stage{i}")).rpartition(".")[2]
        specs.append((params, str(source), str(target)))
        previous = str(target)
    return specs


def _writer_specs(cfg: Any) -> list[tuple[str, dict[str, Any]]]:
    """``(writer name, writer config without name)`` per writer."""
    out = []
    for item in _section(cfg, "writers") or []:
        params = dict(_plain(item))
        name = params.pop("name", None) or params.get("type")
        out.append((str(name), params))
    return out


def _check_wiring(cfg: Any, problems: list[Problem]) -> None:
    produced = ["detections"]
    for i, (_, source, target) in enumerate(_stage_specs(cfg)):
        if source not in produced:
            problems.append(Problem(f"selectors[{i}]", f"reads '{source}', which no earlier stage produces "
                                                       f"(available: {', '.join(produced)})"))
        if target in produced:
            problems.append(Problem(f"selectors[{i}]", f"writes the region set '{target}', which another stage "
                                                       f"already writes; give it another output='...'"))
        produced.append(target)
    names: dict[str, int] = {}
    for i, (name, _) in enumerate(_writer_specs(cfg)):
        if name in names:
            problems.append(Problem(f"writers[{i}]", f"two writers are named '{name}'; give one a distinct "
                                                     f"name='...'"))
        names[name] = i
    try:
        writers = _build_writers(cfg)
    except RegionkitError:
        return  # already reported by the component check
    try:
        RunFolder.check_names(writer_outputs(writers))
    except RegionkitError as exc:
        problems.append(Problem("writers", str(exc)))
    for i, (name, writer) in enumerate(writers.items()):
        missing = sorted(set(writer.required_regions()) - set(produced))
        if missing:
            problems.append(Problem(f"writers[{i}]", f"writer '{name}' needs region set(s) {', '.join(missing)}, "
                                                     f"but the stages produce only: {', '.join(produced)}"))


def check_infer_config(cfg: Any) -> list[Problem]:
    """Every problem of an inference config (sections, components at any depth, runtime, wiring, output names,
    and the files its components load: :mod:`regionkit.config.files`)."""
    problems: list[Problem] = []
    broken = _check_sections(cfg, problems)
    from regionkit.registry import allow_custom_imports

    with allow_custom_imports(custom_imports_of(cfg)):
        for key, kind in (("dataset", "datasets"), ("detector", "detectors")):
            if key not in broken:
                problems += check_components(_section(cfg, key), key, kind)
        if "selectors" not in broken:
            for i, (params, _, _) in enumerate(_stage_specs(cfg)):
                problems += check_components(params, f"selectors[{i}]", "box_selectors")
        writer_problems: list[Problem] = []
        if "writers" not in broken:
            for i, (_, params) in enumerate(_writer_specs(cfg)):
                writer_problems += check_components(params, f"writers[{i}]", "writers")
        problems += writer_problems
        if not ({"selectors", "writers"} & broken) and not writer_problems:  # the writers can be built
            _check_wiring(cfg, problems)
    if not broken:
        from regionkit.config.files import file_problems

        problems += file_problems(cfg)  # missing or damaged weights: before any image is read
    return problems


def _raise_problems(problems: list[Problem], config_path: str | Path | None = None) -> None:
    if not problems:
        return
    more = ""
    if len(problems) > 1:
        where = f" {config_path}" if config_path else ""
        more = f" ({len(problems) - 1} more problem(s): run 'regionkit config check{where}' to see them all)"
    raise ConfigError(f"{problems[0]}{more}")


# ---------------------------------------------------------------------- building
def build_detector(cfg: dict[str, Any]) -> Any:
    """Build a detector from its config dict (a picklable factory target for worker processes)."""
    from regionkit.registry import DETECTORS

    return DETECTORS.build(dict(cfg))


def _build_stages(cfg: Any) -> list[SelectorStage]:
    from regionkit.registry import BOX_SELECTORS

    return [SelectorStage(BOX_SELECTORS.build(params), source, target) for params, source, target in _stage_specs(cfg)]


def _build_writers(cfg: Any) -> dict[str, Any]:
    from regionkit.registry import WRITERS

    writers: dict[str, Any] = {}
    for name, params in _writer_specs(cfg):
        if name in writers:
            raise ConfigError(f"two writers are named '{name}'; give one a distinct name='...'")
        writers[name] = WRITERS.build(params)
    return writers


def runtime_of(cfg: Any) -> RuntimeOptions:
    """The config's ``runtime`` section, checked."""
    runtime = _section(cfg, "runtime") or {}
    check_parameters(RuntimeOptions, runtime, "runtime")
    try:
        return RuntimeOptions(**runtime)
    except ConfigError as exc:
        raise ConfigError(f"runtime: {exc}") from None


def build_runner(cfg: Any, progress: bool = True, hook: Any = None, detector: Any = None,
                 env: DistEnv | None = None) -> tuple[InferenceRunner, Any]:
    """Build ``(runner, dataset)`` from a loaded config (``detector``: reuse one already built).

    ``env``: this process's place in a ``torchrun`` job (a CUDA detector goes to ``cuda:LOCAL_RANK``,
    the thread budget shares the node's cores among its ranks).
    """
    from regionkit.registry import DATASETS, allow_custom_imports

    env = env or DistEnv()
    _raise_problems(check_infer_config(cfg))
    runtime = runtime_of(cfg)
    _seed_everything(runtime.seed)
    detector_cfg = place_on_local_device(dict(_section(cfg, "detector")), env)
    with allow_custom_imports(custom_imports_of(cfg)):
        if detector is None:
            detector = build_detector(detector_cfg)
        runner = InferenceRunner(detector, _build_stages(cfg), _build_writers(cfg), batch_size=runtime.batch_size,
                                 num_workers=runtime.num_workers, hook=hook, progress=progress,
                                 detector_factory=functools.partial(build_detector, detector_cfg),
                                 image_timeout=runtime.image_timeout, threads=runtime.threads,
                                 local_world_size=env.local_world_size)
        dataset = DATASETS.build(dict(_section(cfg, "dataset")))  # last: config mistakes surface first
    return runner, dataset


def _output_relevant(cfg: Any) -> dict[str, Any]:
    """The parts of the config that determine the output files (what a resume must keep equal)."""
    data = _plain(cfg)
    dataset = dict(data.get("dataset") or {})
    dataset.pop("root", None)  # the image paths themselves are checked per image on resume
    runtime = {k: v for k, v in dict(data.get("runtime") or {}).items() if k not in _SPEED_ONLY_KEYS}
    relevant = {k: data.get(k) for k in ("detector", "selectors", "writers")}
    relevant["dataset"] = dataset
    relevant["runtime"] = runtime
    return json.loads(json.dumps(relevant, sort_keys=True, default=repr))


def config_fingerprint(cfg: Any) -> str:
    """sha256 of everything in the config that can change results (not batch size, workers or dataset.root)."""
    text = json.dumps(_output_relevant(cfg), sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------- running
@dataclass
class SplitRun:
    """One split's run: ``split`` is ``None`` for datasets without splits."""

    split: str | None
    out_dir: Path
    summary: RunSummary
    dataset: Any


def _check_cli_args(out_dir: str | Path | None, max_images: int | None, split: str | None, all_splits: bool,
                    resume: bool, overwrite: bool) -> None:
    if max_images is not None and max_images < 1:
        raise ConfigError(f"--max-images must be at least 1, got {max_images}")
    if split is not None and all_splits:
        raise ConfigError("use either --split or --all-splits, not both")
    if resume and overwrite:
        raise ConfigError("use either --resume (continue the run) or --overwrite (start again), not both")
    if out_dir is not None and str(out_dir).strip() == "":
        raise ConfigError("--out-dir must name a folder (it is empty)")
    if split is not None and (not split.strip() or "/" in split or "\x00" in split):
        raise ConfigError(f"--split must be a split name such as train, val or test1, got {split!r}")


def run_infer(config_path: str | Path, images: str | Path | None = None, out_dir: str | Path | None = None,
              cfg_options: Iterable[str] = (), progress: bool = True, extra_plugins: Iterable[Any] = (),
              max_images: int | None = None, split: str | None = None, all_splits: bool = False,
              resume: bool = False, overwrite: bool = False) -> list[SplitRun]:
    """Load the config, apply overrides, check it, build everything once and run (once per split)."""
    from regionkit.inference.lifecycle import create_plugin_manager
    from regionkit.registry import DATASETS

    _check_cli_args(out_dir, max_images, split, all_splits, resume, overwrite)
    options = list(cfg_options)
    if images is not None:
        if str(images).strip() == "":
            raise ConfigError("--images must name a folder (it is empty)")
        options.append(f"dataset.root={os.fspath(images)!r}")
    if split is not None:
        options.append(f"dataset.split={split!r}")
    cfg = load_config(config_path, options)
    _raise_problems(check_infer_config(cfg), config_path)
    base_out = Path(out_dir) if out_dir is not None else default_out_dir(config_path)
    splits: Sequence[str | None] = [None]
    if all_splits:
        dataset_cls = DATASETS.get(str(_section(cfg, "dataset").get("type")))
        splits = list(getattr(dataset_cls, "ALL_SPLITS", ()) or ())
        if not splits:
            raise ConfigError(f"dataset '{_section(cfg, 'dataset').get('type')}' has no splits; drop --all-splits")
    pm = create_plugin_manager(extra_plugins)
    env = DistEnv.from_env()
    runs = []
    detector = None
    # one process group for every split of the run (torchrun), set up by the first sharded split
    coordinator = Coordinator(env)
    try:
        for name in splits:
            if name is not None:
                cfg.merge_from_dict({"dataset.split": name})
            runner, dataset = build_runner(cfg, progress=progress, hook=pm.hook, detector=detector, env=env)
            detector = runner.detector  # built once, reused by the next split
            target = base_out / name if name is not None else base_out
            shards = is_sharded_dataset(dataset)
            items = None
            if not shards:
                items = list(dataset)[:max_images] if max_images else list(dataset)
                if not items:
                    skipped = getattr(dataset, "skipped", [])
                    note = f"; skipped {len(skipped)} entr{'y' if len(skipped) == 1 else 'ies'}, e.g. {skipped[0][0]}: " \
                           f"{skipped[0][1]}" if skipped else ""
                    raise ConfigError(f"no images found in {getattr(dataset, 'root', 'the dataset')}"
                                      f" (extensions: {', '.join(getattr(dataset, 'extensions', ()))}){note}")
            if env.launched or shards or (resume and holds_sharded_run(target)):
                summary = run_sharded(runner, dataset, target, env, items=items, fingerprint=config_fingerprint(cfg),
                                      config_part=_output_relevant(cfg), resume=resume, overwrite=overwrite,
                                      max_images=max_images, progress=progress, config=_plain(cfg),
                                      coordinator=coordinator)
                if summary is None:  # not rank 0: rank 0 reports the merged run
                    continue
                if env.world_size > 1:
                    for stats in summary.ranks:
                        print(("" if name is None else f"[{name}] ") + stats.describe(), flush=True)
            else:
                assert items is not None
                summary = runner.run(items, target, config=_plain(cfg), fingerprint=config_fingerprint(cfg),
                                     resume=resume, overwrite=overwrite, config_part=_output_relevant(cfg))
            runs.append(SplitRun(name, target, summary, dataset))
    finally:
        coordinator.close()
    return runs
