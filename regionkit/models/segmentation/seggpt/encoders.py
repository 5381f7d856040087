"""Image encoders for choosing prompts by similarity: anything with ``encode_images(images) -> (N, D)``.

The protocol (:class:`ImageEncoder`) is one method: a list of RGB ``uint8`` ``(H, W, 3)`` arrays in,
an ``(N, D)`` float array out (one feature row per image; cosine similarity is taken on them, so
they need not be normalised).  Any object with it works, including a ``models`` plugin built
from a config (``dict(type=...)``).

Built in:

``ClipImageEncoder``
    CLIP's image tower with its projection (what ``get_image_features`` returns), from a local
    transformers folder: a whole ``CLIPModel`` (e.g. a copy of ``openai/clip-vit-large-patch14``,
    the encoder of the OEM mappings) or a ``CLIPVisionModelWithProjection``.  Only the vision
    weights are read, strictly, into a model built on the meta device.  Preprocessing is CLIP's:
    shorter side resized bicubically to the input size, centre crop, CLIP's mean and std (or
    those of the folder's ``preprocessor_config.json``).
``ThumbnailEncoder``
    No weights: each image shrunk to a ``size x size`` colour thumbnail, centred.  A weak
    stand-in that ranks by colour layout; used when no CLIP folder is configured (with a warning).
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from regionkit.models.errors import WeightsError
from regionkit.models.segmentation.seggpt.canvas import resize_image, to_rgb

__all__ = ["ImageEncoder", "ThumbnailEncoder", "ClipImageEncoder", "CLIP_MEAN", "CLIP_STD", "CLIP_HELP"]

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
CLIP_HELP = ("copy a transformers CLIP folder (config.json + model.safetensors, e.g. openai/clip-vit-large-patch14) "
             "to this machine and pass its path; regionkit never downloads weights")


@runtime_checkable
class ImageEncoder(Protocol):
    """Anything that turns images into feature rows."""

    def encode_images(self, images: Sequence[np.ndarray]) -> np.ndarray: ...


class ThumbnailEncoder:
    """Weight-free features: the image as a centred ``size x size`` RGB thumbnail (a colour-layout baseline)."""

    def __init__(self, size: int = 16) -> None:
        self.size = int(size)

    def __repr__(self) -> str:
        return f"ThumbnailEncoder(size={self.size})"

    def encode_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        rows = []
        for image in images:
            small = resize_image(to_rgb(np.asarray(image)), (self.size, self.size)).astype(np.float32) / 255.0
            rows.append((small - small.mean()).reshape(-1))
        return np.stack(rows) if rows else np.zeros((0, 3 * self.size * self.size), np.float32)


class ClipImageEncoder:
    """CLIP image features from a local transformers folder (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str], device: str = "cpu", batch_size: int = 16) -> None:
        import torch
        from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

        from regionkit.models.segmentation.seggpt.model import read_state_folder

        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise WeightsError(f"CLIP folder not found: {folder}; {CLIP_HELP}")
        try:
            cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise WeightsError(f"CLIP folder {folder}: cannot read config.json ({exc}); {CLIP_HELP}") from None
        if cfg.get("model_type") == "clip":
            vision = dict(cfg.get("vision_config") or {})
            # the whole model's projection width wins: a saved vision_config carries its own default (512)
            vision["projection_dim"] = cfg.get("projection_dim", vision.get("projection_dim", 512))
        elif cfg.get("model_type") in ("clip_vision_model", None):
            vision = cfg
        else:
            raise WeightsError(f"{folder} holds a {cfg.get('model_type')!r} model, not CLIP")
        vision = {k: v for k, v in vision.items() if k not in ("architectures", "transformers_version", "model_type",
                                                             "dtype", "torch_dtype")}
        state = {k: v for k, v in read_state_folder(folder).items()
                 if k.startswith(("vision_model.", "visual_projection."))}
        with torch.device("meta"):
            net: Any = CLIPVisionModelWithProjection(CLIPVisionConfig(**vision))
        expected = {k for k in net.state_dict() if not k.endswith("position_ids")}
        missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
        shapes = net.state_dict()
        misshaped = sorted(k for k in set(state) & expected if tuple(state[k].shape) != tuple(shapes[k].shape))
        if missing or unexpected or misshaped:
            raise WeightsError(f"CLIP weights of {folder} do not fit its config: missing {missing[:4]}, "
                               f"unexpected {unexpected[:4]}, mis-shaped {misshaped[:4]}")
        net.load_state_dict(state, strict=False, assign=True)
        embeddings = net.vision_model.embeddings
        if getattr(embeddings, "position_ids", None) is not None and embeddings.position_ids.is_meta:
            embeddings.position_ids = torch.arange(embeddings.num_positions).expand((1, -1))  # a non-persistent buffer
        self.net = net.to(device).eval()
        self.device, self.batch_size, self.path = device, int(batch_size), str(folder)
        self.size = int(vision.get("image_size", 224))
        self.mean, self.std = np.array(CLIP_MEAN, np.float32), np.array(CLIP_STD, np.float32)
        pre = folder / "preprocessor_config.json"
        if pre.is_file():
            try:
                data = json.loads(pre.read_text(encoding="utf-8"))
                self.mean = np.array(data.get("image_mean", CLIP_MEAN), np.float32)
                self.std = np.array(data.get("image_std", CLIP_STD), np.float32)
            except (OSError, ValueError):
                pass

    def __repr__(self) -> str:
        return f"ClipImageEncoder(path={self.path!r}, size={self.size})"

    def _prepare(self, image: np.ndarray) -> np.ndarray:
        rgb = to_rgb(np.asarray(image))
        h, w = rgb.shape[:2]
        scale = self.size / min(h, w)
        nh, nw = max(self.size, round(h * scale)), max(self.size, round(w * scale))
        big = resize_image(rgb, (nh, nw))
        top, left = (nh - self.size) // 2, (nw - self.size) // 2
        crop = big[top:top + self.size, left:left + self.size].astype(np.float32) / 255.0
        return np.moveaxis((crop - self.mean) / self.std, -1, 0)

    def encode_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        import torch

        out = []
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                batch = np.stack([self._prepare(im) for im in images[start:start + self.batch_size]])
                feats: Any = self.net(pixel_values=torch.from_numpy(batch).to(self.device)).image_embeds
                out.append(feats.float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 1), np.float32)
