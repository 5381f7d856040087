"""Ultralytics YOLO detector (YOLOv8 / YOLO11 / ...), batched, offline, lazily imported.

Install the extra with ``pip install 'regionkit[yolo]'`` (it pulls
``ultralytics-opencv-headless``, the variant without the GUI build of OpenCV).  This module
never imports ultralytics or torch at import time: ``regionkit list`` and ``--help`` stay
fast and work without the extra; the import happens when a :class:`YoloDetector` is built.

**Weights never download.**  ``model`` must be a local ``.pt`` file, or a model ``.yaml``
(a local file, or one of the names ultralytics bundles such as ``yolo11n.yaml`` or
``yolov8n.yaml``), which builds a *randomly initialised* model, useful for tests only.
Ultralytics itself would fetch a missing ``yolov8n.pt`` from GitHub; regionkit checks the
path first and raises :class:`YoloWeightsNotFoundError` (a ``FileNotFoundError`` and a
:class:`~regionkit.errors.ConfigError`) before ultralytics is even imported.  To
get weights, download for example ``yolov8n.pt`` or ``yolo11n.pt`` from
https://github.com/ultralytics/assets/releases on a machine with internet access, copy it
over and pass its local path.  URLs, bare model names (``yolov8n``) and exported formats
(ONNX, TensorRT, ...) are refused: exported formats may make ultralytics install packages.

**Offline use and tests.**  Ultralytics checks whether the machine is online, may send
usage analytics and writes a settings file when it is first imported.  Set these two
environment variables *before* the first detector is built (regionkit does not set them:
it changes nothing global at import)::

    export YOLO_OFFLINE=1                         # no online checks, analytics or downloads
    export YOLO_CONFIG_DIR=/some/writable/folder  # where ultralytics keeps settings.json

Importing ultralytics also changes process-wide state (numpy and torch print options,
``torch.save``, ``cv2.setNumThreads(0)``, some environment variables); that is ultralytics'
doing and happens only once a YOLO detector is built.  Nothing here draws: ultralytics'
plotting (which downloads a font on first use) is never called.

Prediction: one ``model.predict`` call per ``detect`` batch (``verbose=False``, nothing
saved or shown).  Inputs are RGB; ultralytics expects OpenCV's BGR, so the channels are
swapped before the call.  Boxes come back in original-image pixels (ultralytics' own
``boxes.xyxy``, letterbox undone and clipped to the image), with the confidence as score,
the class id as label and ``model.names`` as label names, sorted by descending score.

By default (``rect=False``) every image is letterboxed to a square ``imgsz x imgsz`` input,
so an image's boxes do not depend on which other images share its batch.  ``rect=True`` is
ultralytics' own default (minimal padding to a multiple of the stride; faster for a single
image or a batch of same-sized images), but ultralytics applies it only when every image
of a batch has the same shape, so results can change with the batch composition.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np

from regionkit.errors import ConfigError
from regionkit.kinds.detectors import BaseDetector
from regionkit.params import Device, NonEmpty, PathText, Range, UnitInterval, WeightsFile, checked
from regionkit.structures.boxes import Boxes

__all__ = ["YoloDetector", "YoloWeightsNotFoundError", "YoloUnavailableError"]

_YAML_SUFFIXES = (".yaml", ".yml")
_BOX_TASKS = ("detect", "segment", "pose")  # tasks whose results carry ``boxes``
_WEIGHTS_HELP = (
    "regionkit never downloads weights: download e.g. yolov8n.pt or yolo11n.pt from "
    "https://github.com/ultralytics/assets/releases on a machine with internet access and pass "
    "its local path as model=...; a model .yaml such as 'yolo11n.yaml' builds an untrained "
    "model (tests only)")


class YoloWeightsNotFoundError(ConfigError, FileNotFoundError):
    """The ``model`` path of a YOLO detector does not exist (raised before any download)."""


class YoloUnavailableError(ConfigError, ImportError):
    """ultralytics is not installed (the ``regionkit[yolo]`` extra)."""


def _check_model_path(model: object) -> str:
    """Validate ``model`` without importing ultralytics; return the string to load."""
    if not isinstance(model, (str, os.PathLike)) or not str(model).strip():
        raise ValueError(f"model must be the path of a .pt weights file or a model .yaml, got {model!r}")
    text = str(model).strip()
    if "://" in text:
        raise ValueError(f"model must be a local path, not a URL ({text!r}); {_WEIGHTS_HELP}")
    path = Path(text).expanduser()
    suffix = path.suffix.lower()
    if suffix in _YAML_SUFFIXES:
        # a local file, or a name ultralytics resolves among the configs it ships (no download)
        return str(path) if path.is_file() else text
    if suffix != ".pt":
        hint = f" (did you mean '{text}.pt'?)" if not suffix else ""
        raise ValueError(
            f"model must be a .pt weights file or a model .yaml, got {text!r}{hint}; {_WEIGHTS_HELP}")
    if not path.is_file():
        where = f"{path} (resolved to {path.resolve()})" if not path.is_absolute() else str(path)
        raise YoloWeightsNotFoundError(f"YOLO weights file not found: {where}; {_WEIGHTS_HELP}")
    return str(path)


def _to_bgr(image: object, index: int) -> np.ndarray:
    """Validate one image and return a contiguous (H, W, 3) uint8 BGR copy for ultralytics."""
    where = f"image {index}"
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{where}: expected a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"{where}: expected dtype uint8, got {image.dtype}; convert to 8-bit (0..255) first")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(f"{where}: expected shape (H, W, 3) RGB (or (H, W), (H, W, 1), (H, W, 4)), "
                         f"got {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"{where}: empty image of shape {image.shape}")
    if image.shape[2] == 1:
        return np.ascontiguousarray(np.repeat(image, 3, axis=2))
    return np.ascontiguousarray(image[:, :, 2::-1])  # RGB(A) -> BGR, alpha dropped


class YoloDetector(BaseDetector):
    """Ultralytics YOLO boxes (COCO classes with yolov8n.pt); local weights only, batched predict.

    Parameters (keyword only):

    model:
        Path of a local ``.pt`` weights file, or a model ``.yaml`` (local, or a name bundled
        with ultralytics such as ``yolo11n.yaml``) for an untrained, randomly initialised
        model.  Nothing is ever downloaded; a missing file raises
        :class:`YoloWeightsNotFoundError` naming the path.
    device:
        Where to run: ``'cpu'``, ``'cuda'``, ``'cuda:0'``, ``'0'``, ``'mps'`` ...
    conf:
        Minimum confidence of a box, in ``[0, 1]`` (ultralytics' default 0.25; the CIRR
        recipe keeps boxes with confidence >= 0.3).
    iou:
        IoU threshold of ultralytics' per-class NMS, in ``[0, 1]``.
    imgsz:
        Network input size in pixels (>= 32; ultralytics rounds it to the model's stride).
    classes:
        Class ids to keep (``None``: all classes).
    max_det:
        At most this many boxes per image (>= 1).
    half:
        FP16 inference; ultralytics ignores it on the CPU.
    rect:
        ``False`` (default): square letterbox, results independent of the batch; ``True``:
        ultralytics' minimal padding when all images of a batch share a shape.

    The loaded ultralytics model is :attr:`yolo`; :attr:`names` maps class ids to names.
    """

    #: the conformance kit cannot build it without the [yolo] extra and weights; tests/test_yolo.py covers it
    conformance_skip = "needs the [yolo] extra and a model file; covered by regionkit's tests/test_yolo.py"

    @checked
    def __init__(
        self,
        *,
        model: Annotated[PathText, WeightsFile("YOLO weights", _WEIGHTS_HELP, format="torch", suffixes=(".pt",))],
        device: Device = "cpu",
        conf: UnitInterval = 0.25,
        iou: UnitInterval = 0.7,
        imgsz: Annotated[int, Range(32, 8192)] = 640,
        classes: Annotated[Sequence[Annotated[int, Range(0, 100000)]], NonEmpty()] | None = None,
        max_det: Annotated[int, Range(1, 100000)] = 300,
        half: bool = False,
        rect: bool = False,
    ) -> None:
        load_path = _check_model_path(model)
        self.model = str(model)
        self.device = str(device)
        self.conf = conf
        self.iou = iou
        self.imgsz = imgsz
        self.max_det = max_det
        self.half, self.rect = half, rect
        self.classes = None if classes is None else list(classes)

        try:
            from ultralytics import YOLO
        except ImportError as exc:
            raise YoloUnavailableError(
                f"the 'yolo' detector needs ultralytics, which cannot be imported ({exc}); install "
                "it with: pip install 'regionkit[yolo]'") from exc
        try:
            self.yolo = YOLO(load_path, verbose=False)
        except FileNotFoundError as exc:  # a .yaml that is neither local nor bundled
            raise YoloWeightsNotFoundError(f"cannot load YOLO model {self.model!r}: {exc}") from exc
        from ultralytics.cfg import DEFAULT_CFG_DICT

        self._has_quantize = "quantize" in DEFAULT_CFG_DICT
        if self.yolo.task not in _BOX_TASKS:
            raise ValueError(f"model {self.model!r} is a {self.yolo.task!r} model; the yolo detector needs "
                             f"one that outputs axis-aligned boxes ({', '.join(_BOX_TASKS)})")
        self.names: dict[int, str] = {int(k): str(v) for k, v in dict(self.yolo.names).items()}
        if self.classes is not None:
            unknown = [c for c in self.classes if c not in self.names]
            if unknown:
                raise ValueError(f"classes {unknown} are not class ids of {self.model!r} "
                                 f"(it has {len(self.names)} classes, ids 0..{len(self.names) - 1})")

    def __repr__(self) -> str:
        return (f"YoloDetector(model={self.model!r}, device={self.device!r}, conf={self.conf}, "
                f"iou={self.iou}, imgsz={self.imgsz}, classes={self.classes}, max_det={self.max_det}, "
                f"half={self.half}, rect={self.rect})")

    def predict_kwargs(self) -> dict[str, Any]:
        """The keyword arguments every ``predict`` call gets."""
        kwargs: dict[str, Any] = dict(
            conf=self.conf, iou=self.iou, imgsz=self.imgsz, classes=self.classes, max_det=self.max_det,
            device=self.device, rect=self.rect, verbose=False, save=False, show=False, stream=False)
        if self.half:  # newer ultralytics spell it quantize=16 and warn about half=True
            if self._has_quantize:
                kwargs["quantize"] = 16
            else:
                kwargs["half"] = True
        return kwargs

    def detect(self, images: Sequence[np.ndarray]) -> list[Boxes]:
        """YOLO boxes of each image: pixel ``xyxy`` on the original image, best first.

        ``images`` is a sequence of RGB ``uint8`` arrays ``(H, W, 3)`` (grayscale and RGBA
        are accepted too); all of them go through one ultralytics ``predict`` call.
        """
        if isinstance(images, np.ndarray) and images.ndim < 4:
            raise ValueError(
                f"detect expects a sequence of images, got a single array of shape {images.shape}; "
                "wrap one image in a list")
        batch = [_to_bgr(image, i) for i, image in enumerate(images)]
        if not batch:
            return []
        results = self.yolo.predict(batch, **self.predict_kwargs())
        if len(results) != len(batch):
            raise RuntimeError(f"ultralytics returned {len(results)} results for {len(batch)} images")
        return [self._to_boxes(result, image.shape) for result, image in zip(results, batch)]

    def _to_boxes(self, result: Any, shape: tuple[int, ...]) -> Boxes:
        size = (int(shape[1]), int(shape[0]))
        boxes = result.boxes
        if boxes is None or len(boxes) == 0:
            return Boxes.empty(size)
        xyxy = boxes.xyxy.detach().float().cpu().numpy()
        scores = boxes.conf.detach().float().cpu().numpy()
        labels = boxes.cls.detach().cpu().numpy().round().astype(np.int64)
        names = [self.names.get(int(c), str(int(c))) for c in labels]
        return Boxes.create(xyxy, size, scores=scores, labels=labels, label_names=names).sorted_by_score()
