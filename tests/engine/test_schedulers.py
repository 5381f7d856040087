"""regionkit's schedulers: OneCycleLR + OneCycleMomentum reproduce torch's OneCycleLR (lr and AdamW beta1) step for
step; CosineWarmupRestartsLR is SegGPT's fine-tuners' warm-up + cosine-restart schedule."""
from __future__ import annotations

import io

import pytest
import torch
from mmengine.optim import OptimWrapper
from torch import nn

from regionkit.engine.schedulers import (
    CosineWarmupRestartsLR,
    OneCycleLR,
    OneCycleMomentum,
    cosine_warmup_restarts,
    cycle_lengths,
)
from regionkit.errors import ConfigError


def _optimizer() -> torch.optim.AdamW:
    return torch.optim.AdamW(nn.Linear(2, 2).parameters(), lr=1e-5, betas=(0.9, 0.98), eps=1e-7, weight_decay=0.05)


@pytest.mark.parametrize("total, pct_start, div_factor, strategy, three_phase", [
    (80 * 7, 1 / 50, 25.0, "cos", False),       # SPRC's CIRR schedule (80 "epochs" of 7 steps)
    (30 * 5, 1.5 / 30, 100.0, "cos", False),    # SPRC's FashionIQ schedule
    (40, 0.3, 25.0, "linear", False),
    (40, 0.25, 10.0, "cos", True),
])
def test_lr_and_beta1_follow_torch(total, pct_start, div_factor, strategy, three_phase):
    torch_opt = _optimizer()
    reference = torch.optim.lr_scheduler.OneCycleLR(torch_opt, max_lr=1e-5, total_steps=total, pct_start=pct_start,
                                                    div_factor=div_factor, anneal_strategy=strategy,
                                                    three_phase=three_phase)
    wrapper = OptimWrapper(_optimizer())
    ours_lr = OneCycleLR(wrapper, eta_max=1e-5, total_steps=total, pct_start=pct_start, div_factor=div_factor,
                         anneal_strategy=strategy, three_phase=three_phase, by_epoch=False)
    ours_momentum = OneCycleMomentum(wrapper, total_steps=total, pct_start=pct_start, anneal_strategy=strategy,
                                     three_phase=three_phase, by_epoch=False)
    for step in range(total):
        expected = torch_opt.param_groups[0]
        got = wrapper.optimizer.param_groups[0]
        assert got["lr"] == pytest.approx(expected["lr"], rel=1e-12, abs=1e-20), step
        assert got["betas"][0] == pytest.approx(expected["betas"][0], rel=1e-12), step
        assert got["betas"][1] == expected["betas"][1] == 0.98
        torch_opt.step()
        reference.step()
        wrapper.step()
        ours_lr.step()
        ours_momentum.step()


def test_the_cycle_follows_the_configured_epochs():
    """Built from an epoch config (as the Runner does) the cycle spans the config's epochs, not SPRC's fixed 80."""
    wrapper = OptimWrapper(_optimizer())
    lr = OneCycleLR.build_iter_from_epoch(wrapper, eta_max=1e-5, pct_start=1 / 50, begin=0, end=50, by_epoch=True,
                                          epoch_length=10)
    momentum = OneCycleMomentum.build_iter_from_epoch(wrapper, pct_start=1 / 50, begin=0, end=50, by_epoch=True,
                                                      epoch_length=10)
    assert lr.total_steps == momentum.total_steps == 500
    values = []
    for _ in range(500):
        values.append(wrapper.optimizer.param_groups[0]["lr"])
        wrapper.step()
        lr.step()
        momentum.step()
    assert max(values) == pytest.approx(1e-5)
    assert values[-1] == pytest.approx(1e-5 / 25 / 1e4, rel=1e-3)  # fully annealed at the config's last epoch


def test_state_dicts_hold_plain_values_and_resume_the_schedule():
    wrapper = OptimWrapper(_optimizer())
    lr = OneCycleLR(wrapper, eta_max=1e-5, total_steps=20, by_epoch=False)
    momentum = OneCycleMomentum(wrapper, total_steps=20, by_epoch=False)
    for _ in range(7):
        wrapper.step()
        lr.step()
        momentum.step()
    for state in (lr.state_dict(), momentum.state_dict()):
        assert not any(callable(v) for v in state.values())
    fresh = OptimWrapper(_optimizer())
    fresh.load_state_dict(wrapper.state_dict())
    lr2 = OneCycleLR(fresh, eta_max=1e-5, total_steps=20, by_epoch=False)
    momentum2 = OneCycleMomentum(fresh, total_steps=20, by_epoch=False)
    lr2.load_state_dict(lr.state_dict())
    momentum2.load_state_dict(momentum.state_dict())
    for _ in range(5):
        for w, schedulers in ((wrapper, (lr, momentum)), (fresh, (lr2, momentum2))):
            w.step()
            for s in schedulers:
                s.step()
        assert fresh.optimizer.param_groups[0]["lr"] == wrapper.optimizer.param_groups[0]["lr"]
        assert fresh.optimizer.param_groups[0]["betas"] == wrapper.optimizer.param_groups[0]["betas"]


def test_bad_arguments_are_refused():
    wrapper = OptimWrapper(_optimizer())
    with pytest.raises(ValueError, match="anneal_strategy"):
        OneCycleMomentum(wrapper, total_steps=10, anneal_strategy="step", by_epoch=False)
    with pytest.raises(ValueError, match="total_steps or a finite end"):
        OneCycleMomentum(wrapper, by_epoch=False)


