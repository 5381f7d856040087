"""Checkpoint loading: ovdet layout round trip, key reporting, safe loading, separate text encoder."""
from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch

from regionkit.models.detectors.baron import checkpoint as ckpt
from regionkit.models.detectors.baron import testing
from regionkit.models.errors import WeightsError

from . import support
from .support import KEYS, SEED

baron_model = support.baron_model  # session fixture
seeded_checkpoint = support.seeded_checkpoint  # session fixture


@pytest.fixture(scope="module")
def specs():
    return testing.read_key_list(KEYS)


def test_key_list_fixture_describes_ovdet_layout(specs):
    assert len(specs) == 716
    assert specs[0].key == "backbone.conv1.weight"
    keys = {s.key for s in specs}
    assert "roi_head.bbox_head.cls_embeddings" in keys and "roi_head.bbox_head.bg_embedding.weight" in keys


def test_native_state_dict_matches_ovdet_layout(specs):
    """Every inference key of ovdet's model exists natively with the same shape, and nothing else."""
    from regionkit.models.detectors.baron.model import BaronDetector

    own = {k: tuple(v.shape) for k, v in BaronDetector().state_dict().items()}
    wanted = {s.key: s.shape for s in specs if not s.key.startswith(ckpt.IGNORED_PREFIXES)}
    assert own == wanted


def test_generator_is_deterministic_and_order_independent(specs):
    small = [s for s in specs if s.key.startswith("rpn_head.")]
    a = testing.seeded_state_dict(small, seed=3)
    b = testing.seeded_state_dict(list(reversed(small)), seed=3)
    assert list(a) == [s.key for s in small]
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = testing.seeded_state_dict(small, seed=4)
    assert not torch.equal(a["rpn_head.rpn_conv.weight"], c["rpn_head.rpn_conv.weight"])


def test_generator_rules(specs):
    by_key = {s.key: s for s in specs}
    var = testing.seeded_tensor(by_key["backbone.layer1.0.bn1.running_var"], SEED)
    assert float(var.min()) > 0
    w = testing.seeded_tensor(by_key["neck.lateral_convs.0.bn.weight"], SEED)
    assert abs(float(w.mean()) - 1.0) < 0.05
    emb = testing.seeded_tensor(by_key["roi_head.bbox_head.cls_embeddings"], SEED)
    np.testing.assert_allclose(emb.norm(dim=1).numpy(), 1.0, rtol=1e-5)
    conv = testing.seeded_tensor(by_key["backbone.layer1.0.conv2.weight"], SEED)
    assert float(conv.std()) == pytest.approx((2.0 / (64 * 9)) ** 0.5, rel=0.05)
    assert testing.seeded_tensor(by_key["backbone.bn1.num_batches_tracked"], SEED).dtype == torch.int64


def test_round_trip_through_the_loader(seeded_checkpoint, baron_model, specs):
    """A random model saved in ovdet's layout comes back tensor for tensor."""
    raw = torch.load(seeded_checkpoint, map_location="cpu", weights_only=True)
    assert set(raw) == {"meta", "state_dict"} and raw["meta"]["seed"] == SEED
    own = baron_model.detector.state_dict()
    report = baron_model.load_report
    assert report.ok and not report.missing and not report.unexpected
    assert all(k.endswith("num_batches_tracked") for k in report.ignored)
    for key, value in raw["state_dict"].items():
        if not key.endswith("num_batches_tracked"):
            assert torch.equal(own[key], value), key


def _small_state(specs):
    from regionkit.models.detectors.baron.model import BaronDetector

    det = BaronDetector()
    state = {k: v.clone() for k, v in det.state_dict().items()}
    return det, state


def test_missing_unexpected_and_mismatched_keys_are_reported_together(specs):
    det, state = _small_state(specs)
    del state["neck.fpn_convs.0.conv.weight"]
    del state["roi_head.bbox_head.fc_cls.bias"]
    state["roi_head.bbox_head.extra.weight"] = torch.zeros(3)
    state["rpn_head.rpn_reg.bias"] = torch.zeros(5)
    with pytest.raises(WeightsError) as info:
        ckpt.load_into(det, state, source="checkpoint x.pth")
    msg = str(info.value)
    assert "x.pth" in msg and "2 missing" in msg and "neck.fpn_convs.0.conv.weight" in msg
    assert "1 unexpected" in msg and "roi_head.bbox_head.extra.weight" in msg
    assert "shape mismatch" in msg and "rpn_head.rpn_reg.bias" in msg
    report = ckpt.load_into(det, state, strict=False)
    assert report.missing == ["neck.fpn_convs.0.conv.weight", "roi_head.bbox_head.fc_cls.bias"]
    assert report.unexpected == ["roi_head.bbox_head.extra.weight"]
    assert len(report.mismatched) == 1 and not report.ok


def test_missing_text_encoder_points_to_clip_file(specs):
    det, state = _small_state(specs)
    state = {k: v for k, v in state.items() if not k.startswith(ckpt.TEXT_PREFIX)}
    with pytest.raises(WeightsError, match="text_encoder_path.*clip_vitb32.pth"):
        ckpt.load_into(det, state)


