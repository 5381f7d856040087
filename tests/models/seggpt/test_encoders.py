"""Image encoders for prompt similarity: CLIP's image features from a local folder, the weight-free thumbnail."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from regionkit.models.errors import WeightsError  # noqa: E402
from regionkit.models.segmentation.seggpt.encoders import ClipImageEncoder, ThumbnailEncoder  # noqa: E402
from tests.models.seggpt.support import photo  # noqa: E402


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    """A tiny random CLIPModel saved with save_pretrained (vision and text towers)."""
    cfg = transformers.CLIPConfig(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=32, patch_size=8),
        text_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                         vocab_size=100, max_position_embeddings=16),
        projection_dim=24)
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("clip") / "tiny-clip"
    transformers.CLIPModel(cfg).eval().save_pretrained(str(folder))
    return folder


def test_clip_features_are_get_image_features(clip_dir, one_thread):
    encoder = ClipImageEncoder(clip_dir)
    images = [photo("coffee"), photo("chelsea")]
    feats = encoder.encode_images(images)
    assert feats.shape == (2, 24)
    reference = transformers.CLIPModel.from_pretrained(str(clip_dir)).eval()
    pixels = torch.from_numpy(np.stack([encoder._prepare(im) for im in images]))
    with torch.inference_mode():
        expected = reference.get_image_features(pixel_values=pixels)
    expected = getattr(expected, "pooler_output", expected)
    np.testing.assert_allclose(feats, expected.numpy(), atol=1e-5)


def test_clip_preprocessing_is_a_centre_crop_of_the_short_side(clip_dir):
    encoder = ClipImageEncoder(clip_dir)
    wide = np.zeros((40, 120, 3), np.uint8)
    wide[:, 40:80] = 255  # the centre third: all that survives the crop
    x = encoder._prepare(wide)
    assert x.shape == (3, 32, 32)
    white = (1.0 - encoder.mean) / encoder.std
    np.testing.assert_allclose(x[:, 16, 16], white, atol=0.05)


def test_missing_or_wrong_clip_folders_are_one_line(tmp_path, tiny_seggpt_dir):
    for folder, needle in [(tmp_path / "none", "CLIP folder not found"), (tiny_seggpt_dir, "not CLIP")]:
        with pytest.raises(WeightsError, match=needle) as info:
            ClipImageEncoder(folder)
        assert "\n" not in str(info.value)


def test_thumbnail_features_rank_the_same_photo_first():
    enc = ThumbnailEncoder()
    pool = enc.encode_images([photo("coffee"), photo("astronaut"), photo("chelsea")])
    query = enc.encode_images([photo("astronaut")[::2, ::2]])[0]
    sims = pool @ query / (np.linalg.norm(pool, axis=1) * np.linalg.norm(query))
    assert int(np.argmax(sims)) == 1


def test_the_detector_picks_clip_when_a_folder_is_given(clip_dir, caplog):
    from regionkit.errors import ConfigError
    from regionkit.plugins.detectors.seggpt import _build_encoder

    assert isinstance(_build_encoder("auto", str(clip_dir), "cpu"), ClipImageEncoder)
    with caplog.at_level("WARNING"):
        assert isinstance(_build_encoder("auto", None, "cpu"), ThumbnailEncoder)
    assert "clip_model" in caplog.text
    with pytest.raises(ConfigError, match="needs detector.clip_model"):
        _build_encoder("clip", None, "cpu")
