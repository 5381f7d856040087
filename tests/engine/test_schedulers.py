"""regionkit's OneCycleLR + OneCycleMomentum reproduce torch's OneCycleLR (learning rate and AdamW beta1) step for step."""
from __future__ import annotations

import pytest
import torch
from mmengine.optim import OptimWrapper
from torch import nn

from regionkit.engine.schedulers import OneCycleLR, OneCycleMomentum


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
