"""The BARON detector (wusize/ovdet OV-COCO Faster R-CNN R50-FPN) as native torch modules.

:class:`BaronDetector` is the network, with ovdet's state_dict layout (``backbone.*``,
``neck.*``, ``rpn_head.*``, ``roi_head.bbox_head.*``, ``roi_head.clip.text_encoder.*``), so
ovdet checkpoints load as they are.  :class:`BaronDetectorModel` is the public entry: it loads
a checkpoint, optionally swaps the vocabulary, and turns RGB uint8 images into detections.

What one image goes through (mmdet's test pipeline for this config, batch size 1):

* resize to fit 1333 x 800 keeping the aspect ratio, normalise, zero-pad to a multiple of 32
  (:mod:`~regionkit.models.detectors.baron.preprocess`);
* ResNet-50 -> FPN (strides 4..64) -> RPN, up to 1000 proposals
  (:mod:`~regionkit.models.detectors.baron.rpn`);
* RoIAlign 7x7 on strides 4..32, box head with pseudo words read by the CLIP text encoder,
  softmax over ``K + 1`` classes, class-agnostic box refinement, rescale to original pixels,
  multi-class NMS (score > ``score_thr``, IoU 0.5, at most 100)
  (:mod:`~regionkit.models.detectors.baron.bbox_head`).

Images are batched only with images of the same padded size, because the padding seen by the
network (and the anchors laid over it) would otherwise change an image's detections; so
results never depend on which other images share a call.  On CUDA the text encoder runs
under fp16 autocast, like ovdet under mmengine's ``autocast()``; on CPU everything is float32
unless ``amp="bf16"`` (which is what mmengine's ``autocast()`` does on CPU, see
:class:`BaronDetectorModel`).
"""
from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from regionkit.models.backbones.resnet import ResNet50
from regionkit.models.detectors.baron.bbox_head import BaronBBoxHead
from regionkit.models.detectors.baron.checkpoint import (
    TEXT_PREFIX,
    LoadReport,
    baron_state_dict,
    load_into,
    text_encoder_state_dict,
)
from regionkit.models.detectors.baron.classes import COCO_CLASSES
from regionkit.models.detectors.baron.preprocess import as_rgb_uint8, pad_batch, padded_input_shape, prepare_image
from regionkit.models.detectors.baron.rpn import DetachRPNHead
from regionkit.models.detectors.baron.vocab import build_class_embeddings, load_vocabulary
from regionkit.models.layers import freeze
from regionkit.models.necks.fpn import FPN
from regionkit.models.ops.roi_extract import multi_level_roi_align
from regionkit.models.text.clip_text import CLIPTextEncoder

__all__ = ["BaronDetector", "BaronDetectorModel", "Detections", "HeadOutput", "Vocabulary"]

#: A vocabulary: ``None`` (the checkpoint's own 80 COCO embeddings), a path to a ``(K, 512)``
#: ``.npy`` file, a ``(K, 512)`` array, or a list of class names (embedded with the prompt ensemble).
Vocabulary = None | str | Path | np.ndarray | Sequence[str]

_AMP_MODES = ("auto", "off", "fp16", "bf16")


def _default_names(num_classes: int) -> Sequence[str]:
    """COCO's (Patch Matters' spelling) for 80 classes, else ``class_<i>``."""
    return COCO_CLASSES if num_classes == len(COCO_CLASSES) else [f"class_{i}" for i in range(num_classes)]


class Detections(NamedTuple):
    """Detections of one image, sorted by descending score.

    ``boxes``: (N, 4) float32 ``x1, y1, x2, y2`` in original-image pixels; ``scores``: (N,)
    float32; ``labels``: (N,) int64 indices into the model's ``class_names``.
    """

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray


class HeadOutput(NamedTuple):
    """One image's proposals (P, 4) in resized-input pixels, class logits (P, K+1) and box deltas (P, 4)."""

    proposals: torch.Tensor
    logits: torch.Tensor
    deltas: torch.Tensor


class _CLIP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.text_encoder = CLIPTextEncoder()


