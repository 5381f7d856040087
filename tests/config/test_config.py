"""Configs: _base_ inheritance, --cfg-options overrides, and the errors users see."""
from __future__ import annotations

import pytest

from regionkit.config.loader import load_config, parse_overrides, parse_value
from regionkit.errors import ConfigError
from regionkit.inference.job import build_runner
from tests.conftest import REPO

SALIENCY_CFG = REPO / "configs" / "saliency_four_box.py"


def test_base_inheritance_and_overrides():
    cfg = load_config(SALIENCY_CFG, ["detector.threshold=0.4", "runtime.batch_size=2",
                                     "selectors.1.variant=clean"])
    assert cfg.detector.type == "saliency" and cfg.detector.threshold == 0.4
    assert cfg.runtime.batch_size == 2
    assert [s["output"] for s in cfg.selectors] == ["kept", "merged", "four_box", "two_box"]  # from _base_
    assert cfg.selectors[1]["variant"] == "clean"


def test_values_are_parsed_as_literals_never_evaluated():
    assert parse_value("0.5") == 0.5 and parse_value("[1, 2]") == [1, 2] and parse_value("(1,2)") == (1, 2)
    assert parse_value("true") is True and parse_value("None") is None
    assert parse_value("__import__('os').getcwd()") == "__import__('os').getcwd()"
    assert parse_value("some/path") == "some/path"
    assert parse_value("[dict(type='LinearLR', end=20), {'a': (1, -2.5)}]") == [{"type": "LinearLR", "end": 20},
                                                                                 {"a": (1, -2.5)}]
    for structure in ("[dict(**x)]", "[os.system('ls')]", "[1,", "dict(1)", "{'a': open('f')}"):
        with pytest.raises(ConfigError, match="not a literal"):
            parse_value(structure)
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_overrides(["detector.threshold"])


def test_override_of_a_missing_top_level_key_suggests_the_right_one():
    with pytest.raises(ConfigError, match=r"no top-level key 'detectr' \(did you mean 'detector'\?\)"):
        load_config(SALIENCY_CFG, ["detectr.threshold=0.4"])


def test_missing_and_broken_config_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.py")
    bad = tmp_path / "bad.py"
    bad.write_text("detector = dict(type='saliency'\n")
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(bad)


def test_wrong_parameter_names_the_component_and_accepted_parameters(tmp_path):
    cfg = load_config(SALIENCY_CFG, [f"dataset.root='{tmp_path}'", "selectors.1.iou_treshold=0.5"])
    with pytest.raises(ConfigError) as err:
        build_runner(cfg, progress=False)
    msg = str(err.value)
    assert "box selector 'neighbor_rpn_merge' got unknown parameter 'iou_treshold'" in msg
    assert "did you mean 'iou_threshold'" in msg and "variant='original'" in msg


def test_bad_parameter_value_and_bad_wiring_are_config_errors(tmp_path):
    cfg = load_config(SALIENCY_CFG, [f"dataset.root='{tmp_path}'", "detector.threshold=3"])
    with pytest.raises(ConfigError, match="detector 'saliency': threshold"):
        build_runner(cfg, progress=False)
    cfg = load_config(SALIENCY_CFG, [f"dataset.root='{tmp_path}'", "writers.1.boxes='nothing'"])
    with pytest.raises(ConfigError, match="writer 'patch_matters_object_box' needs region set"):
        build_runner(cfg, progress=False)
    cfg = load_config(SALIENCY_CFG, [f"dataset.root='{tmp_path}'", "runtime.batchsize=3"])
    with pytest.raises(ConfigError, match="did you mean 'batch_size'"):
        build_runner(cfg, progress=False)
