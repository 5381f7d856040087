"""SPRC's one-cycle schedule as mmengine parameter schedulers: the learning rate and AdamW's beta1.

SPRC steps ``torch.optim.lr_scheduler.OneCycleLR`` once per batch.  With its default
``cycle_momentum=True`` that schedule also moves AdamW's ``beta1`` inversely to the learning
rate, between ``max_momentum`` 0.95 and ``base_momentum`` 0.85 (so the configured 0.9 is never
used).  mmengine's ``OneCycleLR`` schedules the learning rate only, and its state holds a
function (``anneal_func``), which a checkpoint then pickles by reference: torch's
``weights_only=True`` loading refuses it (rightly: allowing ``getattr`` would open the sandbox).

* :class:`OneCycleLR` is mmengine's, with the same schedule, and a state of plain values
  (the annealing is stored by name and restored from it).
* :class:`OneCycleMomentum` is the momentum / ``beta1`` half of torch's ``OneCycleLR``: the same
  phases (``pct_start``, ``total_steps``, cosine or linear), from ``max_momentum`` down to
  ``base_momentum`` while the learning rate rises, and back up after.

Used together with equal ``pct_start`` and length, they reproduce torch's ``OneCycleLR`` step
for step (``tests/engine/test_schedulers.py``).

SegGPT's fine-tuning schedule (the ``CosineAnnealingWarmupRestarts`` class its fine-tuners used)
is :class:`CosineWarmupRestartsLR`: every cycle warms up linearly from ``min_lr`` to its peak,
then falls along a cosine back to ``min_lr``; the part after the warm-up grows ``cycle_mult``
times from one cycle to the next and the peak is multiplied by ``gamma`` (0.5: halved).
mmengine's ``CosineRestartLR`` cannot express the warm-up at each restart.
:func:`cosine_warmup_restarts` is the same schedule as a function of the step.

All three are in mmengine's scheduler registry under the ``regionkit`` scope
(``dict(type='regionkit.OneCycleLR', ...)``; the plain name resolves in regionkit's configs).
"""
from __future__ import annotations

import math
from typing import Annotated, Any

from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.lr_scheduler import OneCycleLR as _MMOneCycleLR
from mmengine.optim.scheduler.momentum_scheduler import MomentumSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler

from regionkit.errors import ConfigError
from regionkit.params import Range, checked

__all__ = ["OneCycleLR", "OneCycleMomentum", "CosineWarmupRestartsLR", "anneal", "cosine_warmup_restarts",
           "cycle_lengths"]


def anneal(strategy: str, start: float, end: float, pct: float) -> float:
    """``start -> end`` as ``pct`` goes 0 -> 1: ``cos`` (half a cosine) or ``linear``."""
    if strategy == "cos":
        return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
    return (end - start) * pct + start


def _check_strategy(strategy: str) -> None:
    if strategy not in ("cos", "linear"):
        raise ValueError(f"anneal_strategy must be 'cos' or 'linear', got {strategy!r}")


class OneCycleLR(_MMOneCycleLR):
    """mmengine's ``OneCycleLR`` whose checkpoint state is plain values (module docstring)."""

    def __init__(self, optimizer: Any, *args: Any, anneal_strategy: str = "cos", **kwargs: Any) -> None:
        _check_strategy(anneal_strategy)
        self.anneal_strategy = anneal_strategy
        super().__init__(optimizer, *args, anneal_strategy=anneal_strategy, **kwargs)

    def state_dict(self) -> dict:
        return {k: v for k, v in super().state_dict().items() if k != "anneal_func"}

    def load_state_dict(self, state_dict: dict) -> None:
        state = {k: v for k, v in state_dict.items() if k != "anneal_func"}
        super().load_state_dict(state)
        self.anneal_func = self._annealing_cos if self.anneal_strategy == "cos" else self._annealing_linear


