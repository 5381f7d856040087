"""``region_itc``: a region contrastive loss for composed retrieval that really uses the boxes (spec §3.2).

Inputs are region embeddings pooled from the boxes of the reference and the target image of each
triplet (:class:`~regionkit.models.region_features.embedder.RegionEmbedder`), with the owner index
of each region (its triplet's position in the batch)::

    Zr: [Rr, D] reference regions, ir: [Rr] owners;  Zt: [Rt, D] target regions, it: [Rt] owners
    A   = logits(l2norm(Zr) @ l2norm(Zt)^T)              [Rr, Rt]   (exp(s) * sim, s init log(1/0.07))
    pos = ir[:, None] == it[None, :]                     regions of the same (reference, target) pair
    L_r2t = mean_k [ logsumexp_j A[k, j] - logsumexp_{j in pos[k]} A[k, j] ]   (multi-positive InfoNCE)
    L_t2r = the same on A^T;  loss = (L_r2t + L_t2r) / 2  (symmetric=False: L_r2t)

Every region of the paired image is a positive (CIRR's reference and target detections are not
paired one-to-one, so index matching would be arbitrary); the regions of the other triplets in
the batch are the negatives.  Regions whose pair has no region on the other side take no part;
with no positive pair at all the loss is a zero that still backpropagates.  Images without boxes
are handled upstream (``roi_align_tokens(empty="whole_image")`` gives them their patch mean).
``mode="mean_pool"`` is the simpler fallback of §3.2: mean-pool each image's normalised region
embeddings, re-normalise, and use diagonal InfoNCE over the pairs that have regions on both sides.
The temperature is the loss's own unless a :class:`~regionkit.models.losses.loss_set.LossSet`
shares another loss's (e.g. SPRC's ``temp``: ``share_temperature=[("itc", "rtc", "region_itc")]``).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from regionkit.models.losses.base import BaseLoss, LossWeight, connected_zero
from regionkit.models.losses.temperature import Temperature
from regionkit.params import Range, checked

__all__ = ["region_itc_loss", "RegionItcLoss", "LOG_INV_007"]

#: ``log(1 / 0.07)``, CLIP's initial logit scale
LOG_INV_007 = math.log(1 / 0.07)

RegionMode = Literal["multi_positive", "mean_pool"]


def _multi_positive_ce(logits: Tensor, positive: Tensor) -> Tensor | None:
    """Mean over rows with a positive of ``logsumexp(row) - logsumexp(row[positive])``; None without any."""
    rows = positive.any(1)
    if not bool(rows.any()):
        return None
    logits, positive = logits[rows], positive[rows]
    return (logits.logsumexp(1) - logits.masked_fill(~positive, float("-inf")).logsumexp(1)).mean()


def _owner_means(feats: Tensor, owner: Tensor, size: int) -> Tensor:
    sums = feats.new_zeros(size, feats.shape[1]).index_add(0, owner, feats)
    counts = torch.bincount(owner, minlength=size).clamp(min=1).to(feats.dtype)
    return sums / counts[:, None]


def _region_itc(ref: Tensor, ref_owner: Tensor, tgt: Tensor, tgt_owner: Tensor,
                to_logits: Callable[[Tensor], Tensor], *, mode: RegionMode, symmetric: bool, normalize: bool,
                eps: float) -> Tensor:
    if ref.dim() != 2 or tgt.dim() != 2 or ref.shape[1] != tgt.shape[1]:
        raise ValueError(f"region features must be [Rr, D] and [Rt, D], got {tuple(ref.shape)} and {tuple(tgt.shape)}")
    ref_owner = ref_owner.reshape(-1).to(device=ref.device, dtype=torch.long)
    tgt_owner = tgt_owner.reshape(-1).to(device=tgt.device, dtype=torch.long)
    if ref_owner.shape[0] != ref.shape[0] or tgt_owner.shape[0] != tgt.shape[0]:
        raise ValueError(f"owner indices ({ref_owner.shape[0]}, {tgt_owner.shape[0]}) do not match the region counts "
                         f"({ref.shape[0]}, {tgt.shape[0]})")
    zero = connected_zero(ref, tgt)
    if ref.shape[0] == 0 or tgt.shape[0] == 0:
        return zero
    if normalize:
        ref, tgt = F.normalize(ref, dim=-1, eps=eps), F.normalize(tgt, dim=-1, eps=eps)
    if mode == "mean_pool":
        size = int(max(ref_owner.max(), tgt_owner.max())) + 1
        both = (torch.bincount(ref_owner, minlength=size) > 0) & (torch.bincount(tgt_owner, minlength=size) > 0)
        if not bool(both.any()):
            return zero
        ref, tgt = _owner_means(ref, ref_owner, size)[both], _owner_means(tgt, tgt_owner, size)[both]
        if normalize:
            ref, tgt = F.normalize(ref, dim=-1, eps=eps), F.normalize(tgt, dim=-1, eps=eps)
        ref_owner = tgt_owner = torch.arange(ref.shape[0], device=ref.device)
    elif mode != "multi_positive":
        raise ValueError(f"mode must be 'multi_positive' or 'mean_pool', got {mode!r}")
    logits = to_logits(ref @ tgt.T)
    positive = ref_owner[:, None] == tgt_owner[None, :]
    r2t = _multi_positive_ce(logits, positive)
    if r2t is None:
        return zero
    if not symmetric:
        return r2t
    t2r = _multi_positive_ce(logits.T, positive.T)
    assert t2r is not None  # a positive pair is positive in both directions
    return (r2t + t2r) / 2


def region_itc_loss(ref_region_feats: Tensor, ref_region_owner: Tensor, tgt_region_feats: Tensor,
                    tgt_region_owner: Tensor, logit_scale: Tensor | float = LOG_INV_007, *,
                    mode: RegionMode = "multi_positive", symmetric: bool = True, normalize: bool = True,
                    eps: float = 1e-6) -> Tensor:
    """The region contrastive loss of the module docstring; ``logits = exp(logit_scale) * cosine``.

    ``ref_region_feats``: ``[Rr, D]``; ``ref_region_owner``: ``[Rr]`` int64 pair index;
    ``tgt_region_feats``: ``[Rt, D]``; ``tgt_region_owner``: ``[Rt]``.  Returns a 0-dim tensor.
    """
    scale = torch.as_tensor(logit_scale, dtype=ref_region_feats.dtype, device=ref_region_feats.device).exp()
    return _region_itc(ref_region_feats, ref_region_owner, tgt_region_feats, tgt_region_owner,
                       lambda sim: sim * scale, mode=mode, symmetric=symmetric, normalize=normalize, eps=eps)


class RegionItcLoss(BaseLoss):
    """Region contrastive loss between the reference and target regions of each triplet (see module docstring).

    Parameters: ``logit_scale`` (initial ``s``, logits ``exp(s) * cosine``), ``learnable_temperature``,
    ``mode`` (``multi_positive`` or ``mean_pool``), ``symmetric``, ``normalize`` with ``eps``,
    ``loss_weight`` (spec §3.2 suggests 0.1 to 0.5).
    """

    name = "region_itc"
    consumes = ("ref_region_feats", "ref_region_owner", "tgt_region_feats", "tgt_region_owner")

    @checked
    def __init__(self, *, loss_weight: LossWeight = 1.0,
                 logit_scale: Annotated[float, Range(-10.0, 10.0)] = LOG_INV_007, learnable_temperature: bool = True,
                 mode: RegionMode = "multi_positive", symmetric: bool = True, normalize: bool = True,
                 eps: Annotated[float, Range(0.0, 1.0)] = 1e-6) -> None:
        super().__init__(loss_weight=loss_weight)
        self.temperature = Temperature(logit_scale, "logit_scale", learnable_temperature)
        self.mode: RegionMode = mode
        self.symmetric = symmetric
        self.normalize = normalize
        self.eps = eps

    def forward(self, ref_region_feats: Tensor, ref_region_owner: Tensor, tgt_region_feats: Tensor,
                tgt_region_owner: Tensor) -> Tensor:
        loss = _region_itc(ref_region_feats, ref_region_owner, tgt_region_feats, tgt_region_owner, self.temperature,
                           mode=self.mode, symmetric=self.symmetric, normalize=self.normalize, eps=self.eps)
        return loss * self.loss_weight

    @classmethod
    def example_inputs(cls) -> dict[str, Any]:
        # 4 pairs; pair 2's target has no box here (its fallback region would come from roi_align_tokens)
        return dict(ref_region_feats=torch.randn(7, 16, requires_grad=True),
                    ref_region_owner=torch.tensor([0, 0, 1, 2, 3, 3, 3]),
                    tgt_region_feats=torch.randn(5, 16, requires_grad=True),
                    tgt_region_owner=torch.tensor([0, 1, 1, 3, 3]))
