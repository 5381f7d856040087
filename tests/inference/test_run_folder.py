"""The output folder: names checked before any image, an exclusive lock, stale temporaries, permissions, full disks."""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Annotated

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regionkit.errors import ConfigError, RegionkitError
from regionkit.inference.job import run_infer
from regionkit.inference.journal import JOURNAL_FILE
from regionkit.inference.run_folder import LOCK_FILE, OutputError, RunFolder, RunStateError
from regionkit.params import FileName, check_value
from tests.conftest import REPO

SALIENCY_CFG = REPO / "configs" / "saliency_four_box.py"


def _infer(sample_images: Path, out: Path, *overrides: str, **kwargs):
    return run_infer(SALIENCY_CFG, images=sample_images, out_dir=out, progress=False, cfg_options=overrides, **kwargs)


# ---------------------------------------------------------------------- output names
@pytest.mark.parametrize("override, message", [
    ("writers.0.filename='failures.json'", "a file every run keeps for itself"),
    ("writers.1.filename='journal.jsonl'", "a file every run keeps for itself"),
    ("writers.1.filename='four_box.json'", "both write 'four_box.json'"),
    ("writers.1.filename='FOUR_BOX.json'", "both write 'FOUR_BOX.json'"),
    ("writers.0.filename='sub/x.json'", "plain file name"),
    ("writers.0.filename='.'", "plain file name"),
    ("writers.0.filename='a\\x00b'", "NUL"),
    ("writers.0.filename='" + "x" * 240 + ".json'", "at most 200 bytes"),
])
def test_bad_output_names_are_refused_before_any_image_is_read(sample_images, tmp_path, override, message):
    out = tmp_path / "out"
    with pytest.raises(RegionkitError, match=message):
        _infer(sample_images, out, override)
    assert not (out / JOURNAL_FILE).exists()  # nothing was started


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=260))
def test_the_file_name_rule_accepts_exactly_plain_names(name):
    try:
        got = check_value("filename", name, Annotated[str, FileName()])
    except ConfigError as exc:
        assert "filename" in str(exc) and "\n" not in str(exc)
        return
    assert got == name and name.strip() and name not in (".", "..")
    assert "/" not in name and "\\" not in name and "\x00" not in name
    assert len(name.encode("utf-8", "surrogateescape")) <= 200


# ---------------------------------------------------------------------- the lock
HOLD_LOCK = textwrap.dedent("""
    import sys, time
    from regionkit.inference.run_folder import RunFolder
    folder = RunFolder(sys.argv[1], {})
    folder.acquire()
    print("locked", flush=True)
    time.sleep(60)
""")


def test_a_second_run_on_a_live_folder_is_refused_naming_the_holder(sample_images, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunStateError, match=rf"another regionkit run is using .* \(process {holder.pid} on "):
            _infer(sample_images, out)
        with pytest.raises(RunStateError, match="another regionkit run"):
            _infer(sample_images, out, resume=True)  # --resume cannot barge in either
    finally:
        holder.kill()
        holder.wait()
    # the holder was killed: its lock is stale, and the next run simply takes it over
    summary = _infer(sample_images, out)[0].summary
    assert summary.ok and json.loads((out / LOCK_FILE).read_text())["pid"] == os.getpid()


def test_the_lock_is_released_after_a_run_and_after_an_error(sample_images, tmp_path):
    out = tmp_path / "out"
    _infer(sample_images, out, max_images=1)
    folder = RunFolder(out, {})
    folder.acquire()  # free again: the run released it
    folder.release()
    with pytest.raises(RegionkitError):
        _infer(sample_images, out, "detector.threshold=7")
    folder = RunFolder(out, {})
    folder.acquire()
    folder.release()


