"""SPRC's losses (``Blip2QformerCirAlignPrompt.forward``, chunmeifeng/SPRC ``2935a53``): ``itc``, ``rtc``, ``align``.

Shapes (``B`` triplets, ``Q`` target query tokens, ``D`` embedding size, ``H`` Q-Former width)::

    S[i, j]    = max_q <f_i, t_{j,q}>                      f: [B, D], t: [B, Q, D]  -> S: [B, B]
    loss_itc   = CE(S / temp, arange(B))                    composed query -> target, one direction
    loss_rtc   = the same with g (caption + learnable prompts, no image) in place of f
    loss_align = MSE(mean_q P[:, q], mean_q prompts.detach()[:, q])   P: [B, Q, H], prompts: [1|B, Q, H]

``f``, ``g`` and ``t`` are L2-normalised here (``normalize=True``, SPRC normalises right after its
projections; idempotent on unit vectors).  Positives are the diagonal, negatives the other
``B - 1`` targets of the batch; no all-gather, no label smoothing.  ``temp`` is learnable,
initialised 0.07 and unclamped; SPRC's ``itc`` and ``rtc`` share it (``LossSet(...,
share_temperature=[("itc", "rtc")])``).  Unlike SPRC's ``.squeeze()``, batch size 1 works (the
loss is 0).  SPRC's CIRR weights: ``itc + 0.4 rtc + 0.4 align``; FashionIQ sums all three.
"""
from __future__ import annotations

from typing import Annotated, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from regionkit.models.losses.base import BaseLoss, LossWeight
from regionkit.models.losses.temperature import Temperature
from regionkit.params import Range, checked

__all__ = ["max_token_similarity", "sprc_contrastive_loss", "sprc_align_loss", "ItcLoss", "RtcLoss", "AlignLoss"]


def max_token_similarity(query: Tensor, target_tokens: Tensor) -> Tensor:
    """``S[i, j] = max_q <query_i, target_tokens[j, q]>``: ``[B, D]`` x ``[B', Q, D]`` -> ``[B, B']``."""
    if query.dim() != 2 or target_tokens.dim() != 3 or query.shape[-1] != target_tokens.shape[-1]:
        raise ValueError(f"expected query [B, D] and target tokens [B, Q, D], got {tuple(query.shape)} and "
                         f"{tuple(target_tokens.shape)}")
    sim = torch.einsum("id,jqd->ijq", query, target_tokens)
    return sim.max(dim=-1).values


def _diagonal_cross_entropy(logits: Tensor) -> Tensor:
    """In-batch InfoNCE with the diagonal as positives: ``CE(logits [B, B], arange(B))``."""
    if logits.dim() != 2 or logits.shape[0] != logits.shape[1]:
        raise ValueError(f"the queries and targets must be paired (same batch size), got logits {tuple(logits.shape)}")
    return F.cross_entropy(logits, torch.arange(logits.shape[0], device=logits.device))


def sprc_contrastive_loss(query: Tensor, target_tokens: Tensor, temperature: Tensor | float = 0.07, *,
                          normalize: bool = True) -> Tensor:
    """SPRC's ``loss_itc`` / ``loss_rtc``: ``CE(max_token_similarity(f, t) / temperature, arange(B))``.

    ``query``: ``[B, D]`` (fused query ``f`` for itc, prompt-text feature ``g`` for rtc);
    ``target_tokens``: ``[B, Q, D]``; ``temperature``: scalar (tensor for a learnable one).
    """
    if normalize:
        query = F.normalize(query, dim=-1)
        target_tokens = F.normalize(target_tokens, dim=-1)
    return _diagonal_cross_entropy(max_token_similarity(query, target_tokens) / temperature)


def _prompt_mean(prompt_tokens: Tensor, batch: int) -> Tensor:
    if prompt_tokens.dim() == 2:
        prompt_tokens = prompt_tokens[None]
    if prompt_tokens.dim() != 3 or prompt_tokens.shape[0] not in (1, batch):
        raise ValueError(f"prompt_tokens must be [Q, H], [1, Q, H] or [B, Q, H] with B={batch}, got "
                         f"{tuple(prompt_tokens.shape)}")
    return prompt_tokens.detach().mean(1).expand(batch, -1)


