"""SegGPT weights by local path, and the forward pass with a deliberate choice of feature ensemble.

**Loading** (:func:`load_seggpt`), never from the network:

* a transformers folder (``config.json`` plus ``model.safetensors``, ``pytorch_model.bin`` or a
  sharded index), e.g. a copy of ``BAAI/seggpt-vit-large`` or what ``regionkit seggpt convert``
  wrote;
* a Painter-format file (``seggpt_vit_large.pth``, or a fine-tune's ``{'model_state_dict': ...}``),
  converted on load (:mod:`~regionkit.models.segmentation.seggpt.convert`); its configuration is
  read from the tensor shapes, or from a ``config.json`` beside it.

The state dict is read by regionkit and loaded strictly (missing, unexpected or mis-shaped keys
are a one-line :class:`~regionkit.models.errors.WeightsError`), into a model built on the meta
device, so nothing is initialised twice and transformers prints no load report.

**Feature ensemble** (several prompts for one query).  The model reads each (prompt, query) pair
as its own batch item; the ensemble averages, in every block, the query half of the attention
output over the prompts.  Painter and transformers differ on *where* (spec §8.1): Painter
averages within each of the two streams (image canvas, mask canvas) for blocks
``<= merge_index`` and over the prompts after the streams are merged; transformers stops the
per-stream rule one block early (``< merge_index``), so at block ``merge_index`` it averages
image and mask streams together, and it does so even for a single prompt.  ``ensemble=``:

``'painter'`` (default)
    Painter's rule, applied through forward hooks on the attention modules of an unmodified
    transformers model: the rule the released weights were made with.  A query's result is the
    same for one prompt, or that prompt repeated, and several queries can share a batch.
``'transformers'``
    transformers' own ``feature_ensemble=True`` (one query per forward), for parity with
    transformers' pipeline.
``'off'``
    no feature ensemble: each prompt predicts on its own and the colour maps are averaged.

In every mode the returned prediction is the mean over the prompts of the query half (the
decoder's first query row sees the prompt half, so prompts differ there even with an ensemble).

torch and transformers (imported when this module is).
"""
from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from regionkit.models.errors import WeightsError
from regionkit.models.segmentation.seggpt.convert import (
    SOURCE_FILE,
    config_from_painter,
    is_painter_layout,
    normalize_transformers_keys,
    painter_to_transformers,
    read_checkpoint_file,
    transformers_to_painter,
)

__all__ = ["Ensemble", "EmbeddingType", "SegGptNet", "load_seggpt", "build_from_state", "read_state_folder",
           "painter_ensemble", "WEIGHT_FILES"]

Ensemble = Literal["painter", "transformers", "off"]
EmbeddingType = Literal["instance", "semantic"]

#: the weight files of a transformers folder, in the order they are looked for
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


# ---------------------------------------------------------------------- loading
def _check_config(cfg: Any, where: str) -> None:
    size = cfg.image_size if isinstance(cfg.image_size, (list, tuple)) else (cfg.image_size, cfg.image_size)
    patch = cfg.patch_size if isinstance(cfg.patch_size, int) else cfg.patch_size[0]
    rows = int(size[0]) // int(patch)
    if rows % 2 or int(size[0]) % int(patch) or int(size[1]) % int(patch):
        raise WeightsError(f"SegGPT config of {where}: image_size {list(size)} must be two stacked images of whole "
                           f"{patch}-pixel patches (an even number of patch rows)")


def build_from_state(state: Mapping[str, Any], config: Mapping[str, Any] | Any | None = None,
                     where: str = "the checkpoint") -> Any:
    """A ``SegGptForImageSegmentation`` holding ``state`` (Painter or transformers names), loaded strictly, eval mode.

    ``config`` is a ``SegGptConfig``, a mapping of its fields (overriding what the shapes of a
    Painter state say), or ``None`` (read from the tensor shapes).
    """
    from transformers import SegGptConfig, SegGptForImageSegmentation

    painter = is_painter_layout(state)
    if isinstance(config, SegGptConfig):
        cfg = config
    elif painter:
        cfg = config_from_painter(state, **dict(config or {}))
    elif config is not None and "hidden_size" in dict(config):  # a whole config.json
        cfg = SegGptConfig(**{k: v for k, v in dict(config).items() if k not in ("architectures", "transformers_version",
                                                                               "model_type", "dtype", "torch_dtype")})
    else:  # transformers names without a config.json: the shapes tell, as for Painter's files
        cfg = config_from_painter(transformers_to_painter(state), **dict(config or {}))
    _check_config(cfg, where)
    named = painter_to_transformers(state) if painter else normalize_transformers_keys(state)
    with torch.device("meta"):
        net = SegGptForImageSegmentation(cfg)
    expected = net.state_dict()
    missing = sorted(set(expected) - set(named))
    unexpected = sorted(set(named) - set(expected))
    mismatched = sorted(f"{k} {tuple(named[k].shape)} vs {tuple(expected[k].shape)}" for k in set(named) & set(expected)
                        if tuple(named[k].shape) != tuple(expected[k].shape))
    if missing or unexpected or mismatched:
        parts = [f"{len(keys)} {what}: {', '.join(keys[:5])}{' ...' if len(keys) > 5 else ''}"
                 for what, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", mismatched)) if keys]
        raise WeightsError(f"SegGPT weights of {where} do not fit the model: " + "; ".join(parts))
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in named.items()},
                        strict=True, assign=True)
    return net.eval()


