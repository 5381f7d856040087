"""FG-CLIP v1's region losses (``fgclip.py`` at 360CVGroup/FG-CLIP ``0fcea59``, spec §2.3).

Region-text contrastive (``pairwise_contrastive_loss``; FG-CLIP weight 0.1)::

    R: [N, D] region features (RoI Align on the dense map), T: [N, D] their texts, both L2-normalised
    logits = exp(s) * R @ T^T                                    [N, N], s = logit_scale_finegraind
    loss   = (CE(logits^T, arange(N)) + CE(logits, arange(N))) / 2

Hard negatives (``hard_contrastive_loss``; FG-CLIP weight 0.5)::

    R: [N, D], C: [N, K, D] candidate texts per region, the positive first (FG-CLIP: K = 11)
    loss = CE(exp(s) * einsum('nd,nkd->nk', R, C), zeros(N))        s = logit_scale_hardneg

Both logit scales are learnable and unclamped; FG-CLIP's config initialises them to 2.6592 and
its training script to the model's current ``logit_scale``.  FG-CLIP normalises by ``x / ||x||``
after casting the RoI features to bfloat16; here the inputs are normalised in their own dtype
(``normalize=True``) with a small ``eps`` so zero-area boxes do not give NaN.  The original
``.squeeze()`` breaks with one region; here ``N = 1`` works and ``N = 0`` gives a zero that
backpropagates.  Pass only the valid boxes (FG-CLIP drops its zero padding boxes via ``box_nums``).
"""
from __future__ import annotations

from typing import Annotated, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from regionkit.models.losses.base import BaseLoss, LossWeight, connected_zero
from regionkit.models.losses.temperature import Temperature
from regionkit.params import Range, checked

__all__ = ["fgclip_region_text_loss", "fgclip_hard_negative_loss", "FgclipRegionTextLoss", "FgclipHardNegativeLoss",
           "FGCLIP_LOGIT_SCALE"]

#: FG-CLIP's ``logit_scale_init_value``
FGCLIP_LOGIT_SCALE = 2.6592

LogitScale = Annotated[float, Range(-10.0, 10.0)]


def _region_text(region: Tensor, text: Tensor, to_logits: Any, normalize: bool) -> Tensor:
    if region.dim() != 2 or region.shape != text.shape:
        raise ValueError(f"region and text features must both be [N, D], got {tuple(region.shape)} and "
                         f"{tuple(text.shape)}")
    if region.shape[0] == 0:
        return connected_zero(region, text)
    if normalize:
        region, text = F.normalize(region, dim=-1), F.normalize(text, dim=-1)
    logits = to_logits(region @ text.T)
    labels = torch.arange(region.shape[0], device=region.device)
    return (F.cross_entropy(logits.T, labels) + F.cross_entropy(logits, labels)) / 2


def _hard_negative(region: Tensor, candidates: Tensor, to_logits: Any, normalize: bool) -> Tensor:
    if region.dim() != 2 or candidates.dim() != 3 or candidates.shape[0] != region.shape[0] \
            or candidates.shape[2] != region.shape[1]:
        raise ValueError(f"expected region features [N, D] and candidate texts [N, K, D], got {tuple(region.shape)} "
                         f"and {tuple(candidates.shape)}")
    if region.shape[0] == 0:
        return connected_zero(region, candidates)
    if normalize:
        region, candidates = F.normalize(region, dim=-1), F.normalize(candidates, dim=-1)
    logits = to_logits(torch.einsum("nd,nkd->nk", region, candidates))
    return F.cross_entropy(logits, torch.zeros(region.shape[0], dtype=torch.long, device=region.device))


def _exp_scale(logit_scale: Tensor | float, like: Tensor) -> Any:
    scale = torch.as_tensor(logit_scale, dtype=like.dtype, device=like.device).exp()
    return lambda sim: sim * scale


def fgclip_region_text_loss(region_feats: Tensor, region_text_feats: Tensor,
                            logit_scale: Tensor | float = FGCLIP_LOGIT_SCALE, *, normalize: bool = True) -> Tensor:
    """FG-CLIP's region-text loss: ``region_feats [N, D]``, ``region_text_feats [N, D]`` (pair k is region k's text)."""
    return _region_text(region_feats, region_text_feats, _exp_scale(logit_scale, region_feats), normalize)


def fgclip_hard_negative_loss(region_feats: Tensor, candidate_text_feats: Tensor,
                              logit_scale: Tensor | float = FGCLIP_LOGIT_SCALE, *, normalize: bool = True) -> Tensor:
    """FG-CLIP's hard-negative loss: ``region_feats [N, D]``, ``candidate_text_feats [N, K, D]`` (index 0 positive)."""
    return _hard_negative(region_feats, candidate_text_feats, _exp_scale(logit_scale, region_feats), normalize)


class FgclipRegionTextLoss(BaseLoss):
    """FG-CLIP's region-text contrastive loss over the regions of the local batch (FG-CLIP weight: 0.1).

    Parameters: ``logit_scale`` (initial ``s``), ``learnable_temperature``, ``normalize``, ``loss_weight``.
    """

    name = "fgclip_region_text"
    consumes = ("region_feats", "region_text_feats")

    @checked
    def __init__(self, *, loss_weight: LossWeight = 1.0, logit_scale: LogitScale = FGCLIP_LOGIT_SCALE,
                 learnable_temperature: bool = True, normalize: bool = True) -> None:
        super().__init__(loss_weight=loss_weight)
        self.temperature = Temperature(logit_scale, "logit_scale", learnable_temperature)
        self.normalize = normalize

    def forward(self, region_feats: Tensor, region_text_feats: Tensor) -> Tensor:
        return _region_text(region_feats, region_text_feats, self.temperature, self.normalize) * self.loss_weight

    @classmethod
    def example_inputs(cls) -> dict[str, Any]:
        return dict(region_feats=torch.randn(6, 16, requires_grad=True),
                    region_text_feats=torch.randn(6, 16, requires_grad=True))


class FgclipHardNegativeLoss(BaseLoss):
    """FG-CLIP's hard-negative loss: each region against its positive text and K-1 hard negatives (weight: 0.5).

    Parameters: ``logit_scale`` (initial ``s``), ``learnable_temperature``, ``normalize``, ``loss_weight``.
    """

    name = "fgclip_hard_negative"
    consumes = ("hard_region_feats", "hard_text_feats")

    @checked
    def __init__(self, *, loss_weight: LossWeight = 1.0, logit_scale: LogitScale = FGCLIP_LOGIT_SCALE,
                 learnable_temperature: bool = True, normalize: bool = True) -> None:
        super().__init__(loss_weight=loss_weight)
        self.temperature = Temperature(logit_scale, "logit_scale", learnable_temperature)
        self.normalize = normalize

    def forward(self, hard_region_feats: Tensor, hard_text_feats: Tensor) -> Tensor:
        return _hard_negative(hard_region_feats, hard_text_feats, self.temperature, self.normalize) * self.loss_weight

    @classmethod
    def example_inputs(cls) -> dict[str, Any]:
        return dict(hard_region_feats=torch.randn(3, 16, requires_grad=True),
                    hard_text_feats=torch.randn(3, 11, 16, requires_grad=True))
