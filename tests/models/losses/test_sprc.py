"""SPRC's itc / rtc / align: the spec's toy values, hand computations, parity with SPRC's forward, gradients."""
from __future__ import annotations

import math

import pytest
import torch

from regionkit.errors import ConfigError
from regionkit.models.losses.sprc import (
    AlignLoss,
    ItcLoss,
    RtcLoss,
    max_token_similarity,
    sprc_align_loss,
    sprc_contrastive_loss,
)
from regionkit.testing import check_loss
from tests.models.losses._fixtures import load_cases

F_TOY = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
T_TOY = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.6, 0.8], [-1.0, 0.0]]], dtype=torch.float64)


# ---------------------------------------------------------------------- spec §1.3 toy checks
def test_spec_toy_similarity_and_itc():
    torch.testing.assert_close(max_token_similarity(F_TOY, T_TOY),
                               torch.tensor([[1.0, 0.6], [1.0, 0.8]], dtype=torch.float64))
    assert sprc_contrastive_loss(F_TOY, T_TOY, 0.07).item() == pytest.approx(1.458140, abs=1e-6)
    assert sprc_contrastive_loss(F_TOY, T_TOY, 1.0).item() == pytest.approx(0.655577, abs=1e-6)
    loss = ItcLoss(learnable_temperature=False).double()
    assert loss(fusion_feats=F_TOY, target_feats=T_TOY).item() == pytest.approx(1.458140, abs=1e-6)


def test_spec_toy_align():
    prompts = torch.tensor([[[1.0, 2.0], [3.0, 4.0]], [[0.0, 0.0], [2.0, 2.0]]])
    assert sprc_align_loss(prompts, torch.ones(1, 2, 2)).item() == pytest.approx(1.25)
    assert AlignLoss(loss_weight=0.4)(fusion_prompts=prompts, prompt_tokens=torch.ones(2, 2)).item() == \
        pytest.approx(0.5)


def test_hand_computed_itc():
    # S = [[1, 0.6], [1, 0.8]] / t: row 0 -> log(1 + e^(-0.4/t)), row 1 -> log(1 + e^(0.2/t))
    for t in (0.07, 0.3, 2.0):
        expected = (math.log1p(math.exp(-0.4 / t)) + math.log1p(math.exp(0.2 / t))) / 2
        assert sprc_contrastive_loss(F_TOY, T_TOY, t).item() == pytest.approx(expected, rel=1e-12)


def test_normalisation_and_scale_invariance():
    gen = torch.Generator().manual_seed(0)
    f, t = torch.randn(5, 7, generator=gen, dtype=torch.float64), torch.randn(5, 3, 7, generator=gen, dtype=torch.float64)
    base = sprc_contrastive_loss(f, t)
    assert sprc_contrastive_loss(3 * f, 0.5 * t).item() == pytest.approx(base.item(), rel=1e-12)
    unit = sprc_contrastive_loss(torch.nn.functional.normalize(f, dim=-1),
                                 torch.nn.functional.normalize(t, dim=-1), normalize=False)
    assert unit.item() == pytest.approx(base.item(), rel=1e-12)


# ---------------------------------------------------------------------- parity with SPRC's forward
REFERENCE = load_cases("sprc_reference.pt")


