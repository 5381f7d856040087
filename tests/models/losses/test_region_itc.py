"""region_itc: a region contrastive loss that uses the boxes (spec §3.2)."""
from __future__ import annotations

import math

import pytest
import torch

from regionkit.models.losses.region_itc import LOG_INV_007, RegionItcLoss, region_itc_loss
from regionkit.models.region_features.embedder import RegionEmbedder
from regionkit.testing import check_loss


def reference_loss(ref, ref_owner, tgt, tgt_owner, scale, symmetric=True):
    """Plain-Python multi-positive InfoNCE, written from the formula, for comparison."""
    ref = torch.nn.functional.normalize(ref, dim=-1, eps=1e-6)
    tgt = torch.nn.functional.normalize(tgt, dim=-1, eps=1e-6)
    logits = (ref @ tgt.T * scale).tolist()

    def direction(rows, row_owner, col_owner):
        terms = []
        for k, row in enumerate(rows):
            positives = [v for v, o in zip(row, col_owner) if o == row_owner[k]]
            if positives:
                terms.append(math.log(sum(math.exp(v) for v in row)) - math.log(sum(math.exp(v) for v in positives)))
        return sum(terms) / len(terms)

    r2t = direction(logits, ref_owner.tolist(), tgt_owner.tolist())
    if not symmetric:
        return r2t
    columns = [list(c) for c in zip(*logits)]
    return (r2t + direction(columns, tgt_owner.tolist(), ref_owner.tolist())) / 2


def test_identical_embeddings_one_region_each_give_log_b():
    for b in (1, 2, 5, 16):
        feats = torch.ones(b, 8)
        owner = torch.arange(b)
        for mode in ("multi_positive", "mean_pool"):
            value = region_itc_loss(feats, owner, feats, owner, mode=mode)
            assert value.item() == pytest.approx(math.log(b), abs=1e-6)


def test_matches_a_hand_written_multi_positive_infonce():
    gen = torch.Generator().manual_seed(0)
    ref, tgt = torch.randn(7, 5, generator=gen, dtype=torch.float64), torch.randn(6, 5, generator=gen, dtype=torch.float64)
    ref_owner = torch.tensor([0, 0, 1, 2, 3, 3, 3])
    tgt_owner = torch.tensor([0, 1, 1, 1, 3, 4])  # pair 2 has no target region, pair 4 no reference region
    for scale in (1.0, 14.285714):
        for symmetric in (True, False):
            got = region_itc_loss(ref, ref_owner, tgt, tgt_owner, math.log(scale), symmetric=symmetric).item()
            assert got == pytest.approx(reference_loss(ref, ref_owner, tgt, tgt_owner, scale, symmetric), rel=1e-12)


def test_small_case_by_hand():
    # two pairs, one region each side, orthogonal unit vectors: logits exp(s) * I
    e = torch.eye(2, dtype=torch.float64)
    owner = torch.arange(2)
    expected = math.log1p(math.exp(-1 / 0.07))
    assert region_itc_loss(e, owner, e, owner).item() == pytest.approx(expected, rel=1e-9)
    # pair 0 has two target regions: one aligned, one aligned with pair 1's region
    tgt = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], dtype=torch.float64)
    tgt_owner = torch.tensor([0, 0, 1])
    s = 1.0
    # logits [[1, 0, 0], [0, 1, 1]]; r2t rows: positives {0, 1} and {2}; t2r rows: positives {0}, {0}, {1}
    r2t = (math.log(math.e + 2) - math.log(math.e + 1) + math.log(1 + 2 * math.e) - 1) / 2
    t2r = ((math.log(1 + math.e) - 1) + math.log(1 + math.e) + (math.log(1 + math.e) - 1)) / 3
    got = region_itc_loss(e, owner, tgt, tgt_owner, math.log(s)).item()
    assert got == pytest.approx((r2t + t2r) / 2, rel=1e-12)


def test_order_of_regions_does_not_matter():
    gen = torch.Generator().manual_seed(1)
    ref, tgt = torch.randn(9, 4, generator=gen, dtype=torch.float64), torch.randn(8, 4, generator=gen, dtype=torch.float64)
    ro, to = torch.randint(0, 4, (9,), generator=gen), torch.randint(0, 4, (8,), generator=gen)
    pr, pt = torch.randperm(9, generator=gen), torch.randperm(8, generator=gen)
    for mode in ("multi_positive", "mean_pool"):
        a = region_itc_loss(ref, ro, tgt, to, mode=mode)
        b = region_itc_loss(ref[pr], ro[pr], tgt[pt], to[pt], mode=mode)
        assert a.item() == pytest.approx(b.item(), rel=1e-12)


