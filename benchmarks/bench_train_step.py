"""Training throughput of mmengine's Runner (``regionkit train``) vs a plain PyTorch loop like SPRC's script.

Both train the tiny SPRC recipe (``configs/training/sprc_tiny_photo_edits.py``) on the same
photo-edits data with the same batch size, AdamW and one-cycle schedule, one CPU thread each
by default.  The plain loop is SPRC's ``blip_fine_tune_2.py`` shape: ``DataLoader`` ->
``model(**batch, mode="loss")`` -> sum -> ``backward`` -> ``step`` -> ``scheduler.step``.  The
Runner loop is ``regionkit train`` itself (hooks, logging, message hub), with no validation and
no checkpoint inside the timed iterations.  Images are cached in memory by the dataset in both,
and the first ``--warmup`` iterations (which fill that cache) are not timed.

Rates come from the median iteration time (wall and CPU), so a burst of another job during a
few iterations does not decide a comparison; every repeat measures every loop back to back.

``--region`` measures the step-time cost of ``region_itc`` paired, inside each loop: the recipe
runs with ``region_itc`` configured (so the data carry boxes) and the loss set alternates
between all losses and all but ``region_itc`` from one iteration to the next; the cost is the
median "with" iteration over the median "without" one.  Separate runs with and without the loss
differ by +-8 % on this machine from run-to-run noise alone, more than the cost being measured.
Run::

    nice python benchmarks/bench_train_step.py [--iters 40] [--warmup 3] [--repeats 3] [--crops 8] [--region]
"""
from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from mmengine.hooks import Hook
from mmengine.logging import MMLogger
from torch import nn

REPO = Path(__file__).resolve().parents[1]
RECIPE = str(REPO / "configs" / "training" / "sprc_tiny_photo_edits.py")
REGION_LOSS = "region_itc"

#: per timed iteration: (wall seconds, CPU seconds, region_itc on?)
Iteration = tuple[float, float, bool]


def _now() -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process)."""
    return time.perf_counter(), time.process_time()


class _Alternator:
    """Swaps a model's loss set between all losses and all but ``region_itc`` on every call."""

    def __init__(self, model: nn.Module) -> None:
        from regionkit.models.losses.loss_set import LossSet

        self.model, self.full = model, model.losses
        self.without = LossSet.__new__(LossSet)
        nn.Module.__init__(self.without)
        self.without.losses = nn.ModuleDict({k: v for k, v in self.full.losses.items() if k != REGION_LOSS})
        self.without.inputs = {k: v for k, v in self.full.inputs.items() if k != REGION_LOSS}
        self.on = True

    def flip(self) -> bool:
        """Use the other loss set for the next iteration; True when that one includes ``region_itc``."""
        self.on = not self.on
        self.model._modules["losses"] = self.full if self.on else self.without
        return self.on


class _Clock:
    """Iteration times from the end of iteration ``warmup`` to the end of ``warmup + iters``."""

    def __init__(self, warmup: int, iters: int, alternator: _Alternator | None) -> None:
        self.warmup, self.iters, self.alternator = warmup, iters, alternator
        self.last: tuple[float, float] | None = None
        self.times: list[Iteration] = []
        self.on = alternator.on if alternator is not None else False  # the loss set of the next iteration

    def tick(self, done: int) -> bool:
        """Record the end of iteration ``done`` (1-based); True once the timed iterations are over."""
        now = _now()
        if self.last is not None and self.warmup < done <= self.warmup + self.iters:
            self.times.append((now[0] - self.last[0], now[1] - self.last[1], self.on))
        self.last = now if done >= self.warmup else None
        if self.alternator is not None:
            self.on = self.alternator.flip()
        return done >= self.warmup + self.iters


class _ClockHook(Hook):
    priority = "LOWEST"

    def __init__(self, clock: _Clock) -> None:
        self.clock = clock

    def after_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None) -> None:
        self.clock.tick(runner.iter + 1)


def _options(data_root: str, batch: int, region: bool, crops: int) -> list[str]:
    return [f"data_root={data_root}", f"train_dataloader.batch_size={batch}", "train_cfg.max_epochs=1",
            "train_cfg.val_interval=1000", "default_hooks.checkpoint.interval=1000",
            "default_hooks.checkpoint.save_last=False", "default_hooks.logger.interval=1000",
            f"losses.3.enabled={region}", f"train_dataloader.dataset.crops_per_photo={max(1, crops)}",
            f"val_dataloader.dataset.crops_per_photo={max(1, crops)}", "log_level=WARNING"]


