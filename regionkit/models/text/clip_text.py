"""CLIP text transformer (OpenAI ViT-B/32 text tower) with ovdet's ``CLIPTextEncoder`` encoders.

Parameter names follow OpenAI CLIP / ovdet: ``token_embedding``, ``positional_embedding``,
``transformer.resblocks.{i}.{attn.in_proj_weight, attn.in_proj_bias, attn.out_proj, ln_1,
mlp.c_fc, mlp.c_proj, ln_2}``, ``ln_final`` and ``text_projection`` (a BARON checkpoint stores
them under ``roi_head.clip.text_encoder.``).

Two encoders are used by BARON, both returning the L2-normalised output of transformer
block ``stepk`` (12, the last one) at the end-of-text position, *without* ``ln_final`` and
without ``text_projection``:

* :meth:`CLIPTextEncoder.encode_pseudo_text_endk`: a sequence ``[SOT, w_1..w_k, EOT]`` of
  token embeddings around ``k`` pseudo words (region features mapped into word-embedding
  space), plus positional embeddings ``[0, k+2)``, through the causal transformer whose mask
  is the 77x77 one sliced to the sequence length;
* :meth:`CLIPTextEncoder.encode_text_endk`: the same for real token ids (``(B, 77)`` zero
  padded; the EOT position is ``argmax`` of the ids, EOT being the largest id).

The attention call, the sequence-first layout and the order of operations mirror ovdet's
code so that float32 results agree bit for bit with the original.
"""
from __future__ import annotations

from typing import cast

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["CLIPTextEncoder", "ResidualAttentionBlock", "SOT_TOKEN", "EOT_TOKEN"]

#: CLIP BPE ids of ``<start_of_text>`` and ``<end_of_text>`` (the two last vocabulary entries).
SOT_TOKEN = 49406
EOT_TOKEN = 49407
_SOT_ROWS = 64


