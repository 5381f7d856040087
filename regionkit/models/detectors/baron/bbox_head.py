"""BARON's RoI box head (ovdet ``BaronShared4Conv1FCBBoxHead``), inference only.

Per RoI (256 x 7 x 7 features): four 3x3 conv + frozen BN + ReLU, flatten, FC 1024 + ReLU.
Then

* ``fc_cls`` maps to ``num_words`` (6) pseudo words of 512 dims, which the CLIP text encoder
  turns into one L2-normalised feature (block-12 output at EOT, see
  :meth:`~regionkit.models.text.clip_text.CLIPTextEncoder.encode_pseudo_text_endk`);
  logits are ``cls_temp * feature @ [cls_embeddings; bg]^T`` with ``cls_temp = 50`` and a
  learned background row ``bg = normalize(bg_embedding(1))`` appended last;
* ``fc_reg`` (Linear-ReLU-Linear) predicts one class-agnostic box delta.

:meth:`BaronBBoxHead.predict` turns one image's logits and deltas into detections exactly as
ovdet/mmdet do: softmax over ``K + 1`` classes, delta decoding with stds
``(0.1, 0.1, 0.2, 0.2)`` clipped to the resized image, rescaling by ``1 / scale_factor`` to
original pixels (not clipped again), and :func:`~regionkit.models.ops.nms.multiclass_nms`.
"""
from __future__ import annotations

import contextlib
from collections.abc import Sequence
from contextlib import AbstractContextManager

import torch
from torch import nn
from torch.nn import functional as F

from regionkit.models.layers import ConvNormAct
from regionkit.models.ops.box_coder import delta2bbox
from regionkit.models.ops.nms import multiclass_nms
from regionkit.models.text.clip_text import CLIPTextEncoder

__all__ = ["BaronBBoxHead"]

BBOX_STDS = (0.1, 0.1, 0.2, 0.2)


class BaronBBoxHead(nn.Module):
    """Shared 4-conv 1-FC head with pseudo-word classification; keys as ovdet's ``roi_head.bbox_head``."""

    cls_embeddings: torch.Tensor

    def __init__(self, num_classes: int = 80, in_channels: int = 256, roi_size: int = 7, fc_channels: int = 1024,
                 num_words: int = 6, word_dim: int = 512, cls_temp: float = 50.0) -> None:
        super().__init__()
        self.num_words = num_words
        self.word_dim = word_dim
        self.cls_temp = cls_temp
        self.shared_convs = nn.ModuleList(
            ConvNormAct(in_channels, in_channels, 3, padding=1, norm=True, act=True) for _ in range(4))
        self.shared_fcs = nn.ModuleList([nn.Linear(in_channels * roi_size * roi_size, fc_channels)])
        self.fc_cls = nn.Linear(fc_channels, num_words * word_dim)
        self.fc_reg = nn.Sequential(nn.Linear(fc_channels, fc_channels), nn.ReLU(inplace=True),
                                    nn.Linear(fc_channels, 4))
        self.register_buffer("cls_embeddings", torch.zeros(num_classes, word_dim))
        self.bg_embedding = nn.Linear(1, word_dim)

    @property
    def num_classes(self) -> int:
        return int(self.cls_embeddings.shape[0])

    def set_class_embeddings(self, embeddings: torch.Tensor) -> None:
        """Replace the vocabulary: ``embeddings`` (K, word_dim), rows L2-normalised by the caller."""
        if embeddings.dim() != 2 or embeddings.shape[1] != self.word_dim:
            raise ValueError(f"class embeddings must have shape (K, {self.word_dim}), got {tuple(embeddings.shape)}")
        self.cls_embeddings = embeddings.detach().to(self.cls_embeddings.device, torch.float32).clone()

    def forward(self, roi_feats: torch.Tensor, text_encoder: CLIPTextEncoder,
                text_autocast: AbstractContextManager | None = None,
                fast_text: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """``(cls_logits (N, K+1), box deltas (N, 4))`` for RoI features (N, C, 7, 7).

        ``text_autocast``: context the text encoder runs in (None: float32).  ``fast_text``
        uses :meth:`~regionkit.models.text.clip_text.CLIPTextEncoder.encode_pseudo_text_endk_fast`
        (float32 only; ignored under autocast).
        """
        x = roi_feats
        for conv in self.shared_convs:
            x = conv(x)
        x = x.flatten(1)
        for fc in self.shared_fcs:
            x = torch.relu_(fc(x))
        pseudo_words = self.fc_cls(x).view(-1, self.num_words, self.word_dim)
        logits = self.cls_logits(pseudo_words, text_encoder, text_autocast, fast_text)
        return logits, self.fc_reg(x)

    def cls_logits(self, pseudo_words: torch.Tensor, text_encoder: CLIPTextEncoder,
                   text_autocast: AbstractContextManager | None = None, fast_text: bool = False) -> torch.Tensor:
        """``cls_temp * normalize(text(pseudo words)) @ [cls_embeddings; bg]^T``, (N, K+1)."""
        if pseudo_words.shape[0] == 0:
            return pseudo_words.new_zeros(0, self.num_classes + 1)
        if text_autocast is None and fast_text:
            encode = text_encoder.encode_pseudo_text_endk_fast
        else:
            encode = text_encoder.encode_pseudo_text_endk
        with (text_autocast if text_autocast is not None else contextlib.nullcontext()):
            features = encode(pseudo_words, stepk=12, normalize=True)
        bg = F.normalize(self.bg_embedding(pseudo_words.new_ones(1, 1)), p=2, dim=-1)
        embeddings = torch.cat([self.cls_embeddings, bg])
        return self.cls_temp * features @ embeddings.T

    @staticmethod
    def predict(rois: torch.Tensor, logits: torch.Tensor, deltas: torch.Tensor, img_shape: Sequence[int],
                scale_factor: Sequence[float], score_thr: float = 0.01, nms_iou: float = 0.5,
                max_per_img: int = 100) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One image: RoIs (N, 4) in resized pixels -> ``(boxes (M, 4) original pixels, scores, labels)``.

        ``img_shape`` is the resized (unpadded) ``(H, W)``; ``scale_factor`` is ``(w_scale, h_scale)``.
        """
        if rois.shape[0] == 0:
            return rois.new_zeros(0, 4), rois.new_zeros(0), torch.zeros(0, dtype=torch.long, device=rois.device)
        scores = F.softmax(logits, dim=-1)
        boxes = delta2bbox(rois, deltas.view(-1, 4), stds=BBOX_STDS, max_shape=img_shape)
        inv = boxes.new_tensor([1 / s for s in scale_factor]).repeat((1, 2))
        boxes = (boxes * inv).view(rois.shape[0], -1)
        return multiclass_nms(boxes, scores, score_thr, nms_iou, max_per_img)
