"""BARON open-vocabulary detector (wusize/ovdet; Patch Matters' divide stage), native on torch/torchvision.

The model itself lives in :mod:`regionkit.models.detectors.baron` and loads ovdet checkpoints
as they are (``torch.load(weights_only=True)``; no mmdet, mmcv or ovdet needed).  This module
is the detector plugin around it: checked parameters, lazy imports (torch is imported when a
detector is built, never by ``regionkit list``), and :class:`~regionkit.Boxes` out.

**Weights never download.**  ``checkpoint`` is the local path of the Patch Matters / ovdet
BARON checkpoint ``this_repo_R-50-FPN_CLIP_iter_90000.pth`` (ovdet's README links it on
Google Drive; it holds the CLIP text encoder too).  A missing file is a one-line error naming
the path and where the weights come from.  ``text_encoder`` optionally names OpenAI's CLIP
ViT-B/32 ``clip_vitb32.pth`` for checkpoints without the text encoder.

**Vocabularies.**  ``vocabulary=None`` scores the checkpoint's own 80 COCO classes, named as
Patch Matters wrote them (``traffic_light``, ``dining_table``, ...).  A ``.npy`` file of
``(K, 512)`` class embeddings made by ``regionkit vocab build`` (ovdet's prompt ensemble on the
checkpoint's own text encoder) scores K classes of your own; a list of names builds the
embeddings when the detector is built.  ``class_names`` names the rows of a ``.npy``.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np

from regionkit.errors import ConfigError
from regionkit.kinds.detectors import BaseDetector
from regionkit.params import Device, MaxLength, NonEmpty, PathText, Range, UnitInterval, WeightsFile, checked
from regionkit.structures.boxes import Boxes

__all__ = ["BaronOpenVocabDetector", "CHECKPOINT_HELP"]

#: where the weights come from (part of every missing-file message)
CHECKPOINT_HELP = ("get the Patch Matters BARON checkpoint this_repo_R-50-FPN_CLIP_iter_90000.pth from ovdet's "
                   "README (github.com/wusize/ovdet, configs/baron/ov_coco: 'model' link) on a machine with internet "
                   "access and pass its local path as detector.checkpoint; regionkit never downloads weights")

TEXT_ENCODER_HELP = ("get OpenAI's CLIP ViT-B/32 state_dict (clip_vitb32.pth, see ovdet's README) on a machine "
                     "with internet access and pass its local path")
VOCABULARY_HELP = "make one with: regionkit vocab build --checkpoint CKPT --names 'a,b,c' --out vocab.npy"

ClassName = Annotated[str, NonEmpty(), MaxLength(200)]
Checkpoint = Annotated[PathText, WeightsFile("BARON checkpoint", CHECKPOINT_HELP, format="torch")]
TextEncoder = Annotated[PathText, WeightsFile("CLIP text-encoder weights", TEXT_ENCODER_HELP, format="torch")]
VocabularyFile = Annotated[PathText, WeightsFile("vocabulary file", VOCABULARY_HELP, format="npy")]


class BaronOpenVocabDetector(BaseDetector):
    """BARON open-vocabulary detector (ovdet R50-FPN, OV-COCO); native torch, loads ovdet checkpoints; local weights.

    Parameters (keyword only):

    checkpoint:
        Local path of the ovdet/Patch Matters BARON checkpoint (mmengine format).
    vocabulary:
        ``None`` (the checkpoint's 80 COCO classes), the path of a ``(K, 512)`` ``.npy`` made
        by ``regionkit vocab build``, or a list of class names (embedded at build time).
    class_names:
        Names of the rows of a ``.npy`` vocabulary (default: the ``.txt`` file ``regionkit vocab
        build`` wrote beside it, else COCO's names for 80 rows, else ``class_<i>``).
    text_encoder:
        Optional path of OpenAI's CLIP ViT-B/32 ``clip_vitb32.pth`` whose text encoder replaces
        (or fills in) the checkpoint's.
    device:
        ``'cpu'``, ``'cuda'``, ``'cuda:1'``, ... or a GPU index.
    score_thr, nms_iou, max_per_img:
        ovdet's test-time detection settings: 0.01, 0.5, 100.
    batch_size:
        Images per forward pass (images of one padded size are batched together).
    amp:
        Precision of the CLIP text encoder: ``'auto'`` (fp16 autocast on CUDA as ovdet under
        mmengine, float32 on CPU), ``'off'``, ``'fp16'``, ``'bf16'``.
    exact:
        ``True`` repeats ovdet's operation order everywhere in float32 (bit-identical to the
        reference on CPU); ``False`` skips text-encoder work whose result is unused (class
        scores then differ by float32 rounding, at most about 2e-5; boxes do not).

    ``detect`` returns original-image pixel boxes sorted by descending score, label = index
    into the vocabulary, label name = its class name.
    """

    conformance_skip = ("needs a BARON checkpoint; tests/plugins/detectors/test_baron.py runs the conformance kit "
                        "on a seeded one")

    @checked
    def __init__(
        self,
        *,
        checkpoint: Checkpoint = "checkpoints/this_repo_R-50-FPN_CLIP_iter_90000.pth",
        vocabulary: VocabularyFile | Annotated[Sequence[ClassName], NonEmpty()] | None = None,
        class_names: Annotated[Sequence[ClassName], NonEmpty()] | None = None,
        text_encoder: TextEncoder | None = None,
        device: Device = "cpu",
        score_thr: UnitInterval = 0.01,
        nms_iou: UnitInterval = 0.5,
        max_per_img: Annotated[int, Range(1, 10000)] = 100,
        batch_size: Annotated[int, Range(1, 256)] = 2,
        amp: Literal["auto", "off", "fp16", "bf16"] = "auto",
        exact: bool = False,
    ) -> None:
        checkpoint_path = _existing(checkpoint, "BARON checkpoint", CHECKPOINT_HELP)
        text_path = None if text_encoder is None else _existing(text_encoder, "CLIP text-encoder weights",
                                                                 TEXT_ENCODER_HELP)
        vocab: Any = vocabulary
        names = None if class_names is None else list(class_names)
        if isinstance(vocabulary, (str, Path)) or hasattr(vocabulary, "__fspath__"):
            vocab_path = _existing(vocabulary, "vocabulary file", VOCABULARY_HELP)
            vocab = str(vocab_path)
            if names is None:
                names = _sidecar_names(vocab_path)
        elif vocabulary is not None:
            vocab = list(vocabulary)
        self.device = _torch_device(device)
        from regionkit.models.detectors.baron.model import BaronDetectorModel

        try:
            self.model = BaronDetectorModel.from_checkpoint(
                checkpoint_path, vocabulary=vocab, class_names=names,
                text_encoder_path=text_path, device=self.device, score_thr=score_thr, nms_iou=nms_iou,
                max_per_img=max_per_img, batch_size=batch_size, amp=amp, exact=exact)
        except ValueError as exc:  # vocabulary and class names that do not fit each other
            where = f" (vocabulary {vocab})" if isinstance(vocab, str) else ""
            raise ConfigError(f"detector 'baron'{where}: {exc}") from None
        self.checkpoint = str(checkpoint_path)
        self.class_names: tuple[str, ...] = tuple(self.model.class_names)

    def __repr__(self) -> str:
        return (f"BaronOpenVocabDetector(checkpoint={self.checkpoint!r}, classes={len(self.class_names)}, "
                f"device={self.device!r})")

    def detect(self, images: Sequence[np.ndarray]) -> list[Boxes]:
        """BARON boxes of each RGB ``uint8`` image, original-image pixels, best first."""
        if isinstance(images, np.ndarray) and images.ndim < 4:
            raise ValueError(f"detect expects a sequence of images, got a single array of shape {images.shape}; "
                             f"wrap one image in a list")
        images = list(images)
        if not images:
            return []
        out = []
        for image, found in zip(images, self.model.predict(images)):
            size = (int(image.shape[1]), int(image.shape[0]))
            names = [self.class_names[int(i)] for i in found.labels]
            xyxy = np.asarray(found.boxes, dtype=np.float64).reshape(-1, 4)
            # ovdet clips in resized pixels, so dividing by the scale factor can overshoot by a rounding error
            np.clip(xyxy, 0.0, [size[0], size[1], size[0], size[1]], out=xyxy)
            boxes = Boxes.create(xyxy, size,
                                 scores=np.asarray(found.scores, dtype=np.float64), labels=found.labels,
                                 label_names=names)
            out.append(boxes.sorted_by_score())
        return out


def _existing(path: Any, what: str, help_text: str) -> Path:
    """``path`` as a ``Path`` if it names an existing file; a one-line ConfigError naming it and its source otherwise."""
    text = str(path).strip()
    if "://" in text:
        raise ConfigError(f"{what} must be a local file, not a URL ({text!r}); {help_text}")
    p = Path(text).expanduser()
    if p.is_dir():
        raise ConfigError(f"{what} {p} is a folder, not a file; {help_text}")
    if not p.is_file():
        where = str(p) if p.is_absolute() else f"{p} (resolved to {p.resolve()})"
        raise ConfigError(f"{what} not found: {where}; {help_text}")
    return p


def _sidecar_names(vocab_path: Path) -> list[str] | None:
    """The class names ``regionkit vocab build`` wrote beside a ``.npy`` (``<name>.txt``), if any."""
    names_path = vocab_path.with_suffix(".txt")
    if not names_path.is_file():
        return None
    try:
        return [line.strip() for line in names_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the vocabulary's names file {names_path}: {exc}") from None


def _torch_device(device: str | int) -> str:
    """The torch device string, checked (``'cuda'`` without a GPU is a one-line error, not a crash later)."""
    import torch

    text = f"cuda:{device}" if isinstance(device, int) else str(device)
    try:
        parsed = torch.device(text)
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(f"device {device!r} is not a torch device ({exc}); use 'cpu', 'cuda' or 'cuda:N'") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {device!r}: CUDA is not available on this machine; use device='cpu'")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise ConfigError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return text
