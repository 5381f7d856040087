"""The photo-mask folder (``regionkit seggpt photo-masks``): real photos, brighter-half labels, held-out validation photos."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("skimage")
pytest.importorskip("scipy")

from regionkit.cli.main import cli
from regionkit.errors import ConfigError
from regionkit.models.segmentation.seggpt import photo_masks


def test_brighter_half_is_a_binary_mask_of_half_the_pixels_following_the_light():
    ramp = np.repeat(np.linspace(0, 255, 40, dtype=np.float64)[None, :, None], 3, axis=2).repeat(30, axis=0)
    mask = photo_masks.brighter_half(ramp.astype(np.uint8))
    assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 255}
    assert mask[:, :15].max() == 0 and mask[:, 25:].min() == 255  # the dark side is background
    assert mask.mean() / 255 == pytest.approx(0.5, abs=0.05)


def test_the_cli_writes_the_folder_seggpt_pairs_reads(tmp_path):
    from PIL import Image

    result = CliRunner().invoke(cli, ["seggpt", "photo-masks", str(tmp_path / "pm"), "--crops", "2", "--side", "24"])
    assert result.exit_code == 0, result.output
    assert "30 training and 4 validation images" in result.output
    for split, names in (("train", photo_masks.TRAIN_PHOTOS), ("val", photo_masks.VAL_PHOTOS)):
        images = sorted(p.name for p in (tmp_path / "pm" / split / "images").iterdir())
        assert images == sorted(f"{n}_{k}.png" for n in names for k in range(2))
        assert images == sorted(p.name for p in (tmp_path / "pm" / split / "labels").iterdir())
    assert not set(photo_masks.TRAIN_PHOTOS) & set(photo_masks.VAL_PHOTOS)
    crop = np.asarray(Image.open(tmp_path / "pm" / "val" / "images" / "retina_0.png"))
    label = np.asarray(Image.open(tmp_path / "pm" / "val" / "labels" / "retina_0.png"))
    assert crop.shape == (24, 24, 3) and np.array_equal(label, photo_masks.brighter_half(crop))


def test_mistakes_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="no photo 'nope'"):
        photo_masks.write_photo_masks(tmp_path, train=("nope",))
    result = CliRunner().invoke(cli, ["seggpt", "photo-masks", str(tmp_path), "--side", "4"])
    assert result.exit_code == 2 and "--side" in result.output and "Traceback" not in result.output
    (tmp_path / "a_file").write_text("")
    result = CliRunner().invoke(cli, ["seggpt", "photo-masks", str(tmp_path / "a_file" / "sub"), "--crops", "1"])
    assert result.exit_code == 2
    assert "cannot write the photo-mask folder" in result.output and "Not a directory" in result.output
    assert len(result.output.strip().splitlines()) == 1
