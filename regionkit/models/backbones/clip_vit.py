"""CLIP ViT-L/14 as LAVIS defines it (``lavis/models/clip_vit.py``), BLIP-2's ``pretrain_vitL`` image encoder.

Parameter names and shapes are LAVIS's (OpenAI CLIP's visual tower without ``ln_post`` / ``proj``),
so ``clip_vit_L.pth`` and the ``visual_encoder.*`` part of ``blip2_pretrained_vitL.pth``-based
checkpoints load as they are::

    conv1.weight [W, 3, P, P] (no bias)   class_embedding [W]   positional_embedding [1 + (S/P)^2, W]
    ln_pre.{weight, bias} [W]
    transformer.resblocks.{i}.attn.{in_proj_weight [3W, W], in_proj_bias [3W], out_proj.weight [W, W], out_proj.bias [W]}
    transformer.resblocks.{i}.ln_1 / ln_2 .{weight, bias} [W]
    transformer.resblocks.{i}.mlp.c_fc.{weight [4W, W], bias}   .mlp.c_proj.{weight [W, 4W], bias}

ViT-L (:func:`clip_vit_l`): width ``W = 1024``, patch 14, 16 heads, QuickGELU, **23** blocks
(LAVIS drops OpenAI's last one), no final norm.  ``forward(x)``: images ``[B, 3, S, S]`` ->
tokens ``[B, 1 + (S/P)^2, W]`` (CLS first).  LayerNorms compute in fp32 and return the input dtype.
``use_grad_checkpointing`` recomputes the attention and MLP of blocks 13.. in the backward pass,
as LAVIS's fairscale ``checkpoint_wrapper`` does.  fp16: :func:`~regionkit.models.backbones.
eva_vit.convert_to_fp16` converts ``conv1``, ``out_proj`` and the MLP linears (not
``in_proj_weight``), as LAVIS.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import Tensor, nn

__all__ = ["ClipViTConfig", "ClipViT", "clip_vit_l", "CLIP_VIT_L", "interpolate_positional_embedding"]


@dataclass(frozen=True)
class ClipViTConfig:
    """Hyper-parameters of :class:`ClipViT` (LAVIS ``VisionTransformer`` arguments)."""

    input_resolution: int = 224
    patch_size: int = 14
    width: int = 1024
    layers: int = 23
    heads: int = 16

    @property
    def num_patches(self) -> int:
        return (self.input_resolution // self.patch_size) ** 2


#: LAVIS's ``create_clip_vit_L`` at 224 px
CLIP_VIT_L = ClipViTConfig()


class LayerNorm(nn.LayerNorm):
    """LayerNorm computed in fp32, returned in the input dtype (CLIP's fp16-safe variant)."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.type(torch.float32)).type(x.dtype)


class QuickGELU(nn.Module):
    """``x * sigmoid(1.702 x)``."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    """``x + attn(ln_1(x))``, ``x + mlp(ln_2(x))`` on sequence-first tokens ``[N, B, W]``."""

    def __init__(self, width: int, heads: int, checkpointed: bool = False) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(width, width * 4)), ("gelu", QuickGELU()),
                                              ("c_proj", nn.Linear(width * 4, width))]))
        self.ln_2 = LayerNorm(width)
        self.checkpointed = checkpointed

    def _attention(self, x: Tensor) -> Tensor:
        return self.attn(x, x, x, need_weights=False)[0]

    def _run(self, fn: nn.Module | object, x: Tensor) -> Tensor:
        if self.checkpointed and torch.is_grad_enabled():
            return torch.utils.checkpoint.checkpoint(fn, x, use_reentrant=False)  # type: ignore[arg-type]
        return fn(x)  # type: ignore[operator]

    def forward(self, x: Tensor) -> Tensor:
        x = x + self._run(self._attention, self.ln_1(x))
        return x + self._run(self.mlp, self.ln_2(x))


class Transformer(nn.Module):
    """``layers`` residual attention blocks; LAVIS checkpoints the blocks with index > 12."""

    def __init__(self, width: int, layers: int, heads: int, use_grad_checkpointing: bool = False) -> None:
        super().__init__()
        self.width = width
        self.layers = layers
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads, use_grad_checkpointing and i > 12)
                                         for i in range(layers)])

    def forward(self, x: Tensor) -> Tensor:
        return self.resblocks(x)


class ClipViT(nn.Module):
    """LAVIS's CLIP vision transformer (see the module docstring); ``num_features`` is the width."""

    def __init__(self, cfg: ClipViTConfig = CLIP_VIT_L, *, use_grad_checkpointing: bool = False) -> None:
        super().__init__()
        self.cfg = cfg
        self.input_resolution = cfg.input_resolution
        self.num_features = cfg.width
        self.num_heads = cfg.heads
        self.num_patches = cfg.num_patches
        self.conv1 = nn.Conv2d(3, cfg.width, kernel_size=cfg.patch_size, stride=cfg.patch_size, bias=False)
        scale = cfg.width ** -0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(cfg.width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(self.num_patches + 1, cfg.width))
        self.ln_pre = LayerNorm(cfg.width)
        self.transformer = Transformer(cfg.width, cfg.layers, cfg.heads, use_grad_checkpointing)

    def forward(self, x: Tensor) -> Tensor:
        """Images ``[B, 3, S, S]`` -> tokens ``[B, 1 + (S/P)^2, W]``, CLS first."""
        x = self.conv1(x)
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        cls = self.class_embedding.to(x.dtype) + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype,
                                                             device=x.device)
        x = torch.cat([cls, x], dim=1)
        x = x + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x)
        x = self.transformer(x.permute(1, 0, 2))
        return x.permute(1, 0, 2)


def clip_vit_l(img_size: int = 224, use_grad_checkpointing: bool = False) -> ClipViT:
    """LAVIS's ``create_clip_vit_L`` without the download: ViT-L/14, 23 blocks, random weights."""
    return ClipViT(ClipViTConfig(input_resolution=img_size), use_grad_checkpointing=use_grad_checkpointing)


def interpolate_positional_embedding(pos: Tensor, num_patches: int) -> Tensor:
    """A checkpoint's ``positional_embedding`` ``[1 + n^2, W]`` resized to ``num_patches`` cells.

    Bicubic with ``align_corners=True`` on the grid part, the class token kept, as LAVIS's
    ``clip_vit.interpolate_pos_embed``.
    """
    new = round(num_patches ** 0.5)
    if pos.shape[0] == new * new + 1:
        return pos
    old = int((pos.shape[0] - 1) ** 0.5)
    grid = pos[1:].float().reshape(1, old, old, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(new, new), mode="bicubic", align_corners=True)
    grid = grid.permute(0, 2, 3, 1).reshape(new * new, -1).to(pos.dtype)
    return torch.cat([pos[:1], grid], dim=0)
