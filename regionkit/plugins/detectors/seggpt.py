"""SegGPT in-context segmentation as a detector: prompt image/mask pairs in, one box per predicted mask component out.

The model is transformers' ``SegGptForImageSegmentation``; everything else (prompt reading,
painting, ensemble, tiling, decoding, boxes) is in :mod:`regionkit.models.segmentation.seggpt`.
This module is the plugin around it: checked parameters, one-line errors, lazy imports (torch
and transformers are imported when a detector is built, never by ``regionkit list``).

**Weights never download.**  ``model`` is a local transformers folder (``config.json`` and
``model.safetensors``: a copy of ``BAAI/seggpt-vit-large``, or what ``regionkit seggpt convert``
wrote) or Painter's ``seggpt_vit_large.pth`` / a fine-tune's ``.pth``, converted on load.

**What a box is.**  For each query the prompts' masks are painted with the palette, SegGPT paints
the query, each pixel takes the nearest palette colour, and every connected component of a
class becomes a box labelled with the class id (name: ``class_names[id - 1]``), scored by the
mean decoding margin of its pixels (1: exactly the class colour, 0: halfway to another class).
Small components are dropped (``min_area_px``, ``min_area_norm``), as are those scoring below
``min_score``; boxes come best first, at most ``max_boxes``.

**Masks.**  With ``keep_masks=True`` each image's class map is kept for the ``seggpt_masks``
writer, which saves it as a PNG in the run folder; :meth:`SegGptDetector.segment` returns the
class maps to Python callers.
"""
from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np

from regionkit.errors import ConfigError
from regionkit.kinds.detectors import BaseDetector
from regionkit.params import (
    Component,
    Device,
    MaxLength,
    NonEmpty,
    PathText,
    Range,
    UnitInterval,
    WeightsFile,
    checked,
)
from regionkit.structures.boxes import Boxes

__all__ = ["SegGptDetector", "WEIGHTS_HELP"]

WEIGHTS_HELP = ("regionkit never downloads weights: copy BAAI/seggpt-vit-large (a transformers folder with config.json "
                "and model.safetensors) or Painter's seggpt_vit_large.pth (Hugging Face BAAI/SegGPT; download with a "
                "resolve/ link, a raw/ link gives the LFS pointer) to this machine and pass its path as detector.model "
                "(regionkit seggpt convert turns the .pth into a folder)")
MAPPING_HELP = "a JSON file {query: [prompt, ...]}, best first (select='similarity' with mapping_out writes one)"
_WEIGHT_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors")

ModelPath = Annotated[PathText, WeightsFile("SegGPT weights", WEIGHTS_HELP, format="torch", suffixes=(".pth", ".pt"))]
MappingFile = Annotated[PathText, WeightsFile("prompt mapping", MAPPING_HELP, format="any", suffixes=(".json",))]
PromptEntry = PathText | Annotated[Sequence[PathText], NonEmpty(), MaxLength(2)]
ClassName = Annotated[str, NonEmpty(), MaxLength(200)]
Colour = Annotated[Sequence[Annotated[int, Range(0, 255)]], NonEmpty(), MaxLength(3)]


def _model_path(model: Any) -> Path:
    text = str(model).strip()
    if "://" in text:
        raise ConfigError(f"SegGPT weights must be a local path, not a URL ({text!r}); {WEIGHTS_HELP}")
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ConfigError(f"SegGPT folder {path} has no config.json (not a transformers checkpoint folder); "
                              f"{WEIGHTS_HELP}")
        return path
    if not path.exists():
        where = str(path) if path.is_absolute() else f"{path} (resolved to {path.resolve()})"
        raise ConfigError(f"SegGPT weights not found: {where}; {WEIGHTS_HELP}")
    if path.suffix.lower() not in _WEIGHT_SUFFIXES:
        raise ConfigError(f"SegGPT weights {path} must be a transformers folder or a {'/'.join(_WEIGHT_SUFFIXES)} "
                          f"file; {WEIGHTS_HELP}")
    return path


