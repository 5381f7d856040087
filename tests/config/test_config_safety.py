"""Configs cannot reach arbitrary code: types resolve to registered components only, overrides only set values."""
from __future__ import annotations

import json
import textwrap

import pytest
from click.testing import CliRunner

from regionkit.config.loader import load_config
from regionkit.errors import ConfigError, RegionkitError
from regionkit.inference.job import check_infer_config, run_infer
from regionkit.registry import DETECTORS, allow_custom_imports
from tests.conftest import REPO

SALIENCY_CFG = REPO / "configs" / "saliency_four_box.py"


def _run(args: list[str]):
    from regionkit.cli.main import cli, expand_cfg_options

    return CliRunner().invoke(cli, expand_cfg_options(args))


def test_an_override_cannot_run_a_shell_command(sample_images, tmp_path):
    marker = tmp_path / "pwned"
    payload = f"detector={{'_delete_': True, 'type': 'os.system', 'command': 'touch {marker}'}}"
    result = _run(["infer", str(SALIENCY_CFG), "--images", str(sample_images), "--out-dir", str(tmp_path / "o"),
                   "-o", payload])
    assert result.exit_code == 2 and result.output.startswith("Error: ") and len(result.output.splitlines()) == 1
    assert "only set values" in result.output
    assert not marker.exists()
    # even without _delete_, a dotted type never imports code
    result = _run(["infer", str(SALIENCY_CFG), "--images", str(sample_images), "--out-dir", str(tmp_path / "o"),
                   "-o", "detector.type=os.system"])
    assert result.exit_code == 2 and "regionkit never imports other code a config names" in result.output
    assert not marker.exists()


@pytest.mark.parametrize("item", ["_base_=['x.py']", "custom_imports={'imports':['os']}", "detector._scope_='mmdet'",
                                  "writers.0={'_delete_': True, 'type': 'coco_results'}"])
def test_overrides_only_set_values(item):
    with pytest.raises(ConfigError, match="overrides only set values"):
        load_config(SALIENCY_CFG, [item])


def test_a_dotted_type_in_a_python_config_resolves_only_through_custom_imports(tmp_path, monkeypatch):
    pkg = tmp_path / "my_dets"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "dets.py").write_text(textwrap.dedent("""
        import numpy as np
        from regionkit import BaseDetector, Boxes

        class Empty(BaseDetector):
            def detect(self, images):
                return [Boxes.empty((im.shape[1], im.shape[0])) for im in images]
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(RegionkitError, match="custom_imports"):
        DETECTORS.build(dict(type="my_dets.dets.Empty"))
    with allow_custom_imports(["my_dets"]):
        assert type(DETECTORS.build(dict(type="my_dets.dets.Empty"))).__name__ == "Empty"
    cfg_path = tmp_path / "custom.py"
    cfg_path.write_text(f"_base_ = ['{SALIENCY_CFG}']\ncustom_imports = dict(imports=['my_dets.dets'])\n"
                        f"detector = dict(_delete_=True, type='my_dets.dets.Empty')\n")
    assert check_infer_config(load_config(cfg_path, ["dataset.root='.'"])) == []


def test_json_and_yaml_configs_cannot_run_code(tmp_path, sample_images):
    base = tmp_path / "base.py"
    base.write_text("raise SystemExit('code ran')\n")
    (tmp_path / "evil.json").write_text(json.dumps({"_base_": ["base.py"]}))
    with pytest.raises(ConfigError, match="not JSON or YAML"):
        load_config(tmp_path / "evil.json")
    (tmp_path / "imports.yaml").write_text("custom_imports:\n  imports: [os]\n")
    with pytest.raises(ConfigError, match="custom_imports would run code"):
        load_config(tmp_path / "imports.yaml")
    good = tmp_path / "good.yaml"
    good.write_text(textwrap.dedent("""
        dataset: {type: image_folder, root: null}
        detector: {type: saliency, max_regions: 2}
        selectors:
          - {type: patch_matters_score_filter, input: detections, output: kept}
        writers:
          - {type: patch_matters_object_box, boxes: kept}
    """))
    (summary,) = [r.summary for r in run_infer(good, images=sample_images, out_dir=tmp_path / "out", progress=False)]
    assert summary.ok and (tmp_path / "out" / "object_box.json").exists()


def test_a_python_config_that_calls_sys_exit_is_a_one_line_error(tmp_path):
    cfg = tmp_path / "exits.py"
    cfg.write_text("import sys\nsys.exit(3)\n")
    with pytest.raises(ConfigError, match=r"sys.exit\(3\)|SystemExit"):
        load_config(cfg)


def test_base_cycles_are_one_line_errors(tmp_path):
    (tmp_path / "a.py").write_text("_base_ = ['./b.py']\nx = 1\n")
    (tmp_path / "b.py").write_text("_base_ = ['./a.py']\ny = 2\n")
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "a.py")
    (tmp_path / "a.json").write_text(json.dumps({"_base_": ["b.json"], "x": 1}))
    (tmp_path / "b.json").write_text(json.dumps({"_base_": ["a.json"], "y": 2}))
    with pytest.raises(ConfigError, match="cycle"):
        load_config(tmp_path / "a.json")


def test_a_moved_config_path_suggests_where_it_went(tmp_path):
    group = tmp_path / "configs" / "group"
    group.mkdir(parents=True)
    (group / "recipe.py").write_text("x = 1\n")
    with pytest.raises(ConfigError, match=r"did you mean .*configs/group/recipe.py"):
        load_config(tmp_path / "configs" / "recipe.py")