class _OneCycleMomentumBase(_ParamScheduler):
    def __init__(self, optimizer: Any, param_name: str, base_momentum: float = 0.85, max_momentum: float = 0.95,
                 total_steps: int | None = None, pct_start: float = 0.3, anneal_strategy: str = "cos",
                 three_phase: bool = False, begin: int = 0, end: int = INF, last_step: int = -1,
                 by_epoch: bool = True, verbose: bool = False) -> None:
        _check_strategy(anneal_strategy)
        if not 0.0 <= float(pct_start) <= 1.0:
            raise ValueError(f"pct_start must be in [0, 1], got {pct_start}")
        if total_steps is not None and (not isinstance(total_steps, int) or total_steps <= 0):
            raise ValueError(f"total_steps must be a positive integer, got {total_steps}")
        self.total_steps = total_steps if total_steps is not None else end - begin
        if self.total_steps == INF:
            raise ValueError("OneCycleMomentum needs total_steps or a finite end")
        self.anneal_strategy = anneal_strategy
        total = self.total_steps
        self._schedule_phases: list[dict[str, Any]]
        if three_phase:
            self._schedule_phases = [
                {"end_step": float(pct_start * total) - 1, "start": "max_momentum", "end": "base_momentum"},
                {"end_step": float(2 * pct_start * total) - 2, "start": "base_momentum", "end": "max_momentum"},
                {"end_step": total - 1, "start": "max_momentum", "end": "max_momentum"},
            ]
        else:
            self._schedule_phases = [
                {"end_step": float(pct_start * total) - 1, "start": "max_momentum", "end": "base_momentum"},
                {"end_step": total - 1, "start": "base_momentum", "end": "max_momentum"},
            ]
        if last_step == -1:  # torch's OneCycleLR sets beta1 = max_momentum at construction
            for group in optimizer.param_groups:
                group["max_momentum"] = float(max_momentum)
                group["base_momentum"] = float(base_momentum)
                group[param_name] = float(max_momentum)
        super().__init__(optimizer=optimizer, param_name=param_name, begin=begin, end=end, last_step=last_step,
                         by_epoch=by_epoch, verbose=verbose)

    @classmethod
    def build_iter_from_epoch(cls, *args: Any, begin: int = 0, end: int = INF, total_steps: int | None = None,
                              by_epoch: bool = True, epoch_length: int | None = None, **kwargs: Any) -> Any:
        """An iteration-based instance from an epoch-based config (``convert_to_iter_based=True``)."""
        if not by_epoch or not epoch_length:
            raise ValueError("only an epoch-based config (by_epoch=True) with a known epoch length can be converted")
        converted: dict[str, Any] = dict(begin=int(begin * epoch_length),
                                         end=end if end == INF else int(end * epoch_length),
                                         total_steps=None if total_steps is None else total_steps * epoch_length,
                                         by_epoch=False)
        factory: Any = cls  # mypy cannot match *args against the keyword-only parameters
        return factory(*args, **converted, **kwargs)

    def _get_value(self) -> list[float]:
        step = self.last_step
        if step > self.total_steps:
            raise ValueError(f"tried to step {step + 1} times; the cycle has {self.total_steps} steps")
        values = []
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end_step = phase["end_step"]
                if step <= end_step or i == len(self._schedule_phases) - 1:
                    pct = (step - start_step) / (end_step - start_step)
                    values.append(anneal(self.anneal_strategy, group[phase["start"]], group[phase["end"]], pct))
                    break
                start_step = end_step
        return values


class OneCycleMomentum(MomentumSchedulerMixin, _OneCycleMomentumBase):
    """torch ``OneCycleLR``'s momentum cycle (SGD ``momentum`` or Adam's ``beta1``); see the module docstring.

    ``base_momentum`` / ``max_momentum``: the low (at the learning-rate peak) and high values
    (torch: 0.85 / 0.95); ``pct_start``, ``total_steps``, ``anneal_strategy``, ``three_phase``,
    ``begin``, ``end``, ``by_epoch`` as :class:`OneCycleLR`.
    """


