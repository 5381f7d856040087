"""Prompt masks in every form (the image-processor traps), model inputs, canvases and patch masks."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from regionkit.errors import ConfigError
from regionkit.models.segmentation.seggpt.canvas import (
    ClassTable,
    half_mask,
    mask_kind,
    nearest_indices,
    prepare_image,
    prepare_mask,
    read_mask_file,
    resize_nearest,
    stack,
)
from regionkit.models.segmentation.seggpt.palette import build_palette
from tests.models.seggpt.support import photo, photo_mask


def _save(tmp_path, name, array, **kwargs):
    path = tmp_path / name
    Image.fromarray(array).save(path, **kwargs)
    return path


@pytest.fixture
def binary(tmp_path):
    """One real photo's mask saved six ways: 0/1, 0/255, 1-bit, JPEG, RGB-grey, and a {0, 38} level mask."""
    mask = photo_mask(photo("coffee")) > 0
    u8 = mask.astype(np.uint8)
    paths = {
        "zero_one": _save(tmp_path, "01.png", u8),
        "zero_255": _save(tmp_path, "0255.png", u8 * 255),
        "one_bit": tmp_path / "1bit.png",
        "jpeg": _save(tmp_path, "mask.jpg", u8 * 255, quality=75),
        "rgb_grey": _save(tmp_path, "rgb.png", np.repeat((u8 * 255)[:, :, None], 3, axis=2)),
        "level_38": _save(tmp_path, "38.png", u8 * 38),
    }
    Image.fromarray(mask).convert("1").save(paths["one_bit"])
    return mask, paths


def test_every_binary_form_gives_the_same_foreground(binary):
    """0/1 is not 'almost black' and 0/255 is not an index error: both are class 1 (the processor's traps)."""
    mask, paths = binary
    for key, path in paths.items():
        raw = read_mask_file(path)
        assert mask_kind(raw) == "binary", key
        table = ClassTable.from_masks([raw], [key])
        assert (table.kind, table.num_classes) == ("binary", 1)
        ids = table.class_map(raw)
        if key == "jpeg":  # ringing at the edges stays background; a few edge pixels may flip
            assert np.mean(ids != mask) < 0.01
        else:
            np.testing.assert_array_equal(ids, mask.astype(np.int64), err_msg=key)


def test_index_masks_keep_their_ids_and_voc_void_is_background(tmp_path):
    ids = np.zeros((20, 30), np.uint8)
    ids[2:8, 2:10], ids[10:18, 5:25], ids[0, :] = 1, 3, 255
    grey = _save(tmp_path, "ids.png", ids)
    pal = Image.fromarray(ids, mode="L").convert("P")
    pal.save(tmp_path / "voc.png")
    for path in (grey, tmp_path / "voc.png"):
        raw = read_mask_file(path)
        assert mask_kind(raw) == "index"
        table = ClassTable.from_masks([raw], ["m"])
        assert table.num_classes == 3
        out = table.class_map(raw)
        assert out[0].max() == 0 and set(np.unique(out)) == {0, 1, 3}


def test_colour_masks_number_classes_consistently_across_prompts(tmp_path):
    red, green = (255, 0, 0), (0, 200, 0)
    a = np.zeros((10, 10, 3), np.uint8)
    a[:5] = red
    b = np.zeros((10, 10, 3), np.uint8)
    b[5:] = green
    b[:2] = red
    raws = [read_mask_file(_save(tmp_path, "a.png", a)), read_mask_file(_save(tmp_path, "b.png", b))]
    table = ClassTable.from_masks(raws, ["a", "b"])
    assert table.kind == "color" and table.num_classes == 2
    ids_a, ids_b = table.class_map(raws[0]), table.class_map(raws[1])
    assert ids_a[0, 0] == ids_b[0, 0]  # red is the same class in both prompts
    assert ids_b[9, 0] != ids_a[0, 0] and ids_b[9, 0] > 0 and ids_a[9, 0] == 0


