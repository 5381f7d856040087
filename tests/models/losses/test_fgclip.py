"""FG-CLIP's region-text and hard-negative losses: the spec's toy values, parity with FG-CLIP's code, gradients."""
from __future__ import annotations

import math

import pytest
import torch

from regionkit.models.losses.fgclip import (
    FgclipHardNegativeLoss,
    FgclipRegionTextLoss,
    fgclip_hard_negative_loss,
    fgclip_region_text_loss,
)
from regionkit.testing import check_loss
from tests.models.losses._fixtures import load_cases


def test_spec_toy_region_text():
    regions = torch.eye(2, dtype=torch.float64)
    texts = torch.tensor([[0.8, 0.6], [0.0, 1.0]], dtype=torch.float64)
    logits = 10 * regions @ texts.T
    labels = torch.arange(2)
    i2t = torch.nn.functional.cross_entropy(logits, labels).item()
    t2i = torch.nn.functional.cross_entropy(logits.T, labels).item()
    assert i2t == pytest.approx(0.009243, abs=1e-6) and t2i == pytest.approx(0.063487, abs=1e-6)
    value = fgclip_region_text_loss(regions, texts, math.log(10.0)).item()
    assert value == pytest.approx(0.036365, abs=1e-6)
    # by hand: i2t rows log(1 + e^-8), log(1 + e^-4); t2i rows log(1 + e^-2), log(1 + e^-10)
    assert value == pytest.approx((math.log1p(math.exp(-8)) + math.log1p(math.exp(-4)) + math.log1p(math.exp(-2))
                                   + math.log1p(math.exp(-10))) / 4, rel=1e-12)


def test_spec_toy_hard_negative():
    region = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    candidates = torch.tensor([[[0.8, 0.6], [0.6, 0.8], [1.0, 0.0]]], dtype=torch.float64)
    value = fgclip_hard_negative_loss(region, candidates, math.log(100.0)).item()
    assert value == pytest.approx(20.0, abs=1e-6)
    assert value == pytest.approx(math.log(math.exp(80) + math.exp(60) + math.exp(100)) - 80, rel=1e-12)


REFERENCE = load_cases("fgclip_reference.pt")


@pytest.mark.parametrize("case", sorted(REFERENCE))
def test_parity_with_fgclip(case):
    ref = REFERENCE[case]
    dtype = torch.float64 if case.endswith("float64") else torch.float32
    tol = 1e-6 if dtype == torch.float64 else 1e-5
    data = {k: v.to(dtype) for k, v in ref.items()}
    for name, cls, keys in (("loss_region_text", FgclipRegionTextLoss, ("region_feats", "region_text_feats")),
                            ("loss_hard_negative", FgclipHardNegativeLoss, ("hard_region_feats", "hard_text_feats"))):
        loss = cls().to(dtype)
        with torch.no_grad():
            loss.temperature.value.copy_(data["logit_scale"])
        inputs = {k: data[k].clone().requires_grad_() for k in keys}
        value = loss(**inputs)
        # scale-relative tolerance: the s=4.6052 case has losses around 50
        torch.testing.assert_close(value, data[name], rtol=tol, atol=tol)
        grads = torch.autograd.grad(value, [*inputs.values(), loss.temperature.value])
        for key, grad in zip((*keys, "logit_scale"), grads):
            torch.testing.assert_close(grad, data[f"{name}.grad.{key}"], rtol=tol, atol=tol, msg=f"{case} {key}")


def test_gradcheck_float64():
    gen = torch.Generator().manual_seed(0)
    r = torch.randn(3, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    t = torch.randn(3, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    c = torch.randn(3, 4, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    s = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(fgclip_region_text_loss, (r, t, s))
    assert torch.autograd.gradcheck(fgclip_hard_negative_loss, (r, c, s))


def test_one_and_zero_regions():
    one = FgclipRegionTextLoss()(region_feats=torch.randn(1, 4), region_text_feats=torch.randn(1, 4))
    assert one.item() == 0.0
    r = torch.zeros(0, 4, requires_grad=True)
    zero = FgclipRegionTextLoss()(region_feats=r, region_text_feats=torch.zeros(0, 4))
    zero.backward()
    assert zero.item() == 0.0 and r.grad is not None
    h = torch.zeros(0, 4, requires_grad=True)
    assert FgclipHardNegativeLoss()(hard_region_feats=h, hard_text_feats=torch.zeros(0, 11, 4)).item() == 0.0
    single = FgclipHardNegativeLoss()(hard_region_feats=torch.randn(1, 4), hard_text_feats=torch.randn(1, 11, 4))
    assert torch.isfinite(single)


def test_zero_area_region_features_do_not_give_nan():
    regions = torch.zeros(3, 4, requires_grad=True)  # what RoI Align gives for zero-area boxes
    value = FgclipRegionTextLoss()(region_feats=regions, region_text_feats=torch.randn(3, 4))
    value.backward()
    assert value.item() == pytest.approx(math.log(3)) and torch.isfinite(regions.grad).all()


def test_shape_errors():
    with pytest.raises(ValueError, match=r"\[N, D\]"):
        fgclip_region_text_loss(torch.randn(3, 4), torch.randn(2, 4))
    with pytest.raises(ValueError, match=r"\[N, K, D\]"):
        fgclip_hard_negative_loss(torch.randn(3, 4), torch.randn(3 * 11, 4))


@pytest.mark.parametrize("cls", [FgclipRegionTextLoss, FgclipHardNegativeLoss])
def test_conformance_kit(cls):
    check_loss(cls(), params={})
    check_loss(cls(loss_weight=0.1, logit_scale=4.6052), params={"loss_weight": 0.1, "logit_scale": 4.6052})