def read_state_folder(folder: Path) -> dict[str, Any]:
    """The state dict of a transformers folder (single or sharded safetensors / ``.bin`` files)."""
    for name in WEIGHT_FILES:
        path = folder / name
        if not path.is_file():
            continue
        if name.endswith(".index.json"):
            try:
                weight_map = json.loads(path.read_text(encoding="utf-8"))["weight_map"]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise WeightsError(f"cannot read the shard index {path}: {exc}") from None
            state: dict[str, Any] = {}
            for shard in sorted(set(weight_map.values())):
                state.update(read_checkpoint_file(folder / shard).state)
            return state
        return read_checkpoint_file(path).state
    raise WeightsError(f"SegGPT folder {folder} has no weights ({', '.join(WEIGHT_FILES[::2])} expected)")


def _folder_config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WeightsError(f"SegGPT folder {folder} has no config.json (a transformers checkpoint folder holds "
                           f"config.json and model.safetensors)") from None
    except (OSError, ValueError) as exc:
        raise WeightsError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("model_type", "seggpt") != "seggpt":
        raise WeightsError(f"{path} is not a SegGPT config (model_type {data.get('model_type') if isinstance(data, dict) else data!r})")
    return data


def _source_hint(folder: Path) -> EmbeddingType | None:
    try:
        value = json.loads((folder / SOURCE_FILE).read_text(encoding="utf-8")).get("embedding_type")
    except (OSError, ValueError, AttributeError):
        return None
    return value if value in ("instance", "semantic") else None


@dataclass
class LoadedWeights:
    """What :func:`load_seggpt` found: the network and the type token the weights were trained with, if known."""

    net: Any
    embedding_type: EmbeddingType | None
    source: str


def load_seggpt(path: str | os.PathLike[str], config: Mapping[str, Any] | None = None) -> LoadedWeights:
    """Load SegGPT from a transformers folder or a Painter-format file (CPU, float32, eval mode)."""
    p = Path(path).expanduser()
    if p.is_dir():
        cfg = dict(_folder_config(p))
        cfg.update(config or {})
        net = build_from_state(read_state_folder(p), cfg, where=str(p))
        return LoadedWeights(net, _source_hint(p), str(p))
    file = read_checkpoint_file(p)
    cfg_data = dict(config or {})
    sibling = p.parent / "config.json"
    if not cfg_data and sibling.is_file() and not is_painter_layout(file.state):
        cfg_data = _folder_config(p.parent)
    net = build_from_state(file.state, cfg_data or None, where=str(p))
    return LoadedWeights(net, "semantic" if file.fine_tuned else None, str(p))


# ---------------------------------------------------------------------- the forward pass
@contextlib.contextmanager
def painter_ensemble(net: Any, queries: int, prompts: int) -> Iterator[None]:
    """Painter's feature ensemble on ``net`` while the context is open (batch = ``queries`` x ``prompts``, query-major).

    Hooks on every block's attention average the query half of its output over each query's
    prompts: per stream for blocks ``<= merge_index``, over the merged batch after.
    """
    if prompts <= 1:
        yield
        return
    merge = int(net.config.merge_index)
    handles = []

    def make(index: int) -> Any:
        streams = 2 if index <= merge else 1

        def hook(module: Any, args: Any, output: Any) -> Any:
            attn = output[0]
            rows = attn.shape[1] // 2
            top, bottom = attn[:, :rows], attn[:, rows:]
            grouped = bottom.reshape(streams, queries, prompts, *bottom.shape[1:])
            bottom = grouped.mean(dim=2, keepdim=True).expand_as(grouped).reshape(bottom.shape)
            return (torch.cat([top, bottom], dim=1), *output[1:])

        return hook

    try:
        for i, layer in enumerate(net.model.encoder.layers):
            handles.append(layer.attention.register_forward_hook(make(i)))
        yield
    finally:
        for handle in handles:
            handle.remove()