def test_colour_masks_with_a_palette_take_the_nearest_colour(tmp_path):
    palette = np.array([[0, 0, 0], [250, 10, 10], [10, 250, 10]], np.uint8)
    noisy = np.zeros((8, 8, 3), np.uint8)
    noisy[:4] = (240, 20, 5)
    noisy[4:] = (5, 240, 30)
    table = ClassTable.from_masks([noisy], ["n"], "color", palette)
    np.testing.assert_array_equal(table.class_map(noisy)[:, 0], [1] * 4 + [2] * 4)


def test_masks_of_different_kinds_must_be_told(tmp_path):
    colour = np.zeros((6, 6, 3), np.uint8)
    colour[0] = (255, 0, 0)
    grey = (np.eye(6) * 255).astype(np.uint8)
    with pytest.raises(ConfigError, match="mask_mode") as info:
        ClassTable.from_masks([colour, grey], ["c.png", "g.png"])
    assert "\n" not in str(info.value)
    # 0/1 binaries join index masks
    ids = np.zeros((6, 6), np.uint8)
    ids[0, 0], ids[1, 1] = 2, 3
    table = ClassTable.from_masks([np.eye(6, dtype=np.uint8), ids], ["b", "i"])
    assert (table.kind, table.num_classes) == ("index", 3)


def test_index_mode_refuses_large_values():
    with pytest.raises(ConfigError, match="below 64"):
        ClassTable.from_masks([np.array([[0, 100]], np.uint8)], ["m.png"], "index")


def test_model_inputs_match_the_transformers_image_processor(one_thread):
    """Our resizing and normalisation give what SegGptImageProcessor gives (RGB masks, do_convert_rgb=False)."""
    processing = pytest.importorskip("transformers").SegGptImageProcessor
    image = photo("chelsea")
    ids = (photo_mask(image) > 0).astype(np.int64)
    palette = build_palette(1)
    size = (64, 64)
    processor = processing(size={"height": 64, "width": 64})
    coloured = palette[ids]
    out = processor(images=image, prompt_images=image, prompt_masks=coloured, do_convert_rgb=False,
                    return_tensors="np")
    ours_image = prepare_image(image, size)
    ours_mask = prepare_mask(ids, palette, size)
    assert ours_image.shape == out["pixel_values"][0].shape == (3, 64, 64)
    # bicubic kernels differ slightly between Pillow and torchvision: compare on the 0..255 scale
    assert np.abs(ours_image - out["pixel_values"][0]).mean() * 0.226 * 255 < 2.0
    agree = np.isclose(ours_mask, out["prompt_masks"][0], atol=1e-4).all(axis=0).mean()
    assert agree > 0.97  # nearest-neighbour sampling may pick a neighbouring pixel at mask edges


def test_nearest_resizing_keeps_values_and_aligns_centres():
    np.testing.assert_array_equal(nearest_indices(4, 8), [0, 0, 1, 1, 2, 2, 3, 3])
    np.testing.assert_array_equal(nearest_indices(8, 4), [1, 3, 5, 7])
    ids = np.arange(12).reshape(3, 4)
    out = resize_nearest(ids, (6, 8))
    assert set(np.unique(out)) == set(range(12)) and out.shape == (6, 8)


def test_stack_puts_the_prompt_on_top_and_half_mask_covers_the_query():
    top, bottom = np.zeros((3, 4, 5)), np.ones((3, 4, 5))
    canvas = stack(top, bottom)
    assert canvas.shape == (3, 8, 5) and canvas[:, :4].max() == 0 and canvas[:, 4:].min() == 1
    mask = half_mask(4, 3).reshape(4, 3)
    assert not mask[:2].any() and mask[2:].all()
    with pytest.raises(ValueError, match="even"):
        half_mask(3, 3)


def test_unreadable_mask_is_one_line(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ConfigError, match="bad.png") as info:
        read_mask_file(bad)
    assert "\n" not in str(info.value)


def test_exif_rotation_is_applied(tmp_path):
    mask = np.zeros((4, 6), np.uint8)
    mask[0, 0] = 255
    im = Image.fromarray(mask)
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    buf = io.BytesIO()
    im.save(buf, format="PNG", exif=exif)
    (tmp_path / "r.png").write_bytes(buf.getvalue())
    assert read_mask_file(tmp_path / "r.png").shape == (6, 4)
