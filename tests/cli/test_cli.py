"""The command line end to end: infer on real photographs, list, plugins, config show, errors."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

import regionkit
from regionkit.cli.main import cli, expand_cfg_options
from tests.conftest import REPO

SALIENCY_CFG = str(REPO / "configs" / "saliency_four_box.py")
REGIONKIT = shutil.which("regionkit", path=os.path.dirname(sys.executable))


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_infer_writes_both_patch_matters_files(sample_images, tmp_path):
    out = tmp_path / "out"
    result = invoke("infer", SALIENCY_CFG, "--images", str(sample_images), "--out-dir", str(out), "--no-progress")
    assert result.exit_code == 0, result.output
    assert f"Wrote {out / 'four_box.json'}" in result.output
    four = json.loads((out / "four_box.json").read_text())
    objects = json.loads((out / "object_box.json").read_text())
    names = sorted(p.name for p in sample_images.iterdir())
    assert [r["image"] for r in four] == [f"{sample_images.name}/{n}" for n in names]
    assert list(objects) == [os.path.join(str(sample_images), n) for n in names]
    for record in four:
        assert list(record) == ["image", "object_detect_box", "four_box", "two_box"]
        assert len(record["four_box"]) == 4 and len(record["two_box"]) == 2
    assert not (out / "failures.json").exists()


def test_infer_records_unreadable_images_and_exits_nonzero(sample_images, tmp_path):
    images = tmp_path / "imgs"
    shutil.copytree(sample_images, images)
    (images / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    (images / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["infer", SALIENCY_CFG, "--images", str(images), "--out-dir", str(out),
                                      "--no-progress"])
    assert result.exit_code == 1
    failures = json.loads((out / "failures.json").read_text())
    assert [f["image"] for f in failures] == [str(images / "broken.jpg")]
    assert failures[0]["stage"] == "load" and failures[0]["reason"]
    assert len(json.loads((out / "four_box.json").read_text())) == len(list(sample_images.iterdir()))
    assert "Skipped 1 non-image file" in result.output


def test_cfg_options_are_applied(sample_images, tmp_path):
    out = tmp_path / "out"
    result = invoke("infer", SALIENCY_CFG, "--images", str(sample_images), "--out-dir", str(out), "--no-progress",
                    "--cfg-options", "detector.max_regions=1", "--cfg-options", "writers.1.filename=objs.json")
    assert result.exit_code == 0, result.output
    objects = json.loads((out / "objs.json").read_text())
    assert all(len(v["bbox"]) == 1 for v in objects.values())


def test_mmengine_style_cfg_options_are_expanded():
    argv = ["infer", "c.py", "--cfg-options", "a=1", "b.c=[1,2]", "--no-progress"]
    assert expand_cfg_options(argv) == ["infer", "c.py", "--cfg-options", "a=1", "--cfg-options", "b.c=[1,2]",
                                        "--no-progress"]


@pytest.mark.parametrize("args, expected", [
    (["infer", str(REPO / "configs" / "ovd_four_box.py"), "--images", "."], "BARON checkpoint not found"),
    (["infer", SALIENCY_CFG, "--images", "/no/such/folder"], "image folder not found: /no/such/folder"),
    (["infer", "configs/missing.py"], "config file not found"),
    (["infer", SALIENCY_CFG, "-o", "detector.treshold=1"], "did you mean 'threshold'"),
    (["list", "detektors", "x"], "unknown kind 'detektors'"),
    (["-p", "no:not-installed", "list"], "unknown plugin 'not_installed'"),
])
def test_user_mistakes_end_in_one_line_errors(args, expected):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and expected in lines[0], result.output
    assert "Traceback" not in result.output


def test_list_shows_builtins_with_provider_and_summary():
    result = invoke("list", "detectors")
    assert result.exit_code == 0
    header, *rows = result.output.strip().splitlines()
    assert header.split()[:2] == ["NAME", "KIND"]
    saliency = next(r for r in rows if r.startswith("saliency "))
    assert f"regionkit {regionkit.__version__}" in saliency and "Spectral-residual" in saliency
    data = json.loads(invoke("list", "--json", "box_selectors", "*merge*").output)
    assert [d["name"] for d in data] == ["neighbor_rpn_merge"] and data[0]["distribution"] == "regionkit"
    assert "patch_matters_four_box" in invoke("list", "patch_matters*").output


def test_plugins_and_config_show():
    result = invoke("plugins")
    assert result.exit_code == 0 and "Plugin autoload: on" in result.output
    assert any(line.split()[:3] == ["regionkit", regionkit.__version__, "loaded"] for line in result.output.splitlines())
    shown = invoke("config", "show", SALIENCY_CFG, "-o", "detector.threshold=0.25")
    assert shown.exit_code == 0
    assert "threshold=0.25" in shown.output and "patch_matters_score_filter" in shown.output


def test_console_script_and_tools_script_share_the_code_path(sample_images, tmp_path):
    assert REGIONKIT, "the regionkit console script is not installed next to this Python"
    help_text = subprocess.run([REGIONKIT, "--help"], capture_output=True, text=True, check=True).stdout
    assert "infer" in help_text and "plugins" in help_text
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "infer.py"), SALIENCY_CFG, "--images",
                           str(sample_images), "--out-dir", str(out), "--cfg-options", "detector.max_regions=2",
                           "runtime.batch_size=3"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "infer" in proc.stderr  # the progress bar
    assert all(len(v["bbox"]) <= 2 for v in json.loads((out / "object_box.json").read_text()).values())


def test_version_names_the_plugin_api_and_the_main_dependencies():
    from importlib.metadata import version

    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    line = result.output.strip()
    assert line.startswith(f"regionkit {regionkit.__version__} (plugin API {regionkit.PLUGIN_API_VERSION};")
    assert f"torch {version('torch')}" in line and f"mmengine {version('mmengine')}" in line


def test_doctor_reports_environment_cuda_and_plugins():
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 0, result.output
    assert "Python: " in result.output and "CUDA" in result.output
    assert f"components from regionkit {regionkit.__version__}" in result.output


def test_shell_completion_completes_subcommands():
    env = {**os.environ, "_REGIONKIT_COMPLETE": "bash_complete", "COMP_WORDS": "regionkit con", "COMP_CWORD": "1"}
    out = subprocess.run([REGIONKIT], env=env, capture_output=True, text=True, timeout=60)
    assert "plain,config" in out.stdout.splitlines(), out.stdout
