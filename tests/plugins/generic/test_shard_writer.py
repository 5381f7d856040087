"""The ``shard_jsonl`` writer: one JSON-lines or Parquet file per shard, a manifest, read back by ``stats``."""
from __future__ import annotations

import json

import pytest

from regionkit import ImageItem, ImageResult
from regionkit.devkit.conformance import check_writer
from regionkit.errors import ConfigError
from regionkit.io.box_files import BoxFileError, read_box_file
from regionkit.plugins.generic.shard_writer import ShardJsonlWriter, read_shard_file
from regionkit.structures.boxes import Boxes
from tests.conftest import REPO


def _result(i: int) -> ImageResult:
    w, h = 64 + i, 48
    det = Boxes.create([[1, 2, 30, 40], [0, 0, w, h]], (w, h), scores=[0.9, 0.25], labels=[3, 1008611])
    return ImageResult(ImageItem(f"/data/s.tar/{i:04d}.jpg", f"s/{i:04d}.jpg", f"{i:04d}"), (w, h), det,
                       regions={"top": det[:1]})


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_the_writer_passes_the_conformance_kit(fmt, tmp_path):
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    check_writer(ShardJsonlWriter(format=fmt), tmp_path)


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_shards_and_manifest_round_trip(fmt, tmp_path):
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    writer = ShardJsonlWriter(format=fmt, regions=["top", "detections"])
    records = [writer.make_record(_result(i)) for i in range(5)]
    assert records[0] == {"key": "0000", "image": "/data/s.tar/0000.jpg", "width": 64, "height": 48, "regions": {
        "top": {"boxes": [[1.0, 2.0, 30.0, 40.0]], "scores": [0.9], "labels": [3]},
        "detections": {"boxes": [[1.0, 2.0, 30.0, 40.0], [0.0, 0.0, 64.0, 48.0]],
                       "scores": [0.9, 0.25], "labels": [3, 1008611]}}}
    first, n1 = writer.finalize_shard(tmp_path, "s-000000", records[:3])
    second, n2 = writer.finalize_shard(tmp_path, "s-000001", records[3:])
    assert (n1, n2) == (3, 2) and first.name == f"s-000000.{fmt}"
    manifest = writer.finalize_manifest(tmp_path, [{"shard": "s-000000", "images": 3, "failed": 1},
                                                   {"shard": "s-000001", "images": 2}])
    data = json.loads(manifest.read_text())
    assert (data["images"], data["failed"], data["format"]) == (5, 1, fmt)
    assert writer.read_records([manifest]) == records
    assert list(read_shard_file(second)) == records[3:]
    if fmt == "jsonl":
        assert first.read_text().splitlines()[0] == json.dumps(records[0], ensure_ascii=False)
    box_file = read_box_file(manifest, [writer.box_format], field="top")
    assert [e.size for e in box_file.entries] == [(64 + i, 48) for i in range(5)]
    assert box_file.entries[0].xyxy.tolist() == [[1.0, 2.0, 30.0, 40.0]]
    default = read_box_file(manifest, [writer.box_format])
    assert default.notes == ["boxes: top"]  # the first set listed
    with pytest.raises(BoxFileError, match="--field 'nope' is not one of them"):
        read_box_file(manifest, [writer.box_format], field="nope")


def test_regions_default_to_every_set_the_run_produces():
    writer = ShardJsonlWriter()
    writer.bind({"detections": None, "kept": object(), "four_box": object()})
    assert writer.regions == ("detections", "kept", "four_box")
    assert writer.required_regions() == {"detections", "kept", "four_box"}
    with pytest.raises(ConfigError):
        ShardJsonlWriter(format="csv")
    with pytest.raises(ConfigError):
        ShardJsonlWriter(filename="a/b")


def test_with_a_folder_dataset_the_run_is_one_shard_the_same_with_two_ranks(sample_images, tmp_path):
    from regionkit.config.loader import load_config
    from regionkit.inference.job import run_infer
    from tests.inference.test_distributed import run_ranks
    config = tmp_path / "cfg.py"
    config.write_text(f"_base_ = ['{REPO / 'configs' / 'saliency_four_box.py'}']\n"
                      "writers = [dict(type='shard_jsonl', filename='regions', format='jsonl')]\n"
                      "runtime = dict(num_workers=0)\n")
    run_infer(config, images=sample_images, out_dir=tmp_path / "one", progress=False)
    folder = tmp_path / "one" / "regions"
    assert sorted(p.name for p in folder.iterdir()) == ["all.jsonl", "manifest.json"]
    lines = (folder / "all.jsonl").read_text().splitlines()
    assert [json.loads(x)["key"] for x in lines] == sorted(p.name for p in sample_images.iterdir())
    assert set(json.loads(lines[0])["regions"]) == {"detections", "kept", "merged", "four_box", "two_box"}
    cfg = load_config(config, [f"dataset.root={str(sample_images)!r}"])
    _, errors = run_ranks(2, cfg, tmp_path / "two")
    assert errors == [None, None]
    for name in ("all.jsonl", "manifest.json"):
        assert (tmp_path / "two" / "regions" / name).read_bytes() == (folder / name).read_bytes()
