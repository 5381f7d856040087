"""A streaming writer: one JSON-lines (or Parquet) file per input shard, and a manifest of finished shards.

Layout of the writer's folder (``filename``, default ``regions``)::

    regions/manifest.json          {"regionkit": "shard_manifest", "version": 1, "format": "jsonl",
                                    "regions": [...], "images": N, "failed": F,
                                    "shards": [{"shard": "train-000000", "file": "train-000000.jsonl",
                                                "images": n, "failed": f}, ...]}
    regions/train-000000.jsonl     one line per image that worked, in the shard's order:
                                   {"key": ..., "image": ..., "width": W, "height": H,
                                    "regions": {"<set>": {"boxes": [[x1, y1, x2, y2], ...],
                                                          "scores": [...], "labels": [...]}}}

Boxes are pixel ``xyxy`` floats.  ``regions`` lists the region sets written (default: every
set the run produces, ``detections`` first).  With ``format='parquet'`` (needs
``pyarrow``) each shard is a ``.parquet`` file with the columns ``key``, ``image``,
``width``, ``height`` and ``regions`` (a struct of the sets).  Images that failed are in
``failures.json`` and counted per shard in the manifest.

In a sharded run (a ``webdataset`` dataset) a shard's file is written, atomically, by the
rank that finished the shard, as soon as it is finished: a run over millions of images
never builds one giant file, and the memory of a rank holds one shard at most.  The
manifest is written last, after every shard.  With a dataset without shards (an image
folder) the whole run is one shard named ``all``.

``regionkit stats regions/manifest.json [--field SET]`` reads the files back (its
``box_format`` is ``shard_manifest``; the default set is the first listed).
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from regionkit.io.atomic import atomic_open, dumps_strict
from regionkit.io.box_files import BoxEntry, BoxFile, BoxFileError, BoxFormat, boxes_array, describe_json
from regionkit.kinds.writers import BaseWriter
from regionkit.params import NonEmpty, OutputName, RegionSetName, checked
from regionkit.structures.results import ImageResult

__all__ = ["ShardJsonlWriter", "ShardManifestFormat", "MANIFEST_FILE", "SINGLE_SHARD"]

MANIFEST_FILE = "manifest.json"
#: the shard name of a run over a dataset without shards
SINGLE_SHARD = "all"
_MARK = "shard_manifest"


class ShardManifestFormat(BoxFormat):
    """``manifest.json`` of :class:`ShardJsonlWriter`: the per-shard files it lists, read image by image."""

    name = _MARK
    container = dict
    layout = '{"regionkit": "shard_manifest", "shards": [{"shard", "file"}]} + one JSONL/Parquet file per shard'

    def matches(self, data: Any) -> bool:
        return isinstance(data, dict) and data.get("regionkit") == _MARK and isinstance(data.get("shards"), list)

    def entry_matches(self, entry: Any) -> bool:
        return True

    def field_or_default(self, field: str | None, path: str) -> str | None:
        return field  # the sets a manifest holds are checked in read()

    def read(self, data: Any, path: str, field: str | None, ann_file: str | None) -> BoxFile:
        regions = [str(r) for r in data.get("regions") or []]
        name = field if field is not None else (regions[0] if regions else None)
        if name is None or (regions and name not in regions):
            raise BoxFileError(f"{path} holds the region sets {', '.join(regions) or '(none)'}; "
                               f"--field {name!r} is not one of them")
        folder = Path(path).parent
        entries = []
        for shard in data["shards"]:
            if not isinstance(shard, dict) or not isinstance(shard.get("file"), str):
                raise BoxFileError(f"{path}: shard entry {describe_json(shard)} has no 'file'")
            for record in read_shard_file(folder / shard["file"]):
                sets = record.get("regions") or {}
                if name not in sets:
                    raise BoxFileError(f"{shard['file']}: image {record.get('key')!r} has no region set {name!r}")
                size = (int(record["width"]), int(record["height"]))
                entries.append(BoxEntry(str(record.get("image") or record.get("key")),
                                        boxes_array(sets[name]["boxes"], f"{shard['file']}: {record.get('key')!r}"),
                                        size=size))
        return BoxFile(path, self.name, False, entries, [f"boxes: {name}"])


def read_shard_file(path: Path) -> Iterator[dict[str, Any]]:
    """The records of one shard file (``.jsonl`` or ``.parquet``), in order."""
    if path.suffix == ".parquet":
        _, pq = _pyarrow()
        yield from pq.read_table(path).to_pylist()
        return
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _pyarrow() -> tuple[Any, Any]:
    """``(pyarrow, pyarrow.parquet)``, imported on first use."""
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    return pa, pq


def _parquet_schema(regions: Sequence[str]) -> Any:
    pa, _ = _pyarrow()

    one_set = pa.struct([("boxes", pa.list_(pa.list_(pa.float64()))), ("scores", pa.list_(pa.float64())),
                         ("labels", pa.list_(pa.int64()))])
    fields = [("key", pa.string()), ("image", pa.string()), ("width", pa.int64()), ("height", pa.int64())]
    if regions:
        fields.append(("regions", pa.struct([(name, one_set) for name in regions])))
    return pa.schema(fields)


class ShardJsonlWriter(BaseWriter):
    """Write one JSON-lines (or Parquet) file per input shard plus ``manifest.json`` (see the module docstring)."""

    box_format = ShardManifestFormat()
    writes_folder = True
    #: the runner writes this writer's output shard by shard (:meth:`finalize_shard`, :meth:`finalize_manifest`)
    per_shard = True

    @checked
    def __init__(self, *, filename: OutputName = "regions", format: Literal["jsonl", "parquet"] = "jsonl",
                 regions: Annotated[Sequence[RegionSetName], NonEmpty()] | None = None) -> None:
        if format == "parquet":
            try:
                _pyarrow()
            except ImportError:
                raise ValueError("format='parquet' needs pyarrow (pip install pyarrow), or use format='jsonl'") from None
        self.filename = filename
        self.format = format
        self.regions: tuple[str, ...] | None = tuple(dict.fromkeys(regions)) if regions is not None else None
        self._seen: tuple[str, ...] = ()  # the sets of the records written, when the writer was never bound

    @property
    def suffix(self) -> str:
        return ".parquet" if self.format == "parquet" else ".jsonl"

    def required_regions(self) -> set[str]:
        return set(self.regions or ())

    def bind(self, producers: Mapping[str, Any]) -> None:
        if self.regions is None:
            self.regions = tuple(producers)

    def _sets(self, result: ImageResult) -> tuple[str, ...]:
        if self.regions is not None:
            return self.regions
        return ("detections", *result.regions)  # used without bind(): every set the result has

    def make_record(self, result: ImageResult) -> dict[str, Any]:
        sets = {}
        for name in self._sets(result):
            boxes = result.region(name)
            sets[name] = {"boxes": boxes.tolist(), "scores": [float(v) for v in boxes.scores],
                          "labels": [int(v) for v in boxes.labels]}
        width, height = result.image_size
        return {"key": result.name, "image": result.path, "width": int(width), "height": int(height),
                "regions": sets}

    # ------------------------------------------------------------------ writing
    def folder(self, out_dir: Path) -> Path:
        return Path(out_dir) / self.filename

    def shard_path(self, out_dir: Path, shard: str) -> Path:
        return self.folder(out_dir) / f"{shard}{self.suffix}"

    def finalize_shard(self, out_dir: Path, shard: str, records: Iterable[Any]) -> tuple[Path, int]:
        """Write shard ``shard``'s file from its records (atomically); ``(path, number of records)``."""
        path = self.shard_path(out_dir, shard)
        records = self._noting_sets(records)
        if self.format == "parquet":
            pa, pq = _pyarrow()
            rows = list(records)
            regions = self.regions if self.regions is not None else self._seen
            table = pa.Table.from_pylist(rows, schema=_parquet_schema(regions))
            with atomic_open(path, binary=True) as fh:
                pq.write_table(table, fh)
            return path, len(rows)
        count = 0
        with atomic_open(path) as fh:
            for record in records:
                fh.write(dumps_strict(record) + "\n")
                count += 1
        return path, count

    def _noting_sets(self, records: Iterable[Any]) -> Iterator[Any]:
        for record in records:
            if self.regions is None and not self._seen:
                self._seen = tuple(record.get("regions") or ())
            yield record

    def finalize_manifest(self, out_dir: Path, shards: Sequence[Mapping[str, Any]]) -> Path:
        """Write ``manifest.json`` listing ``shards`` (``{"shard", "images", "failed"}`` each, in order)."""
        listed: list[dict[str, Any]] = [{"shard": str(s["shard"]), "file": self.shard_path(out_dir, str(s["shard"])).name,
                   "images": int(s["images"]), "failed": int(s.get("failed", 0))} for s in shards]
        images = sum(int(s["images"]) for s in listed)
        failed = sum(int(s["failed"]) for s in listed)
        manifest = {"regionkit": _MARK, "version": 1, "format": self.format, "regions": list(self.regions if self.regions is not None else self._seen),
                    "images": images, "failed": failed,
                    "shards": listed}
        path = self.folder(out_dir) / MANIFEST_FILE
        with atomic_open(path) as fh:
            fh.write(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        return path

    def finalize(self, out_dir: Path, records: Iterable[Any]) -> list[Path]:
        """A run without shards: every record into the one shard ``all``; returns ``[manifest, shard file]``."""
        path, count = self.finalize_shard(out_dir, SINGLE_SHARD, records)
        return [self.finalize_manifest(out_dir, [{"shard": SINGLE_SHARD, "images": count}]), path]

    def read_records(self, paths: Sequence[Path]) -> list[Any]:
        """Every record of the shards the manifest (``paths[0]``) lists, in order."""
        manifest_path = Path(paths[0])
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        return [record for shard in manifest["shards"]
                for record in read_shard_file(manifest_path.parent / shard["file"])]

    def __repr__(self) -> str:
        return f"ShardJsonlWriter(filename={self.filename!r}, format={self.format!r}, regions={self.regions!r})"


def shard_outputs(out_dir: str | os.PathLike[str], writer: ShardJsonlWriter) -> list[Path]:
    """The files a finished run of ``writer`` left: manifest first, then the shard files it lists."""
    folder = writer.folder(Path(out_dir))
    manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    return [folder / MANIFEST_FILE, *(folder / s["file"] for s in manifest["shards"])]
