"""BLIP-2's Q-Former (a BERT with cross-attention to image tokens) with SPRC's two edits.

Module and parameter names are those of LAVIS's ``Qformer.py`` (``BertLMHeadModel``), so the
``Qformer.*`` keys of BLIP-2 and SPRC checkpoints load unchanged::

    bert.embeddings.{word_embeddings [V, H], position_embeddings [P, H], LayerNorm, position_ids [1, P] (int64)}
    bert.encoder.layer.{i}.attention.{self.{query, key, value}, output.{dense, LayerNorm}}
    bert.encoder.layer.{i}.crossattention.{self.{query, key [H, Dv], value [H, Dv]}, output.*}   (i % freq == 0)
    bert.encoder.layer.{i}.{intermediate.dense, output.{dense, LayerNorm}}                       text FFN
    bert.encoder.layer.{i}.{intermediate_query.dense, output_query.{dense, LayerNorm}}           query FFN
    cls.predictions.{bias [V], transform.{dense, LayerNorm}, decoder.{weight [V, H], bias [V]}}  (unused by SPRC)

``decoder.weight`` is tied to ``word_embeddings.weight`` and ``decoder.bias`` to ``bias``, as in
``transformers``.  BLIP-2: ``H = 768``, 12 layers of 12 heads, FFN 3072, exact GELU, LayerNorm eps
1e-12, dropout 0.1, ``P = 512``, ``V = 30523`` (BERT's 30522 + ``[DEC]``), cross-attention every
2nd layer to image tokens of width ``Dv`` (1408 for ViT-g, 1024 for ViT-L).

A pass takes ``Q`` query embeddings ``[B, Q, H]`` and/or text ids ``[B, L]`` and returns the last
hidden states ``[B, Q + L, H]`` (queries first).  Self-attention is bidirectional over the whole
sequence with the additive padding mask ``(1 - m) * -10000``; cross-attention (queries only) uses
``(1 - m) * finfo.min`` for the image mask.  SPRC's edits (chunmeifeng/SPRC ``Qformer.py``):

1. ``no_img=True`` embeds ``[CLS word, Q queries, words 1..L-1]`` and adds position embeddings
   ``0 .. Q+L-1`` over the whole sequence (the prompts take positions 1..Q); the default embeds
   the words with positions ``0 .. L-1`` and prepends the queries without position embeddings;
2. the first ``Q`` positions go through the query FFN (and the cross-attention layers) **only when
   image states are given**; without them every position uses the text FFN (upstream LAVIS
   routes by ``Q > 0`` instead).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["QFormerConfig", "QFormer", "QFormerBert", "BLIP2_QFORMER"]


@dataclass(frozen=True)
class QFormerConfig:
    """The BERT configuration LAVIS builds the Q-Former from (``bert-base-uncased`` plus BLIP-2's fields)."""

    vocab_size: int = 30523
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    layer_norm_eps: float = 1e-12
    initializer_range: float = 0.02
    pad_token_id: int = 0
    encoder_width: int = 1408
    cross_attention_freq: int = 2
    query_length: int = 32

    def with_(self, **changes: object) -> QFormerConfig:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]


#: BLIP-2's Q-Former over EVA ViT-g tokens
BLIP2_QFORMER = QFormerConfig()


class Embeddings(nn.Module):
    """Word + absolute position embeddings, LayerNorm, dropout; see edit 1 in the module docstring."""

    position_ids: Tensor

    def __init__(self, cfg: QFormerConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=cfg.pad_token_id)
        self.position_embeddings = nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob)
        self.register_buffer("position_ids", torch.arange(cfg.max_position_embeddings).expand((1, -1)))

    def forward(self, input_ids: Tensor | None, query_embeds: Tensor | None, no_img: bool = False) -> Tensor:
        """``[B, L]`` ids and/or ``[B, Q, H]`` queries -> ``[B, Q + L, H]``."""
        if input_ids is None:
            if query_embeds is None:
                raise ValueError("the Q-Former needs input_ids or query_embeds")
            embeddings = query_embeds
        else:
            words = self.word_embeddings(input_ids)
            if no_img:
                if query_embeds is None:
                    raise ValueError("no_img=True needs query_embeds (the prompt tokens)")
                words = torch.cat((words[:, :1], query_embeds, words[:, 1:]), dim=1)
            positions = self.position_embeddings(self.position_ids[:, :words.shape[1]])
            embeddings = words + positions
            if query_embeds is not None and not no_img:
                embeddings = torch.cat((query_embeds, embeddings), dim=1)
        return self.dropout(self.LayerNorm(embeddings))