def _grads(value: torch.Tensor, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    grads = torch.autograd.grad(value, list(inputs.values()), allow_unused=True)
    return {k: g for k, g in zip(inputs, grads) if g is not None}


@pytest.mark.parametrize("case", sorted(REFERENCE))
def test_parity_with_sprc_forward(case):
    ref = REFERENCE[case]
    dtype = torch.float64 if case.endswith("float64") else torch.float32
    tol = 1e-6 if dtype == torch.float64 else 1e-5
    data = {k: v.to(dtype) for k, v in ref.items()}
    for name, cls, query in (("loss_itc", ItcLoss, "fusion_feats"), ("loss_rtc", RtcLoss, "text_only_feats")):
        loss = cls(temperature=0.07).to(dtype)
        with torch.no_grad():
            loss.temperature.value.copy_(data["temp"])
        q = data[query].clone().requires_grad_()
        t = data["target_feats"].clone().requires_grad_()
        value = loss(**{query: q, "target_feats": t})
        torch.testing.assert_close(value, data[name], rtol=0, atol=tol)
        grads = _grads(value, {query: q, "target_feats": t, "temp": loss.temperature.value})
        for key, grad in grads.items():
            torch.testing.assert_close(grad, data[f"{name}.grad.{key}"], rtol=0, atol=tol, msg=f"{case} {name} {key}")
    prompts = data["fusion_prompts"].clone().requires_grad_()
    tokens = data["prompt_tokens"].clone().requires_grad_()
    value = AlignLoss()(fusion_prompts=prompts, prompt_tokens=tokens)
    torch.testing.assert_close(value, data["loss_align"], rtol=0, atol=tol)
    grad_p, grad_t = torch.autograd.grad(value, [prompts, tokens], allow_unused=True)
    torch.testing.assert_close(grad_p, data["loss_align.grad.fusion_prompts"], rtol=0, atol=tol)
    assert grad_t is None  # SPRC detaches the prompt tokens in loss_align


# ---------------------------------------------------------------------- gradients, edge cases
def test_gradcheck_float64():
    gen = torch.Generator().manual_seed(1)
    f = torch.randn(3, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    t = torch.randn(3, 2, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    temp = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b, c: sprc_contrastive_loss(a, b, c), (f, t, temp))
    p = torch.randn(3, 2, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a: sprc_align_loss(a, torch.ones(1, 2, 4, dtype=torch.float64)), (p,))


def test_batch_size_one_and_nan_freedom():
    f = torch.randn(1, 6, requires_grad=True)
    t = torch.randn(1, 4, 6, requires_grad=True)
    value = ItcLoss()(fusion_feats=f, target_feats=t)
    assert value.item() == 0.0
    value.backward()
    assert torch.isfinite(f.grad).all() and torch.isfinite(t.grad).all()
    zeros = ItcLoss()(fusion_feats=torch.zeros(3, 6), target_feats=torch.zeros(3, 4, 6))
    assert zeros.item() == pytest.approx(math.log(3))


def test_prompt_shapes_and_errors():
    prompts = torch.randn(2, 3, 4)
    mean = torch.randn(1, 3, 4)
    expected = sprc_align_loss(prompts, mean)
    assert sprc_align_loss(prompts, mean[0]).item() == expected.item()
    assert sprc_align_loss(prompts, mean.expand(2, 3, 4)).item() == expected.item()
    with pytest.raises(ValueError, match="prompt_tokens"):
        sprc_align_loss(prompts, torch.randn(3, 3, 4))
    with pytest.raises(ValueError, match=r"\[B, D\]"):
        max_token_similarity(torch.randn(2, 3), torch.randn(2, 3))
    with pytest.raises(ValueError, match="paired"):
        sprc_contrastive_loss(torch.randn(2, 3), torch.randn(3, 4, 3))


def test_deterministic_and_weighted():
    inputs = ItcLoss.example_inputs()
    loss = ItcLoss()
    assert torch.equal(loss(**inputs), loss(**inputs))
    assert ItcLoss(loss_weight=0.4)(**inputs).item() == pytest.approx(0.4 * loss(**inputs).item(), rel=1e-6)


def test_checked_parameters():
    with pytest.raises(ConfigError, match="temperature"):
        ItcLoss(temperature=0.0)
    with pytest.raises(ConfigError, match="loss_weight"):
        RtcLoss(loss_weight=-1.0)
    with pytest.raises(ConfigError, match="learnable_temperature"):
        ItcLoss(learnable_temperature="yes")
    frozen = ItcLoss(learnable_temperature=False)
    assert list(frozen.parameters()) == [] and frozen.temperature.value.item() == pytest.approx(0.07)


@pytest.mark.parametrize("cls", [ItcLoss, RtcLoss, AlignLoss])
def test_conformance_kit(cls):
    check_loss(cls(), params={})