def test_missing_file_names_path_and_source(tmp_path):
    from regionkit.models.detectors.baron.model import BaronDetectorModel

    missing = tmp_path / "nowhere" / "this_repo_R-50-FPN_CLIP_iter_90000.pth"
    with pytest.raises(WeightsError) as info:
        BaronDetectorModel.from_checkpoint(missing)
    msg = str(info.value)
    assert str(missing) in msg and "wusize/ovdet" in msg and "Google Drive" in msg
    with pytest.raises(WeightsError, match="clip_vitb32.pth") as info:
        ckpt.text_encoder_state_dict(tmp_path / "clip_vitb32.pth")
    assert str(tmp_path / "clip_vitb32.pth") in str(info.value)


def test_prefixes_and_training_only_keys(tmp_path):
    state = {"module.backbone.conv1.weight": torch.ones(2), "module.roi_head.baron_kd.x": torch.ones(1),
             "module.roi_head.clip.image_encoder.proj": torch.ones(1),
             "module.backbone.bn1.num_batches_tracked": torch.tensor(5)}
    torch.save({"meta": {"seed": 1}, "state_dict": state}, tmp_path / "c.pth")
    usable, ignored, meta = ckpt.baron_state_dict(tmp_path / "c.pth")
    assert list(usable) == ["backbone.conv1.weight"] and meta == {"seed": 1}
    assert ignored == ["backbone.bn1.num_batches_tracked", "roi_head.baron_kd.x", "roi_head.clip.image_encoder.proj"]
    torch.save(state, tmp_path / "bare.pth")  # a bare state_dict works too
    assert list(ckpt.baron_state_dict(tmp_path / "bare.pth")[0]) == ["backbone.conv1.weight"]


class _Opaque:
    """Stands for a training-state class of a framework that is not installed here."""

    def __init__(self):
        self.history = np.arange(4.0)


def test_mmengine_training_state_is_read_without_running_code(tmp_path, monkeypatch):
    """message_hub objects and numpy arrays outside state_dict are tolerated (weights_only)."""
    fake = types.ModuleType("mmengine_fake_history")
    monkeypatch.setattr(_Opaque, "__module__", "mmengine_fake_history")
    fake._Opaque = _Opaque
    monkeypatch.setitem(sys.modules, "mmengine_fake_history", fake)
    blob = {"meta": {"dataset_meta": {"classes": ("a", "b")}, "epoch": 1},
            "state_dict": {"backbone.conv1.weight": torch.arange(3.0)},
            "message_hub": {"log_scalars": {"loss": _Opaque()}, "np": np.zeros(3)},
            "optimizer": {"state": {}, "param_groups": [{"lr": 0.1}]}}
    torch.save(blob, tmp_path / "train.pth")
    monkeypatch.delitem(sys.modules, "mmengine_fake_history")
    usable, _, meta = ckpt.baron_state_dict(tmp_path / "train.pth")
    assert torch.equal(usable["backbone.conv1.weight"], torch.arange(3.0))
    assert meta["dataset_meta"]["classes"] == ("a", "b")


def test_non_tensor_state_dict_entries_are_refused(tmp_path):
    torch.save({"state_dict": {"backbone.conv1.weight": torch.ones(1), "oops": [1, 2]}}, tmp_path / "c.pth")
    with pytest.raises(WeightsError, match="not tensors"):
        ckpt.baron_state_dict(tmp_path / "c.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="cannot read"):
        ckpt.baron_state_dict(tmp_path / "junk.pth")


def test_openai_clip_state_dict_maps_to_text_encoder(tmp_path, specs):
    text = [s for s in specs if s.key.startswith(ckpt.TEXT_PREFIX)][:4]
    sd = testing.seeded_state_dict(text, seed=SEED)
    openai = testing.openai_clip_state_dict(sd)
    openai["visual.proj"] = torch.zeros(2)
    openai["logit_scale"] = torch.tensor(4.6)
    openai["context_length"] = 77  # OpenAI's jit state dicts carry a few ints
    torch.save(openai, tmp_path / "clip_vitb32.pth")
    loaded = ckpt.text_encoder_state_dict(tmp_path / "clip_vitb32.pth")
    assert set(loaded) == set(sd) and all(torch.equal(loaded[k], sd[k]) for k in sd)


@pytest.mark.slow
def test_text_encoder_from_a_separate_file(tmp_path, specs, baron_model):
    """A BARON checkpoint without the text encoder plus clip_vitb32.pth gives the same model."""
    from regionkit.models.detectors.baron.model import BaronDetectorModel

    full = testing.seeded_state_dict(specs, seed=SEED, exclude_prefixes=testing.INFERENCE_ONLY_EXCLUDE)
    det_part = {k: v for k, v in full.items() if not k.startswith(ckpt.TEXT_PREFIX)}
    torch.save({"meta": {}, "state_dict": det_part}, tmp_path / "baron_no_text.pth")
    torch.save(testing.openai_clip_state_dict(full), tmp_path / "clip_vitb32.pth")
    with pytest.raises(WeightsError, match="text_encoder_path"):
        BaronDetectorModel.from_checkpoint(tmp_path / "baron_no_text.pth")
    model = BaronDetectorModel.from_checkpoint(tmp_path / "baron_no_text.pth",
                                               text_encoder_path=tmp_path / "clip_vitb32.pth")
    a, b = model.detector.state_dict(), baron_model.detector.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