def _config(options: list[str], work_dir: str) -> Any:
    from regionkit.config.loader import load_config
    from regionkit.engine.config import prepare_config

    cfg = load_config(RECIPE, options)
    return prepare_config(cfg, stage="train", config_path=RECIPE, work_dir=work_dir)


def _checked(clock: _Clock) -> list[Iteration]:
    if len(clock.times) != clock.iters:
        raise SystemExit(f"the epoch is shorter than {clock.warmup + clock.iters} iterations; raise --crops")
    return clock.times


def runner_loop(options: list[str], work_dir: str, warmup: int, iters: int, alternate: bool) -> list[Iteration]:
    """Timed iterations of ``regionkit train`` (``alternate``: region_itc on every other one)."""
    from regionkit.engine.runner import build_runner

    cfg = _config(options, work_dir)
    runner = build_runner(cfg)
    clock = _Clock(warmup, iters, _Alternator(runner.model) if alternate else None)
    runner.register_hook(_ClockHook(clock))
    runner.train()
    return _checked(clock)


def plain_loop(options: list[str], work_dir: str, warmup: int, iters: int, alternate: bool) -> list[Iteration]:
    """Timed iterations of a plain PyTorch loop on the same model, data and optimiser."""
    from torch.utils.data import DataLoader

    from regionkit.datasets.collate import retrieval_collate
    from regionkit.registry import registry_for

    cfg = _config(options, work_dir)
    torch.manual_seed(0)
    model_cfg = dict(cfg.model)
    model_cfg.pop("type")
    model = registry_for("models").get("sprc")(**model_cfg)
    MMLogger.get_current_instance().setLevel(logging.WARNING)  # init_weights reports every parameter at INFO
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
    clock = _Clock(warmup, iters, _Alternator(model) if alternate else None)
    model.train()
    for step, data in enumerate(loader, start=1):
        optimiser.zero_grad()
        losses = model(**data, mode="loss")
        total = sum(losses.values())
        total.backward()
        optimiser.step()
        schedule.step()
        if clock.tick(step):
            break
    return _checked(clock)


def _median(times: list[Iteration], clock: int, region: bool | None = None) -> float:
    """Median iteration seconds (clock 0 wall, 1 CPU), over the iterations with region_itc ``region``."""
    return statistics.median(t[clock] for t in times if region is None or t[2] == region)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iters", type=int, default=40, help="timed iterations per measurement")
    parser.add_argument("--warmup", type=int, default=3, help="untimed iterations first (fill the image cache)")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per loop (alternating)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--crops", type=int, default=8, help="crops per photograph (the epoch length)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--region", action="store_true",
                        help="also measure the cost of region_itc (paired: on every other iteration)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    loops = {"plain": plain_loop, "runner": runner_loop}
    variants = [False, True] if args.region else [False]
    results: dict[tuple[str, bool], list[list[Iteration]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data_root = str(Path(tmp) / "photo_edits")
        for r in range(args.repeats):
            for alternate in variants:
                options = _options(data_root, args.batch, alternate, args.crops)
                for name, loop in loops.items():
                    times = loop(options, str(Path(tmp) / f"w{r}{name}{alternate}"), args.warmup, args.iters,
                                 alternate)
                    results.setdefault((name, alternate), []).append(times)
    print(f"median iteration over {args.iters} iterations of batch {args.batch} after {args.warmup} warm-up, "
          f"{args.threads} thread(s), {args.repeats} repeats (samples/s, wall clock | CPU time)")
    for clock, label in ((0, "wall"), (1, "CPU ")):
        rates = {name: [args.batch / _median(t, clock) for t in results[(name, False)]] for name in loops}
        for name, values in rates.items():
            print(f"  {label} {name:<6} median {statistics.median(values):7.2f}  "
                  f"range {min(values):.2f}-{max(values):.2f}")
        ratio = statistics.median(rates["runner"]) / statistics.median(rates["plain"])
        print(f"  {label} runner / plain: {ratio:.3f}  (goal >= 0.95)")
    if args.region:
        print("region_itc step-time cost, paired (median iteration with / without - 1, per repeat):")
        for clock, label in ((0, "wall"), (1, "CPU ")):
            for name in loops:
                costs = [100 * (_median(t, clock, True) / _median(t, clock, False) - 1)
                         for t in results[(name, True)]]
                print(f"  {label} {name:<6} median {statistics.median(costs):+5.1f} %  "
                      f"range {min(costs):+.1f}..{max(costs):+.1f} %  (goal <= +5 %)")


if __name__ == "__main__":
    main()