class _RoIHead(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.bbox_head = BaronBBoxHead(num_classes=num_classes)
        self.clip = _CLIP()


class BaronDetector(nn.Module):
    """The network; :meth:`forward` maps a padded, normalised batch to per-image detections."""

    roi_strides = (4, 8, 16, 32)

    def __init__(self, num_classes: int = 80) -> None:
        super().__init__()
        self.backbone = ResNet50()
        self.neck = FPN((256, 512, 1024, 2048), 256, num_outs=5, norm=True)
        self.rpn_head = DetachRPNHead(256, num_anchors=3)
        self.roi_head = _RoIHead(num_classes)
        freeze(self)

    def train(self, mode: bool = True) -> BaronDetector:  # inference-only model
        return super().train(False)

    @property
    def text_encoder(self) -> CLIPTextEncoder:
        return self.roi_head.clip.text_encoder

    def head_outputs(self, batch: torch.Tensor, img_shapes: Sequence[Sequence[int]],
                     text_autocast: AbstractContextManager | None = None, fast_text: bool = False,
                     rpn_pre_nms: int = 1000, rpn_max_proposals: int = 1000) -> list[HeadOutput]:
        """Network outputs before post-processing, per image (see :class:`HeadOutput`)."""
        feats = self.neck(self.backbone(batch))
        cls_scores, bbox_preds = self.rpn_head(feats)
        proposals = self.rpn_head.proposals(cls_scores, bbox_preds, img_shapes, nms_pre=rpn_pre_nms,
                                            max_per_img=rpn_max_proposals)
        sizes = [p.shape[0] for p in proposals]
        if sum(sizes) == 0:
            empty = batch.new_zeros(0, self.roi_head.bbox_head.num_classes + 1)
            return [HeadOutput(p, empty, batch.new_zeros(0, 4)) for p in proposals]
        rois = torch.cat([torch.cat([p.new_full((p.shape[0], 1), float(i)), p], dim=1)
                          for i, p in enumerate(proposals)])
        roi_feats = multi_level_roi_align(feats[:len(self.roi_strides)], rois, self.roi_strides)
        logits, deltas = self.roi_head.bbox_head(roi_feats, self.text_encoder, text_autocast, fast_text)
        return [HeadOutput(p, lg, dl) for p, lg, dl in zip(proposals, logits.split(sizes), deltas.split(sizes))]

    @staticmethod
    def postprocess(out: HeadOutput, img_shape: Sequence[int], scale_factor: Sequence[float],
                    score_thr: float = 0.01, nms_iou: float = 0.5, max_per_img: int = 100,
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(boxes (N, 4) original pixels, scores (N,), labels (N,))`` of one image."""
        return BaronBBoxHead.predict(out.proposals, out.logits, out.deltas, img_shape, scale_factor,
                                     score_thr, nms_iou, max_per_img)

    def forward(self, batch: torch.Tensor, img_shapes: Sequence[Sequence[int]],
                scale_factors: Sequence[Sequence[float]], score_thr: float = 0.01, nms_iou: float = 0.5,
                max_per_img: int = 100, text_autocast: AbstractContextManager | None = None, fast_text: bool = False,
                rpn_pre_nms: int = 1000, rpn_max_proposals: int = 1000,
                ) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """``batch`` (B, 3, H, W); per image ``(boxes (N, 4) original pixels, scores (N,), labels (N,))``."""
        outs = self.head_outputs(batch, img_shapes, text_autocast, fast_text, rpn_pre_nms, rpn_max_proposals)
        return [self.postprocess(o, shape, factor, score_thr, nms_iou, max_per_img)
                for o, shape, factor in zip(outs, img_shapes, scale_factors)]


class BaronDetectorModel:
    """BARON open-vocabulary detector: checkpoint in, ``predict(images)`` out.

    Build it with :meth:`from_checkpoint`.  ``class_names[label]`` names a label; the default
    vocabulary is the checkpoint's 80 COCO embeddings with Patch Matters' underscored names.

    ``amp`` selects the precision of the CLIP text encoder over pseudo words: ``"auto"``
    (fp16 autocast on CUDA as ovdet does under mmengine, float32 on CPU), ``"off"`` (float32
    everywhere), ``"fp16"`` / ``"bf16"`` (autocast with that dtype on the model's device;
    ``"bf16"`` on CPU is what ovdet-in-mmdet runs on a CPU, because mmengine's ``autocast()``
    defaults to bfloat16 there).

    ``score_thr`` / ``nms_iou`` / ``max_per_img`` are ovdet's ``test_cfg.rcnn`` (0.01, 0.5, 100),
    ``rpn_pre_nms`` / ``rpn_max_proposals`` its ``test_cfg.rpn`` (``nms_pre``, ``max_per_img``:
    1000, 1000) and ``scale`` the test pipeline's ``Resize`` bound ((1333, 800)); other values
    are no longer BARON's configuration.

    ``exact``: with autocast (any amp mode other than float32) the model always repeats
    ovdet's operations one for one.  In float32, ``exact=False`` (default) lets the text
    encoder skip work whose result is known or unused (the SOT row, identical for every
    region, is computed once; the last block computes the EOT row only; about 18% fewer
    FLOPs there): class scores then differ from ovdet's by float32 rounding (at most 1e-5 on
    the parity photos), boxes are unchanged.  ``exact=True`` keeps ovdet's operation order
    everywhere (bit-identical results on CPU in the parity tests).
    """

    def __init__(self, detector: BaronDetector, class_names: Sequence[str], device: torch.device | str = "cpu",
                 score_thr: float = 0.01, nms_iou: float = 0.5, max_per_img: int = 100, batch_size: int = 1,
                 amp: str = "auto", exact: bool = False, rpn_pre_nms: int = 1000, rpn_max_proposals: int = 1000,
                 scale: tuple[int, int] = (1333, 800), load_report: LoadReport | None = None) -> None:
        if amp not in _AMP_MODES:
            raise ValueError(f"amp must be one of {_AMP_MODES}, got {amp!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = torch.device(device)
        self.detector = detector.to(self.device)
        self.score_thr = float(score_thr)
        self.nms_iou = float(nms_iou)
        self.max_per_img = int(max_per_img)
        self.batch_size = int(batch_size)
        self.amp = amp
        self.exact = bool(exact)
        self.rpn_pre_nms = int(rpn_pre_nms)
        self.rpn_max_proposals = int(rpn_max_proposals)
        self.scale = (int(scale[0]), int(scale[1]))
        self.load_report = load_report
        self.class_names: tuple[str, ...] = ()
        self._set_names(class_names)

    # ----------------------------------------------------------------------------- loading
    @classmethod
    def from_checkpoint(cls, path: str | Path, vocabulary: Vocabulary = None,
                        class_names: Sequence[str] | None = None, text_encoder_path: str | Path | None = None,
                        device: torch.device | str = "cpu", score_thr: float = 0.01, nms_iou: float = 0.5,
                        max_per_img: int = 100, batch_size: int = 1, amp: str = "auto", exact: bool = False,
                        rpn_pre_nms: int = 1000, rpn_max_proposals: int = 1000,
                        scale: tuple[int, int] = (1333, 800), strict: bool = True) -> BaronDetectorModel:
        """Load an ovdet/mmengine BARON checkpoint (see :mod:`.checkpoint` for the key rules).

        ``text_encoder_path`` (``clip_vitb32.pth``) is read only when given; its text-encoder
        weights replace the checkpoint's (or fill them in when the checkpoint has none).
        ``vocabulary`` / ``class_names``: see :meth:`set_vocabulary`.  Raises
        :class:`~regionkit.models.errors.WeightsError` for a missing, unreadable or unfitting file.
        """
        state, ignored, _meta = baron_state_dict(path)
        if text_encoder_path is not None:
            state = {k: v for k, v in state.items() if not k.startswith(TEXT_PREFIX)}
            state.update(text_encoder_state_dict(text_encoder_path))
        emb = state.get("roi_head.bbox_head.cls_embeddings")
        num_classes = int(emb.shape[0]) if emb is not None and emb.dim() == 2 else 80
        detector = BaronDetector(num_classes=num_classes)
        report = load_into(detector, state, ignored, strict=strict, source=f"checkpoint {path}")
        names = _default_names(num_classes) if (vocabulary is not None or class_names is None) else class_names
        model = cls(detector, names, device=device, score_thr=score_thr, nms_iou=nms_iou,
                    max_per_img=max_per_img, batch_size=batch_size, amp=amp, exact=exact,
                    rpn_pre_nms=rpn_pre_nms, rpn_max_proposals=rpn_max_proposals, scale=scale,
                    load_report=report)
        if vocabulary is not None:
            model.set_vocabulary(vocabulary, class_names)
        return model

    def _set_names(self, names: Sequence[str]) -> None:
        names = tuple(str(n) for n in names)
        if len(names) != self.detector.roi_head.bbox_head.num_classes:
            raise ValueError(f"{len(names)} class names for a vocabulary of "
                             f"{self.detector.roi_head.bbox_head.num_classes} embeddings")
        self.class_names = names

    def set_vocabulary(self, vocabulary: Vocabulary, class_names: Sequence[str] | None = None) -> None:
        """Replace the classes the detector scores.

        ``vocabulary``: a list of names (embedded with ovdet's prompt ensemble on this model's
        text encoder; the names become ``class_names``), a ``(K, 512)`` array or ``.npy`` path
        (``class_names`` then defaults to COCO's for K = 80, else ``class_<i>``), or ``None``
        to keep the current embeddings and only rename.
        """
        if vocabulary is None:
            if class_names is not None:
                self._set_names(class_names)
            return
        if isinstance(vocabulary, (str, Path)):
            emb = load_vocabulary(vocabulary)
        elif isinstance(vocabulary, np.ndarray):
            emb = np.asarray(vocabulary, dtype=np.float32)
            if emb.ndim != 2 or emb.shape[1] != self.detector.roi_head.bbox_head.word_dim or emb.shape[0] < 1:
                raise ValueError(f"vocabulary array must have shape (K, 512), got {emb.shape}")
        else:
            names = [str(n) for n in vocabulary]
            emb = build_class_embeddings(self.detector.text_encoder, names, device=self.device)
            class_names = names if class_names is None else class_names
        if class_names is None:
            class_names = _default_names(emb.shape[0])
        if len(class_names) != emb.shape[0]:
            raise ValueError(f"{len(class_names)} class names for {emb.shape[0]} embeddings")
        self.detector.roi_head.bbox_head.set_class_embeddings(torch.from_numpy(emb))
        self._set_names(class_names)

    # ----------------------------------------------------------------------------- inference
    def _amp_mode(self) -> str:
        if self.amp == "auto":
            return "fp16" if self.device.type == "cuda" else "off"
        return self.amp

    def _text_autocast(self) -> AbstractContextManager | None:
        mode = self._amp_mode()
        if mode == "off":
            return None
        dtype = torch.float16 if mode == "fp16" else torch.bfloat16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    @property
    def fast(self) -> bool:
        """Whether the float32 fast text encoder is used (see the class docstring)."""
        return not self.exact and self._amp_mode() == "off"

    def _groups(self, padded_shapes: Sequence[tuple[int, int]]) -> list[list[int]]:
        """Indices batched together: same padded input size, at most ``batch_size`` per batch."""
        by_shape: dict[tuple[int, int], list[int]] = {}
        for i, shape in enumerate(padded_shapes):
            by_shape.setdefault(shape, []).append(i)
        groups = []
        for idxs in by_shape.values():
            groups += [idxs[j:j + self.batch_size] for j in range(0, len(idxs), self.batch_size)]
        return groups

    def predict(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Detections for RGB uint8 images (H x W x 3; H x W grey is accepted), in input order.

        Every image is validated before any is processed; images are resized batch by batch.
        """
        if isinstance(images, np.ndarray):
            raise TypeError("predict expects a list of images, not a single array")
        arrays = [as_rgb_uint8(img) for img in images]
        shapes = [padded_input_shape(a.shape[0], a.shape[1], self.scale) for a in arrays]
        results: list[Detections | None] = [None] * len(arrays)
        fast = self.fast
        with torch.inference_mode():
            for group in self._groups(shapes):
                items = [prepare_image(arrays[i], scale=self.scale, device=self.device) for i in group]
                out = self.detector(pad_batch(items), [p.img_shape for p in items], [p.scale_factor for p in items],
                                    self.score_thr, self.nms_iou, self.max_per_img, self._text_autocast(), fast,
                                    self.rpn_pre_nms, self.rpn_max_proposals)
                for i, (boxes, scores, labels) in zip(group, out):
                    results[i] = Detections(boxes.float().cpu().numpy(), scores.float().cpu().numpy(),
                                            labels.cpu().numpy().astype(np.int64))
        return results  # type: ignore[return-value]

    def __repr__(self) -> str:
        return (f"BaronDetectorModel(classes={len(self.class_names)}, device={self.device}, "
                f"score_thr={self.score_thr}, batch_size={self.batch_size}, amp={self.amp!r}, exact={self.exact})")
