"""The runner: journal and resume (byte-identical outputs), workers, and every kind of bad input."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from regionkit.cli.main import cli
from regionkit.inference.job import run_infer
from regionkit.inference.journal import JOURNAL_FILE, Journal
from regionkit.inference.runner import RunStateError
from tests.conftest import REPO

SALIENCY_CFG = REPO / "configs" / "saliency_four_box.py"
REGIONKIT = shutil.which("regionkit", path=os.path.dirname(sys.executable))
OUTPUTS = ("four_box.json", "object_box.json")

KILLER = '''
import os, signal
from regionkit import hookimpl

@hookimpl
def regionkit_after_detections(result):
    if result.rel_path == os.environ["RK_KILL_AT"]:
        os.kill(os.getpid(), signal.SIGKILL)   # a real, unannounced kill mid-run
'''


def _infer(images: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([REGIONKIT, "infer", str(SALIENCY_CFG), "--images", str(images), "--out-dir", str(out),
                           "--no-progress", *extra], capture_output=True, text=True)


def test_killed_run_resumes_to_byte_identical_files(sample_images, tmp_path):
    reference = tmp_path / "reference"
    assert _infer(sample_images, reference, "-o", "runtime.batch_size=1").returncode == 0

    site = tmp_path / "site"
    from tests.conftest import write_distribution
    write_distribution(site, "rk-killer", "1.0", {"regionkit.lifecycle": ["killer = rk_killer_mod"]},
                       {"rk_killer_mod.py": KILLER})
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(site), "RK_KILL_AT": "coffee.png"}
    killed = subprocess.run([REGIONKIT, "infer", str(SALIENCY_CFG), "--images", str(sample_images), "--out-dir",
                             str(out), "--no-progress", "-o", "runtime.batch_size=1"], env=env,
                            capture_output=True, text=True)
    assert killed.returncode == -9
    assert not (out / "four_box.json").exists()
    state = Journal.inspect(out / JOURNAL_FILE)
    assert state is not None and not state.finished and state.num_ok == 3  # astronaut, camera, chelsea

    refused = _infer(sample_images, out)
    assert refused.returncode == 2 and "pass --resume" in refused.stderr
    resumed = _infer(sample_images, out, "--resume", "-o", "runtime.batch_size=4")  # speed options may change
    assert resumed.returncode == 0, resumed.stderr
    assert "(3 already done)" in resumed.stdout
    for name in OUTPUTS:
        assert (out / name).read_bytes() == (reference / name).read_bytes()


def test_torn_journal_line_is_cut_and_resume_completes(sample_images, tmp_path):
    out = tmp_path / "out"
    (run,) = run_infer(SALIENCY_CFG, images=sample_images, out_dir=out, progress=False, max_images=2)
    reference = {name: (out / name).read_bytes() for name in OUTPUTS}
    journal = out / JOURNAL_FILE
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join(lines[:2]) + lines[2][:25])  # header, first image, half of the second
    (run,) = run_infer(SALIENCY_CFG, images=sample_images, out_dir=out, progress=False, max_images=2, resume=True)
    assert run.summary.num_resumed == 1 and run.summary.num_ok == 2
    assert {name: (out / name).read_bytes() for name in OUTPUTS} == reference


def test_resume_with_a_different_config_is_refused(sample_images, tmp_path):
    out = tmp_path / "out"
    run_infer(SALIENCY_CFG, images=sample_images, out_dir=out, progress=False, max_images=1)
    with pytest.raises(RunStateError, match="different config"):
        run_infer(SALIENCY_CFG, images=sample_images, out_dir=out, progress=False, resume=True,
                  cfg_options=["detector.threshold=0.6"])


def test_finished_run_is_replaced_and_max_images_is_respected(sample_images, tmp_path):
    out = tmp_path / "out"
    run_infer(SALIENCY_CFG, images=sample_images, out_dir=out, progress=False)
    (run,) = run_infer(SALIENCY_CFG, images=sample_images, out_dir=out, progress=False, max_images=2)
    assert run.summary.num_images == 2
    assert [r["image"].split("/")[-1] for r in json.loads((out / "four_box.json").read_text())] == \
        ["astronaut.png", "camera.png"]


def test_workers_and_batches_do_not_change_results(sample_images, tmp_path):
    outs = []
    for workers, batch in ((0, 1), (2, 4)):
        out = tmp_path / f"w{workers}b{batch}"
        run_infer(SALIENCY_CFG, images=sample_images, out_dir=out, progress=False,
                  cfg_options=[f"runtime.num_workers={workers}", f"runtime.batch_size={batch}"])
        outs.append({name: (out / name).read_bytes() for name in OUTPUTS})
    assert outs[0] == outs[1]


def _write_bad_inputs(folder: Path) -> dict[str, str | None]:
    """Every kind of awkward file; value: expected failure-reason word, or None if it must work."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    photo.save(folder / "ok.jpg")
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(rng.integers(0, 255, 200, dtype=np.uint8)))
    data = (folder / "ok.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (folder / "text.jpg").write_text("this is not an image")
    Image.new("1", (14000, 14000)).save(folder / "bomb.png")  # 196 Mpx: over Pillow's bomb limit
    photo.convert("L").save(folder / "grey.png")
    photo.convert("RGBA").save(folder / "rgba.png")
    photo.convert("P").save(folder / "palette.png")
    Image.fromarray((rng.integers(0, 65535, (30, 40))).astype(np.uint16)).save(folder / "deep16.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    photo.save(folder / "rotated.jpg", exif=exif)
    return {"ok.jpg": None, "empty.jpg": "empty", "corrupt.png": "not an image", "truncated.jpg": "truncated",
            "text.jpg": "not an image", "bomb.png": "decompression", "grey.png": None, "rgba.png": None,
            "palette.png": None, "deep16.png": None, "rotated.jpg": None}


def test_bad_inputs_never_stop_a_run(tmp_path):
    folder = tmp_path / "bad"
    expected = _write_bad_inputs(folder)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["infer", str(SALIENCY_CFG), "--images", str(folder), "--out-dir", str(out),
                                      "--no-progress", "-o", "runtime.num_workers=2", "-o", "runtime.batch_size=3"])
    assert result.exit_code == 1
    failures = {Path(f["image"]).name: f for f in json.loads((out / "failures.json").read_text())}
    should_fail = {name: word for name, word in expected.items() if word}
    assert set(failures) == set(should_fail)
    for name, word in should_fail.items():
        assert failures[name]["stage"] == "load"
        assert word in failures[name]["reason"].lower(), failures[name]
    objects = json.loads((out / "object_box.json").read_text())
    worked = {Path(k).name for k in objects}
    assert worked == {name for name, word in expected.items() if word is None}
    rotated = json.loads((out / "four_box.json").read_text())[
        [Path(r["image"]).name for r in json.loads((out / "four_box.json").read_text())].index("rotated.jpg")]
    assert rotated["four_box"][3][2:] == [48.0, 64.0]  # W x H after EXIF rotation: 48 x 64
    assert "5 image(s) failed" in result.output
