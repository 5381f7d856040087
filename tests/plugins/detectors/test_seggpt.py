"""The ``seggpt`` detector plugin on a tiny random SegGPT: by name from configs, masks -> boxes, prompt selection,
the conformance kit, the mask writer, ``regionkit seggpt`` and the messages for wrong weights or prompts.

The model itself (conversion, ensemble, tiling) is tested in ``tests/models/seggpt``.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

pytest.importorskip("torch")
pytest.importorskip("transformers")

from regionkit.cli.main import cli, expand_cfg_options
from regionkit.errors import ConfigError
from tests.models.seggpt import support
from tests.models.seggpt.support import photo, write_prompt_folder

one_thread = support.one_thread  # fixtures
tiny_seggpt_dir = support.tiny_seggpt_dir

REPO = Path(__file__).resolve().parents[3]


def _build(**params):
    from regionkit.registry import DETECTORS

    return DETECTORS.build({"type": "seggpt", **params})


@pytest.fixture(scope="module")
def prompt_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("seggpt_prompts") / "prompts"
    write_prompt_folder(root, ("astronaut", "coffee", "chelsea"))
    return root


@pytest.fixture(scope="module")
def detector(tiny_seggpt_dir, prompt_dir):
    return _build(model=str(tiny_seggpt_dir), prompts=[str(prompt_dir / "images" / "coffee.png")])


def _oracle(det):
    """Make the network paint the query exactly as the (first) prompt mask: the decoding path becomes checkable."""
    calls = []

    def predict(queries, prompts, masks):
        calls.append(prompts.shape[1])
        return masks[:, 0].copy()

    det.segmenter.net.predict = predict
    return calls


def test_listing_and_importing_the_plugin_import_neither_torch_nor_transformers():
    code = textwrap.dedent("""
        import sys
        from regionkit.cli.main import main
        try:
            main(["list", "detectors"])
        except SystemExit as exc:
            assert not exc.code, exc.code
        from regionkit.plugins.detectors import seggpt, seggpt_masks
        bad = [m for m in ("torch", "transformers") if m in sys.modules]
        assert not bad, bad
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert "seggpt" in out.stdout and "SegGPT in-context segmentation" in out.stdout


def test_built_by_name_gives_scored_labelled_pixel_boxes(detector, one_thread):
    image = photo("chelsea")
    (boxes,) = detector.detect([image])
    h, w = image.shape[:2]
    assert boxes.image_size == (w, h) and len(boxes) > 0
    assert np.all(np.diff(boxes.scores) <= 0) and boxes.scores.min() >= 0 and boxes.scores.max() <= 1
    assert set(boxes.labels.tolist()) == {1} and set(boxes.label_names) == {"foreground"}
    assert boxes.xyxy.min() >= 0 and boxes.xyxy[:, 2].max() <= w and boxes.xyxy[:, 3].max() <= h
    (seg,) = detector.segment([image])
    assert seg.class_map.shape == (h, w) and seg.prompts == ("coffee.png",)


def test_conformance_kit_passes(detector, one_thread):
    from regionkit.testing import check_detector

    check_detector(detector, label="detector 'seggpt'")


def test_masks_become_the_prompts_components_at_the_query_size(tiny_seggpt_dir, tmp_path, one_thread):
    """With the network painting the prompt mask, boxes are the prompt's rectangles rescaled: decode, resize, label."""
    image = photo("coffee")[:320, :320]
    ids = np.zeros((320, 320), np.uint8)
    ids[40:120, 40:160] = 1     # 16 x 16 model grid: rows 2..6, cols 2..8
    ids[200:300, 220:300] = 2   # rows 10..15, cols 11..15
    Image.fromarray(image).save(tmp_path / "p.png")
    Image.fromarray(ids).save(tmp_path / "p_mask.png")
    det = _build(model=str(tiny_seggpt_dir), prompts=[str(tmp_path / "p.png")], class_names=["scratch", "dent"],
                 keep_masks=False)
    calls = _oracle(det)
    (boxes,) = det.detect([np.zeros((160, 80, 3), np.uint8)])  # query 80 wide, 160 high
    assert calls == [1]
    got = sorted(zip(boxes.labels.tolist(), boxes.label_names, boxes.xyxy.tolist()))
    assert got == [(1, "scratch", [10.0, 20.0, 40.0, 60.0]), (2, "dent", [55.0, 100.0, 75.0, 150.0])]
    np.testing.assert_allclose(boxes.scores, 1.0, atol=1e-5)  # exact palette colours: full margin


def test_mapping_selection_uses_top_k_prompts_per_query(tiny_seggpt_dir, prompt_dir, tmp_path, one_thread):
    queries = tmp_path / "queries"
    queries.mkdir()
    a, b = photo("chelsea")[::4, ::4], photo("astronaut")[::4, ::4]
    Image.fromarray(a).save(queries / "a.png")
    Image.fromarray(b).save(queries / "b.png")
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"a.png": ["chelsea.png", "coffee.png", "astronaut.png"], "b.png": ["coffee.png"]}))
    det = _build(model=str(tiny_seggpt_dir), prompt_dir=str(prompt_dir), select="mapping", mapping=str(mapping),
                 top_k=2, query_root=str(queries))
    calls = _oracle(det)
    seg_a, seg_b = det.segment([a, b])
    assert seg_a.prompts == ("chelsea.png", "coffee.png") and seg_b.prompts == ("coffee.png",)
    assert calls == [2, 1]
    with pytest.raises(ConfigError, match="needs detector.mapping"):
        _build(model=str(tiny_seggpt_dir), prompt_dir=str(prompt_dir), select="mapping")