def test_schedule_is_upstreams_warmup_and_cosine_restarts():
    assert cycle_lengths(4) == [5000, 5900, 6980, 8276]
    lr = [cosine_warmup_restarts(s) for s in (0, 250, 500, 2750, 4999, 5000, 5500, 10900, 11400)]
    assert lr[0] == pytest.approx(1e-8)
    assert lr[1] == pytest.approx((1e-4 + 1e-8) / 2, rel=1e-6)  # linear warm-up
    assert lr[2] == pytest.approx(1e-4)  # the peak
    assert lr[3] == pytest.approx(1e-8 + (1e-4 - 1e-8) / 2, rel=1e-6)  # half-way down the cosine
    assert lr[4] < 1.1e-8  # one step before the restart: at the floor
    assert lr[5] == pytest.approx(1e-8) and lr[6] == pytest.approx(0.5e-4)  # second cycle: peak halved
    assert lr[7] == pytest.approx(1e-8) and lr[8] == pytest.approx(0.25e-4)
    with pytest.raises(ValueError, match="warmup"):
        cosine_warmup_restarts(0, first_cycle_steps=10, warmup_steps=10)


def _adamw(lr: float = 1e-4) -> OptimWrapper:
    return OptimWrapper(torch.optim.AdamW(nn.Linear(2, 2).parameters(), lr=lr, weight_decay=0.01))


def test_the_scheduler_steps_through_upstreams_schedule_with_a_warm_up_at_every_restart():
    """Short cycles (20, then int((20 - 4) * 1.5) + 4 = 28, ...): the value after every iteration is the function's."""
    wrapper = _adamw()
    scheduler = CosineWarmupRestartsLR(wrapper, first_cycle_steps=20, cycle_mult=1.5, warmup_steps=4, gamma=0.5,
                                       min_lr=1e-8)
    assert cycle_lengths(3, 20, 1.5, 4) == [20, 28, 40]
    seen = []
    for step in range(88):
        got = wrapper.optimizer.param_groups[0]["lr"]
        assert got == pytest.approx(cosine_warmup_restarts(step, 20, 1.5, max_lr=1e-4, min_lr=1e-8, warmup_steps=4,
                                                           gamma=0.5), rel=1e-12, abs=1e-20), step
        seen.append(got)
        wrapper.step()
        scheduler.step()
    # a warm-up at each restart: the floor at the cycle's first step, the halved peak 4 steps later
    for start, peak in ((0, 1e-4), (20, 0.5e-4), (48, 0.25e-4)):
        assert seen[start] == pytest.approx(1e-8) and seen[start + 4] == pytest.approx(peak)


def test_the_scheduler_resumes_from_a_weights_only_checkpoint():
    wrapper = _adamw()
    scheduler = CosineWarmupRestartsLR(wrapper, first_cycle_steps=10, warmup_steps=3, cycle_mult=1.2, gamma=0.5)
    for _ in range(13):
        wrapper.step()
        scheduler.step()
    buffer = io.BytesIO()
    torch.save({"optimizer": wrapper.state_dict(), "scheduler": scheduler.state_dict()}, buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    fresh = _adamw()
    fresh.load_state_dict(state["optimizer"])
    resumed = CosineWarmupRestartsLR(fresh, first_cycle_steps=10, warmup_steps=3, cycle_mult=1.2, gamma=0.5,
                                     last_step=scheduler.last_step)
    resumed.load_state_dict(state["scheduler"])
    for _ in range(15):
        for w, s in ((wrapper, scheduler), (fresh, resumed)):
            w.step()
            s.step()
        assert fresh.optimizer.param_groups[0]["lr"] == wrapper.optimizer.param_groups[0]["lr"]


@pytest.mark.parametrize("kwargs, match", [
    (dict(first_cycle_steps=0), "first_cycle_steps"),
    (dict(first_cycle_steps=10, warmup_steps=10), "warmup_steps"),
    (dict(first_cycle_steps=10, cycle_mult=0.5), "cycle_mult"),
    (dict(first_cycle_steps=10, gamma=0.0), "gamma"),
    (dict(first_cycle_steps=10, gamma=2.0), "gamma"),
    (dict(first_cycle_steps=10, cycle_mult="x"), "cycle_mult"),
    (dict(first_cycle_steps=2.5), "first_cycle_steps"),
])
def test_the_scheduler_refuses_bad_arguments(kwargs, match):
    """A config mistake is a one-line ConfigError (a ValueError) naming the parameter."""
    with pytest.raises(ValueError, match=match) as info:
        CosineWarmupRestartsLR(_adamw(), **kwargs)
    assert isinstance(info.value, ConfigError) and "\n" not in str(info.value)


def test_the_seggpt_recipe_builds_the_schedule_through_the_registry():
    from mmengine.registry import DefaultScope

    from regionkit.config.loader import load_config
    from regionkit.engine.registry import PARAM_SCHEDULERS, register_engine_components

    register_engine_components()
    cfg = load_config("regionkit::training/seggpt_finetune.py")
    (entry,) = cfg.param_scheduler
    # a Runner built earlier in this process leaves its default scope ('mmengine') current; a registry
    # then looks names up from that scope, as mmengine does for every build
    with DefaultScope.overwrite_default_scope("regionkit"):
        built = PARAM_SCHEDULERS.build(dict(entry), default_args=dict(optimizer=_adamw()))
    assert isinstance(built, CosineWarmupRestartsLR)
    assert (built.first_cycle_steps, built.warmup_steps, built.cycle_mult, built.gamma) == (5000, 500, 1.2, 0.5)
    assert cfg.train_cfg["max_iters"] == sum(cycle_lengths(4))  # four whole cycles
