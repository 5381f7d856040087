"""Tests for :func:`regionkit.io.images.load_rgb`: every mode becomes ``(H, W, 3)`` uint8 RGB,
EXIF orientation is applied, and every failure is an :class:`ImageLoadError` with a reason."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from regionkit.io.images import ImageLoadError, load_rgb

W, H = 40, 20
ORIENTATION = 0x0112


def check_rgb(arr: np.ndarray, shape: tuple[int, int]) -> None:
    assert isinstance(arr, np.ndarray)
    assert arr.dtype == np.uint8
    assert arr.shape == (*shape, 3)


def gradient_rgb() -> np.ndarray:
    """A smooth (JPEG-friendly) RGB image of H x W."""
    ys, xs = np.mgrid[0:H, 0:W]
    return np.stack([xs * 6, ys * 12, np.full_like(xs, 128)], axis=2).astype(np.uint8)


# ---------------------------------------------------------------------- successful loads

def test_rgb_png_is_exact(tmp_path: Path):
    arr = gradient_rgb()
    path = tmp_path / "a.png"
    Image.fromarray(arr).save(path)
    out = load_rgb(path)
    check_rgb(out, (H, W))
    np.testing.assert_array_equal(out, arr)
    assert out.flags.writeable


def test_rgb_jpeg_is_close(tmp_path: Path):
    arr = gradient_rgb()
    path = tmp_path / "a.jpg"
    Image.fromarray(arr).save(path, quality=95)
    out = load_rgb(str(path))  # str paths work as well as Path
    check_rgb(out, (H, W))
    assert np.abs(out.astype(int) - arr).mean() < 4


def test_grayscale_l(tmp_path: Path):
    grey = np.tile(np.arange(W, dtype=np.uint8) * 6, (H, 1))
    path = tmp_path / "g.png"
    Image.fromarray(grey, mode="L").save(path)
    out = load_rgb(path)
    check_rgb(out, (H, W))
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], grey)


def test_palette_p(tmp_path: Path):
    im = Image.new("P", (W, H), 0)
    im.putpalette([0, 0, 0, 255, 0, 0, 0, 0, 255] + [0] * (256 * 3 - 9))
    im.paste(1, (0, 0, W // 2, H))   # left half red
    im.paste(2, (W // 2, 0, W, H))   # right half blue
    path = tmp_path / "p.png"
    im.save(path)
    assert Image.open(path).mode == "P"
    out = load_rgb(path)
    check_rgb(out, (H, W))
    assert out[5, 5].tolist() == [255, 0, 0]
    assert out[5, W - 5].tolist() == [0, 0, 255]


def test_palette_gif_with_transparency(tmp_path: Path):
    im = Image.new("P", (W, H), 1)
    im.putpalette([0, 0, 0, 0, 200, 0] + [0] * (256 * 3 - 6))
    path = tmp_path / "t.gif"
    im.save(path, transparency=0)
    out = load_rgb(path)
    check_rgb(out, (H, W))
    assert out[0, 0].tolist() == [0, 200, 0]


def test_rgba_alpha_dropped_colour_kept(tmp_path: Path):
    rgba = np.zeros((H, W, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2] = 10, 200, 30
    rgba[..., 3] = 0                      # fully transparent...
    rgba[:, W // 2:, 3] = 255             # ...left half; opaque right half
    path = tmp_path / "rgba.png"
    Image.fromarray(rgba, mode="RGBA").save(path)
    out = load_rgb(path)
    check_rgb(out, (H, W))
    # colour is kept even under alpha 0 (no compositing onto black or white)
    assert (out.reshape(-1, 3) == [10, 200, 30]).all()


def test_la(tmp_path: Path):
    la = np.zeros((H, W, 2), dtype=np.uint8)
    la[..., 0] = 77
    la[..., 1] = 0
    path = tmp_path / "la.png"
    Image.fromarray(la, mode="LA").save(path)
    assert Image.open(path).mode == "LA"
    out = load_rgb(path)
    check_rgb(out, (H, W))
    assert (out == 77).all()


def test_cmyk_jpeg(tmp_path: Path):
    im = Image.new("CMYK", (W, H), (0, 255, 255, 0))  # pure red in CMYK
    path = tmp_path / "cmyk.jpg"
    im.save(path, quality=95)
    assert Image.open(path).mode == "CMYK"
    out = load_rgb(path)
    check_rgb(out, (H, W))
    r, g, b = out[H // 2, W // 2].astype(int)
    assert r > 230 and g < 25 and b < 25


def test_16_bit_grayscale_png(tmp_path: Path):
    a = np.zeros((H, W), dtype=np.uint16)
    a[0, 0] = 65535
    a[0, 1] = 32768     # -> 127.5..128
    a[0, 2] = 257 * 10  # exactly 10 in 8-bit terms
    a[0, 3] = 0
    path = tmp_path / "g16.png"
    Image.fromarray(a).save(path)
    assert Image.open(path).mode.startswith("I;16")
    out = load_rgb(path)
    check_rgb(out, (H, W))
    assert out[0, 0].tolist() == [255, 255, 255]
    assert out[0, 1].tolist() == [128, 128, 128]
    assert out[0, 2].tolist() == [10, 10, 10]
    assert out[0, 3].tolist() == [0, 0, 0]
    assert out[5, 5].tolist() == [0, 0, 0]


def test_dark_16_bit_png_is_scaled_as_16_bit(tmp_path: Path):
    # A 16-bit image whose values all happen to be <= 255 is still 16-bit: 255/65535 is ~black,
    # not white.
    a = np.full((H, W), 255, dtype=np.uint16)
    a[0, 1] = 0
    a[0, 0] = 200
    path = tmp_path / "dark16.png"
    Image.fromarray(a).save(path)
    out = load_rgb(path)
    check_rgb(out, (H, W))
    assert out.max() <= 1
    assert out[0, 1].tolist() == [0, 0, 0]


@pytest.mark.parametrize("orientation, corner", [
    (6, (0, -1)),   # rotate 90 deg clockwise: top-left -> top-right
    (8, (-1, 0)),   # rotate 90 deg counter-clockwise: top-left -> bottom-left
    (3, (-1, -1)),  # rotate 180: top-left -> bottom-right (shape unchanged)
])
def test_exif_orientation_applied(tmp_path: Path, orientation: int, corner: tuple[int, int]):
    arr = np.zeros((H, W, 3), dtype=np.uint8)
    arr[:6, :6] = [255, 0, 0]   # a red block in the stored top-left corner
    im = Image.fromarray(arr)
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    path = tmp_path / f"o{orientation}.jpg"
    im.save(path, exif=exif, quality=95)
    out = load_rgb(path)
    shape = (H, W) if orientation == 3 else (W, H)
    check_rgb(out, shape)
    r, c = corner
    assert out[r, c, 0] > 200 and out[r, c, 1] < 60
    # every other corner is dark
    for rr in (0, -1):
        for cc in (0, -1):
            if (rr, cc) != (r, c):
                assert out[rr, cc].max() < 60


def test_exif_orientation_1_unchanged(tmp_path: Path):
    arr = np.zeros((H, W, 3), dtype=np.uint8)
    arr[:6, :6] = 255
    exif = Image.Exif()
    exif[ORIENTATION] = 1
    path = tmp_path / "o1.jpg"
    Image.fromarray(arr).save(path, exif=exif, quality=95)
    out = load_rgb(path)
    check_rgb(out, (H, W))
    assert out[0, 0].min() > 200


# ---------------------------------------------------------------------- failures

def reason(path) -> str:
    with pytest.raises(ImageLoadError) as info:
        load_rgb(path)
    text = str(info.value)
    assert text and "\n" not in text
    return text.lower()


def test_empty_file(tmp_path: Path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    assert "empty" in reason(path)


def test_missing_path(tmp_path: Path):
    assert "not found" in reason(tmp_path / "nope.jpg")


def test_text_file_named_jpg(tmp_path: Path):
    path = tmp_path / "fake.jpg"
    path.write_text("this is not an image, just some text\n" * 5)
    assert "not an image" in reason(path)


def test_truncated_jpeg(tmp_path: Path):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)  # noisy: many scan bytes
    full = tmp_path / "full.jpg"
    Image.fromarray(arr).save(full, quality=90)
    data = full.read_bytes()
    path = tmp_path / "half.jpg"
    path.write_bytes(data[: len(data) // 2])
    text = reason(path)
    assert "truncated" in text


def test_truncated_png(tmp_path: Path):
    full = tmp_path / "full.png"
    Image.fromarray(gradient_rgb()).save(full)
    data = full.read_bytes()
    path = tmp_path / "half.png"
    path.write_bytes(data[: len(data) // 2])
    reason(path)


def test_directory(tmp_path: Path):
    folder = tmp_path / "dir.jpg"
    folder.mkdir()
    reason(folder)


def test_decompression_bomb_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "big.png"
    Image.new("RGB", (W, H)).save(path)           # 800 pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # > 2x the limit: Pillow raises
    text = reason(path)
    assert "decompression" in text and "pixels" in text


def test_decompression_bomb_warning_becomes_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "big.png"
    Image.new("RGB", (W, H)).save(path)           # 800 pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # between 1x and 2x: Pillow only warns
    text = reason(path)
    assert "decompression" in text
    # the warnings filter used inside load_rgb does not leak out of it
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Image.open(path):
            pass
    assert any(issubclass(w.category, Image.DecompressionBombWarning) for w in caught)


def test_under_the_pixel_limit_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "ok.png"
    Image.new("RGB", (W, H)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", W * H)
    check_rgb(load_rgb(path), (H, W))



def test_a_monkey_patched_image_open_is_bypassed(tmp_path, monkeypatch):
    """ultralytics replaces PIL.Image.open process-wide; load_rgb must keep Pillow's own behaviour."""
    import types

    from PIL import Image

    calls = []
    wrapper_module = types.ModuleType("fake_patches")
    exec("def image_open(fp, *a, **k):\n    calls.append(fp)\n    raise ImportError('would pip install pi-heif')\n",
         wrapper_module.__dict__)
    wrapper_module.__dict__.update(_image_open=Image.open, calls=calls)
    monkeypatch.setattr(Image, "open", wrapper_module.image_open)
    good = tmp_path / "good.png"
    Image.new("RGB", (8, 6), (10, 20, 30)).save(good)
    assert load_rgb(good).shape == (6, 8, 3)
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    with pytest.raises(ImageLoadError, match="not an image"):
        load_rgb(bad)
    assert calls == []