class SelfAttention(nn.Module):
    """Multi-head attention; keys/values from ``context`` (cross-attention) or from the input itself."""

    def __init__(self, cfg: QFormerConfig, cross: bool) -> None:
        super().__init__()
        if cfg.hidden_size % cfg.num_attention_heads:
            raise ValueError(f"hidden_size {cfg.hidden_size} is not a multiple of {cfg.num_attention_heads} heads")
        self.num_heads = cfg.num_attention_heads
        self.head_size = cfg.hidden_size // cfg.num_attention_heads
        context_width = cfg.encoder_width if cross else cfg.hidden_size
        self.query = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.key = nn.Linear(context_width, cfg.hidden_size)
        self.value = nn.Linear(context_width, cfg.hidden_size)
        self.dropout = nn.Dropout(cfg.attention_probs_dropout_prob)

    def _heads(self, x: Tensor) -> Tensor:
        return x.view(*x.shape[:-1], self.num_heads, self.head_size).permute(0, 2, 1, 3)

    def forward(self, hidden: Tensor, mask: Tensor | None, context: Tensor | None = None) -> Tensor:
        """``hidden [B, N, H]``, additive ``mask`` broadcastable to ``[B, heads, N, M]`` -> ``[B, N, H]``."""
        source = hidden if context is None else context
        key, value = self._heads(self.key(source)), self._heads(self.value(source))
        query = self._heads(self.query(hidden))
        scores = query @ key.transpose(-1, -2) / math.sqrt(self.head_size)
        if mask is not None:
            scores = scores + mask
        probs = self.dropout(scores.softmax(dim=-1))
        out = (probs @ value).permute(0, 2, 1, 3).contiguous()
        return out.view(*out.shape[:-2], self.num_heads * self.head_size)


class SelfOutput(nn.Module):
    """``LayerNorm(dropout(dense(x)) + residual)``."""

    def __init__(self, cfg: QFormerConfig, in_size: int | None = None) -> None:
        super().__init__()
        self.dense = nn.Linear(in_size or cfg.hidden_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob)

    def forward(self, x: Tensor, residual: Tensor) -> Tensor:
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class Attention(nn.Module):
    """Attention (``self``) followed by its output block (``output``)."""

    def __init__(self, cfg: QFormerConfig, cross: bool = False) -> None:
        super().__init__()
        self.self = SelfAttention(cfg, cross)
        self.output = SelfOutput(cfg)

    def forward(self, hidden: Tensor, mask: Tensor | None, context: Tensor | None = None) -> Tensor:
        return self.output(self.self(hidden, mask, context), hidden)


class Intermediate(nn.Module):
    """``GELU(dense(x))``, ``H -> intermediate_size``."""

    def __init__(self, cfg: QFormerConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.intermediate_size)

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(self.dense(x))


class Layer(nn.Module):
    """One Q-Former layer: self-attention, cross-attention for the queries (every ``freq``-th layer), FFNs."""

    def __init__(self, cfg: QFormerConfig, index: int) -> None:
        super().__init__()
        self.attention = Attention(cfg)
        self.has_cross_attention = index % cfg.cross_attention_freq == 0
        if self.has_cross_attention:
            self.crossattention = Attention(cfg, cross=True)
        self.intermediate = Intermediate(cfg)
        self.output = SelfOutput(cfg, cfg.intermediate_size)
        self.intermediate_query = Intermediate(cfg)
        self.output_query = SelfOutput(cfg, cfg.intermediate_size)

    def _text_ffn(self, x: Tensor) -> Tensor:
        return self.output(self.intermediate(x), x)

    def _query_ffn(self, x: Tensor) -> Tensor:
        return self.output_query(self.intermediate_query(x), x)

    def forward(self, hidden: Tensor, mask: Tensor | None, query_length: int, image: Tensor | None,
                image_mask: Tensor | None) -> Tensor:
        attended = self.attention(hidden, mask)
        if image is None:  # SPRC's routing: no image states, every position through the text FFN
            return self._text_ffn(attended)
        queries = attended[:, :query_length]
        if self.has_cross_attention:
            queries = self.crossattention(queries, image_mask, image)
        out = self._query_ffn(queries)
        if attended.shape[1] > query_length:
            out = torch.cat([out, self._text_ffn(attended[:, query_length:])], dim=1)
        return out


