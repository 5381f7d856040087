"""inspect_file: present, intact (torch zip index, .npy header), sha256 — without loading anything."""
from __future__ import annotations

import hashlib
import pickle

import numpy as np
import pytest

from regionkit.io.weights import format_size, inspect_file

torch = pytest.importorskip("torch")


@pytest.fixture
def files(tmp_path):
    ckpt = tmp_path / "w.pth"
    torch.save({"state_dict": {"a": torch.arange(1000.0)}}, ckpt)
    vocab = tmp_path / "v.npy"
    np.save(vocab, np.ones((4, 512), np.float32))
    return tmp_path, ckpt, vocab


def test_intact_files_pass_with_their_hash(files):
    _, ckpt, vocab = files
    status = inspect_file(ckpt, "torch", hash_file=True)
    assert status.ok and status.size == ckpt.stat().st_size
    assert status.sha256 == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert inspect_file(vocab, "npy").ok and inspect_file(vocab, "npy").sha256 is None


@pytest.mark.parametrize("cut", [1, 100, 0.5])
def test_truncated_files_are_caught(files, cut):
    tmp, ckpt, vocab = files
    for src, fmt in ((ckpt, "torch"), (vocab, "npy")):
        data = src.read_bytes()
        n = int(len(data) * cut) if isinstance(cut, float) else len(data) - cut
        bad = tmp / f"cut{src.suffix}"
        bad.write_bytes(data[:n])
        status = inspect_file(bad, fmt)
        assert not status.ok and ("truncated" in status.problem or "damaged" in status.problem
                                  or "not a" in status.problem), (fmt, status.problem)


def test_wrong_kinds_of_files(tmp_path):
    text = tmp_path / "notes.pth"
    text.write_text("hello")
    assert "is not a torch checkpoint" in inspect_file(text, "torch").problem
    assert "not a NumPy" in inspect_file(text, "npy").problem
    assert "not a torch checkpoint (no data.pkl" in inspect_file(_zip_of(tmp_path), "torch").problem
    objects = tmp_path / "obj.npy"
    np.save(objects, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert "Python objects" in inspect_file(objects, "npy").problem
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    assert inspect_file(empty, "torch").problem == "is empty"
    assert inspect_file(tmp_path, "torch").problem == "is a folder, not a file"
    missing = inspect_file(tmp_path / "nope.pth", "torch")
    assert not missing.exists and missing.problem == "not found"
    legacy = tmp_path / "legacy.pth"
    legacy.write_bytes(pickle.dumps({"a": 1}, protocol=2))
    assert inspect_file(legacy, "torch").ok


def test_published_hash_is_compared(files):
    _, ckpt, _ = files
    good = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert inspect_file(ckpt, "torch", published_sha256=good.upper()).ok
    status = inspect_file(ckpt, "torch", published_sha256="0" * 64)
    assert not status.ok and "not the published" in status.problem


def test_format_size():
    assert [format_size(n) for n in (None, 0, 999, 1500, 2_500_000, 3_200_000_000)] == [
        "-", "0 B", "999 B", "1.5 kB", "2.5 MB", "3.2 GB"]


def _zip_of(tmp_path):
    import zipfile

    path = tmp_path / "other.pth"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "not a checkpoint")
    return path
