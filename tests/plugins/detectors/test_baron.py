"""The ``baron`` detector plugin: built by name from configs, checked parameters, clear file errors, vocabularies.

The model itself (parity with ovdet, preprocessing, checkpoint rules) is tested in
``tests/models/baron``; these tests exercise what a user touches: the registry, the config
recipes, ``regionkit vocab build`` and the messages for missing or wrong files.  They use the
seed-0 checkpoint in ovdet's key layout written by :mod:`regionkit.models.detectors.baron.testing`.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from regionkit.cli.main import cli
from regionkit.errors import ConfigError
from tests.models.baron import support
from tests.models.baron.images import load_rgb

seeded_checkpoint = support.seeded_checkpoint  # session fixture
REPO = Path(__file__).resolve().parents[3]
PHOTO = "astronaut.png"


@pytest.fixture(scope="module")
def detector(seeded_checkpoint):
    from regionkit.registry import DETECTORS

    return DETECTORS.build({"type": "baron", "checkpoint": str(seeded_checkpoint), "batch_size": 2})


@pytest.fixture(scope="module")
def light_detector(seeded_checkpoint):
    """The plugin with its model set to small input sizes and few proposals (``support.LIGHT``): for contract tests."""
    from regionkit.registry import DETECTORS

    det = DETECTORS.build({"type": "baron", "checkpoint": str(seeded_checkpoint), "batch_size": 2})
    det.model.scale = support.LIGHT["scale"]
    det.model.rpn_max_proposals = support.LIGHT["rpn_max_proposals"]
    return det


def test_listing_does_not_import_torch():
    code = textwrap.dedent("""
        import sys
        from importlib.metadata import entry_points
        names = {ep.name: ep.value for ep in entry_points(group="regionkit.detectors")}
        assert names.get("baron") == "regionkit.plugins.detectors.baron:BaronOpenVocabDetector", names
        from regionkit.plugins.detectors import baron
        assert "torch" not in sys.modules, "importing the baron plugin imported torch"
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_built_by_name_detects_original_pixel_boxes_with_coco_names(light_detector):
    detector = light_detector
    image = load_rgb(PHOTO)
    (boxes,) = detector.detect([image])
    h, w = image.shape[:2]
    assert boxes.image_size == (w, h)
    assert len(boxes) > 0
    assert np.all(np.diff(boxes.scores) <= 0)
    assert boxes.xyxy.min() >= 0 and boxes.xyxy[:, 2].max() <= w and boxes.xyxy[:, 3].max() <= h
    assert set(boxes.label_names) <= set(detector.class_names)
    assert "traffic_light" in detector.class_names and "dining_table" in detector.class_names
    assert [detector.class_names[i] for i in boxes.labels] == list(boxes.label_names)


@pytest.mark.slow
def test_plugin_matches_the_model_and_the_ovdet_reference(seeded_checkpoint, detector):
    """The adapter adds nothing: same boxes/scores/labels as the reference ovdet made on these weights."""
    ref = support.reference_image(PHOTO)
    (boxes,) = detector.detect([load_rgb(PHOTO)])
    support.compare(ref, boxes.xyxy.astype(np.float32), boxes.scores.astype(np.float32),
                    np.asarray(boxes.labels, dtype=np.int64))


@pytest.mark.slow
def test_conformance_kit_passes(light_detector):
    """The whole kit (about 80 detect calls) on the plugin; small input sizes keep it to minutes on a CPU."""
    from regionkit.testing import check_detector

    check_detector(light_detector, label="detector 'baron' (small inputs)")


@pytest.mark.parametrize("make_path, expected", [
    (lambda tmp: tmp / "missing.pth", "BARON checkpoint not found"),
    (lambda tmp: tmp, "is a folder, not a file"),
    (lambda tmp: "https://example.com/baron.pth", "must be a local file, not a URL"),
])
def test_missing_checkpoint_is_one_line_naming_file_and_source(tmp_path, make_path, expected):
    from regionkit.plugins.detectors.baron import BaronOpenVocabDetector

    with pytest.raises(ConfigError) as info:
        BaronOpenVocabDetector(checkpoint=make_path(tmp_path))
    message = str(info.value)
    assert expected in message and "\n" not in message
    assert "this_repo_R-50-FPN_CLIP_iter_90000.pth" in message and "never downloads" in message


def test_a_file_that_is_not_a_checkpoint_is_a_config_error(tmp_path):
    from regionkit.plugins.detectors.baron import BaronOpenVocabDetector

    bad = tmp_path / "notes.pth"
    bad.write_text("not a checkpoint")
    with pytest.raises(ConfigError, match="notes.pth"):
        BaronOpenVocabDetector(checkpoint=bad)


def test_bad_parameters_fail_at_build_time(seeded_checkpoint):
    from regionkit.plugins.detectors.baron import BaronOpenVocabDetector

    for kwargs, needle in [({"score_thr": 1.5}, "score_thr"), ({"batch_size": 0}, "batch_size"),
                           ({"amp": "fp8"}, "amp"), ({"vocabulary": []}, "vocabulary")]:
        with pytest.raises(ConfigError, match=needle):
            BaronOpenVocabDetector(checkpoint=seeded_checkpoint, **kwargs)


def test_cuda_without_gpu_is_a_clear_error(seeded_checkpoint):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    from regionkit.plugins.detectors.baron import BaronOpenVocabDetector

    with pytest.raises(ConfigError, match="CUDA is not available"):
        BaronOpenVocabDetector(checkpoint=seeded_checkpoint, device="cuda")