# ---------------------------------------------------------------------- stale temporaries and permissions
def test_stale_temporaries_of_a_killed_final_write_are_removed(sample_images, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    stale = [out / ".four_box.json.ab12cd34.tmp", out / ".failures.json.zz.tmp"]
    for p in stale:
        p.write_text("half written")
    keep = out / "notes.tmp"
    keep.write_text("not ours")
    _infer(sample_images, out, max_images=2)
    assert not any(p.exists() for p in stale) and keep.exists()
    assert not list(out.glob(".*.tmp"))


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_output_files_respect_the_umask(sample_images, tmp_path, mask):
    old = os.umask(mask)
    try:
        out = tmp_path / f"out{mask:o}"
        _infer(sample_images, out, max_images=1)
    finally:
        os.umask(old)
    for name in ("four_box.json", "object_box.json", JOURNAL_FILE):
        assert (out / name).stat().st_mode & 0o777 == 0o666 & ~mask, name


# ---------------------------------------------------------------------- paths in the way, unwritable folders, full disks
def test_an_output_path_under_a_file_is_a_one_line_error(sample_images, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="is a file"):
        _infer(sample_images, blocker / "out")


@pytest.mark.parametrize("name", ["four_box.json", JOURNAL_FILE])
def test_a_folder_where_a_file_belongs_is_a_one_line_error(sample_images, tmp_path, name):
    out = tmp_path / "out"
    (out / name).mkdir(parents=True)
    with pytest.raises(OutputError, match="folder"):
        _infer(sample_images, out)


def test_an_unwritable_output_folder_is_found_before_the_first_image(sample_images, tmp_path, monkeypatch):
    real_open = os.open

    def refuse(path, *args, **kwargs):
        if str(path).endswith(LOCK_FILE):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    out = tmp_path / "out"
    with pytest.raises(OutputError, match="choose a writable --out-dir"):
        _infer(sample_images, out)
    assert not (out / JOURNAL_FILE).exists()


def test_a_full_disk_mid_run_is_one_line_and_resumable_to_identical_files(sample_images, tmp_path, monkeypatch):
    from regionkit.inference import journal as journal_mod

    reference = tmp_path / "reference"
    _infer(sample_images, reference)
    out = tmp_path / "out"
    real = journal_mod.Journal._write_line
    calls = {"n": 0}

    def full(self, entry):
        calls["n"] += 1
        if calls["n"] == 4:  # the header and two images went in; the disk fills on the third
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, entry)

    monkeypatch.setattr(journal_mod.Journal, "_write_line", full)
    with pytest.raises(OutputError, match="No space left on device .*free some space, then rerun with --resume"):
        _infer(sample_images, out)
    monkeypatch.setattr(journal_mod.Journal, "_write_line", real)
    summary = _infer(sample_images, out, resume=True)[0].summary
    assert summary.ok and summary.num_resumed == 2
    for name in ("four_box.json", "object_box.json"):
        assert (out / name).read_bytes() == (reference / name).read_bytes()


# ---------------------------------------------------------------------- resume identity
def test_resume_refuses_an_image_replaced_under_the_same_name(sample_images, tmp_path):
    import shutil

    images = tmp_path / "images"
    shutil.copytree(sample_images, images)
    out = tmp_path / "out"
    _infer(images, out, max_images=2)
    (out / "four_box.json").unlink()
    journal = (out / JOURNAL_FILE).read_text().splitlines()
    (out / JOURNAL_FILE).write_text("\n".join(journal[:-1]) + "\n")  # as if killed before the end
    first = sorted(p.name for p in images.iterdir())[0]
    time.sleep(0.01)
    (images / first).write_bytes((images / "coffee.png").read_bytes())
    with pytest.raises(RunStateError, match=rf"{first}: the file changed since it was processed"):
        _infer(images, out, resume=True)


def test_resume_accepts_the_same_folder_spelled_with_a_trailing_slash(sample_images, tmp_path):
    out = tmp_path / "out"
    _infer(sample_images, out, max_images=2)
    journal = (out / JOURNAL_FILE).read_text().splitlines()
    (out / JOURNAL_FILE).write_text("\n".join(journal[:-1]) + "\n")
    summary = run_infer(SALIENCY_CFG, images=f"{sample_images}/", out_dir=out, progress=False, resume=True)[0].summary
    assert summary.ok and summary.num_resumed == 2


def test_resume_with_another_spelling_of_the_paths_says_what_differs(sample_images, tmp_path, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.chdir(sample_images.parent)
    _infer(Path(sample_images.name), out, max_images=1)
    journal = (out / JOURNAL_FILE).read_text().splitlines()
    (out / JOURNAL_FILE).write_text("\n".join(journal[:-1]) + "\n")
    with pytest.raises(RunStateError, match="was opened as .* now as"):
        _infer(Path("./" + sample_images.name + "/../" + sample_images.name), out, resume=True)
