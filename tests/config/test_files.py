"""The files a config needs: found from WeightsFile declarations, listed by `regionkit check`, checked before infer."""
from __future__ import annotations

import json
from typing import Annotated

import numpy as np
import pytest
from click.testing import CliRunner

from regionkit.cli.main import cli
from regionkit.config.files import required_files
from regionkit.config.loader import load_config
from regionkit.params import PathText, WeightsFile, weights_marker

torch = pytest.importorskip("torch")


def test_marker_follows_the_union_member_the_value_fits():
    marker = WeightsFile("vocabulary file", "make one", format="npy", suffixes=(".npy",))
    annotation = Annotated[PathText, marker] | list[str] | None
    assert weights_marker(annotation, "v.npy") is marker
    assert weights_marker(annotation, "v.txt") is None  # not the marker's suffix
    assert weights_marker(annotation, ["cat", "dog"]) is None
    assert weights_marker(annotation, None) is None


def test_required_files_include_defaults_and_nested_detectors(tmp_path):
    cfg = load_config("regionkit::cirr_boxes_hybrid.py")
    (item,) = required_files(cfg)
    assert item.where == "detector.detectors[0].model" and item.marker.what == "YOLO weights"
    ovd = required_files(load_config("regionkit::ovd_four_box.py"))
    assert [i.where for i in ovd] == ["detector.checkpoint"]
    mine = tmp_path / "c.py"
    mine.write_text("_base_ = ['regionkit::ovd_four_box.py']\n"
                    "detector = dict(_delete_=True, type='baron', vocabulary='v.npy', text_encoder='clip.pth')\n")
    assert [(i.where, i.marker.format) for i in required_files(load_config(mine))] == [
        ("detector.checkpoint (default)", "torch"), ("detector.vocabulary", "npy"),
        ("detector.text_encoder", "torch")]
    names = mine.with_name("n.py")
    names.write_text("_base_ = ['regionkit::ovd_four_box.py']\ndetector = dict(vocabulary=['cat', 'dog'])\n")
    assert [i.where for i in required_files(load_config(names))] == ["detector.checkpoint"]
    assert required_files(load_config("regionkit::saliency_four_box.py")) == []
    yaml_model = required_files(load_config("regionkit::yolo_four_box.py", ["detector.model=yolo11n.yaml"]))
    assert yaml_model == []  # a model yaml is not a weights file


def test_check_command_lists_present_and_missing_files(tmp_path):
    ckpt = tmp_path / "baron.pth"
    torch.save({"state_dict": {}}, ckpt)
    vocab = tmp_path / "v.npy"
    np.save(vocab, np.zeros((2, 512), np.float32))
    runner = CliRunner()
    ok = runner.invoke(cli, ["check", "regionkit::ovd_four_box.py", "-o", f"detector.checkpoint={ckpt}",
                             "-o", f"detector.vocabulary={vocab}"])
    assert ok.exit_code == 0, ok.output
    assert "2 of 2 file(s) usable" in ok.output and "sha256 " in ok.output
    vocab.write_bytes(vocab.read_bytes()[:-8])
    bad = runner.invoke(cli, ["check", "regionkit::ovd_four_box.py", "--json", "-o", f"detector.checkpoint={ckpt}",
                              "-o", f"detector.vocabulary={vocab}"])
    assert bad.exit_code == 1
    rows = json.loads(bad.output)
    assert [r["ok"] for r in rows] == [True, False]
    assert "truncated" in rows[1]["problem"] and "regionkit vocab build" in rows[1]["problem"]
    none = runner.invoke(cli, ["check", "regionkit::saliency_four_box.py"])
    assert none.exit_code == 0 and "needs no local files" in none.output


def test_infer_checks_files_before_reading_any_image(tmp_path, sample_images):
    ckpt = tmp_path / "baron.pth"
    torch.save({"state_dict": {"x": torch.zeros(100)}}, ckpt)
    ckpt.write_bytes(ckpt.read_bytes()[:-40])  # an interrupted copy
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["infer", "regionkit::ovd_four_box.py", "--images", str(sample_images),
                                      "--out-dir", str(out), "-o", f"detector.checkpoint={ckpt}"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "BARON checkpoint" in lines[0] and "damaged or truncated" in lines[0], result.output
    assert not out.exists(), "nothing may be written before the files are checked"
    checked = CliRunner().invoke(cli, ["config", "check", "regionkit::ovd_four_box.py",
                                       "-o", f"detector.checkpoint={ckpt}"])
    assert checked.exit_code == 1 and "damaged or truncated" in checked.output
