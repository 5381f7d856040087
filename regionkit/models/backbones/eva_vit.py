"""EVA ViT-g/14 as LAVIS defines it (``lavis/models/eva_vit.py``), BLIP-2's and SPRC's frozen image encoder.

Parameter names and shapes are LAVIS's, so ``eva_vit_g.pth`` and the ``visual_encoder.*`` part of
BLIP-2 / SPRC checkpoints load as they are::

    cls_token [1, 1, D]   pos_embed [1, 1 + (S/P)^2, D]   patch_embed.proj.{weight [D, 3, P, P], bias [D]}
    blocks.{i}.norm1.{weight, bias} [D]
    blocks.{i}.attn.{q_bias, v_bias} [D]   blocks.{i}.attn.qkv.weight [3D, D]   (no k bias)
    blocks.{i}.attn.proj.{weight [D, D], bias [D]}
    blocks.{i}.norm2.{weight, bias} [D]
    blocks.{i}.mlp.fc1.{weight [H, D], bias [H]}   blocks.{i}.mlp.fc2.{weight [D, H], bias [D]}

ViT-g (:func:`eva_vit_g`): ``D = 1408``, patch ``P = 14``, 16 heads of 88, MLP width
``H = int(1408 * 4.3637) = 6144``, exact GELU, LayerNorm eps 1e-6, **39** blocks (LAVIS drops the
last of EVA-CLIP's 40; ``eva_vit_g.pth`` still holds ``blocks.39``, which the loader ignores), no
final norm, no relative position bias, no layer scale.  ``forward(x)`` maps images
``[B, 3, S, S]`` to tokens ``[B, 1 + (S/P)^2, D]`` (CLS first; 257 tokens at 224 px).

Precision: :func:`convert_to_fp16` converts the conv and linear weights to fp16 and leaves the
LayerNorms, ``cls_token``, ``pos_embed``, ``q_bias`` and ``v_bias`` in fp32, exactly as LAVIS's
``convert_weights_to_fp16``; such a model runs under CUDA fp16 autocast (as SPRC does).  On a
CPU keep it fp32.  ``use_checkpoint`` recomputes each block in the backward pass (only useful
when the ViT is trained).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import Tensor, nn

__all__ = ["EvaViTConfig", "EvaViT", "eva_vit_g", "EVA_VIT_G", "convert_to_fp16", "interpolate_pos_embed"]


@dataclass(frozen=True)
class EvaViTConfig:
    """Hyper-parameters of :class:`EvaViT` (LAVIS ``VisionTransformer`` arguments)."""

    img_size: int = 224
    patch_size: int = 14
    embed_dim: int = 1408
    depth: int = 39
    num_heads: int = 16
    mlp_ratio: float = 4.3637
    qkv_bias: bool = True
    drop_path_rate: float = 0.0
    norm_eps: float = 1e-6
    in_chans: int = 3

    @property
    def mlp_hidden(self) -> int:
        """The MLP width: ``int(embed_dim * mlp_ratio)`` (6144 for ViT-g)."""
        return int(self.embed_dim * self.mlp_ratio)

    @property
    def num_patches(self) -> int:
        return (self.img_size // self.patch_size) ** 2


#: LAVIS's ``create_eva_vit_g`` at 224 px
EVA_VIT_G = EvaViTConfig()


def _drop_path(x: Tensor, prob: float, training: bool) -> Tensor:
    """Stochastic depth per sample (timm's ``drop_path``)."""
    if prob == 0.0 or not training:
        return x
    keep = 1.0 - prob
    mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
    return x * mask / keep


class Mlp(nn.Module):
    """``fc2(GELU(fc1(x)))`` (LAVIS's EVA ``Mlp``; dropout 0)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Attention(nn.Module):
    """Multi-head self-attention with a bias on q and v only (``qkv`` has no bias; k's is zero)."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.scale = head_dim ** -0.5
        self.qkv = nn.Linear(dim, head_dim * num_heads * 3, bias=False)
        self.q_bias: nn.Parameter | None = nn.Parameter(torch.zeros(dim)) if qkv_bias else None
        self.v_bias: nn.Parameter | None = nn.Parameter(torch.zeros(dim)) if qkv_bias else None
        self.proj = nn.Linear(head_dim * num_heads, dim)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, N, D]`` -> ``[B, N, D]``."""
        b, n, _ = x.shape
        bias = None
        if self.q_bias is not None and self.v_bias is not None:
            bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias, requires_grad=False), self.v_bias))
        qkv = F.linear(x, self.qkv.weight, bias)
        q, k, v = qkv.reshape(b, n, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(b, n, -1)
        return self.proj(out)


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm1(x))``, ``x + mlp(norm2(x))`` (with drop path)."""

    def __init__(self, cfg: EvaViTConfig, drop_path: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.embed_dim, eps=cfg.norm_eps)
        self.attn = Attention(cfg.embed_dim, cfg.num_heads, cfg.qkv_bias)
        self.norm2 = nn.LayerNorm(cfg.embed_dim, eps=cfg.norm_eps)
        self.mlp = Mlp(cfg.embed_dim, cfg.mlp_hidden)
        self.drop_path = drop_path

    def forward(self, x: Tensor) -> Tensor:
        x = x + _drop_path(self.attn(self.norm1(x)), self.drop_path, self.training)
        return x + _drop_path(self.mlp(self.norm2(x)), self.drop_path, self.training)


class PatchEmbed(nn.Module):
    """Non-overlapping ``P x P`` patches -> ``[B, (S/P)^2, D]`` (the input must be ``S x S``)."""

    def __init__(self, img_size: int, patch_size: int, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.img_size = (img_size, img_size)
        self.patch_shape = (img_size // patch_size, img_size // patch_size)
        self.num_patches = self.patch_shape[0] * self.patch_shape[1]
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:
        if tuple(x.shape[-2:]) != self.img_size:
            raise ValueError(f"input image size {tuple(x.shape[-2:])} does not match the model's {self.img_size}")
        return self.proj(x).flatten(2).transpose(1, 2)


class EvaViT(nn.Module):
    """The EVA vision transformer of LAVIS (see the module docstring); ``num_features`` is ``D``."""

    def __init__(self, cfg: EvaViTConfig = EVA_VIT_G, *, use_checkpoint: bool = False, init: bool = True) -> None:
        super().__init__()
        self.cfg = cfg
        self.num_features = self.embed_dim = cfg.embed_dim
        self.use_checkpoint = use_checkpoint
        self.patch_embed = PatchEmbed(cfg.img_size, cfg.patch_size, cfg.in_chans, cfg.embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.patch_embed.num_patches + 1, cfg.embed_dim))
        rates = torch.linspace(0, cfg.drop_path_rate, cfg.depth, device="cpu").tolist()
        self.blocks = nn.ModuleList([Block(cfg, rates[i]) for i in range(cfg.depth)])
        if init:  # ``init=False`` keeps PyTorch's default initialisation (faster when weights are loaded next)
            self.reset_parameters()

    def reset_parameters(self) -> None:
        """LAVIS's initialisation: truncated normal (std 0.02) weights, zero biases, unit LayerNorms,
        and each block's output projections divided by ``sqrt(2 * layer)``."""
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        with torch.no_grad():
            for layer_id, block in enumerate(self.blocks, start=1):
                assert isinstance(block, Block)
                block.attn.proj.weight.div_(math.sqrt(2.0 * layer_id))
                block.mlp.fc2.weight.div_(math.sqrt(2.0 * layer_id))

    def forward(self, x: Tensor) -> Tensor:
        """Images ``[B, 3, S, S]`` -> tokens ``[B, 1 + (S/P)^2, D]``, CLS first."""
        x = self.patch_embed(x)
        # no casts: under fp16 autocast the fp32 CLS / position embeddings promote the residual
        # stream to fp32, as in LAVIS
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        x = x + self.pos_embed
        for block in self.blocks:
            if self.use_checkpoint and torch.is_grad_enabled():
                x = torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        return x

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in asdict(self.cfg).items())


def eva_vit_g(img_size: int = 224, drop_path_rate: float = 0.0, use_checkpoint: bool = False) -> EvaViT:
    """LAVIS's ``create_eva_vit_g`` without the download: ViT-g/14, 39 blocks, random weights."""
    return EvaViT(EvaViTConfig(img_size=img_size, drop_path_rate=drop_path_rate), use_checkpoint=use_checkpoint)


def convert_to_fp16(model: nn.Module) -> nn.Module:
    """LAVIS's ``convert_weights_to_fp16``: conv / linear weights and biases to fp16, nothing else."""
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            module.weight.data = module.weight.data.half()
            if module.bias is not None:
                module.bias.data = module.bias.data.half()
    return model


def interpolate_pos_embed(pos_embed: Tensor, num_patches: int, num_extra_tokens: int = 1) -> Tensor:
    """A checkpoint's ``pos_embed`` ``[1, extra + n^2, D]`` resized to ``num_patches`` grid cells.

    Bicubic interpolation (``align_corners=False``) of the grid part, extra (CLS) tokens kept, as
    LAVIS's ``interpolate_pos_embed`` does when a checkpoint was trained at another image size.
    """
    size = pos_embed.shape[-1]
    old = int((pos_embed.shape[-2] - num_extra_tokens) ** 0.5)
    new = int(num_patches ** 0.5)
    if old == new:
        return pos_embed
    extra, grid = pos_embed[:, :num_extra_tokens], pos_embed[:, num_extra_tokens:].float()
    grid = grid.reshape(-1, old, old, size).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(new, new), mode="bicubic", align_corners=False)
    grid = grid.permute(0, 2, 3, 1).flatten(1, 2).to(pos_embed.dtype)
    return torch.cat((extra, grid), dim=1)
