"""The ``webdataset`` dataset: local tar shards of real photographs, brace patterns, shards as the unit of work."""
from __future__ import annotations

import gzip
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from regionkit.errors import ConfigError
from regionkit.inference.sources import TAR_MEMBER_KEY, load_source, source_id, source_of
from regionkit.io.images import load_rgb
from regionkit.plugins.generic.webdataset_dataset import WebDatasetShards
from tests.conftest import REPO

wds = pytest.importorskip("webdataset")

@pytest.fixture
def sharding_names():
    """The names ``webdataset`` and ``shard_jsonl`` come from regionkit's own entry points (setup.py)."""
    from regionkit.registry import DATASETS, WRITERS

    assert DATASETS.resolve("webdataset") and WRITERS.resolve("shard_jsonl")


def test_regionkit_list_shows_both_without_importing_them():
    import subprocess
    import sys

    code = ("import sys\n"
            "from regionkit.cli.main import main\n"
            "try:\n    main(['list'])\nexcept SystemExit:\n    pass\n"
            "loaded = [m for m in sys.modules if m.split('.')[0] in ('webdataset', 'pyarrow') or m.endswith("
            "('webdataset_dataset', 'shard_writer'))]\n"
            "print('LOADED', loaded)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines() if line.strip() and not line.startswith("LOADED")}
    assert rows.get("webdataset") == "datasets" and rows.get("shard_jsonl") == "writers"
    assert "LOADED []" in out


def write_shards(folder: Path, photos: list[Path], per_shard: int = 3, prefix: str = "data") -> list[Path]:
    """Tar shards as WebDataset writes them: each sample an image (its own extension) and a caption."""
    folder.mkdir(parents=True, exist_ok=True)
    shards = []
    for s in range(0, len(photos), per_shard):
        path = folder / f"{prefix}-{s // per_shard:06d}.tar"
        with wds.TarWriter(str(path)) as sink:
            for j, photo in enumerate(photos[s:s + per_shard]):
                sink.write({"__key__": f"{s // per_shard:02d}{j:04d}", photo.suffix.lstrip(".").lower(): photo.read_bytes(),
                            "txt": f"a photo named {photo.stem}"})
        shards.append(path)
    return shards


@pytest.fixture
def shards(sample_images, tmp_path) -> list[Path]:
    return write_shards(tmp_path / "shards", sorted(sample_images.iterdir()))


def test_shards_by_brace_pattern_folder_glob_and_list(shards, sample_images):
    folder = shards[0].parent
    by_brace = WebDatasetShards(str(folder / "data-{000000..000001}.tar"))
    assert by_brace.shard_names() == ["data-000000", "data-000001"]
    assert WebDatasetShards(str(folder)).shard_names() == by_brace.shard_names()
    assert WebDatasetShards(str(folder / "*.tar")).shard_names() == by_brace.shard_names()
    assert WebDatasetShards(f"{shards[1]}::{shards[0]}").shard_names() == ["data-000001", "data-000000"]
    items = list(by_brace)
    photos = sorted(sample_images.iterdir())
    assert len(by_brace) == len(items) == len(photos)
    assert [i.name for i in items[:4]] == ["000000", "000001", "000002", "010000"]
    assert items[0].rel_path == "data-000000/000000.png" and items[0].meta["shard"] == "data-000000"
    assert items[0].path == str(shards[0] / "000000.png")
    for item, photo in zip(items, photos):  # the same pixels as decoding the photo file itself
        assert np.array_equal(load_source(source_of(item)), load_rgb(photo))
    member = items[0].meta[TAR_MEMBER_KEY]
    assert source_id(member) == (member.size, shards[0].stat().st_mtime_ns)


def test_pattern_mistakes_are_one_line_errors(shards, tmp_path):
    folder = shards[0].parent
    cases = [
        (str(folder / "data-{000007..000009}.tar"), "matches no file"),
        (str(folder / "data-{000000..000004}.tar"), "3 of the 5 shards"),
        (str(tmp_path / "empty"), "holds no .tar file"),
        ("https://example.org/data-{000000..000009}.tar", "reads local tar shards only"),
        (f"{shards[0]}::{shards[0]}", "named twice"),
        (None, "no shards given"),
    ]
    (tmp_path / "empty").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "data-000000.tar").write_bytes(shards[0].read_bytes())
    cases.append((f"{shards[0]}::{tmp_path / 'other' / 'data-000000.tar'}", "have the same name"))
    for root, needle in cases:
        with pytest.raises((ValueError, ConfigError)) as info:
            WebDatasetShards(root)
        assert needle in str(info.value) and "\n" not in str(info.value), (root, str(info.value))
    packed = tmp_path / "packed.tar"
    packed.write_bytes(gzip.compress(shards[0].read_bytes()))
    with pytest.raises(ConfigError, match="is compressed"):
        WebDatasetShards(str(packed))