class SegGptNet:
    """A loaded SegGPT with its per-image input size, type token and ensemble mode; numpy in, numpy out.

    ``predict`` and ``inpaint`` take normalised ``(3, h, w)`` float32 arrays
    (:func:`~regionkit.models.segmentation.seggpt.canvas.prepare_image` /
    :func:`~regionkit.models.segmentation.seggpt.canvas.prepare_mask`) and return the predicted
    query half, still normalised, averaged over the prompts.
    """

    def __init__(self, net: Any, *, device: str = "cpu", dtype: str = "float32",
                 embedding_type: EmbeddingType = "instance", ensemble: Ensemble = "painter") -> None:
        self.dtype = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[dtype]
        self.device = torch.device(device)
        self.net = net.to(device=self.device, dtype=self.dtype).eval()
        self.embedding_type = embedding_type
        self.ensemble = ensemble
        cfg = net.config
        size = cfg.image_size if isinstance(cfg.image_size, (list, tuple)) else (cfg.image_size, cfg.image_size)
        self.patch_size = int(cfg.patch_size if isinstance(cfg.patch_size, int) else cfg.patch_size[0])
        #: (height, width) of one image of the canvas: half the canvas height
        self.image_size: tuple[int, int] = (int(size[0]) // 2, int(size[1]))
        self.patch_grid: tuple[int, int] = (int(size[0]) // self.patch_size, int(size[1]) // self.patch_size)

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).to(self.device, self.dtype)

    def _check(self, queries: np.ndarray, prompts: np.ndarray, masks: np.ndarray) -> tuple[int, int]:
        h, w = self.image_size
        if queries.ndim != 4 or queries.shape[1:] != (3, h, w):
            raise ValueError(f"queries must be (B, 3, {h}, {w}), got {queries.shape}")
        if prompts.ndim != 5 or prompts.shape[0] != queries.shape[0] or prompts.shape[2:] != (3, h, w):
            raise ValueError(f"prompts must be (B, N, 3, {h}, {w}), got {prompts.shape}")
        if masks.shape != prompts.shape:
            raise ValueError(f"prompt masks {masks.shape} and prompt images {prompts.shape} differ in shape")
        return int(prompts.shape[0]), int(prompts.shape[1])

    @torch.inference_mode()
    def _run(self, queries: np.ndarray, prompts: np.ndarray, masks: np.ndarray, labels: np.ndarray | None,
             band: np.ndarray | None) -> np.ndarray:
        b, n = self._check(queries, prompts, masks)
        if self.ensemble == "transformers" and b > 1:  # its ensemble averages over the whole batch: one query each
            return np.concatenate([self._run(queries[i:i + 1], prompts[i:i + 1], masks[i:i + 1],
                                             None if labels is None else labels[i:i + 1],
                                             None if band is None else band[i:i + 1]) for i in range(b)])
        q = self._tensor(np.repeat(queries, n, axis=0))
        kwargs: dict[str, Any] = dict(pixel_values=q, prompt_pixel_values=self._tensor(prompts.reshape(b * n, *prompts.shape[2:])),
                                      prompt_masks=self._tensor(masks.reshape(b * n, *masks.shape[2:])),
                                      embedding_type=self.embedding_type,
                                      feature_ensemble=self.ensemble == "transformers")
        if labels is not None and band is not None:
            rows, cols = self.patch_grid
            pos = np.zeros((b, rows * cols), dtype=bool)
            pos[:, rows * cols // 2:] = band.reshape(b, -1)
            kwargs["labels"] = self._tensor(np.repeat(labels, n, axis=0))
            kwargs["bool_masked_pos"] = torch.from_numpy(np.repeat(pos, n, axis=0)).to(self.device)
        context = painter_ensemble(self.net, b, n) if self.ensemble == "painter" else contextlib.nullcontext()
        with context:
            out = self.net(**kwargs).pred_masks
        h = self.image_size[0]
        half = out[:, :, h:, :].float().reshape(b, n, 3, h, -1).mean(dim=1)
        return half.cpu().numpy()

    def predict(self, queries: np.ndarray, prompts: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """``(B, 3, h, w)`` queries, ``(B, N, 3, h, w)`` prompt images and masks -> ``(B, 3, h, w)`` predicted masks."""
        return self._run(queries, prompts, masks, None, None)

    def inpaint(self, queries: np.ndarray, prompts: np.ndarray, masks: np.ndarray, labels: np.ndarray,
                band: np.ndarray) -> np.ndarray:
        """Redraw only the patches of ``band`` (``(B, rows/2, cols)`` bool over the query half) of ``labels``.

        ``labels`` (``(B, 3, h, w)``, normalised) is what the query half shows the model outside
        the band (a first prediction); used for the seams of tiled inference.
        """
        return self._run(queries, prompts, masks, labels, band)

