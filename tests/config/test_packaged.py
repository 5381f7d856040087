"""Configs shipped inside packages: ``regionkit::NAME`` as the config to run and in ``_base_`` lists."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from regionkit.cli.main import cli
from regionkit.config.loader import load_config
from regionkit.config.packaged import packaged_configs, resolve_packaged
from regionkit.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_packaged_name_is_the_same_file_as_the_clone_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no configs/ folder here
    packaged = load_config("regionkit::saliency_four_box.py")
    from_clone = load_config(REPO / "configs" / "saliency_four_box.py")
    assert packaged.to_dict() == from_clone.to_dict()
    assert resolve_packaged("regionkit::box_generation/ovd_four_box.py").samefile(
        REPO / "configs" / "box_generation" / "ovd_four_box.py")


def test_own_config_inherits_a_packaged_base(tmp_path):
    from mmengine.config import Config

    original = Config.__dict__["_get_cfg_path"]
    mine = tmp_path / "mine.py"
    mine.write_text("_base_ = ['regionkit::_base_/patch_matters_divide.py']\n"
                    "detector = dict(type='saliency', threshold=0.4)\n")
    cfg = load_config(mine)
    base = load_config(REPO / "configs" / "_base_" / "patch_matters_divide.py")
    assert cfg.detector == {"type": "saliency", "threshold": 0.4}
    assert cfg.selectors == base.selectors and cfg.writers == base.writers
    assert "_scope_" not in json.dumps(cfg.to_dict())
    assert Config.__dict__["_get_cfg_path"] is original, "mmengine's resolver must be restored after loading"


def test_a_plugin_package_can_ship_recipes(tmp_path, monkeypatch):
    pkg = tmp_path / "site" / "my_boxes"
    (pkg / "configs").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise RuntimeError('finding configs must not import the package')\n")
    (pkg / "configs" / "edges.py").write_text("# Edge boxes for my lab.\n"
                                              "_base_ = ['regionkit::saliency_four_box.py']\n"
                                              "detector = dict(threshold=0.7)\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    cfg = load_config("my_boxes::edges.py")
    assert cfg.detector.type == "saliency" and cfg.detector.threshold == 0.7
    listed = [(c.name, c.summary) for c in packaged_configs("my_boxes")]
    assert listed == [("my_boxes::edges.py", "Edge boxes for my lab.")]
    assert "my_boxes" not in sys.modules


def test_config_list_shows_each_recipe_once_and_every_one_loads():
    result = CliRunner().invoke(cli, ["config", "list"])
    assert result.exit_code == 0, result.output
    rows = [line.split(None, 1) for line in result.output.strip().splitlines()]
    names = [r[0] for r in rows]
    assert len(names) == len(set(names))
    top_level = sorted(f"regionkit::{p.name}" for p in (REPO / "configs").glob("*.py"))
    training = sorted(f"regionkit::training/{p.name}" for p in (REPO / "configs" / "training").glob("*.py"))
    assert training, "the training recipes are listed too"
    # box-generation files are listed by their short alias only; training recipes by their path
    assert names == sorted(top_level + training)
    assert all(len(r) == 2 and r[1].strip() for r in rows), "every recipe needs a one-line summary"
    assert all(r[1].rstrip()[-1] in ".)" for r in rows), "summaries are whole sentences"
    for name in names:
        cfg = load_config(name)
        needed = {"model", "train_dataloader", "optim_wrapper"} if "::training/" in name else \
            {"dataset", "detector", "writers"}
        assert needed <= set(cfg.keys()), name


@pytest.mark.parametrize("name, needle", [
    ("regionkit::salency_four_box.py", "did you mean 'saliency_four_box.py'"),
    ("not_installed_pkg::x.py", "package 'not_installed_pkg' is not installed"),
    ("regionkit::../cli/main.py", "points outside regionkit's configs folder"),
    ("regionkit::a::b.py", "more than one '::'"),
    ("regionkit::", "names no file"),
    ("click::x.py", "ships no configs"),
])
def test_bad_packaged_names_are_one_line_errors(name, needle):
    with pytest.raises(ConfigError) as info:
        load_config(name)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_missing_packaged_base_names_the_file_and_what_is_there(tmp_path):
    cfg = tmp_path / "c.py"
    cfg.write_text("_base_ = ['regionkit::_base_/patch_matters.py']\n")
    with pytest.raises(ConfigError, match=r"c\.py: _base_ no config '_base_/patch_matters.py'.*"
                                          r"_base_/patch_matters_divide\.py"):
        load_config(cfg)


def test_data_config_cannot_reach_a_packaged_python_base(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"_base_": ["regionkit::saliency_four_box.py"]}))
    with pytest.raises(ConfigError, match="is not JSON or YAML"):
        load_config(cfg)


def test_infer_runs_a_packaged_recipe_from_any_folder(tmp_path, monkeypatch, sample_images):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["infer", "regionkit::saliency_four_box.py", "--images", str(sample_images),
                                      "--no-progress"])
    assert result.exit_code == 0, result.output
    four = json.loads((tmp_path / "work_dirs" / "saliency_four_box" / "four_box.json").read_text())
    assert len(four) == len(list(Path(sample_images).iterdir()))


@pytest.mark.slow
def test_the_wheel_ships_the_package_and_its_recipes(tmp_path, sample_images):
    """Build the wheel, install it alone into a folder, and run a recipe from an empty folder with it."""
    started = time.time()
    wheels = tmp_path / "wheels"
    # everything setuptools writes goes to tmp_path: a regionkit.egg-info left in the checkout
    # would shadow the installed metadata (entry points) for any process started there
    subprocess.run([sys.executable, "setup.py", "-q", "egg_info", "--egg-base", str(tmp_path), "build",
                    "--build-base", str(tmp_path / "build"), "bdist_wheel", "--bdist-dir", str(tmp_path / "bdist"),
                    "-d", str(wheels)],
                   cwd=REPO, check=True, capture_output=True, timeout=600)
    (wheel,) = wheels.glob("regionkit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = {p.relative_to(REPO).as_posix() for p in (REPO / "regionkit").rglob("*.py")
               if "__pycache__" not in p.parts}
    assert sources - names == set(), "modules missing from the wheel (a folder without __init__.py?)"
    assert "regionkit/configs/_base_/patch_matters_divide.py" in names
    assert "regionkit/analysis/report_template.html" in names
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                    str(wheel)], check=True, capture_output=True, timeout=600)
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    # the editable install of this checkout must not fill in what the wheel lacks: every regionkit
    # module the command imported has to come from the installed wheel
    code = ("import atexit, sys\n"
            "def only_wheel():\n"
            f"    bad = [n for n, m in list(sys.modules.items()) if n.startswith('regionkit') and "
            f"not str(getattr(m, '__file__', None) or {str(target)!r}).startswith({str(target)!r})]\n"
            "    if bad: print('NOT FROM THE WHEEL:', bad, file=sys.stderr); sys.stderr.flush()\n"
            "atexit.register(only_wheel)\n"
            "from regionkit.cli.main import main\n"
            "sys.argv[0] = 'regionkit'\n"
            "main()\n")
    listed = subprocess.run([sys.executable, "-c", code, "config", "list"], cwd=empty, env=env,
                            capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0 and "regionkit::ovd_four_box.py" in listed.stdout, listed.stderr
    assert "NOT FROM THE WHEEL" not in listed.stderr, listed.stderr
    run = subprocess.run([sys.executable, "-c", code, "infer", "regionkit::saliency_four_box.py", "--images",
                          str(sample_images), "--no-progress"], cwd=empty, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "NOT FROM THE WHEEL" not in run.stderr, run.stderr[-2000:]
    assert (empty / "work_dirs" / "saliency_four_box" / "four_box.json").is_file()
    assert not (REPO / "regionkit.egg-info").exists() or (REPO / "regionkit.egg-info").stat().st_mtime < started