def test_samples_without_an_image_and_a_damaged_shard(tmp_path, sample_images):
    photo = sorted(sample_images.iterdir())[0]
    path = tmp_path / "mixed.tar"
    with wds.TarWriter(str(path)) as sink:
        sink.write({"__key__": "a", "txt": "no image here"})
        sink.write({"__key__": "b", "webp": b"not really", "png": photo.read_bytes()})  # image_keys order wins
        sink.write({"__key__": "c", "JPG": photo.read_bytes()})
    dataset = WebDatasetShards(str(path), image_keys=["png", "jpg"])
    items = dataset.shard_items(0)
    assert [i.name for i in items] == ["b", "c"] and items[0].rel_path == "mixed/b.png"
    assert dataset.skipped == [("mixed/a", "sample without an image member (png, jpg)")]
    damaged = tmp_path / "damaged.tar"
    damaged.write_bytes(path.read_bytes()[:2000])
    items = WebDatasetShards(str(damaged)).shard_items(0)
    assert items[-1].rel_path == "damaged/<unreadable>"
    from regionkit.io.images import ImageLoadError

    with pytest.raises(ImageLoadError, match="not a readable tar file"):
        load_source(source_of(items[-1]))


def test_tarfile_members_are_read_by_offset(shards):
    with tarfile.open(shards[0]) as tar:
        first = next(m for m in tar if m.isfile())
        data = tar.extractfile(first).read()
    member = WebDatasetShards(str(shards[0])).shard_items(0)[0].meta[TAR_MEMBER_KEY]
    assert member.read() == data


CONFIG = """
_base_ = ['{base}']
dataset = dict(_delete_=True, type='webdataset', root=None)
writers = [
    dict(type='shard_jsonl', filename='regions', regions=['kept', 'four_box']),
    dict(type='patch_matters_four_box', filename='four_box.json', object_boxes='merged', four_box='four_box',
         two_box='two_box'),
]
runtime = dict(batch_size=2, num_workers=0)
"""


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "wds_config.py"
    path.write_text(CONFIG.format(base=REPO / "configs" / "saliency_four_box.py"))
    return path


def test_a_run_over_shards_writes_one_file_per_shard_and_resumes_by_shard(shards, tmp_path, sharding_names):
    from regionkit.analysis import load_box_file
    from regionkit.inference.job import run_infer
    from regionkit.inference.run_folder import SHARDS_DIR
    from tests.inference.test_distributed import run_ranks

    config = _config(tmp_path)
    pattern = str(shards[0].parent / "data-{000000..000001}.tar")
    (run,) = run_infer(config, images=pattern, out_dir=tmp_path / "one", progress=False)
    assert run.summary.ok and run.summary.num_images == 6
    regions = tmp_path / "one" / "regions"
    manifest = json.loads((regions / "manifest.json").read_text())
    assert [s["shard"] for s in manifest["shards"]] == ["data-000000", "data-000001"] and manifest["images"] == 6
    lines = [json.loads(x) for x in (regions / "data-000001.jsonl").read_text().splitlines()]
    assert [r["key"] for r in lines] == ["010000", "010001", "010002"]
    assert set(lines[0]["regions"]) == {"kept", "four_box"} and len(lines[0]["regions"]["four_box"]["boxes"]) == 4
    box_file = load_box_file(regions / "manifest.json", field="four_box")
    assert box_file.format == "shard_manifest" and len(box_file.entries) == 6
    assert sorted(p.name for p in (tmp_path / "one" / SHARDS_DIR).iterdir()) == \
        ["data-000000.done.json", "data-000000.jsonl", "data-000001.done.json", "data-000001.jsonl", "layout.json"]

    from regionkit.config.loader import load_config

    cfg = load_config(config, [f"dataset.root={pattern!r}"])
    names = ["regions/manifest.json", "regions/data-000000.jsonl", "regions/data-000001.jsonl", "four_box.json"]
    reference = {n: (tmp_path / "one" / n).read_bytes() for n in names}
    (summary, _), errors = run_ranks(2, cfg, tmp_path / "two")
    assert errors == [None, None] and [s.units for s in summary.ranks] == [1, 1]
    assert {n: (tmp_path / "two" / n).read_bytes() for n in names} == reference

    def die(rank, rel):
        if rel == "data-000001/010001.jpg" or rel == "data-000001/010001.png":
            from regionkit.inference.distributed import RankStopped
            raise RankStopped()

    killed = tmp_path / "killed"
    (_, _), errors = run_ranks(2, cfg, killed, action=die)
    assert errors[1] is not None and (killed / "regions" / "data-000000.jsonl").exists()  # rank 0's shard is done
    assert not (killed / "regions" / "manifest.json").exists()
    before = (killed / "regions" / "data-000000.jsonl").stat().st_mtime_ns
    (run,) = run_infer(config, images=pattern, out_dir=killed, progress=False, resume=True)  # one process now
    assert run.summary.num_resumed == 4
    assert {n: (killed / n).read_bytes() for n in names} == reference
    assert (killed / "regions" / "data-000000.jsonl").stat().st_mtime_ns == before  # a finished shard is not rewritten


def test_max_images_takes_whole_shards_then_part_of_one(shards, tmp_path, sharding_names):
    from regionkit.inference.job import run_infer

    pattern = str(shards[0].parent / "data-{000000..000001}.tar")
    (run,) = run_infer(_config(tmp_path), images=pattern, out_dir=tmp_path / "out", progress=False, max_images=4)
    manifest = json.loads((tmp_path / "out" / "regions" / "manifest.json").read_text())
    assert [(s["shard"], s["images"]) for s in manifest["shards"]] == [("data-000000", 3), ("data-000001", 1)]
    assert run.summary.num_images == 4
