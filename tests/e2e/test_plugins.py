"""Third-party plugins for real: a pip-installed distribution, and pluggy lifecycle hooks."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from regionkit.discovery import get_index
from regionkit.inference.job import run_infer
from tests.conftest import REPO

SALIENCY_CFG = REPO / "configs" / "saliency_four_box.py"
REGIONKIT = shutil.which("regionkit", path=os.path.dirname(sys.executable))


@pytest.fixture(scope="session")
def pip_installed_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip install`` tests/plugin_dists/rk_sample_plugin into a private folder; return that folder."""
    work = tmp_path_factory.mktemp("pip_plugin")
    src = work / "src"
    shutil.copytree(REPO / "tests" / "plugin_dists" / "rk_sample_plugin", src)
    site = work / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(site), str(src)], check=True, capture_output=True)
    assert list(site.glob("rk_sample_plugin-0.3.0.dist-info/entry_points.txt"))
    return site


def _run(site: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("REGIONKIT_DISABLE_PLUGIN_AUTOLOAD", None)
    return subprocess.run([REGIONKIT, *args], capture_output=True, text=True, env=env, cwd=cwd)


def test_pip_installed_plugin_is_listed_and_usable_from_a_config(pip_installed_plugin, sample_images, tmp_path):
    listed = _run(pip_installed_plugin, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    by_name = {d["name"]: d for d in json.loads(listed.stdout)}
    assert by_name["center_box"]["distribution"] == "rk-sample-plugin"
    assert by_name["center_box"]["version"] == "0.3.0"
    assert by_name["center_box"]["summary"].startswith("One box covering the central")
    assert by_name["largest_only"]["kind"] == "box_selectors"

    config = tmp_path / "center.py"
    config.write_text(f"_base_ = [{str(REPO / 'configs' / '_base_' / 'patch_matters_divide.py')!r}]\n"
                      "detector = dict(type='center_box', fraction=0.5)\n")
    out = tmp_path / "out"
    run = _run(pip_installed_plugin, "infer", str(config), "--images", str(sample_images), "--out-dir", str(out),
               "--no-progress")
    assert run.returncode == 0, run.stderr
    objects = json.loads((out / "object_box.json").read_text())
    astronaut = objects[os.path.join(str(sample_images), "astronaut.png")]  # 512 x 512
    assert astronaut["bbox"] == [[128.0, 128.0, 384.0, 384.0]] and astronaut["name"] == ["center"]

    off = _run(pip_installed_plugin, "--no-plugins", "list", "detectors")
    assert "center_box" not in off.stdout and "saliency" in off.stdout
    enabled = _run(pip_installed_plugin, "--no-plugins", "-p", "rk-sample-plugin", "list", "detectors")
    assert "center_box" in enabled.stdout
    plugins = _run(pip_installed_plugin, "plugins")
    assert any(line.split()[:3] == ["rk-sample-plugin", "0.3.0", "loaded"] for line in plugins.stdout.splitlines())


AUDIT_PLUGIN = '''
"""A lifecycle plugin that observes and changes results."""
import json
from regionkit import hookimpl

EVENTS = []


@hookimpl
def regionkit_run_start(run):
    EVENTS.append(("start", run.num_images))


@hookimpl
def regionkit_after_detections(result):
    result.detections = result.detections[:1]   # keep only the best detection


@hookimpl
def regionkit_before_write(writer, record):
    if writer == "patch_matters_object_box":
        record["audited"] = True


@hookimpl
def regionkit_run_end(run, summary):
    EVENTS.append(("end", summary.num_ok))
'''

TYPO_PLUGIN = '''
from regionkit import hookimpl


@hookimpl
def regionkit_after_detection(result):   # typo: the hook is regionkit_after_detections
    raise AssertionError("must never be called")
'''


def test_lifecycle_plugins_observe_and_change_results(plugin_site, sample_images, tmp_path):
    plugin_site("rk-audit", "1.0", {"regionkit.lifecycle": ["audit = rk_audit_mod"]}, {"rk_audit_mod.py": AUDIT_PLUGIN})
    plugin_site("rk-typo", "1.0", {"regionkit.lifecycle": ["typo = rk_typo_mod"]}, {"rk_typo_mod.py": TYPO_PLUGIN})
    (run,) = run_infer(SALIENCY_CFG, images=sample_images, out_dir=tmp_path / "out", progress=False)
    summary = run.summary
    assert summary.ok
    import rk_audit_mod

    n = len(list(sample_images.iterdir()))
    assert [("start", n), ("end", n)] == rk_audit_mod.EVENTS
    objects = json.loads((tmp_path / "out" / "object_box.json").read_text())
    assert all(rec["audited"] is True and len(rec["bbox"]) == 1 for rec in objects.values())
    problems = "\n".join(get_index().problems())
    assert "implements unknown hook 'regionkit_after_detection' (did you mean 'regionkit_after_detections'?)" \
        in problems


def test_lifecycle_plugin_that_fails_to_import_does_not_stop_the_run(plugin_site, sample_images, tmp_path):
    plugin_site("rk-crash", "1.0", {"regionkit.lifecycle": ["crash = rk_crash_mod"]},
                {"rk_crash_mod.py": "raise RuntimeError('boom at import')\n"})
    (run,) = run_infer(SALIENCY_CFG, images=sample_images, out_dir=tmp_path / "out", progress=False)
    summary = run.summary
    assert summary.ok and (tmp_path / "out" / "four_box.json").exists()
    assert any("rk-crash 1.0" in p and "boom at import" in p for p in get_index().problems())
