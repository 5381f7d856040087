"""SPRC (Sentence-level Prompts for Composed image Retrieval, ICLR 2024) as an mmengine ``BaseModel``.

A native re-implementation of chunmeifeng/SPRC's ``Blip2QformerCirAlignPrompt``
(``blip2_cir_align_prompt``, commit ``2935a53``) without LAVIS: same modules, same parameter
names and shapes (``visual_encoder``, ``ln_vision``, ``Qformer``, ``query_tokens``,
``prompt_tokens``, ``vision_proj``, ``text_proj``, ``itm_head``, ``temp``), same computation.
``B`` triplets, ``Q = 32`` query tokens, ``H = 768`` Q-Former width, ``E = 256`` embedding size,
``N = 257`` image tokens of width ``Dv`` (1408 ViT-g, 1024 ViT-L), ``L = 32`` caption tokens::

    R = ln_vision(ViT(reference)), T = ln_vision(ViT(target))                  [B, N, Dv]
    P = Qformer(caption, queries, image=R)[:, :Q]         fused prompts          [B, Q, H]
    f = l2norm(text_proj(Qformer(caption, P)[:, Q]))      composed query         [B, E]
    t = l2norm(vision_proj(Qformer(queries, image=T)))    target query tokens    [B, Q, E]
    g = l2norm(text_proj(Qformer(caption, prompt_tokens, no_img)[:, 0]))   text-only (RTC)  [B, E]
    score(q, j) = max_q <f_q, t_{j, q}>

The losses are plugins (kind ``losses``) built from the ``losses`` config list; SPRC's CIRR recipe
is the default: ``itc`` (weight 1), ``rtc`` (0.4), ``align`` (0.4).  ``itc`` and ``rtc`` divide by
the model's own ``temp`` (``model_temperature``), as SPRC.  A region loss (``region_itc``) pools
one feature per box from the reference / target tokens (RoI Align, then ``region_embedder``: a
``Dv -> E`` projection and L2 normalisation).

Inputs: ``forward(inputs, data_samples=None, mode)`` with ``inputs`` a dict (:class:`SprcInputs`).
Each side is given as images (``ref_images`` ``[B, 3, S, S]``, normalised as SPRC's
``targetpad_transform``), as precomputed ViT outputs (``ref_vit_feats``, before ``ln_vision``;
e.g. cached features of the frozen ViT) or as ``ln_vision`` outputs (``ref_embeds``, what SPRC
caches as index features).  ``captions`` are raw strings (``BlipCaptionProcessor`` is applied;
it is idempotent).  Boxes (``ref_boxes``, ``tgt_boxes``): per image a ``[K_i, 4]`` normalised
``xyxy`` (any ``K_i``, also 0), on the model input, or on the original image when
``ref_image_sizes`` / ``tgt_image_sizes`` (``(w, h)`` per image) are given: they are then mapped
through the preprocessing (``box_preprocess``, SPRC's TargetPad 1.25 -> Resize -> CenterCrop).

Modes: ``"loss"`` -> ``{"loss_<name>": tensor}`` (mmengine's ``parse_losses`` sums them);
``"tensor"`` -> the named features (:data:`FEATURE_KEYS`); ``"predict"`` -> ``{"query_feats" [B, E],
"target_feats" [B', Q, E], "scores" [B, B']}`` (those the inputs allow).

Precision: a frozen ViT runs with fp16 weights under CUDA fp16 autocast (``vit_precision="auto"``
converts its conv / linear weights on the first CUDA forward, as LAVIS's
``convert_weights_to_fp16``) and in fp32 on a CPU; ``ln_vision`` and the Q-Former compute in fp32
unless the training loop adds autocast (mmengine's ``AmpOptimWrapper``, as SPRC's
``torch.cuda.amp.autocast`` around the whole step).  Dropout (0.1) is active in ``train()``; the
frozen ViT stays in eval mode.  Deliberate differences from SPRC's code, none of which changes a
result SPRC computes: batch size 1 works (SPRC's ``.squeeze()`` breaks it; the contrastive losses
are 0 there), the fused feature is read at index ``num_query_token`` (SPRC hard-codes 32, the
default), and the all-ones image attention mask is not materialised (adding zeros).
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import Tensor, nn

from regionkit.errors import ConfigError
from regionkit.models.backbones.clip_vit import ClipViT, ClipViTConfig
from regionkit.models.backbones.clip_vit import LayerNorm as Fp32LayerNorm
from regionkit.models.backbones.eva_vit import EvaViT, EvaViTConfig, convert_to_fp16
from regionkit.models.errors import WeightsError
from regionkit.models.losses.loss_set import LossSet
from regionkit.models.losses.sprc import max_token_similarity
from regionkit.models.region_features.box_mapping import Preprocess, map_boxes_norm_batch
from regionkit.models.region_features.embedder import RegionEmbedder
from regionkit.models.region_features.grid import as_box_tensor, boxes_norm_to_grid, infer_grid
from regionkit.models.region_features.roi import EmptyPolicy, InvalidPolicy, RegionFeatures, roi_align_tokens
from regionkit.models.retrieval.sprc.caption import BlipCaptionProcessor
from regionkit.models.retrieval.sprc.checkpoint import LoadReport, load_weights
from regionkit.models.retrieval.sprc.presets import PRESETS, PresetName, SprcPreset
from regionkit.models.retrieval.sprc.qformer import QFormer
from regionkit.models.text.bert_tokenizer import BERT_VOCAB_HELP, BertTokenizer, TokenizedText, synthetic_vocab
from regionkit.params import PathText, Range, WeightsFile, checked

__all__ = ["SprcModel", "SprcInputs", "ModelTemperature", "DEFAULT_LOSSES", "FEATURE_KEYS", "REGION_KEYS"]

#: SPRC's CIRR recipe (``blip_fine_tune_2.py``: ``loss_itc + 0.4 loss_align + 0.4 loss_rtc``)
DEFAULT_LOSSES: tuple[dict[str, Any], ...] = (dict(type="itc", loss_weight=1.0), dict(type="rtc", loss_weight=0.4),
                                              dict(type="align", loss_weight=0.4))
#: the region features a region loss consumes
REGION_KEYS = ("ref_region_feats", "ref_region_owner", "tgt_region_feats", "tgt_region_owner")
#: every feature ``mode="tensor"`` can return (``ref_boxes`` / ``tgt_boxes``: the boxes used, per image,
#: normalised on the model input; ``*_tokens``: the tokens the regions are pooled from)
FEATURE_KEYS = ("fusion_feats", "target_feats", "text_only_feats", "fusion_prompts", "prompt_tokens", "ref_tokens",
                "tgt_tokens", "ref_boxes", "tgt_boxes", *REGION_KEYS)

_VocabFile = Annotated[PathText, WeightsFile("BERT vocabulary", "bert-base-uncased's vocab.txt (Hugging Face)",
                                             suffixes=(".txt",))]
_VitFile = Annotated[PathText, WeightsFile("ViT weights", "eva_vit_g.pth / clip_vit_L.pth (LAVIS)", format="torch")]
_PretrainedFile = Annotated[PathText, WeightsFile("BLIP-2 checkpoint", "blip2_pretrained.pth (LAVIS)", format="torch")]
_CheckpointFile = Annotated[PathText, WeightsFile("SPRC checkpoint", "sprc_cirr.pt etc. (chunmeifeng/SPRC README)",
                                                  format="torch")]
_SIDES = ("ref", "tgt")


class SprcInputs(TypedDict, total=False):
    """The ``inputs`` dict of :meth:`SprcModel.forward` (see the module docstring); all keys optional."""

    ref_images: Tensor
    tgt_images: Tensor
    ref_vit_feats: Tensor
    tgt_vit_feats: Tensor
    ref_embeds: Tensor
    tgt_embeds: Tensor
    captions: Sequence[str]
    ref_boxes: Sequence[Tensor | Sequence[Sequence[float]]]
    tgt_boxes: Sequence[Tensor | Sequence[Sequence[float]]]
    ref_image_sizes: Sequence[tuple[int, int]]
    tgt_image_sizes: Sequence[tuple[int, int]]


class ModelTemperature(nn.Module):
    """``sim / owner.temp``: a loss temperature that is the model's own ``temp`` parameter.

    Put in place of a loss's own temperature so that the loss divides by SPRC's single learnable
    ``temp``.  The owner is held by reference and not registered, so the state_dict keeps one
    ``temp`` key; the parameter is looked up at every call, so the link survives ``to_empty``,
    ``load_state_dict(assign=True)`` and deep copies (EMA models).
    """

    def __init__(self, owner: nn.Module, name: str = "temp") -> None:
        super().__init__()
        self._owner = [owner]
        self._name = name

    @property
    def value(self) -> Tensor:
        return getattr(self._owner[0], self._name)

    def forward(self, sim: Tensor) -> Tensor:
        return sim / self.value.to(sim.dtype)

    def extra_repr(self) -> str:
        return f"model parameter {self._name!r}"


class SprcModel(BaseModel):
    """SPRC composed image retrieval: BLIP-2 Q-Former with sentence-level prompts, native and LAVIS-compatible.

    Parameters (keyword only):

    preset:
        ``"pretrain"``: EVA ViT-g/14 + BERT-base Q-Former (SPRC's default backbone);
        ``"pretrain_vitL"``: CLIP ViT-L/14; ``"tiny"``: the same classes at CPU size (2-block
        ViT of width 48, 2-layer Q-Former of width 64, built-in synthetic vocabulary).
    img_size:
        Input image side in pixels (224; 257 tokens).  A checkpoint's position embedding is
        interpolated to it.
    drop_path_rate:
        Stochastic depth of the EVA ViT (SPRC: 0).
    use_grad_checkpoint:
        Activation checkpointing in the ViT (only matters with ``freeze_vit=False``).
    vit_precision:
        ``"auto"`` (default): a frozen ViT runs in fp16 on CUDA (weights converted on the first
        CUDA forward, as LAVIS) and in fp32 on a CPU; ``"fp16"``: converted at build, as LAVIS
        (CUDA only); ``"fp32"``: always fp32.
    freeze_vit:
        Freeze the ViT and keep it in eval mode (SPRC: True).
    num_query_token, cross_attention_freq:
        Q-Former query tokens (32) and cross-attention every ``cross_attention_freq`` layers (2).
    embed_dim:
        Size of the projected features (default: the preset's, 256; tiny 64).
    max_txt_len, padding:
        Caption tokens (SPRC: 32) and padding (SPRC: ``"max_length"``; ``"longest"`` gives
        the same features with less work).
    vocab_file:
        bert-base-uncased's ``vocab.txt`` (required except for the tiny preset).
    caption_max_words:
        ``BlipCaptionProcessor``'s word limit (50).
    losses:
        Loss configs ``dict(type=NAME, loss_weight=..., ...)`` built through the ``losses``
        registry (default: SPRC's CIRR recipe ``itc`` 1, ``rtc`` 0.4, ``align`` 0.4; add
        ``dict(type="region_itc", loss_weight=0.1)`` for a region loss).
    model_temperature:
        Losses whose temperature is the model's ``temp`` (SPRC's ``itc`` and ``rtc``).
    share_temperature:
        Groups of losses sharing one temperature (``LossSet``), e.g. ``[("itc", "region_itc")]``.
    region_tokens:
        Tokens the regions are pooled from: ``"ln_vision"`` (the raw ``ln_vision`` output, as
        aizhao/SPRC-'s fork), ``"vit"`` (before ``ln_vision``) or ``"projected"`` (``ln_vision``
        tokens projected by ``region_embedder`` before pooling).
    region_dim, region_invalid, region_empty:
        Region embedding size (default ``embed_dim``), degenerate boxes (``"drop"``) and images
        without boxes (``"whole_image"``: their patch mean), as ``RegionEmbedder``.
    box_preprocess, box_target_ratio:
        The preprocessing boxes on the original image are mapped through (``"targetpad"``, 1.25).
    vit_checkpoint, pretrained, checkpoint:
        Local weight files: ``eva_vit_g.pth`` / ``clip_vit_L.pth``, BLIP-2's
        ``blip2_pretrained*.pth``, an SPRC or regionkit checkpoint (loaded in that order).
    allow_pickled_objects:
        Accept files that pickle non-tensor objects (they are replaced by inert placeholders).
    strict_load:
        Raise on missing / unexpected / mis-shaped keys (default) instead of reporting them.
    data_preprocessor, init_cfg:
        mmengine's ``BaseModel`` arguments.

    The loading reports are in ``load_reports``; see the module docstring for inputs and modes.
    """

    #: what conformance tooling builds (the default preset needs BERT's vocabulary and ~4 GB)
    conformance_params = [dict(preset="tiny")]

    @checked
    def __init__(self, *, preset: PresetName = "pretrain", img_size: Annotated[int, Range(14, 4096)] = 224,
                 drop_path_rate: Annotated[float, Range(0.0, 1.0)] = 0.0, use_grad_checkpoint: bool = False,
                 vit_precision: Literal["auto", "fp16", "fp32"] = "auto", freeze_vit: bool = True,
                 num_query_token: Annotated[int, Range(1, 512)] = 32,
                 cross_attention_freq: Annotated[int, Range(1, 64)] = 2,
                 embed_dim: Annotated[int, Range(1, 1 << 16)] | None = None,
                 max_txt_len: Annotated[int, Range(2, 512)] = 32, padding: Literal["max_length", "longest"] = "max_length",
                 vocab_file: _VocabFile | None = None, caption_max_words: Annotated[int, Range(1, 10000)] = 50,
                 losses: Sequence[Mapping[str, Any]] = DEFAULT_LOSSES,
                 model_temperature: Sequence[str] = ("itc", "rtc"),
                 share_temperature: Sequence[Sequence[str]] = (),
                 region_tokens: Literal["ln_vision", "vit", "projected"] = "ln_vision",
                 region_dim: Annotated[int, Range(1, 1 << 16)] | None = None,
                 region_invalid: InvalidPolicy = "drop", region_empty: EmptyPolicy = "whole_image",
                 box_preprocess: Preprocess = "targetpad", box_target_ratio: Annotated[float, Range(1.0, 100.0)] = 1.25,
                 vit_checkpoint: _VitFile | None = None, pretrained: _PretrainedFile | None = None,
                 checkpoint: _CheckpointFile | None = None, allow_pickled_objects: bool = False,
                 strict_load: bool = True, data_preprocessor: Mapping[str, Any] | nn.Module | None = None,
                 init_cfg: Mapping[str, Any] | None = None) -> None:
        super().__init__(data_preprocessor=dict(data_preprocessor) if isinstance(data_preprocessor, Mapping)
                         else data_preprocessor, init_cfg=dict(init_cfg) if init_cfg is not None else None)
        spec = PRESETS[preset]
        self.preset = preset
        self.img_size = img_size
        self.freeze_vit = freeze_vit
        self.vit_precision = vit_precision
        self.num_query_token = num_query_token
        self.max_txt_len = max_txt_len
        self.padding: Literal["max_length", "longest"] = padding
        self.region_tokens = region_tokens
        self.box_preprocess: Preprocess = box_preprocess
        self.box_target_ratio = box_target_ratio
        self.tokenizer = self._tokenizer(spec, vocab_file)
        self.caption_processor = BlipCaptionProcessor(max_words=caption_max_words)

        weights_follow = vit_checkpoint is not None or checkpoint is not None  # skip the slow random ViT init
        self.visual_encoder: EvaViT | ClipViT = self._vit(spec, img_size, drop_path_rate, use_grad_checkpoint,
                                                          init=not weights_follow)
        self.ln_vision = Fp32LayerNorm(self.visual_encoder.num_features)
        if freeze_vit:
            for param in self.visual_encoder.parameters():
                param.requires_grad_(False)
            self.visual_encoder.eval()
        qcfg = spec.qformer.with_(vocab_size=len(self.tokenizer), encoder_width=self.visual_encoder.num_features,
                                  cross_attention_freq=cross_attention_freq, query_length=num_query_token)
        self.Qformer = QFormer(qcfg)
        hidden, std = qcfg.hidden_size, qcfg.initializer_range
        self.query_tokens = nn.Parameter(torch.zeros(1, num_query_token, hidden).normal_(mean=0.0, std=std))
        embed = embed_dim or spec.embed_dim
        self.vision_proj = nn.Linear(hidden, embed)
        self.text_proj = nn.Linear(hidden, embed)
        self.itm_head = nn.Linear(hidden, 2)  # unused by SPRC, kept for the checkpoint layout
        self.temp = nn.Parameter(0.07 * torch.ones([]))
        self.prompt_tokens = nn.Parameter(torch.zeros(1, num_query_token, hidden).normal_(mean=0.0, std=std))

        self.losses = LossSet(list(losses), share_temperature=share_temperature)
        for name in model_temperature:  # names absent from the loss set are skipped
            if name not in self.losses.losses:
                continue
            own = getattr(self.losses.losses[name], "temperature", None)
            if not isinstance(own, nn.Module):
                raise ConfigError(f"model_temperature names loss {name!r}, which has no temperature")
            shared = ModelTemperature(self)
            for loss in self.losses.losses.values():  # also the losses that share_temperature linked to it
                if getattr(loss, "temperature", None) is own:
                    loss.temperature = shared
        consumed = self.losses.consumed_keys()
        self.region_embedder: RegionEmbedder | None = None
        if consumed & set(REGION_KEYS):
            self.region_embedder = RegionEmbedder(self.visual_encoder.num_features, region_dim or embed,
                                                  invalid=region_invalid, empty=region_empty)

        self.load_reports: list[LoadReport] = load_weights(
            self, vit_checkpoint=vit_checkpoint, pretrained=pretrained, checkpoint=checkpoint,
            allow_pickled_objects=allow_pickled_objects, strict=strict_load)
        if vit_precision == "fp16":
            convert_to_fp16(self.visual_encoder)

    # ------------------------------------------------------------------ construction
    @staticmethod
    def _tokenizer(spec: SprcPreset, vocab_file: PathText | None) -> BertTokenizer:
        if vocab_file is not None:
            try:
                return BertTokenizer(vocab_file)
            except FileNotFoundError as exc:
                raise WeightsError(str(exc)) from None
        if spec.synthetic_vocab is None:
            raise WeightsError(f"vocab_file is required for this preset. {BERT_VOCAB_HELP}")
        return BertTokenizer(vocab=synthetic_vocab(spec.synthetic_vocab))

    @staticmethod
    def _vit(spec: SprcPreset, img_size: int, drop_path_rate: float, use_grad_checkpoint: bool,
             init: bool) -> EvaViT | ClipViT:
        if isinstance(spec.vit, EvaViTConfig):
            return EvaViT(replace(spec.vit, img_size=img_size, drop_path_rate=drop_path_rate),
                          use_checkpoint=use_grad_checkpoint, init=init)
        assert isinstance(spec.vit, ClipViTConfig)
        return ClipViT(replace(spec.vit, input_resolution=img_size), use_grad_checkpointing=use_grad_checkpoint)

    def train(self, mode: bool = True) -> SprcModel:
        """As ``nn.Module.train``, but a frozen ViT stays in eval mode (LAVIS's ``disabled_train``)."""
        super().train(mode)
        if self.freeze_vit:
            self.visual_encoder.eval()
        return self

    # ------------------------------------------------------------------ encoders
    @property
    def _device(self) -> torch.device:
        return self.query_tokens.device

    def _vit_context(self, device: torch.device) -> contextlib.AbstractContextManager[Any]:
        """fp16 autocast for the ViT on CUDA (unless ``fp32``), converting a frozen ViT's weights once for ``auto``."""
        vit = self.visual_encoder
        stem = vit.patch_embed.proj if isinstance(vit, EvaViT) else vit.conv1
        half = stem.weight.dtype == torch.float16
        if device.type != "cuda":
            if half and self.vit_precision == "fp16":
                raise RuntimeError("vit_precision='fp16' needs a CUDA device; use 'auto' or 'fp32' on a CPU")
            if half:  # 'auto' after a CUDA run, now on a CPU: back to fp32 (exact)
                self.visual_encoder.float()
            return contextlib.nullcontext()
        if self.vit_precision == "fp32":
            return contextlib.nullcontext()
        if self.vit_precision == "auto" and self.freeze_vit and not half:
            convert_to_fp16(self.visual_encoder)
        return torch.autocast("cuda", dtype=torch.float16)

    def encode_vit(self, images: Tensor) -> Tensor:
        """ViT tokens before ``ln_vision``: images ``[B, 3, S, S]`` -> ``[B, N, Dv]`` (fp32)."""
        grad = torch.is_grad_enabled() and not self.freeze_vit
        with torch.set_grad_enabled(grad), self._vit_context(images.device):
            tokens = self.visual_encoder(images)
        return tokens.float()

    def embed_vit_tokens(self, vit_tokens: Tensor) -> Tensor:
        """``ln_vision`` (fp32) of ViT tokens ``[B, N, Dv]``: the image states the Q-Former reads."""
        return self.ln_vision(vit_tokens.float())

    def _side(self, inputs: Mapping[str, Any], side: str) -> tuple[Tensor | None, Tensor | None]:
        """``(vit_tokens or None, ln_vision embeddings)`` of one side, or ``(None, None)`` when absent."""
        given = [k for k in (f"{side}_images", f"{side}_vit_feats", f"{side}_embeds") if inputs.get(k) is not None]
        if len(given) > 1:
            raise ConfigError(f"give one of {', '.join(given)}, not several")
        if not given:
            return None, None
        value = inputs[given[0]]
        if given[0].endswith("_embeds"):
            return None, value.float()
        vit = self.encode_vit(value) if given[0].endswith("_images") else value.float()
        return vit, self.embed_vit_tokens(vit)

    def tokenize(self, captions: Sequence[str]) -> TokenizedText:
        """``BlipCaptionProcessor`` then the BERT tokenizer: ids / mask ``[B, L]`` on the model's device."""
        if isinstance(captions, str):
            raise ConfigError("captions must be a list of strings, one per triplet, not one string")
        texts = self.caption_processor.batch(list(captions))
        return self.tokenizer(texts, max_length=self.max_txt_len, padding=self.padding).to(self._device)

    def _mask(self, tokens: TokenizedText) -> Tensor:
        ones = torch.ones(tokens.input_ids.shape[0], self.num_query_token, dtype=tokens.attention_mask.dtype,
                          device=tokens.attention_mask.device)
        return torch.cat([ones, tokens.attention_mask], dim=1)

    def fuse(self, ref_embeds: Tensor, tokens: TokenizedText) -> tuple[Tensor, Tensor]:
        """Steps (a)+(b): ``(fusion_prompts [B, Q, H], fusion_feats [B, E] unit)`` from reference embeddings and captions."""
        queries = self.query_tokens.expand(ref_embeds.shape[0], -1, -1)
        mask = self._mask(tokens)
        hidden = self.Qformer.bert(tokens.input_ids, query_embeds=queries, attention_mask=mask,
                                   encoder_hidden_states=ref_embeds)
        prompts = hidden[:, :self.num_query_token]
        text = self.Qformer.bert(tokens.input_ids, query_embeds=prompts, attention_mask=mask)
        return prompts, F.normalize(self.text_proj(text[:, self.num_query_token]), dim=-1)

    def target_features(self, tgt_embeds: Tensor) -> Tensor:
        """Step (c): target query tokens ``[B, Q, E]`` (unit vectors) from ``ln_vision`` embeddings."""
        queries = self.query_tokens.expand(tgt_embeds.shape[0], -1, -1)
        hidden = self.Qformer.bert(query_embeds=queries, encoder_hidden_states=tgt_embeds)
        return F.normalize(self.vision_proj(hidden), dim=-1)

    def text_only_features(self, tokens: TokenizedText) -> Tensor:
        """The RTC branch: caption + learnable prompts, no image -> ``[B, E]`` unit vectors ([CLS] output)."""
        prompts = self.prompt_tokens.expand(tokens.input_ids.shape[0], -1, -1)
        hidden = self.Qformer.bert(tokens.input_ids, query_embeds=prompts, attention_mask=self._mask(tokens),
                                   no_img=True)
        return F.normalize(self.text_proj(hidden[:, 0]), dim=-1)

    # ------------------------------------------------------------------ regions
    def _boxes(self, inputs: Mapping[str, Any], side: str, count: int) -> list[Tensor] | None:
        """One side's boxes, ``[K_i, 4]`` float32 normalised on the model input (mapped when image sizes are given)."""
        boxes = inputs.get(f"{side}_boxes")
        if boxes is None:
            return None
        if len(boxes) != count:
            raise ConfigError(f"{side}_boxes has {len(boxes)} entries for {count} images")
        sizes = inputs.get(f"{side}_image_sizes")
        if sizes is not None and len(sizes) != count:
            raise ConfigError(f"{side}_image_sizes has {len(sizes)} entries for {count} images")
        parts = [as_box_tensor(item, dtype=torch.float64, device="cpu") for item in boxes]
        if sizes is not None:  # mapped in float64, then used in float32
            mapped = map_boxes_norm_batch(parts, [(int(s[0]), int(s[1])) for s in sizes], self.box_preprocess,
                                          size=self.img_size, target_ratio=self.box_target_ratio)
            parts = [m.boxes_norm for m in mapped]
        return [p.to(device=self._device, dtype=torch.float32) for p in parts]

    def region_features(self, tokens: Tensor, boxes: Sequence[Tensor]) -> RegionFeatures:
        """Unit region embeddings ``[R, E']`` (and owners) from tokens ``[B, N, D]`` and model-input boxes."""
        if self.region_embedder is None:
            raise ConfigError("this model has no region embedder: add a region loss (e.g. dict(type='region_itc')) "
                              "to losses")
        spec = infer_grid(tokens.shape[1])
        grid_boxes = [boxes_norm_to_grid(b.to(tokens.device), (spec.h, spec.w)) for b in boxes]
        embedder = self.region_embedder
        if self.region_tokens != "projected":
            return embedder(tokens, grid_boxes)
        projected = embedder.proj(tokens.to(embedder.proj.weight.dtype))
        regions = roi_align_tokens(projected, grid_boxes, empty=embedder.empty, invalid=embedder.invalid,
                                   backend=embedder.backend)
        feats = F.normalize(regions.features, dim=-1, eps=embedder.eps) if embedder.normalize else regions.features
        return regions.replace(feats)

    # ------------------------------------------------------------------ forward
    def features(self, inputs: Mapping[str, Any], needed: set[str] | None = None) -> dict[str, Any]:
        """The named features of :data:`FEATURE_KEYS` that the inputs allow (only ``needed`` ones if given)."""
        want = set(FEATURE_KEYS) if needed is None else set(needed)
        captions = inputs.get("captions")
        ref_vit, ref = self._side(inputs, "ref")
        tgt_vit, tgt = self._side(inputs, "tgt")
        out: dict[str, Any] = {}
        tokens = self.tokenize(captions) if captions is not None else None
        if ref is not None and tokens is not None and want & {"fusion_feats", "fusion_prompts"}:
            out["fusion_prompts"], out["fusion_feats"] = self.fuse(ref, tokens)
        if tgt is not None and "target_feats" in want:
            out["target_feats"] = self.target_features(tgt)
        if tokens is not None and "text_only_feats" in want:
            out["text_only_feats"] = self.text_only_features(tokens)
        if "prompt_tokens" in want:
            out["prompt_tokens"] = self.prompt_tokens
        for side, vit_tokens, embeds in (("ref", ref_vit, ref), ("tgt", tgt_vit, tgt)):
            if embeds is None:
                continue
            source = embeds
            if self.region_tokens == "vit":
                if vit_tokens is None:
                    raise ConfigError(f"region_tokens='vit' needs {side}_images or {side}_vit_feats, not {side}_embeds")
                source = vit_tokens
            if f"{side}_tokens" in want:
                out[f"{side}_tokens"] = source
            boxes = self._boxes(inputs, side, embeds.shape[0])
            if boxes is not None and f"{side}_boxes" in want:
                out[f"{side}_boxes"] = boxes
            if not want & {f"{side}_region_feats", f"{side}_region_owner"}:
                continue
            if needed is None and (boxes is None or self.region_embedder is None):
                continue  # mode "tensor": region features only where they can be computed
            if boxes is None:
                raise ConfigError(f"a region loss needs {side}_boxes in the inputs (one [K, 4] list per image)")
            regions = self.region_features(source, boxes)
            out[f"{side}_region_feats"], out[f"{side}_region_owner"] = regions.features, regions.owner
        return out

    def loss(self, inputs: Mapping[str, Any]) -> dict[str, Tensor]:
        """``{"loss_<name>": weighted 0-dim tensor}`` of the configured losses."""
        needed = self.losses.consumed_keys()
        return self.losses(self.features(inputs, needed))

    def compose_query(self, ref_embeds: Tensor, captions: Sequence[str]) -> Tensor:
        """The composed query feature ``f`` ``[B, E]`` from ``ln_vision`` reference embeddings and captions."""
        return self.fuse(ref_embeds.float(), self.tokenize(captions))[1]

    def score(self, query_feats: Tensor, target_feats: Tensor) -> Tensor:
        """``score[i, j] = max_q <query_i, target_j,q>``: ``[B, E]`` x ``[N, Q, E]`` -> ``[B, N]`` (rank by ``1 - score``)."""
        return max_token_similarity(query_feats, target_feats)

    def extract_target_features(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """SPRC's index side: images -> ``(target query tokens [N, Q, E], ln_vision embeddings [N, 257, Dv])``."""
        embeds = self.embed_vit_tokens(self.encode_vit(images))
        return self.target_features(embeds), embeds

    def inference(self, reference_embeds: Tensor, target_feats: Tensor, captions: Sequence[str]) -> Tensor:
        """SPRC's ``inference``: scores ``[B, N]`` of each (reference, caption) query against the index."""
        return self.score(self.compose_query(reference_embeds, captions), target_feats)

    def predict(self, inputs: Mapping[str, Any]) -> dict[str, Tensor]:
        """Retrieval outputs: ``query_feats`` ``[B, E]``, ``target_feats`` ``[B', Q, E]``, ``scores`` ``[B, B']``."""
        feats = self.features(inputs, {"fusion_feats", "target_feats"})
        out = {}
        if "fusion_feats" in feats:
            out["query_feats"] = feats["fusion_feats"]
        if "target_feats" in feats:
            out["target_feats"] = feats["target_feats"]
        if len(out) == 2:
            out["scores"] = self.score(out["query_feats"], out["target_feats"])
        if not out:
            raise ConfigError("predict needs a reference with captions and/or target images (see SprcInputs)")
        return out

    def forward(self, inputs: Mapping[str, Any], data_samples: Any = None, mode: str = "tensor") -> Any:
        """mmengine's entry: ``mode`` ``"loss"``, ``"predict"`` or ``"tensor"`` (module docstring)."""
        if not isinstance(inputs, Mapping):
            raise ConfigError(f"SprcModel takes a dict of inputs (SprcInputs), got {type(inputs).__name__}")
        if mode == "loss":
            return self.loss(inputs)
        if mode == "predict":
            return self.predict(inputs)
        if mode == "tensor":
            return self.features(inputs)
        raise ConfigError(f"mode must be 'loss', 'predict' or 'tensor', got {mode!r}")

    # ------------------------------------------------------------------ helpers
    def sprc_named_parameters(self) -> Iterator[tuple[str, nn.Parameter]]:
        """The trainable parameters SPRC optimises (everything with ``requires_grad``), by name."""
        return ((n, p) for n, p in self.named_parameters() if p.requires_grad)

    def save_sprc(self, path: str | os.PathLike[str], layout: Literal["sprc", "lavis"] = "sprc") -> Path:
        """Write this model as SPRC's ``save_model`` does (or LAVIS's ``{"model": ...}``); see ``checkpoint``."""
        from regionkit.models.retrieval.sprc.checkpoint import save_sprc_checkpoint

        return save_sprc_checkpoint(self, path, layout=layout)