@pytest.mark.slow
def test_vocab_build_then_detect_own_categories(tmp_path, seeded_checkpoint):
    from click.testing import CliRunner

    from regionkit.models.detectors.baron.model import BaronDetectorModel
    from regionkit.plugins.detectors.baron import BaronOpenVocabDetector

    out = tmp_path / "vocab" / "street.npy"
    result = CliRunner().invoke(cli, ["vocab", "build", "--checkpoint", str(seeded_checkpoint),
                                      "--names", "astronaut, flag ,rocket", "--out", str(out)])
    assert result.exit_code == 0, result.output
    emb = np.load(out)
    assert emb.shape == (3, 512) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert out.with_suffix(".txt").read_text().splitlines() == ["astronaut", "flag", "rocket"]

    from_file = BaronOpenVocabDetector(checkpoint=seeded_checkpoint, vocabulary=out)
    assert from_file.class_names == ("astronaut", "flag", "rocket")
    from_names = BaronOpenVocabDetector(checkpoint=seeded_checkpoint, vocabulary=["astronaut", "flag", "rocket"])
    for det in (from_file, from_names):  # small inputs: this test is about the vocabulary, not the image size
        det.model.scale = support.LIGHT["scale"]
    image = load_rgb(PHOTO)
    (a,), (b,) = from_file.detect([image]), from_names.detect([image])
    assert list(a.label_names) == list(b.label_names) and set(a.label_names) <= {"astronaut", "flag", "rocket"}
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-6)
    np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1e-3)

    # the file holds what the model's own vocabulary builder computes
    model = BaronDetectorModel.from_checkpoint(seeded_checkpoint)
    from regionkit.models.detectors.baron.vocab import build_class_embeddings

    np.testing.assert_allclose(emb, build_class_embeddings(model.detector.text_encoder,
                                                           ["astronaut", "flag", "rocket"]), atol=1e-6)


def test_vocab_build_user_mistakes_are_one_line(tmp_path, seeded_checkpoint):
    from click.testing import CliRunner

    runner = CliRunner()
    cases = [
        (["--names", "a,b", "--out", str(tmp_path / "v.npy"), "--checkpoint", str(tmp_path / "none.pth")],
         "BARON checkpoint not found"),
        (["--names", "a,a", "--out", str(tmp_path / "v.npy"), "--checkpoint", str(seeded_checkpoint)],
         "must be unique"),
        (["--names", " , ", "--out", str(tmp_path / "v.npy"), "--checkpoint", str(seeded_checkpoint)],
         "no class names"),
        (["--names", "a", "--out", str(tmp_path / "v.txt"), "--checkpoint", str(seeded_checkpoint)],
         "must end in .npy"),
        (["--out", str(tmp_path / "v.npy"), "--checkpoint", str(seeded_checkpoint)], "--names"),
    ]
    for args, needle in cases:
        result = runner.invoke(cli, ["vocab", "build", *args])
        assert result.exit_code == 2, (args, result.output)
        assert needle in result.output and "Traceback" not in result.output, result.output
        assert not (tmp_path / "v.npy").exists()


def test_npy_with_wrong_names_count_is_a_config_error(tmp_path, seeded_checkpoint):
    from regionkit.plugins.detectors.baron import BaronOpenVocabDetector

    path = tmp_path / "two.npy"
    emb = np.random.default_rng(0).normal(size=(2, 512)).astype(np.float32)
    np.save(path, emb / np.linalg.norm(emb, axis=1, keepdims=True))
    with pytest.raises(ConfigError, match="3 class names for 2"):
        BaronOpenVocabDetector(checkpoint=seeded_checkpoint, vocabulary=path, class_names=["a", "b", "c"])
    wrong_dim = tmp_path / "dim.npy"
    np.save(wrong_dim, np.zeros((2, 300), np.float32))
    with pytest.raises(ConfigError, match="dim.npy"):
        BaronOpenVocabDetector(checkpoint=seeded_checkpoint, vocabulary=wrong_dim)
    # without class_names, unnamed rows get class_<i>
    det = BaronOpenVocabDetector(checkpoint=seeded_checkpoint, vocabulary=path)
    assert det.class_names == ("class_0", "class_1")


@pytest.mark.slow
def test_ovd_four_box_recipe_end_to_end(tmp_path, seeded_checkpoint):
    """``tools/infer.py configs/ovd_four_box.py`` with the checkpoint as a config value."""
    from regionkit.io.samples import write_sample_images

    images = tmp_path / "images"
    write_sample_images(images)
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "tools/infer.py", "configs/ovd_four_box.py", "--images", str(images),
                           "--out-dir", str(out), "-o", f"detector.checkpoint={seeded_checkpoint}"],
                          capture_output=True, text=True, cwd=REPO, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    four = json.loads((out / "four_box.json").read_text())
    objects = json.loads((out / "object_box.json").read_text())
    names = {p.name for p in images.iterdir()}
    assert {Path(entry["image"]).name for entry in four} == names == {Path(k).name for k in objects}
    for entry in four:  # Patch Matters' layout: the detections, four quadrant boxes and two halves
        assert len(entry["four_box"]) == 4 and len(entry["two_box"]) == 2
        assert len(entry["object_detect_box"]) > 0


def test_ovd_recipe_without_weights_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "tools/infer.py", "configs/ovd_four_box.py", "--images",
                           str(tmp_path), "--out-dir", str(tmp_path / "run"),
                           "-o", f"detector.checkpoint={tmp_path / 'absent.pth'}"],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "absent.pth" in lines[0] and "Traceback" not in proc.stderr, proc.stderr