def cycle_lengths(count: int, first_cycle_steps: int = 5000, cycle_mult: float = 1.2,
                  warmup_steps: int = 500) -> list[int]:
    """The lengths of the first ``count`` cycles: each ``int((previous - warmup) * cycle_mult) + warmup``."""
    lengths = [first_cycle_steps]
    while len(lengths) < count:
        lengths.append(_next_cycle(lengths[-1], cycle_mult, warmup_steps))
    return lengths[:count]


def _next_cycle(length: int, cycle_mult: float, warmup_steps: int) -> int:
    """The cycle after one of ``length`` steps: the part after the warm-up grows ``cycle_mult`` times."""
    return int((length - warmup_steps) * cycle_mult) + warmup_steps


def cosine_warmup_restarts(step: int, first_cycle_steps: int = 5000, cycle_mult: float = 1.2,
                           max_lr: float = 1e-4, min_lr: float = 1e-8, warmup_steps: int = 500,
                           gamma: float = 0.5) -> float:
    """The learning rate at ``step`` (0-based, counted in iterations) of upstream's warm-up + cosine-restart schedule."""
    if warmup_steps >= first_cycle_steps:
        raise ValueError("warmup_steps must be shorter than first_cycle_steps")
    cycle, start, length = 0, 0, first_cycle_steps
    while step >= start + length:
        start += length
        length = _next_cycle(length, cycle_mult, warmup_steps)
        cycle += 1
    peak = max_lr * gamma**cycle
    t = step - start
    if t < warmup_steps:
        return min_lr + (peak - min_lr) * t / warmup_steps
    progress = (t - warmup_steps) / (length - warmup_steps)
    return min_lr + (peak - min_lr) * (1.0 + math.cos(math.pi * progress)) / 2.0


class _CosineWarmupRestartsBase(_ParamScheduler):
    @checked
    def __init__(self, optimizer: Any, param_name: str, first_cycle_steps: Annotated[int, Range(1)],
                 cycle_mult: Annotated[float, Range(1)] = 1.0, min_lr: Annotated[float, Range(0)] = 1e-8,
                 warmup_steps: Annotated[int, Range(0)] = 0,
                 gamma: Annotated[float, Range(0, 1, low_open=True)] = 1.0, begin: int = 0, end: int = INF,
                 last_step: int = -1, by_epoch: bool = False, verbose: bool = False) -> None:
        if warmup_steps >= first_cycle_steps:
            raise ConfigError(f"warmup_steps must be shorter than first_cycle_steps ({first_cycle_steps}), got "
                              f"{warmup_steps}")
        self.first_cycle_steps, self.cycle_mult, self.min_lr = first_cycle_steps, float(cycle_mult), float(min_lr)
        self.warmup_steps, self.gamma = warmup_steps, float(gamma)
        super().__init__(optimizer=optimizer, param_name=param_name, begin=begin, end=end, last_step=last_step,
                         by_epoch=by_epoch, verbose=verbose)

    def _get_value(self) -> list[float]:
        return [cosine_warmup_restarts(self.last_step, self.first_cycle_steps, self.cycle_mult, max_lr=base,
                                       min_lr=self.min_lr, warmup_steps=self.warmup_steps, gamma=self.gamma)
                for base in self.base_values]


class CosineWarmupRestartsLR(LRSchedulerMixin, _CosineWarmupRestartsBase):
    """Warm-up + cosine cycles with growing lengths and shrinking peaks (module docstring); stepped per iteration.

    The first peak is the optimizer's learning rate.  ``first_cycle_steps``: iterations of the
    first cycle, its warm-up included; ``warmup_steps``: the linear warm-up from ``min_lr`` at the
    start of every cycle; ``cycle_mult``: growth of the part after the warm-up; ``gamma``: peak
    factor per cycle.  Counting starts at ``begin``; the state is plain values.
    """
