"""``regionkit seggpt``: convert Painter's SegGPT checkpoint; build a prompt mapping offline; write a demo training folder.

``convert`` reads ``seggpt_vit_large.pth`` (or a fine-tune's ``.pth``) and writes a transformers
folder (``config.json``, ``model.safetensors``) that the ``seggpt`` detector and transformers
load; the configuration is read from the tensor shapes.  ``mapping`` ranks a prompt pool for every
query image by image-feature cosine similarity and writes ``{query: [prompt, ...]}`` (the
OEM repository's CLIP top-k mapping), for ``select='mapping'``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from regionkit.cli.errors import echo_safe, user_errors

__all__ = ["seggpt"]


class _Group(click.Group):
    """One-line errors also when this group is invoked on its own (tests, ``python -m``)."""

    def invoke(self, ctx: click.Context) -> Any:
        with user_errors(ctx):
            return super().invoke(ctx)


@click.group(cls=_Group)
def seggpt() -> None:
    """SegGPT weights and prompt mappings (for the seggpt detector)."""


@seggpt.command("convert")
@click.argument("src", type=click.Path(dir_okay=False))
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--config", "config_json", type=click.Path(dir_okay=False),
              help="A SegGPT config.json whose values override what the tensor shapes say.")
@click.option("--merge-index", type=int, help="Block after which the two streams merge (stored nowhere; 2 for ViT-L).")
@click.option("--feature-indices", help="Comma-separated blocks the decoder reads (stored nowhere; 5,11,17,23 for ViT-L).")
def convert(src: str, out_dir: str, config_json: str | None, merge_index: int | None,
            feature_indices: str | None) -> None:
    """Convert Painter-format SRC (seggpt_vit_large.pth, or a fine-tune's .pth) into the transformers folder OUT_DIR.

    \b
    Example:
      regionkit seggpt convert checkpoints/seggpt_vit_large.pth checkpoints/seggpt-vit-large
      regionkit infer configs/seggpt_four_box.py --images DIR -o detector.model=checkpoints/seggpt-vit-large ...
    """
    from regionkit.errors import ConfigError
    from regionkit.models.segmentation.seggpt.convert import convert_checkpoint

    if not Path(src).is_file():
        raise ConfigError(f"SegGPT checkpoint not found: {src}")
    overrides: dict[str, Any] = {}
    if config_json is not None:
        try:
            overrides.update(json.loads(Path(config_json).read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read --config {config_json}: {exc}") from None
    if merge_index is not None:
        overrides["merge_index"] = merge_index
    if feature_indices is not None:
        try:
            overrides["intermediate_hidden_state_indices"] = [int(v) for v in feature_indices.split(",") if v.strip()]
        except ValueError:
            raise ConfigError(f"--feature-indices must be comma-separated integers, got {feature_indices!r}") from None
    out = convert_checkpoint(src, out_dir, overrides or None)
    echo_safe(f"Wrote {out} (config.json, model.safetensors)")


@seggpt.command("mapping")
@click.option("--queries", "query_root", required=True, type=click.Path(file_okay=False),
              help="Folder of the query images (keys are paths relative to it).")
@click.option("--prompt-dir", type=click.Path(file_okay=False), help="Prompt pool: a folder with images/ and labels/.")
@click.option("--prompt", "prompt_images", multiple=True, type=click.Path(dir_okay=False),
              help="A prompt image (its mask found beside it); repeatable.")
@click.option("--prompt-label-dir", type=click.Path(file_okay=False), help="Folder of the prompt masks.")
@click.option("--clip-model", type=click.Path(file_okay=False), help="Local transformers CLIP folder (the encoder).")
@click.option("--encoder", type=click.Choice(["clip", "thumbnail"]), default=None,
              help="clip (needs --clip-model; the default when it is given) or thumbnail (no weights).")
@click.option("--top-k", type=click.IntRange(1, 1000), default=10, show_default=True, help="Prompts per query.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), metavar="MAPPING.json")
@click.option("--device", default="cpu", show_default=True)
def mapping(query_root: str, prompt_dir: str | None, prompt_images: tuple[str, ...], prompt_label_dir: str | None,
            clip_model: str | None, encoder: str | None, top_k: int, out_path: str, device: str) -> None:
    """Rank the prompt pool for every query image by cosine similarity and write the mapping file."""
    from regionkit.errors import ConfigError
    from regionkit.io.images import ImageLoadError, load_rgb
    from regionkit.models.segmentation.seggpt.encoders import ClipImageEncoder, ThumbnailEncoder
    from regionkit.models.segmentation.seggpt.prompts import (
        IMAGE_SUFFIXES,
        PromptLibrary,
        SimilaritySelection,
        pixel_digest,
        prompt_pool,
        write_mapping,
    )

    if encoder == "clip" or (encoder is None and clip_model is not None):
        if clip_model is None:
            raise ConfigError("--encoder clip needs --clip-model DIR (a local transformers CLIP folder)")
        enc: Any = ClipImageEncoder(clip_model, device=device)
    else:
        enc = ThumbnailEncoder()
    library = PromptLibrary(prompt_pool(list(prompt_images), prompt_label_dir, prompt_dir))
    selection = SimilaritySelection(library, enc, top_k)
    root = Path(query_root)
    names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                   if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not names:
        raise ConfigError(f"no images in {root}")
    result: dict[str, list[str]] = {}
    for name in names:
        try:
            image = load_rgb(root / name)
        except ImageLoadError as exc:
            echo_safe(f"Skipped {name}: {exc}", err=True)
            continue
        result[name] = [p.name for p in selection.select(image, pixel_digest(image))]
    write_mapping(out_path, result)
    echo_safe(f"Wrote {out_path}: {len(result)} queries, top {top_k} of {len(library)} prompts")


@seggpt.command("photo-masks")
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--crops", default=3, show_default=True, type=click.IntRange(1, 64), help="Square crops per photo.")
@click.option("--side", default=96, show_default=True, type=click.IntRange(8, 2048), help="Crop side in pixels.")
def photo_masks(out_dir: str, crops: int, side: int) -> None:
    """Write a small fine-tuning folder from scikit-image's photos into OUT_DIR (for the tiny recipe).

    Labels are each crop's brighter half (blurred grey level above its median); training and
    validation use different photos.

    \b
    Example:
      regionkit seggpt photo-masks data/photo_masks
      regionkit train configs/training/seggpt_tiny_photos.py -o data_root=data/photo_masks
    """
    from regionkit.inference.run_folder import OutputError
    from regionkit.models.segmentation.seggpt.photo_masks import TRAIN_PHOTOS, VAL_PHOTOS, write_photo_masks

    try:
        root = write_photo_masks(out_dir, crops=crops, side=side)
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        raise OutputError(f"cannot write the photo-mask folder {out_dir}: {exc.strerror or exc}{where}") from None
    echo_safe(f"Wrote {root}/{{train,val}}/{{images,labels}}: {len(TRAIN_PHOTOS) * crops} training and "
              f"{len(VAL_PHOTOS) * crops} validation images")