class SegGptDetector(BaseDetector):
    """SegGPT in-context segmentation -> one box per mask component; prompts fixed, from a mapping or by similarity.

    Parameters (keyword only):

    model:
        Local transformers folder or Painter-format ``.pth`` (see the module docstring).
    prompts:
        Prompt images (paths; each mask found by the rules of ``prompt_label_dir``) or
        ``[image, mask]`` pairs.  The pool for every ``select`` mode, with ``prompt_dir``.
    prompt_label_dir:
        Folder holding the prompt masks under the images' file names (or stem + ``.png``).
    prompt_dir:
        A folder in the forks' layout (``images/`` and ``labels/``): each image with a mask joins the pool.
    select:
        ``'fixed'`` (every pool prompt), ``'mapping'`` (the ``mapping`` file, cut to ``top_k``) or
        ``'similarity'`` (the ``top_k`` pool prompts nearest by ``encoder`` features, written to ``mapping_out``).
    mapping, top_k, query_root, mapping_out:
        The mapping file to read; prompts per query; the folder of the query images (to recognise
        queries by name); where to write the chosen mapping (similarity).
    encoder, clip_model:
        ``'auto'`` (CLIP from ``clip_model`` if given, else the weight-free thumbnail encoder, with a
        warning), ``'clip'``, ``'thumbnail'``, or the config of a ``models`` plugin with
        ``encode_images(images) -> (N, D)``.
    class_names:
        Names of class ids 1..K (default: ``foreground`` for binary masks, else ``class_<id>``).
    mask_mode, palette:
        How prompt masks are read (``auto``, ``binary``, ``index``, ``color``) and the colours they
        are painted with (background first; default: colours as far apart as possible).
    embedding_type:
        SegGPT's type token: ``'auto'`` (``semantic`` for weights fine-tuned by the SegGPT-FineTune
        recipe, as recorded in the file, else ``instance``, the released model's default).
    ensemble:
        Multi-prompt feature ensemble: ``'painter'`` (Painter's rule, default), ``'transformers'``
        (transformers' own), ``'off'`` (prompts predict alone, colours averaged).
    split, seam_pass, stitch_width, tile_prompts:
        Tiled inference: ``split x split`` tiles, a seam pass redrawing ``stitch_width`` patches
        each side of every seam, prompts tiled alike.
    min_area_px, min_area_norm, min_score, max_boxes, connectivity:
        Component filters and box count (pixels of the component; fraction of the image).
    keep_masks:
        Keep each image's class map for the ``seggpt_masks`` writer.
    device, dtype:
        Where and in which precision SegGPT runs.
    """

    conformance_skip = ("needs SegGPT weights and prompts; tests/plugins/detectors/test_seggpt.py runs the conformance "
                        "kit on a tiny random model")

    @checked
    def __init__(
        self,
        *,
        model: ModelPath = "checkpoints/seggpt-vit-large",
        prompts: Sequence[PromptEntry] | PathText = (),
        prompt_label_dir: PathText | None = None,
        prompt_dir: PathText | None = None,
        select: Literal["fixed", "mapping", "similarity"] = "fixed",
        mapping: MappingFile | None = None,
        top_k: Annotated[int, Range(1, 1000)] = 2,
        query_root: PathText | None = None,
        mapping_out: PathText | None = None,
        encoder: Literal["auto", "clip", "thumbnail"] | Annotated[Mapping, Component("models")] = "auto",
        clip_model: PathText | None = None,
        class_names: Annotated[Sequence[ClassName], NonEmpty()] | None = None,
        mask_mode: Literal["auto", "binary", "index", "color"] = "auto",
        palette: Annotated[Sequence[Colour], NonEmpty()] | None = None,
        embedding_type: Literal["auto", "instance", "semantic"] = "auto",
        ensemble: Literal["painter", "transformers", "off"] = "painter",
        split: Annotated[int, Range(1, 8)] = 1,
        seam_pass: bool = True,
        stitch_width: Annotated[int, Range(1, 64)] = 4,
        tile_prompts: bool = True,
        min_area_px: Annotated[float, Range(0.0)] = 4.0,
        min_area_norm: UnitInterval = 0.0001,
        min_score: UnitInterval = 0.0,
        max_boxes: Annotated[int, Range(1, 100000)] = 100,
        connectivity: Literal[4, 8] = 8,
        keep_masks: bool = True,
        device: Device = "cpu",
        dtype: Literal["float32", "float16", "bfloat16"] = "float32",
    ) -> None:
        from regionkit.models.segmentation.seggpt import palette as pal
        from regionkit.models.segmentation.seggpt.canvas import ClassTable
        from regionkit.models.segmentation.seggpt.prompts import PromptLibrary, prompt_pool

        model_path = _model_path(model)
        entries = [prompts] if isinstance(prompts, (str, Path)) or hasattr(prompts, "__fspath__") else list(prompts)
        library = PromptLibrary(prompt_pool(entries, prompt_label_dir, prompt_dir))
        self.select_mode, self.top_k = select, top_k
        selection = self._selection(library, select, mapping, top_k, query_root, mapping_out, encoder, clip_model,
                                    prompt_label_dir, device)
        used = self._prompts_for_table(library, selection)
        raws = [library.load(p)[1] for p in used]
        explicit = None if palette is None else pal.as_palette(palette)
        # an explicit palette also identifies the classes of colour masks (nearest colour, JPEG-safe)
        table = ClassTable.from_masks(raws, [str(p.mask) for p in used], mask_mode, explicit)
        colours = pal.check_palette(explicit if explicit is not None else pal.build_palette(table.num_classes))
        if len(colours) < table.num_classes + 1:
            raise ConfigError(f"palette has {len(colours)} colours; the prompt masks need {table.num_classes + 1} "
                              f"(background first)")
        self.class_names = self._names(class_names, table)
        self.palette = colours
        self.keep_masks = keep_masks
        self.filters: dict[str, Any] = dict(min_area_px=min_area_px, min_area_norm=min_area_norm, min_score=min_score,
                            connectivity=connectivity, max_boxes=max_boxes)
        self.device = _torch_device(device)
        from regionkit.models.segmentation.seggpt.model import SegGptNet, load_seggpt
        from regionkit.models.segmentation.seggpt.pipeline import SegGptSegmenter

        loaded = load_seggpt(model_path)
        self.embedding_type = (loaded.embedding_type or "instance") if embedding_type == "auto" else embedding_type
        net = SegGptNet(loaded.net, device=self.device, dtype=dtype, embedding_type=self.embedding_type,
                        ensemble=ensemble)
        self.segmenter = SegGptSegmenter(net, library, selection, table, colours, split=split, seam_pass=seam_pass,
                                         stitch_width=stitch_width, tile_prompts=tile_prompts)
        self.model = str(model_path)
        self.ensemble, self.split = ensemble, split
        flush = getattr(selection, "flush", None)
        if flush is not None:
            self._finalizer = weakref.finalize(self, flush)

    # ------------------------------------------------------------------ building
    @staticmethod
    def _selection(library: Any, select: str, mapping: Any, top_k: int, query_root: Any, mapping_out: Any,
                   encoder: Any, clip_model: Any, label_dir: Any, device: Any) -> Any:
        from regionkit.models.segmentation.seggpt import prompts as sel

        if select == "fixed":
            return sel.FixedSelection(library)
        if select == "mapping":
            if mapping is None:
                raise ConfigError("select='mapping' needs detector.mapping, the path of a JSON file "
                                  "{query: [prompt, ...]}")
            return sel.MappingSelection(library, mapping, top_k, query_root, label_dir)
        return sel.SimilaritySelection(library, _build_encoder(encoder, clip_model, str(device)), top_k, query_root,
                                       mapping_out)

    @staticmethod
    def _prompts_for_table(library: Any, selection: Any) -> list[Any]:
        """The prompts whose masks define the classes: the pool, and in mapping mode every prompt the mapping names."""
        from regionkit.models.segmentation.seggpt.prompts import MappingSelection

        used = list(library.pairs)
        if isinstance(selection, MappingSelection):
            seen = {p.name for p in used}
            for entries in selection.mapping.values():
                for entry in entries[:selection.top_k]:
                    pair = library.resolve(entry, selection.path.parent, selection.label_dir)
                    if pair.name not in seen:
                        used.append(pair)
                        seen.add(pair.name)
        if not used:
            raise ConfigError("no prompts: give detector.prompts (image paths or [image, mask] pairs) or "
                              "detector.prompt_dir")
        return used

    @staticmethod
    def _names(class_names: Sequence[str] | None, table: Any) -> tuple[str, ...]:
        if class_names is None:
            if table.kind == "binary":
                return ("foreground",)
            return tuple(f"class_{i}" for i in range(1, table.num_classes + 1))
        names = tuple(class_names)
        if len(names) < table.num_classes:
            raise ConfigError(f"class_names has {len(names)} name(s) but the prompt masks hold {table.num_classes} "
                              f"class(es) (ids 1..{table.num_classes})")
        return names

    def __repr__(self) -> str:
        return (f"SegGptDetector(model={self.model!r}, select={self.select_mode!r}, classes={len(self.class_names)}, "
                f"ensemble={self.ensemble!r}, split={self.split}, device={self.device!r})")

    # ------------------------------------------------------------------ inference
    def segment(self, images: Sequence[np.ndarray]) -> list[Any]:
        """Each image's :class:`~regionkit.models.segmentation.seggpt.pipeline.Segmentation` (class map at its size)."""
        from regionkit.models.segmentation.seggpt.prompts import pixel_digest

        return [self.segmenter.segment(np.asarray(im), pixel_digest(im)) for im in _as_list(images)]

    def detect(self, images: Sequence[np.ndarray]) -> list[Boxes]:
        """Boxes of the mask components of each RGB ``uint8`` image, original-image pixels, best first."""
        from regionkit.models.segmentation.seggpt import mask_store
        from regionkit.models.segmentation.seggpt.masks_to_boxes import masks_to_boxes
        from regionkit.models.segmentation.seggpt.prompts import pixel_digest

        out = []
        for image in _as_list(images):
            digest = pixel_digest(image)
            seg = self.segmenter.segment(np.asarray(image), digest)
            out.append(masks_to_boxes(seg.class_map, seg.margin, class_names=self.class_names, **self.filters))
            if self.keep_masks:
                mask_store.put(digest, mask_store.StoredMask(seg.class_map, self.class_names, self.palette))
        return out