def test_no_positive_pair_or_no_regions_gives_a_connected_zero():
    ref = torch.randn(3, 4, requires_grad=True)
    tgt = torch.randn(2, 4, requires_grad=True)
    loss = RegionItcLoss()
    for mode in ("multi_positive", "mean_pool"):
        loss.mode = mode
        value = loss(ref_region_feats=ref, ref_region_owner=torch.tensor([0, 0, 1]), tgt_region_feats=tgt,
                     tgt_region_owner=torch.tensor([2, 3]))
        value.backward()
        assert value.item() == 0.0 and ref.grad is not None and tgt.grad is not None
    empty = loss(ref_region_feats=torch.zeros(0, 4, requires_grad=True), ref_region_owner=torch.zeros(0, dtype=torch.long),
                 tgt_region_feats=tgt, tgt_region_owner=torch.tensor([0, 1]))
    assert empty.item() == 0.0 and empty.requires_grad


def test_all_images_without_boxes_use_the_whole_image_regions():
    torch.manual_seed(0)
    embedder = RegionEmbedder(16, 8)
    ref_tokens, tgt_tokens = torch.randn(4, 257, 16), torch.randn(4, 257, 16)
    ref = embedder(ref_tokens, [[]] * 4)
    tgt = embedder(tgt_tokens, [[]] * 4)
    assert ref.fallback.all() and ref.owner.tolist() == [0, 1, 2, 3]
    value = RegionItcLoss()(ref_region_feats=ref.features, ref_region_owner=ref.owner,
                            tgt_region_feats=tgt.features, tgt_region_owner=tgt.owner)
    # one whole-image region per image: the mean-pooled patch tokens, projected
    pooled = [embedder.proj(t[:, 1:].mean(1)) for t in (ref_tokens, tgt_tokens)]
    expected = region_itc_loss(pooled[0], torch.arange(4), pooled[1], torch.arange(4))
    assert torch.isfinite(value) and value.item() == pytest.approx(expected.item(), rel=1e-5)


def test_the_loss_really_depends_on_the_boxes():
    torch.manual_seed(1)
    embedder = RegionEmbedder(16, 8)
    ref_tokens, tgt_tokens = torch.randn(3, 257, 16), torch.randn(3, 257, 16)
    loss = RegionItcLoss()

    def value(boxes):
        r, t = embedder(ref_tokens, boxes), embedder(tgt_tokens, boxes)
        return loss(ref_region_feats=r.features, ref_region_owner=r.owner, tgt_region_feats=t.features,
                    tgt_region_owner=t.owner).item()

    a = value([[[0, 0, 8, 8]], [[8, 8, 16, 16]], [[0, 8, 8, 16], [4, 4, 12, 12]]])
    b = value([[[8, 0, 16, 8]], [[0, 0, 4, 4]], [[2, 2, 5, 9]]])
    assert abs(a - b) > 1e-3


def test_gradcheck_float64():
    gen = torch.Generator().manual_seed(2)
    ref = torch.randn(5, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    tgt = torch.randn(4, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    s = torch.tensor(1.1, dtype=torch.float64, requires_grad=True)
    ro, to = torch.tensor([0, 0, 1, 2, 2]), torch.tensor([0, 1, 2, 2])
    for mode in ("multi_positive", "mean_pool"):
        assert torch.autograd.gradcheck(lambda a, b, c, m=mode: region_itc_loss(a, ro, b, to, c, mode=m),
                                        (ref, tgt, s))


def test_batch_size_one_and_nan_freedom():
    one = region_itc_loss(torch.randn(3, 4), torch.zeros(3, dtype=torch.long), torch.randn(2, 4),
                          torch.zeros(2, dtype=torch.long))
    assert one.item() == pytest.approx(0.0, abs=1e-6)  # every region is a positive
    zeros = torch.zeros(4, 4, requires_grad=True)
    value = region_itc_loss(zeros, torch.arange(4), torch.randn(4, 4), torch.arange(4))
    value.backward()
    assert value.item() == pytest.approx(math.log(4)) and torch.isfinite(zeros.grad).all()


def test_default_temperature_and_determinism():
    loss = RegionItcLoss()
    assert loss.temperature.mode == "logit_scale" and loss.temperature.value.item() == pytest.approx(LOG_INV_007)
    inputs = RegionItcLoss.example_inputs()
    assert torch.equal(loss(**inputs), loss(**inputs))


@pytest.mark.parametrize("params", [{}, {"mode": "mean_pool", "symmetric": False, "loss_weight": 0.5}])
def test_conformance_kit(params):
    check_loss(RegionItcLoss(**params), params=params)