class Encoder(nn.Module):
    """The stack of :class:`Layer` (``layer.{i}``)."""

    def __init__(self, cfg: QFormerConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList([Layer(cfg, i) for i in range(cfg.num_hidden_layers)])

    def forward(self, hidden: Tensor, mask: Tensor | None, query_length: int, image: Tensor | None,
                image_mask: Tensor | None) -> Tensor:
        for layer in self.layer:
            hidden = layer(hidden, mask, query_length, image, image_mask)
        return hidden


class QFormerBert(nn.Module):
    """Embeddings + encoder (LAVIS ``BertModel`` without pooler); ``forward`` returns the last hidden states."""

    def __init__(self, cfg: QFormerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embeddings = Embeddings(cfg)
        self.encoder = Encoder(cfg)

    def forward(self, input_ids: Tensor | None = None, *, attention_mask: Tensor | None = None,
                query_embeds: Tensor | None = None, encoder_hidden_states: Tensor | None = None,
                encoder_attention_mask: Tensor | None = None, no_img: bool = False) -> Tensor:
        """Last hidden states ``[B, Q + L, H]``.

        ``input_ids``: ``[B, L]``; ``attention_mask``: ``[B, Q + L]`` (1 = attend; default all
        ones); ``query_embeds``: ``[B, Q, H]``; ``encoder_hidden_states``: image tokens
        ``[B, N, Dv]`` with ``encoder_attention_mask`` ``[B, N]`` (default all ones); ``no_img``:
        SPRC's prompt embedding (module docstring).
        """
        embeddings = self.embeddings(input_ids, query_embeds, no_img)
        dtype = embeddings.dtype
        query_length = query_embeds.shape[1] if query_embeds is not None else 0
        mask = None
        if attention_mask is not None:
            if attention_mask.shape != embeddings.shape[:2]:
                raise ValueError(f"attention_mask {tuple(attention_mask.shape)} does not match the sequence "
                                 f"{tuple(embeddings.shape[:2])}")
            mask = (1.0 - attention_mask[:, None, None, :].to(dtype)) * -10000.0
        image_mask = None
        if encoder_hidden_states is not None and encoder_attention_mask is not None:
            image_mask = (1.0 - encoder_attention_mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min
        if encoder_hidden_states is not None and query_length == 0:
            raise ValueError("image states are only read by query tokens: pass query_embeds")
        return self.encoder(embeddings, mask, query_length, encoder_hidden_states, image_mask)


class PredictionHeadTransform(nn.Module):
    """``LayerNorm(GELU(dense(x)))``."""

    def __init__(self, cfg: QFormerConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, x: Tensor) -> Tensor:
        return self.LayerNorm(F.gelu(self.dense(x)))


class LMPredictionHead(nn.Module):
    """BERT's language-model head (kept for the checkpoint layout; SPRC never calls it)."""

    def __init__(self, cfg: QFormerConfig) -> None:
        super().__init__()
        self.transform = PredictionHeadTransform(cfg)
        self.decoder = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(cfg.vocab_size))
        self.decoder.bias = self.bias

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.transform(x))


class OnlyMLMHead(nn.Module):
    """``predictions`` (:class:`LMPredictionHead`)."""

    def __init__(self, cfg: QFormerConfig) -> None:
        super().__init__()
        self.predictions = LMPredictionHead(cfg)

    def forward(self, x: Tensor) -> Tensor:
        return self.predictions(x)


class QFormer(nn.Module):
    """LAVIS's ``BertLMHeadModel`` as the Q-Former: ``bert`` (:class:`QFormerBert`) and ``cls`` (unused head)."""

    def __init__(self, cfg: QFormerConfig = BLIP2_QFORMER) -> None:
        super().__init__()
        self.cfg = cfg
        self.bert = QFormerBert(cfg)
        self.cls = OnlyMLMHead(cfg)
        self.reset_parameters()
        self.cls.predictions.decoder.weight = self.bert.embeddings.word_embeddings.weight

    def reset_parameters(self) -> None:
        """BERT's initialisation (normal(0, ``initializer_range``) weights, zero biases, unit
        LayerNorms), then the query FFNs copied from the text FFNs, as SPRC's constructor does."""
        std = self.cfg.initializer_range
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=std)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        with torch.no_grad():
            for layer in self.bert.encoder.layer:
                assert isinstance(layer, Layer)
                layer.intermediate_query.load_state_dict(layer.intermediate.state_dict())
                layer.output_query.load_state_dict(layer.output.state_dict())

    def forward(self, *args: Tensor | None, **kwargs: Tensor | bool | None) -> Tensor:
        """The last hidden states of :meth:`QFormerBert.forward` (the LM head is not applied)."""
        return self.bert(*args, **kwargs)
