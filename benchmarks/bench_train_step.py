"""Training throughput of mmengine's Runner (``regionkit train``) vs a plain PyTorch loop like SPRC's script.

Both train the tiny SPRC recipe (``configs/training/sprc_tiny_photo_edits.py``) on the same
photo-edits data with the same batch size, AdamW and one-cycle schedule, one CPU thread each
by default.  The plain loop is SPRC's ``blip_fine_tune_2.py`` shape: ``DataLoader`` ->
``model(**batch, mode="loss")`` -> sum -> ``backward`` -> ``step`` -> ``scheduler.step``.  The
Runner loop is ``regionkit train`` itself (hooks, logging, message hub), timed from the end of
the warm-up iterations to the end of the last training iteration (no validation, no
checkpoint inside the window).  ``--region`` also measures both with ``region_itc`` on.
Images are cached in memory by the dataset in both, and the first ``--warmup`` iterations
(which fill that cache) are not timed.  Run::

    nice python benchmarks/bench_train_step.py [--iters 12] [--warmup 3] [--repeats 2] [--threads 1] [--region]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from mmengine.hooks import Hook

REPO = Path(__file__).resolve().parents[1]
RECIPE = str(REPO / "configs" / "training" / "sprc_tiny_photo_edits.py")


class _Clock(Hook):
    """Wall time from the end of iteration ``warmup`` to the end of the last one."""

    priority = "LOWEST"

    def __init__(self, warmup: int, iters: int) -> None:
        self.warmup, self.iters = warmup, iters
        self.start = self.stop = 0.0

    def after_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None) -> None:
        done = runner.iter + 1
        if done == self.warmup:
            self.start = time.perf_counter()
        if done == self.warmup + self.iters:
            self.stop = time.perf_counter()


def _options(data_root: str, batch: int, region: bool, total: int) -> list[str]:
    return [f"data_root={data_root}", f"train_dataloader.batch_size={batch}", "train_cfg.max_epochs=1",
            "train_cfg.val_interval=1000", "default_hooks.checkpoint.interval=1000",
            "default_hooks.checkpoint.save_last=False", "default_hooks.logger.interval=1000",
            f"losses.3.enabled={region}", f"train_dataloader.dataset.crops_per_photo={max(1, total)}",
            f"val_dataloader.dataset.crops_per_photo={max(1, total)}", "log_level=WARNING"]


def _config(options: list[str], work_dir: str) -> Any:
    from regionkit.config.loader import load_config
    from regionkit.engine.config import prepare_config

    cfg = load_config(RECIPE, options)
    return prepare_config(cfg, stage="train", config_path=RECIPE, work_dir=work_dir)


def runner_loop(options: list[str], work_dir: str, warmup: int, iters: int) -> float:
    """Samples per second of ``regionkit train`` over ``iters`` iterations after ``warmup``."""
    from regionkit.engine.runner import build_runner

    cfg = _config(options, work_dir)
    runner = build_runner(cfg)
    clock = _Clock(warmup, iters)
    runner.register_hook(clock)
    runner.train()
    if clock.stop == 0.0:
        raise SystemExit(f"the epoch is shorter than {warmup + iters} iterations; raise --crops")
    return iters * cfg.train_dataloader["batch_size"] / (clock.stop - clock.start)


def plain_loop(options: list[str], work_dir: str, warmup: int, iters: int) -> float:
    """Samples per second of a plain PyTorch loop on the same model, data and optimiser."""
    from torch.utils.data import DataLoader

    from regionkit.datasets.collate import retrieval_collate
    from regionkit.registry import registry_for

    cfg = _config(options, work_dir)
    torch.manual_seed(0)
    model_cfg = dict(cfg.model)
    model_cfg.pop("type")
    model = registry_for("models").get("sprc")(**model_cfg)
    model.init_weights()
    data_cfg = dict(cfg.train_dataloader["dataset"])
    data_cfg.pop("type")
    dataset = registry_for("datasets").get("photo_edits")(**data_cfg)
    batch = cfg.train_dataloader["batch_size"]
    loader = DataLoader(dataset, batch_size=batch, shuffle=True, drop_last=True, collate_fn=retrieval_collate,
                        num_workers=0)
    optimiser_cfg = dict(cfg.optim_wrapper["optimizer"])
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=optimiser_cfg["lr"],
                                  betas=optimiser_cfg["betas"], eps=optimiser_cfg["eps"],
                                  weight_decay=optimiser_cfg["weight_decay"])
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=optimiser_cfg["lr"], pct_start=0.1,
                                                   total_steps=len(loader))
    model.train()
    start = stop = 0.0
    for step, data in enumerate(loader, start=1):
        optimiser.zero_grad()
        losses = model(**data, mode="loss")
        total = sum(losses.values())
        total.backward()
        optimiser.step()
        schedule.step()
        if step == warmup:
            start = time.perf_counter()
        if step == warmup + iters:
            stop = time.perf_counter()
            break
    if stop == 0.0:
        raise SystemExit(f"the epoch is shorter than {warmup + iters} iterations; raise --crops")
    return iters * batch / (stop - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iters", type=int, default=12, help="timed iterations per measurement")
    parser.add_argument("--warmup", type=int, default=3, help="untimed iterations first (fill the image cache)")
    parser.add_argument("--repeats", type=int, default=2, help="measurements per loop (alternating)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--crops", type=int, default=3, help="crops per photograph (the epoch length)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--region", action="store_true", help="also measure with region_itc enabled")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        data_root = str(Path(tmp) / "photo_edits")
        variants = [False, True] if args.region else [False]
        results: dict[tuple[str, bool], list[float]] = {}
        for region in variants:
            options = _options(data_root, args.batch, region, args.crops)
            for r in range(args.repeats):
                for name, loop in (("plain", plain_loop), ("runner", runner_loop)):
                    rate = loop(options, str(Path(tmp) / f"w{r}{name}{region}"), args.warmup, args.iters)
                    results.setdefault((name, region), []).append(rate)
        print(f"samples/s over {args.iters} iterations of batch {args.batch} after {args.warmup} warm-up, "
              f"{args.threads} thread(s), {args.repeats} repeats")
        for (name, region), rates in results.items():
            print(f"  {name:<6} region_itc={'on ' if region else 'off'}  median {statistics.median(rates):7.2f}  "
                  f"range {min(rates):.2f}-{max(rates):.2f}")
        for region in variants:
            ratio = statistics.median(results[("runner", region)]) / statistics.median(results[("plain", region)])
            print(f"runner / plain (region_itc {'on' if region else 'off'}): {ratio:.3f}  (goal >= 0.95)")
        if args.region:
            for name in ("plain", "runner"):
                cost = statistics.median(results[(name, False)]) / statistics.median(results[(name, True)]) - 1
                print(f"region_itc step-time cost ({name}): {100 * cost:+.1f} %  (goal <= +5 %)")


if __name__ == "__main__":
    main()
