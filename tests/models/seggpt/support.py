"""Shared helpers for the SegGPT tests: tiny random transformers SegGPT models saved into tmp, photos with masks.

The tiny configuration reads 16 x 16 images (a 32 x 16 canvas of 8-pixel patches, 4 blocks,
width 32): every forward takes milliseconds on one CPU thread.  Weights are drawn with a large
``initializer_range`` so the random model paints structured, non-constant colours.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

TINY: dict[str, Any] = dict(hidden_size=32, num_hidden_layers=4, num_attention_heads=4, image_size=[32, 16],
                            patch_size=8, pretrain_image_size=16, decoder_hidden_size=8, merge_index=1,
                            intermediate_hidden_state_indices=[1, 2, 3], mlp_dim=64, drop_path_rate=0.0)


def tiny_config(**overrides: Any) -> Any:
    transformers = pytest.importorskip("transformers")
    values = dict(TINY, initializer_range=0.5)
    values.update(overrides)
    return transformers.SegGptConfig(**values)


def tiny_model(seed: int = 0, **overrides: Any) -> Any:
    """A random ``SegGptForImageSegmentation`` of the tiny configuration, eval mode."""
    import torch
    import transformers

    cfg = tiny_config(**overrides)
    torch.manual_seed(seed)
    return transformers.SegGptForImageSegmentation(cfg).eval()


def save_tiny(folder: Path, seed: int = 0, **overrides: Any) -> Path:
    tiny_model(seed, **overrides).save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_seggpt_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random SegGPT saved with ``save_pretrained`` (config.json + model.safetensors)."""
    return save_tiny(tmp_path_factory.mktemp("tiny_seggpt") / "model")


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny models on a shared 2-core machine: one torch thread is ~100x faster than two contending ones."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def photo(name: str) -> np.ndarray:
    """A real photograph shipped with scikit-image, RGB uint8 (skipped without scikit-image)."""
    pytest.importorskip("skimage.data", reason="the test photos ship with scikit-image")
    from regionkit.models.segmentation.seggpt.photo_masks import photo as skimage_photo

    return skimage_photo(name)


def photo_mask(image: np.ndarray) -> np.ndarray:
    """A 0/255 mask made from the photo itself: its brighter-than-median pixels inside the central box."""
    grey = image.mean(axis=2)
    h, w = grey.shape
    mask = np.zeros((h, w), dtype=np.uint8)
    box = (slice(h // 4, 3 * h // 4), slice(w // 4, 3 * w // 4))
    mask[box] = np.where(grey[box] > np.median(grey[box]), 255, 0)
    return mask


def write_prompt_folder(root: Path, names: tuple[str, ...] = ("astronaut", "coffee", "chelsea")) -> list[Path]:
    """``root/images/<name>.png`` photos and ``root/labels/<name>.png`` 0/255 masks (the forks' layout)."""
    from PIL import Image

    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    out = []
    for name in names:
        image = photo(name)
        Image.fromarray(image).save(root / "images" / f"{name}.png")
        Image.fromarray(photo_mask(image)).save(root / "labels" / f"{name}.png")
        out.append(root / "images" / f"{name}.png")
    return out


TRAIN_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "immunohistochemistry")
VAL_PHOTOS = ("hubble_deep_field", "retina")


def write_training_folder(root: Path, train: tuple[str, ...] = TRAIN_PHOTOS, val: tuple[str, ...] = VAL_PHOTOS,
                          crops: int = 3, side: int = 96) -> Path:
    """``root/{train,val}/{images,labels}``: square crops of real photos, each labelled by :func:`photo_mask`."""
    pytest.importorskip("skimage.data", reason="the test photos ship with scikit-image")
    from regionkit.models.segmentation.seggpt.photo_masks import write_photo_masks

    return write_photo_masks(root, train=train, val=val, crops=crops, side=side, mask_of=photo_mask)