class QuickGELU(nn.Module):
    """``x * sigmoid(1.702 x)``, CLIP's activation."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class LayerNorm(nn.LayerNorm):
    """LayerNorm computed in float32 and cast back (CLIP's fp16-safe variant)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        orig_type = x.dtype
        return super().forward(x.type(torch.float32)).type(orig_type)


class SelfAttention(nn.Module):
    """Multi-head self-attention holding ``in_proj_weight``/``in_proj_bias``/``out_proj`` like
    ``nn.MultiheadAttention`` (so checkpoint keys match); sequence-first input ``(L, N, D)``."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.embed_dim = width
        self.num_heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * width))
        self.out_proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        return F.multi_head_attention_forward(
            query=x, key=x, value=x, embed_dim_to_check=self.embed_dim, num_heads=self.num_heads,
            in_proj_weight=self.in_proj_weight, in_proj_bias=self.in_proj_bias,
            bias_k=None, bias_v=None, add_zero_attn=False, dropout_p=0.0,
            out_proj_weight=self.out_proj.weight, out_proj_bias=self.out_proj.bias,
            training=False, key_padding_mask=None, need_weights=False, attn_mask=attn_mask)[0]


class MLP(nn.Module):
    """``c_proj(QuickGELU(c_fc(x)))`` (keys ``c_fc``, ``c_proj`` as in CLIP's ``mlp`` Sequential)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.c_fc = nn.Linear(width, width * 4)
        self.gelu = QuickGELU()
        self.c_proj = nn.Linear(width * 4, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(self.gelu(self.c_fc(x)))


class ResidualAttentionBlock(nn.Module):
    """Pre-LN transformer block: ``x + attn(ln_1(x))`` then ``x + mlp(ln_2(x))``."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.attn = SelfAttention(width, heads)
        self.ln_1 = LayerNorm(width)
        self.mlp = MLP(width)
        self.ln_2 = LayerNorm(width)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), attn_mask)
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    """A stack of :class:`ResidualAttentionBlock` (``resblocks``)."""

    def __init__(self, width: int, layers: int, heads: int) -> None:
        super().__init__()
        self.width = width
        self.layers = layers
        self.resblocks = nn.ModuleList(ResidualAttentionBlock(width, heads) for _ in range(layers))

    def block(self, index: int) -> ResidualAttentionBlock:
        return cast(ResidualAttentionBlock, self.resblocks[index])


class CLIPTextEncoder(nn.Module):
    """CLIP's text tower; inference only (see the module docstring for the two encoders)."""

    attn_mask: torch.Tensor  # (context_length, context_length) causal additive mask, not saved

    def __init__(self, embed_dim: int = 512, context_length: int = 77, vocab_size: int = 49408,
                 width: int = 512, heads: int = 8, layers: int = 12) -> None:
        super().__init__()
        self.context_length = context_length
        self.transformer = Transformer(width, layers, heads)
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.positional_embedding = nn.Parameter(torch.empty(context_length, width))
        self.ln_final = LayerNorm(width)
        self.text_projection = nn.Parameter(torch.empty(width, embed_dim))
        mask = torch.empty(context_length, context_length).fill_(float("-inf")).triu_(1)
        self.register_buffer("attn_mask", mask, persistent=False)

    @property
    def width(self) -> int:
        return self.token_embedding.embedding_dim

    def _run_blocks(self, x: torch.Tensor, stepk: int) -> torch.Tensor:
        """``x`` (L, N, D) through the first ``stepk`` blocks with the causal mask sliced to L."""
        length = x.shape[0]
        mask = self.attn_mask.to(dtype=x.dtype, device=x.device)[:length, :length]
        for i in range(stepk):
            x = self.transformer.block(i)(x, mask)
        return x

    def pseudo_text(self, pseudo_words: torch.Tensor) -> torch.Tensor:
        """``[SOT, w_1..w_k, EOT]`` token embeddings, (N, k+2, D), for pseudo words (N, k, D)."""
        n, _, dim = pseudo_words.shape
        ids = torch.tensor([SOT_TOKEN, EOT_TOKEN], device=pseudo_words.device)
        sot, eot = self.token_embedding(ids).to(pseudo_words.dtype).unbind(0)
        return torch.cat([sot.view(1, 1, dim).repeat(n, 1, 1), pseudo_words,
                          eot.view(1, 1, dim).repeat(n, 1, 1)], dim=1)

    def encode_pseudo_text_endk(self, pseudo_words: torch.Tensor, stepk: int = 12,
                                normalize: bool = True) -> torch.Tensor:
        """Block-``stepk`` output at EOT for pseudo words (N, k, D) -> (N, D)."""
        x = self.pseudo_text(pseudo_words)
        end = x.shape[1] - 1
        x = x + self.positional_embedding[:x.shape[1]]
        x = self._run_blocks(x.permute(1, 0, 2), stepk)
        out = x.permute(1, 0, 2)[:, end]
        return F.normalize(out, dim=-1, p=2) if normalize else out

    def encode_pseudo_text_endk_fast(self, pseudo_words: torch.Tensor, stepk: int = 12,
                                     normalize: bool = True) -> torch.Tensor:
        """Same result as :meth:`encode_pseudo_text_endk` up to float rounding, with less work.

        Uses the causal structure: the SOT position attends only to itself, so its hidden
        state is the same for every sequence and is computed once (64 rows instead of N);
        and in the last block only the EOT position's output is needed, so its query,
        attention output and MLP are computed for that position alone.  Batch-first layout.
        For float32; the GEMM shapes differ from the reference path, so low-precision
        autocast would round differently (use :meth:`encode_pseudo_text_endk` there).
        """
        n, _, dim = pseudo_words.shape
        length = pseudo_words.shape[1] + 2
        heads = self.transformer.block(0).attn.num_heads
        head_dim = dim // heads
        ids = torch.tensor([SOT_TOKEN, EOT_TOKEN], device=pseudo_words.device)
        sot, eot = self.token_embedding(ids).to(pseudo_words.dtype).unbind(0)
        pos = self.positional_embedding[:length]
        # the shared SOT row, carried as a few identical rows: a one-row matrix product takes a
        # different kernel and rounds differently from the batched one
        x0 = (sot + pos[0]).view(1, 1, dim).expand(_SOT_ROWS, 1, dim).contiguous()
        xr = torch.cat([pseudo_words, eot.view(1, 1, dim).expand(n, 1, dim)], dim=1) + pos[1:]
        mask = self.attn_mask.to(dtype=xr.dtype, device=xr.device)[1:length, :length]

        def heads_view(t: torch.Tensor) -> torch.Tensor:
            return t.view(t.shape[0], t.shape[1], heads, head_dim).transpose(1, 2)

        for i in range(stepk):
            blk = self.transformer.block(i)
            attn = blk.attn
            last = i == stepk - 1
            k0, v0 = F.linear(blk.ln_1(x0), attn.in_proj_weight[dim:], attn.in_proj_bias[dim:]).chunk(2, dim=-1)
            hr = blk.ln_1(xr)
            if last:
                q = F.linear(hr[:, -1:], attn.in_proj_weight[:dim], attn.in_proj_bias[:dim])
                kr, vr = F.linear(hr, attn.in_proj_weight[dim:], attn.in_proj_bias[dim:]).chunk(2, dim=-1)
                step_mask = None  # the EOT query sees every position
            else:
                q, kr, vr = F.linear(hr, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
                step_mask = mask
            k = torch.cat([k0[:1].expand(n, 1, dim), kr], dim=1)
            v = torch.cat([v0[:1].expand(n, 1, dim), vr], dim=1)
            o = F.scaled_dot_product_attention(heads_view(q), heads_view(k), heads_view(v), attn_mask=step_mask)
            o = attn.out_proj(o.transpose(1, 2).reshape(n, q.shape[1], dim))
            xr = (xr[:, -1:] if last else xr) + o
            z = blk.mlp.c_fc(blk.ln_2(xr))
            xr = xr + blk.mlp.c_proj(torch.sigmoid(1.702 * z).mul_(z))
            if not last:  # SOT: softmax over a single key is 1, so attention returns v0
                x0 = x0 + attn.out_proj(v0)
                z0 = blk.mlp.c_fc(blk.ln_2(x0))
                x0 = x0 + blk.mlp.c_proj(torch.sigmoid(1.702 * z0).mul_(z0))
        out = xr[:, -1]
        return F.normalize(out, dim=-1, p=2) if normalize else out

    def encode_text_endk(self, text: torch.Tensor, stepk: int = 12, normalize: bool = True) -> torch.Tensor:
        """Block-``stepk`` output at the EOT position for token ids (B, L<=77) -> (B, D)."""
        x = self.token_embedding(text)
        x = x + self.positional_embedding[:text.shape[1]]
        x = self._run_blocks(x.permute(1, 0, 2), stepk)
        out = x.permute(1, 0, 2)
        out = out[torch.arange(out.shape[0], device=out.device), text.argmax(dim=-1)]
        return F.normalize(out, dim=-1, p=2) if normalize else out

    def encode_text(self, text: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """Standard CLIP text embedding (all blocks, ``ln_final``, ``text_projection``), (B, embed_dim)."""
        x = self.token_embedding(text) + self.positional_embedding[:text.shape[1]]
        x = self._run_blocks(x.permute(1, 0, 2), self.transformer.layers).permute(1, 0, 2)
        x = self.ln_final(x)
        out = x[torch.arange(x.shape[0], device=x.device), text.argmax(dim=-1)] @ self.text_projection
        return F.normalize(out, dim=-1, p=2) if normalize else out
