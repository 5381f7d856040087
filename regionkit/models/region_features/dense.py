"""FG-CLIP's dense patch features: the last ViT block re-run without token mixing.

FG-CLIP v1 (``fgclip/model/clip_strc/fgclip.py``, ``forward_without_attn`` and
``get_image_dense_features``) takes ``hidden_states[-2]`` (the input of the last encoder block,
CLS included) and recomputes the last block with self-attention replaced by its value and output
projections, so each token only sees itself::

    x = x + out_proj(v_proj(ln_1(x)))
    x = x + mlp(ln_2(x))

then drops CLS, applies ``post_layernorm`` and ``visual_projection`` and reshapes to the patch grid.
:func:`attention_free_block` does this for the residual attention blocks of the common CLIP-style
ViTs, recognised by their attribute names (each block's own layer-scale factors are kept, drop
path and dropout are identities as in eval mode):

* Hugging Face ``CLIPEncoderLayer`` (FG-CLIP's): ``layer_norm1``, ``self_attn.v_proj``,
  ``self_attn.out_proj``, ``layer_norm2``, ``mlp``;
* OpenAI CLIP / open_clip / LAVIS ``clip_vit`` ``ResidualAttentionBlock``: ``ln_1``,
  ``attn`` (``nn.MultiheadAttention``: value rows of ``in_proj_weight``), ``ln_2``, ``mlp``, optional
  ``ln_attn``, ``ls_1``/``ls_2``;
* EVA (LAVIS ``eva_vit`` ``Block``, SPRC's ViT-g) and timm ``Block``: ``norm1``, ``attn.qkv`` (value
  rows; bias from ``qkv.bias`` or ``attn.v_bias``), optional ``attn.inner_attn_ln``/``attn.norm``,
  ``attn.proj``, ``norm2``, ``mlp``, optional ``gamma_1``/``gamma_2`` or ``ls1``/``ls2``.

Every step is per token, so the result does not depend on the sequence layout
(``[B, N, D]`` or ``[N, B, D]``): with a single token, attention *is* value + output projection,
which is how the tests check each style against the real block.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from regionkit.models.region_features.grid import GridSize, infer_grid

__all__ = ["block_style", "attention_free_block", "AttentionFreeBlock", "dense_patch_features",
           "dense_feature_map"]


def _is_identity(module: object) -> bool:
    return module is None or isinstance(module, nn.Identity)


def block_style(block: nn.Module) -> str:
    """``"hf_clip"``, ``"openai_clip"`` or ``"qkv"`` (EVA / timm); ``TypeError`` for anything else."""
    if hasattr(block, "layer_norm1") and hasattr(getattr(block, "self_attn", None), "v_proj"):
        return "hf_clip"
    if hasattr(block, "ln_1") and isinstance(getattr(block, "attn", None), nn.MultiheadAttention):
        return "openai_clip"
    if hasattr(block, "norm1") and hasattr(getattr(block, "attn", None), "qkv"):
        return "qkv"
    raise TypeError(f"{type(block).__name__} is not a CLIP-style residual attention block this function knows "
                    f"(Hugging Face CLIPEncoderLayer, OpenAI/open_clip ResidualAttentionBlock, EVA/timm Block)")


def _scale(x: Tensor, factor: object) -> Tensor:
    """Apply a layer-scale factor: a parameter (EVA's gamma), a module (open_clip/timm LayerScale) or none."""
    if factor is None or _is_identity(factor):
        return x
    if isinstance(factor, Tensor):
        return x * factor
    if callable(factor):
        return factor(x)
    raise TypeError(f"unsupported layer-scale factor {type(factor).__name__}")


def _mha_value(attn: nn.MultiheadAttention, x: Tensor) -> Tensor:
    dim = attn.embed_dim
    if attn.in_proj_weight is not None:
        weight = attn.in_proj_weight[2 * dim:]
    else:
        weight = attn.v_proj_weight
    bias = attn.in_proj_bias[2 * dim:] if attn.in_proj_bias is not None else None
    return attn.out_proj(F.linear(x, weight, bias))


def _qkv_value(attn: nn.Module, x: Tensor) -> Tensor:
    qkv: nn.Linear = _sub(attn, "qkv")
    inner = qkv.weight.shape[0] // 3
    bias = qkv.bias[2 * inner:] if qkv.bias is not None else getattr(attn, "v_bias", None)
    v = F.linear(x, qkv.weight[2 * inner:], bias)
    for name in ("inner_attn_ln", "norm"):  # EVA-02 sub-LN, timm's scale_norm: both per token
        extra = getattr(attn, name, None)
        if isinstance(extra, nn.Module) and not _is_identity(extra):
            v = extra(v)
    return _part(attn, "proj")(v)


def _part(module: nn.Module, name: str) -> Callable[[Tensor], Tensor]:
    """A callable sub-module or attribute of ``module`` (typed for the checker)."""
    return getattr(module, name)


def _sub(module: nn.Module, name: str) -> Any:
    return getattr(module, name)


def attention_free_block(block: nn.Module, x: Tensor) -> Tensor:
    """``block``'s output on tokens ``x`` (``[..., D]``) with self-attention replaced by value + output projection."""
    style = block_style(block)
    if style == "hf_clip":
        attn: nn.Module = _sub(block, "self_attn")
        x = x + _part(attn, "out_proj")(_part(attn, "v_proj")(_part(block, "layer_norm1")(x)))
        return x + _part(block, "mlp")(_part(block, "layer_norm2")(x))
    if style == "openai_clip":
        attended = _mha_value(_sub(block, "attn"), _part(block, "ln_1")(x))
        ln_attn = getattr(block, "ln_attn", None)  # open_clip's scale_attn LayerNorm
        if isinstance(ln_attn, nn.Module) and not _is_identity(ln_attn):
            attended = ln_attn(attended)
        x = x + _scale(attended, getattr(block, "ls_1", None))
        return x + _scale(_part(block, "mlp")(_part(block, "ln_2")(x)), getattr(block, "ls_2", None))
    gamma_1 = getattr(block, "gamma_1", None)
    gamma_2 = getattr(block, "gamma_2", None)
    attended = _qkv_value(_sub(block, "attn"), _part(block, "norm1")(x))
    x = x + _scale(attended, gamma_1 if gamma_1 is not None else getattr(block, "ls1", None))
    mlp_out = _part(block, "mlp")(_part(block, "norm2")(x))
    return x + _scale(mlp_out, gamma_2 if gamma_2 is not None else getattr(block, "ls2", None))


class AttentionFreeBlock(nn.Module):
    """A view of ``block`` computing :func:`attention_free_block` (shares the block's parameters)."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        block_style(block)  # fail early on an unknown block
        self.block = block

    def forward(self, x: Tensor) -> Tensor:
        return attention_free_block(self.block, x)


def dense_patch_features(hidden_states: Tensor, last_block: nn.Module, *,
                         post_norm: Callable[[Tensor], Tensor] | None = None,
                         projection: Callable[[Tensor], Tensor] | None = None,
                         grid_size: GridSize | None = None, has_cls: bool | None = None) -> Tensor:
    """FG-CLIP's dense features as patch tokens ``[B, h*w, D']`` (CLS dropped), row-major.

    ``hidden_states``: ``[B, N, D]``, the input of ``last_block`` (Hugging Face:
    ``hidden_states[-2]``); ``post_norm`` / ``projection``: the encoder's final LayerNorm and
    visual projection (skipped when ``None``).  Feed the result to
    :func:`~regionkit.models.region_features.roi.roi_align_tokens` with ``has_cls=False``.
    """
    if hidden_states.dim() != 3:
        raise ValueError(f"hidden_states must be [B, N, D], got shape {tuple(hidden_states.shape)}")
    spec = infer_grid(hidden_states.shape[1], grid_size, has_cls)
    x = attention_free_block(last_block, hidden_states)
    if spec.has_cls:
        x = x[:, 1:]
    if post_norm is not None:
        x = post_norm(x)
    if projection is not None:
        x = projection(x)
    return x


def dense_feature_map(hidden_states: Tensor, last_block: nn.Module, *,
                      post_norm: Callable[[Tensor], Tensor] | None = None,
                      projection: Callable[[Tensor], Tensor] | None = None,
                      grid_size: GridSize | None = None, has_cls: bool | None = None) -> Tensor:
    """The same features in FG-CLIP's layout, ``[B, D', h, w]``."""
    spec = infer_grid(hidden_states.shape[1], grid_size, has_cls)
    tokens = dense_patch_features(hidden_states, last_block, post_norm=post_norm, projection=projection,
                                  grid_size=grid_size, has_cls=has_cls)
    return tokens.reshape(tokens.shape[0], spec.h, spec.w, tokens.shape[-1]).permute(0, 3, 1, 2)

