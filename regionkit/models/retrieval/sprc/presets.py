"""Size presets of the SPRC model: the two BLIP-2 backbones SPRC trains with, and a tiny CPU model.

============== ====================== ============================= ========= ====================
preset         image encoder          Q-Former                       ``embed``  vocabulary
============== ====================== ============================= ========= ====================
``pretrain``   EVA ViT-g/14, 1408 x39 BERT-base, 12 x 768, cross /2   256      bert-base-uncased
``pretrain_vitL`` CLIP ViT-L/14, 1024 x23 the same, cross-attention to 1024  256  bert-base-uncased
``tiny``       EVA-style, 48 x2 (4 heads) 2 x 64 (4 heads, FFN 128)    64       synthetic, 1000 tokens
============== ====================== ============================= ========= ====================

All presets use 224 px images (257 tokens: CLS + 16 x 16 patches), 32 query tokens (SPRC reads
the fused caption feature at index 32) and ``max_txt_len`` 32.  The tiny preset is built from
the same classes; it trains on a CPU in minutes and is what the tests and the examples use.
Its vocabulary is :func:`~regionkit.models.text.bert_tokenizer.synthetic_vocab` (1000 tokens
plus ``[DEC]``) unless a ``vocab_file`` is given (the word embeddings then follow its size).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from regionkit.models.backbones.clip_vit import CLIP_VIT_L, ClipViTConfig
from regionkit.models.backbones.eva_vit import EVA_VIT_G, EvaViTConfig
from regionkit.models.retrieval.sprc.qformer import BLIP2_QFORMER, QFormerConfig

__all__ = ["SprcPreset", "PRESETS", "PresetName", "VitConfig", "TINY_VIT", "TINY_QFORMER"]

PresetName = Literal["pretrain", "pretrain_vitL", "tiny"]
VitConfig = EvaViTConfig | ClipViTConfig

#: the tiny preset's image encoder (LAVIS's EVA class with 2 blocks of width 48)
TINY_VIT = EvaViTConfig(embed_dim=48, depth=2, num_heads=4)
#: the tiny preset's Q-Former (vocabulary size set from the tokenizer)
TINY_QFORMER = QFormerConfig(vocab_size=1001, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                             intermediate_size=128, encoder_width=48)


@dataclass(frozen=True)
class SprcPreset:
    """One preset: ``vit`` config, ``qformer`` config (``encoder_width`` = ViT width), ``embed_dim``,
    and ``synthetic_vocab`` (the size of the built-in test vocabulary, or ``None``: a real
    ``vocab_file`` is required)."""

    vit: VitConfig
    qformer: QFormerConfig
    embed_dim: int = 256
    synthetic_vocab: int | None = None
    lavis_name: str = field(default="", compare=False)


PRESETS: dict[str, SprcPreset] = {
    "pretrain": SprcPreset(EVA_VIT_G, BLIP2_QFORMER, lavis_name="eva_clip_g"),
    "pretrain_vitL": SprcPreset(CLIP_VIT_L, BLIP2_QFORMER.with_(encoder_width=CLIP_VIT_L.width), lavis_name="clip_L"),
    "tiny": SprcPreset(TINY_VIT, TINY_QFORMER, embed_dim=64, synthetic_vocab=1000),
}