def test_similarity_selection_writes_a_reusable_mapping(tiny_seggpt_dir, prompt_dir, tmp_path, one_thread):
    queries = tmp_path / "q"
    queries.mkdir()
    query = photo("astronaut")[::2, ::2]
    Image.fromarray(query).save(queries / "man.png")
    out = tmp_path / "chosen.json"
    det = _build(model=str(tiny_seggpt_dir), prompt_dir=str(prompt_dir), select="similarity", top_k=1,
                 encoder="thumbnail", query_root=str(queries), mapping_out=str(out))
    (seg,) = det.segment([query])
    det.segmenter.selection.flush()
    assert seg.prompts == ("astronaut.png",)
    assert json.loads(out.read_text()) == {"man.png": ["astronaut.png"]}
    again = _build(model=str(tiny_seggpt_dir), prompt_dir=str(prompt_dir), select="mapping", mapping=str(out),
                   query_root=str(queries))
    assert again.segment([query])[0].prompts == seg.prompts


@pytest.mark.parametrize("model, needle", [
    ("missing/seggpt_vit_large.pth", "SegGPT weights not found: missing/seggpt_vit_large.pth"),
    ("https://huggingface.co/BAAI/SegGPT/resolve/main/seggpt_vit_large.pth", "must be a local path"),
])
def test_weights_by_local_path_only(model, needle, prompt_dir):
    with pytest.raises(ConfigError, match=needle) as info:
        _build(model=model, prompts=[str(prompt_dir / "images" / "coffee.png")])
    assert "\n" not in str(info.value) and "never downloads" in str(info.value)


def test_wrong_folders_and_prompts_are_one_line(tmp_path, tiny_seggpt_dir, prompt_dir):
    (tmp_path / "empty").mkdir()
    cases = [
        (dict(model=str(tmp_path / "empty"), prompts=[str(prompt_dir / "images" / "coffee.png")]), "no config.json"),
        (dict(model=str(tiny_seggpt_dir)), "no prompts"),
        (dict(model=str(tiny_seggpt_dir), prompts=[str(prompt_dir / "images" / "coffee.png")],
              class_names=["a", "b"], mask_mode="index", palette=[[0, 0, 0]]), "palette"),
        (dict(model=str(tiny_seggpt_dir), prompts=[str(tmp_path / "nope.png")]), "prompt image not found"),
        (dict(model=str(tiny_seggpt_dir), prompts=[str(prompt_dir / "images" / "coffee.png")], device="cuda:7"),
         "cuda"),
    ]
    for params, needle in cases:
        with pytest.raises(ConfigError, match=needle) as info:
            _build(**params)
        assert "\n" not in str(info.value), params


def _run(args):
    return CliRunner().invoke(cli, expand_cfg_options(args))


def test_infer_recipe_writes_boxes_and_mask_pngs(tiny_seggpt_dir, prompt_dir, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for name in ("rocket", "chelsea"):
        Image.fromarray(photo(name)[::4, ::4]).save(images / f"{name}.png")
    out = tmp_path / "run"
    prompt = str(prompt_dir / "images" / "coffee.png")
    result = _run(["infer", str(REPO / "configs" / "seggpt_four_box.py"), "--images", str(images), "--out-dir",
                   str(out), "--no-progress", "-o", f"detector.model={str(tiny_seggpt_dir)!r}",
                   "-o", f"detector.prompts=[{prompt!r}]", "-o", "runtime.num_workers=0"])
    assert result.exit_code == 0, result.output
    index = json.loads((out / "masks" / "index.json").read_text())
    assert [r["image"] for r in index] == ["chelsea.png", "rocket.png"]
    for record in index:
        mask = np.asarray(Image.open(out / record["mask"]))
        image = np.asarray(Image.open(images / record["image"]))
        assert mask.shape == image.shape[:2] and set(np.unique(mask)) <= {0, 1}
        assert record["classes"].get("foreground", 0) == int((mask == 1).sum())
    four = json.loads((out / "four_box.json").read_text())
    assert len(four) == 2


def test_seggpt_convert_and_mapping_commands(tmp_path, prompt_dir, one_thread):
    import torch

    from regionkit.models.segmentation.seggpt.convert import transformers_to_painter
    from tests.models.seggpt.support import tiny_model

    net = tiny_model(seed=7)
    torch.save({"model": transformers_to_painter(net.state_dict())}, tmp_path / "seggpt_vit_large.pth")
    result = _run(["seggpt", "convert", str(tmp_path / "seggpt_vit_large.pth"), str(tmp_path / "hf"),
                   "--merge-index", "1", "--feature-indices", "1,2,3"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "hf" / "config.json").is_file() and (tmp_path / "hf" / "model.safetensors").is_file()
    bad = _run(["seggpt", "convert", str(tmp_path / "seggpt_vit_large.pth"), str(tmp_path / "hf2")])
    assert bad.exit_code != 0 and "merge_index" in bad.output and "Traceback" not in bad.output
    queries = tmp_path / "queries"
    queries.mkdir()
    Image.fromarray(photo("coffee")[::3, ::3]).save(queries / "cup.png")
    result = _run(["seggpt", "mapping", "--queries", str(queries), "--prompt-dir", str(prompt_dir), "--encoder",
                   "thumbnail", "--top-k", "2", "--out", str(tmp_path / "m.json")])
    assert result.exit_code == 0, result.output
    mapping = json.loads((tmp_path / "m.json").read_text())
    assert list(mapping) == ["cup.png"] and mapping["cup.png"][0] == "coffee.png" and len(mapping["cup.png"]) == 2