def _as_list(images: Sequence[np.ndarray]) -> list[np.ndarray]:
    if isinstance(images, np.ndarray) and images.ndim < 4:
        raise ValueError(f"detect expects a sequence of images, got a single array of shape {images.shape}; "
                         f"wrap one image in a list")
    return list(images)


def _build_encoder(encoder: Any, clip_model: Any, device: str) -> Any:
    """The image encoder of ``select='similarity'`` (see the class docstring)."""
    import logging

    from regionkit.models.segmentation.seggpt.encoders import ClipImageEncoder, ImageEncoder, ThumbnailEncoder

    if isinstance(encoder, Mapping):
        from regionkit.registry import registry_for

        built = registry_for("models").build(dict(encoder))
        if not isinstance(built, ImageEncoder):
            raise ConfigError(f"encoder {encoder.get('type')!r} has no encode_images(images) method; an image "
                              f"encoder turns a list of RGB uint8 images into an (N, D) array")
        return built
    if encoder == "thumbnail":
        return ThumbnailEncoder()
    if encoder == "clip" or clip_model is not None:
        if clip_model is None:
            raise ConfigError("encoder='clip' needs detector.clip_model, the path of a local transformers CLIP folder "
                              "(e.g. a copy of openai/clip-vit-large-patch14); regionkit never downloads weights")
        return ClipImageEncoder(clip_model, device=device)
    logging.getLogger(__name__).warning(
        "seggpt: no clip_model given, so prompts are ranked by the weight-free thumbnail encoder (colour layout "
        "only); set detector.clip_model to a local CLIP folder for CLIP similarity")
    return ThumbnailEncoder()


def _torch_device(device: str | int) -> str:
    """The torch device string, checked (``'cuda'`` without a GPU is a one-line error)."""
    import torch

    text = f"cuda:{device}" if isinstance(device, int) else str(device)
    try:
        parsed = torch.device(text)
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(f"device {device!r} is not a torch device ({exc}); use 'cpu', 'cuda' or 'cuda:N'") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r}: CUDA is not available on this machine; use device='cpu'")
    return text
