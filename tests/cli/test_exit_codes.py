"""The documented exit codes, Ctrl-C, one-line errors for command-line mistakes, and what a run reports it left out."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from regionkit.cli.main import cli, expand_cfg_options
from tests.conftest import REPO

SALIENCY_CFG = REPO / "configs" / "saliency_four_box.py"
REGIONKIT = shutil.which("regionkit", path=os.path.dirname(sys.executable))


def _run(*args: str):
    return CliRunner().invoke(cli, expand_cfg_options(list(args)))


@pytest.mark.parametrize("args, words", [
    (["--resume", "--overwrite"], "either --resume"),
    (["--out-dir", ""], "--out-dir must name a folder"),
    (["--split", "a/b"], "--split must be a split name"),
    (["--max-images", "0"], "--max-images must be at least 1"),
    (["-o", "runtime.num_workers=100000"], "num_workers must be in [0,"),
    (["-o", "runtime.batch_size=2.5"], "batch_size must be an integer"),
    (["-o", "runtime.seed='x'"], "seed must be an integer"),
    (["-o", "runtime=5"], "'runtime' must be a dict"),
    (["-o", "detector='saliency'"], "'detector' must be a dict"),
    (["-o", "writers.0=1"], "--cfg-options writers.0=1: cannot set it"),
    (["-o", "dataset.recursive='False'"], "recursive must be True or False"),
    (["-o", "dataset.extensions=[1, 2]"], "extensions item 0 (1) must be a string"),
    (["-o", "detector.resize_width=1000000000000000000000000000000"], "resize_width must be an integer in [8, 1024]"),
])
def test_command_line_mistakes_are_one_line_errors_with_exit_code_2(sample_images, tmp_path, args, words):
    base = ["infer", str(SALIENCY_CFG), "--images", str(sample_images), "--no-progress"]
    if "--out-dir" not in args:
        base += ["--out-dir", str(tmp_path / "out")]
    result = _run(*base, *args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and words in lines[0], result.output


def test_a_trailing_cfg_options_flag_is_not_ignored(sample_images, tmp_path):
    result = _run("infer", str(SALIENCY_CFG), "--images", str(sample_images), "--out-dir", str(tmp_path / "o"), "-o")
    assert result.exit_code == 2 and "requires an argument" in result.output


def test_config_check_lists_every_problem_at_once(tmp_path):
    cfg = tmp_path / "broken.py"
    cfg.write_text(f"_base_ = ['{SALIENCY_CFG}']\n"
                   "detector = dict(threshold=3, max_regions='many', colour='red')\n"
                   "selectors = [dict(type='patch_matters_score_filter', output='kept', threshold=2),\n"
                   "             dict(type='neighbour_merge', input='kept', output='merged')]\n"
                   "writers = [dict(type='patch_matters_object_box', boxes='nowhere', filename='failures.json')]\n"
                   "runtime = dict(batch_size=0, workers=2)\n")
    result = _run("config", "check", str(cfg))
    assert result.exit_code == 1
    out = result.output
    assert "runtime: runtime got unknown parameter 'workers' (did you mean 'num_workers'?)" in out
    for words in ("detector: detector 'saliency' got unknown parameter 'colour'",
                  "selectors[1]: unknown box selector 'neighbour_merge' (did you mean 'neighbor_rpn_merge'?)",
                  "selectors[0]: box selector 'patch_matters_score_filter': threshold must be in [0, 1]",
                  "writers[0]: writer 'patch_matters_object_box'"):
        assert words in out, out
    cfg.write_text(cfg.read_text().replace("runtime = dict(batch_size=0, workers=2)", "runtime = dict(batch_size=0)"))
    assert "runtime: batch_size must be in [1, 4096], got 0" in _run("config", "check", str(cfg)).output
    assert "Traceback" not in out
    ok = _run("config", "check", str(SALIENCY_CFG))
    assert ok.exit_code == 0 and ok.output.strip().endswith(": OK")


def test_nested_components_are_checked_too(tmp_path):
    cfg = tmp_path / "hybrid.py"
    cfg.write_text(f"_base_ = ['{SALIENCY_CFG}']\n"
                   "detector = dict(_delete_=True, type='hybrid', detectors=[dict(type='saliency'), "
                   "dict(type='salincy'), dict(type='saliency', max_regions=0)])\n")
    out = _run("config", "check", str(cfg)).output
    assert "detector.detectors[1]: unknown detector 'salincy' (did you mean 'saliency'?)" in out
    assert "detector.detectors[2]: detector 'saliency': max_regions must be in [1, 1000], got 0" in out


def test_a_run_reports_every_entry_it_left_out_and_why(tmp_path, sample_images, monkeypatch):
    images = tmp_path / "images"
    shutil.copytree(sample_images, images)
    (images / "notes.txt").write_text("x")
    (images / "gone.png").symlink_to(tmp_path / "missing.png")
    (images / "loop.png").symlink_to(images / "loop.png")
    sub = images / "sub"
    sub.mkdir()
    real_listdir = os.listdir

    def listdir(path):
        if str(path).endswith("sub"):
            raise PermissionError(13, "Permission denied")
        return real_listdir(path)

    monkeypatch.setattr(os, "listdir", listdir)
    result = _run("infer", str(SALIENCY_CFG), "--images", str(images), "--out-dir", str(tmp_path / "out"),
                  "--no-progress", "-o", "dataset.recursive=True")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Skipped 1 non-image file(s) in the folder" in out and "notes.txt" in out
    assert "broken symbolic link (gone.png)" in out
    assert "symbolic link that loops (loop.png)" in out
    assert "folder cannot be read: Permission denied (sub)" in out


def test_ctrl_c_exits_130_without_tracebacks_and_resumes(sample_images, tmp_path):
    big = tmp_path / "many"
    big.mkdir()
    for i in range(250):  # enough images that the run is still going when the signal comes, on a quiet machine too
        for f in sample_images.iterdir():
            os.link(f, big / f"{i:03d}_{f.name}")
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([REGIONKIT, "infer", str(SALIENCY_CFG), "--images", str(big), "--out-dir", str(out),
                             "--no-progress", "-o", "runtime.num_workers=2", "runtime.batch_size=1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    journal = out / "journal.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and (not journal.exists() or len(journal.read_text().splitlines()) < 6):
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, (stdout, stderr)
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert "rerun the same command with --resume" in stderr
    resumed = subprocess.run([REGIONKIT, "infer", str(SALIENCY_CFG), "--images", str(big), "--out-dir", str(out),
                              "--no-progress", "--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "already done" in resumed.stdout
