"""``regionkit vocab build``: class embeddings for your own categories, for the BARON detector.

The embeddings are made as ovdet made ``coco_clip_hand_craft_attn12.npy``: each name in 63
hand-crafted prompts, the CLIP text encoder *of the checkpoint itself* up to block 12 at the
EOT token (normalised), averaged over the prompts and L2-normalised.  The ``.npy`` file has one
row per name; a ``.txt`` file beside it lists the names, one per line, so the detector names
its boxes without further configuration.
"""
from __future__ import annotations

from pathlib import Path

import click

from regionkit.cli.errors import echo_safe

__all__ = ["vocab"]


@click.group()
def vocab() -> None:
    """Class vocabularies for open-vocabulary detectors (BARON)."""


def _read_names(names: str | None, names_file: str | None) -> list[str]:
    from regionkit.errors import ConfigError

    if (names is None) == (names_file is None):
        raise ConfigError("give the class names with either --names 'a,b,c' or --names-file FILE (one per line)")
    if names is not None:
        items = [n.strip() for n in names.split(",")]
    else:
        try:
            text = Path(names_file).read_text(encoding="utf-8")  # type: ignore[arg-type]
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the names file {names_file}: {exc}") from None
        items = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    items = [n for n in items if n]
    if not items:
        raise ConfigError("no class names given")
    dupes = sorted({n for n in items if items.count(n) > 1})
    if dupes:
        raise ConfigError(f"class names must be unique; repeated: {', '.join(repr(d) for d in dupes)}")
    return items


@vocab.command("build")
@click.option("--checkpoint", required=True, type=click.Path(dir_okay=False),
              help="The BARON checkpoint whose CLIP text encoder embeds the names.")
@click.option("--names", help="Comma-separated class names, e.g. 'person,traffic light,teddy bear'.")
@click.option("--names-file", type=click.Path(dir_okay=False), help="A text file with one class name per line.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), metavar="VOCAB.npy",
              help="Where to write the (K, 512) embeddings; the names go to the same name with .txt.")
@click.option("--text-encoder", type=click.Path(dir_okay=False),
              help="OpenAI CLIP ViT-B/32 weights (clip_vitb32.pth) for a checkpoint without its text encoder.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:1, ...")
def build(checkpoint: str, names: str | None, names_file: str | None, out_path: str, text_encoder: str | None,
          device: str) -> None:
    """Embed class names with the checkpoint's own CLIP text encoder and ovdet's prompt ensemble.

    \b
    Example:
      regionkit vocab build --checkpoint checkpoints/this_repo_R-50-FPN_CLIP_iter_90000.pth \\
          --names 'person,dog,traffic light' --out vocab/street.npy
      regionkit infer configs/ovd_four_box.py --images DIR -o detector.vocabulary=vocab/street.npy
    """
    import numpy as np

    from regionkit.errors import ConfigError
    from regionkit.io.atomic import atomic_open
    from regionkit.plugins.detectors.baron import BaronOpenVocabDetector

    class_names = _read_names(names, names_file)
    out = Path(out_path)
    if out.suffix != ".npy":
        raise ConfigError(f"--out must end in .npy, got {out_path}")
    detector = BaronOpenVocabDetector(checkpoint=checkpoint, text_encoder=text_encoder, device=device)
    from regionkit.models.detectors.baron.vocab import build_class_embeddings

    embeddings = build_class_embeddings(detector.model.detector.text_encoder, class_names,
                                        device=detector.model.device)
    with atomic_open(out, binary=True) as fh:
        np.save(fh, np.asarray(embeddings, dtype=np.float32))
    names_path = out.with_suffix(".txt")
    with atomic_open(names_path) as fh:
        fh.write("".join(f"{n}\n" for n in class_names))
    echo_safe(f"Wrote {out} ({len(class_names)} x {embeddings.shape[1]}) and {names_path}")