def sprc_align_loss(fusion_prompts: Tensor, prompt_tokens: Tensor) -> Tensor:
    """SPRC's ``loss_align``: ``MSE(fusion_prompts.mean(1), prompt_tokens.detach().mean(1))``, mean over ``B x H``.

    ``fusion_prompts``: ``[B, Q, H]`` (the Q-Former's first ``Q`` outputs of the reference+text
    pass); ``prompt_tokens``: the learnable prompts ``[1, Q, H]`` (or ``[Q, H]``, ``[B, Q, H]``),
    detached: they get no gradient from this loss.
    """
    if fusion_prompts.dim() != 3:
        raise ValueError(f"fusion_prompts must be [B, Q, H], got {tuple(fusion_prompts.shape)}")
    return F.mse_loss(fusion_prompts.mean(1), _prompt_mean(prompt_tokens, fusion_prompts.shape[0]))


class _MaxTokenContrastive(BaseLoss):
    """The loss shared by ``itc`` and ``rtc``: query ``[B, D]`` vs target query tokens ``[B, Q, D]``."""

    @checked
    def __init__(self, *, loss_weight: LossWeight = 1.0,
                 temperature: Annotated[float, Range(1e-4, 100.0)] = 0.07, learnable_temperature: bool = True,
                 normalize: bool = True) -> None:
        super().__init__(loss_weight=loss_weight)
        self.temperature = Temperature(temperature, "temperature", learnable_temperature)
        self.normalize = normalize

    def _loss(self, query: Tensor, target_feats: Tensor) -> Tensor:
        if self.normalize:
            query = F.normalize(query, dim=-1)
            target_feats = F.normalize(target_feats, dim=-1)
        logits = self.temperature(max_token_similarity(query, target_feats))
        return _diagonal_cross_entropy(logits) * self.loss_weight


class ItcLoss(_MaxTokenContrastive):
    """SPRC's ``loss_itc``: fused query ``fusion_feats [B, D]`` vs target query tokens ``target_feats [B, Q, D]``.

    Parameters: ``temperature`` (initial ``temp``, 0.07), ``learnable_temperature``, ``normalize``
    (L2-normalise both inputs first), ``loss_weight``.
    """

    name = "itc"
    consumes = ("fusion_feats", "target_feats")

    def forward(self, fusion_feats: Tensor, target_feats: Tensor) -> Tensor:
        return self._loss(fusion_feats, target_feats)

    @classmethod
    def example_inputs(cls) -> dict[str, Any]:
        return dict(fusion_feats=torch.randn(4, 16, requires_grad=True),
                    target_feats=torch.randn(4, 8, 16, requires_grad=True))


class RtcLoss(_MaxTokenContrastive):
    """SPRC's ``loss_rtc``: prompt-text feature ``text_only_feats [B, D]`` vs ``target_feats [B, Q, D]``.

    Same parameters as :class:`ItcLoss`; share its temperature to reproduce SPRC's single ``temp``.
    """

    name = "rtc"
    consumes = ("text_only_feats", "target_feats")

    def forward(self, text_only_feats: Tensor, target_feats: Tensor) -> Tensor:
        return self._loss(text_only_feats, target_feats)

    @classmethod
    def example_inputs(cls) -> dict[str, Any]:
        return dict(text_only_feats=torch.randn(4, 16, requires_grad=True),
                    target_feats=torch.randn(4, 8, 16, requires_grad=True))


class AlignLoss(BaseLoss):
    """SPRC's ``loss_align``: ``fusion_prompts [B, Q, H]`` pulled to the detached mean of ``prompt_tokens [1, Q, H]``."""

    name = "align"
    consumes = ("fusion_prompts", "prompt_tokens")

    @checked
    def __init__(self, *, loss_weight: LossWeight = 1.0) -> None:
        super().__init__(loss_weight=loss_weight)

    def forward(self, fusion_prompts: Tensor, prompt_tokens: Tensor) -> Tensor:
        return sprc_align_loss(fusion_prompts, prompt_tokens) * self.loss_weight

    @classmethod
    def example_inputs(cls) -> dict[str, Any]:
        return dict(fusion_prompts=torch.randn(4, 8, 16, requires_grad=True), prompt_tokens=torch.randn(1, 8, 16))
