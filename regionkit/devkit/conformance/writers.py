"""Conformance checks for writers: strict JSON records, files inside out_dir, round trip, empty runs."""
from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from regionkit.devkit.conformance.framework import Check, CheckContext, ConformanceError, call_component
from regionkit.devkit.conformance.inputs import writer_results

__all__ = ["CHECKS"]


def _json_normal(value: Any) -> Any:
    return json.loads(json.dumps(value, allow_nan=False))


def _first_difference(a: Any, b: Any, path: str) -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            missing, extra = [k for k in a if k not in b], [k for k in b if k not in a]
            if missing or extra:
                return f"{path}: keys differ (missing {missing}, extra {extra})"
            return f"{path}: key order differs ({list(a)} vs {list(b)})"
        for key in a:
            found = _first_difference(a[key], b[key], f"{path}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items vs {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b)):
            found = _first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    if type(a) is not type(b) or a != b:
        return f"{path}: {a!r} ({type(a).__name__}) vs {b!r} ({type(b).__name__})"
    return None


def _start(writer: Any, out_dir: Path) -> None:
    """Call the writer's optional ``start(out_dir)`` hook, as the runner does before the first image."""
    start = getattr(writer, "start", None)
    if callable(start):
        call_component(f"start({out_dir})", start, out_dir)


def _records(writer: Any, results: Sequence[Any], out_dir: Path | None = None) -> list[Any]:
    if out_dir is not None:
        _start(writer, out_dir)
    records = []
    for result in results:
        where = f"make_record() on '{result.rel_path}'"
        try:
            records.append(writer.make_record(result))
        except KeyError as exc:
            given = ", ".join(["detections", *result.regions]) or "detections"
            raise ConformanceError(f"{where}: raised KeyError: {exc}; the kit passed the region sets {given} "
                                   f"(declare every region set the writer reads in required_regions()"
                                   f"{'' if result.image is not None else ', and set needs_image = True if it reads result.image'})"
                                   ) from exc
        except Exception as exc:
            raise ConformanceError(f"{where}: raised {type(exc).__name__}: {exc}") from exc
    return records


def _out_dir(ctx: CheckContext, name: str) -> Path:
    base = ctx.tmp_path or Path(tempfile.mkdtemp(prefix="regionkit-conformance-"))
    out = base / name
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    return out


def _finalize(writer: Any, out_dir: Path, records: Sequence[Any], what: str, allow_none: bool = False) -> list[Path]:
    where = f"finalize(out_dir, iterator over {what})"
    try:
        paths = writer.finalize(out_dir, iter(list(records)))
    except TypeError as exc:
        raise ConformanceError(f"{where}: raised TypeError: {exc}; finalize must accept any iterable of records "
                               f"(the runner streams them from its journal, so len() and indexing are not "
                               f"available)") from exc
    except Exception as exc:
        raise ConformanceError(f"{where}: raised {type(exc).__name__}: {exc}") from exc
    if isinstance(paths, (str, Path)) or not isinstance(paths, (list, tuple)):
        raise ConformanceError(f"{where} returned {type(paths).__name__}; it must return the list of paths it wrote")
    if not paths and not allow_none:
        raise ConformanceError(f"{where} returned no paths; it must return the list of files it wrote")
    root = out_dir.resolve()
    resolved = []
    for p in paths:
        path = Path(p).resolve()
        if path != root and root not in path.parents:
            raise ConformanceError(f"{where} returned {p}, which is outside out_dir {out_dir}; writers write only "
                                   f"inside the folder they are given")
        if not path.exists():
            raise ConformanceError(f"{where} returned {p}, which does not exist")
        resolved.append(path)
    for found in sorted(f for f in out_dir.rglob("*") if f.is_file()):
        f = found.resolve()
        if not any(f == r or r in f.parents for r in resolved):
            raise ConformanceError(f"{where} left {found.relative_to(out_dir)} in out_dir but did not return it; "
                                   f"return every file written (the CLI lists them) and remove temporary files")
    return [Path(p) for p in paths]


def _read_back(writer: Any, paths: list[Path], what: str) -> list[Any]:
    reader = getattr(writer, "read_records", None)
    if reader is None:
        raise ConformanceError("the writer has no read_records(paths); inherit BaseWriter (which reads one JSON "
                               "list or dict) or implement it for your format")
    try:
        return list(reader(paths))
    except Exception as exc:
        raise ConformanceError(f"read_records() on the files written for {what} raised {type(exc).__name__}: "
                               f"{exc}") from exc


def _wr_json(writer: Any, ctx: CheckContext) -> None:
    results = writer_results(writer)
    records = _records(writer, results, _out_dir(ctx, "records"))
    for result, record in zip(results, records):
        try:
            text = json.dumps(record, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ConformanceError(f"the record for '{result.rel_path}' is not strict JSON ({exc}); records must be "
                                   f"dicts/lists of str, int, float (finite), bool and None — convert numpy values "
                                   f"with .tolist() or float()") from exc
        diff = _first_difference(record, json.loads(text), "record")
        if diff:
            raise ConformanceError(f"the record for '{result.rel_path}' changes in a JSON round trip: {diff}; the "
                                   f"runner journals records as JSON, so use lists, not tuples, and str keys")
    again = _records(writer, results, _out_dir(ctx, "records_again"))
    for result, a, b in zip(results, records, again):
        diff = _first_difference(_json_normal(a), _json_normal(b), "record")
        if diff:
            raise ConformanceError(f"two make_record() calls for '{result.rel_path}' disagree: {diff}")


def _wr_finalize(writer: Any, ctx: CheckContext) -> None:
    out_dir = _out_dir(ctx, "finalize")
    records = _records(writer, writer_results(writer), out_dir)
    _finalize(writer, out_dir, records, f"{len(records)} records")


def _wr_round_trip(writer: Any, ctx: CheckContext) -> None:
    out_dir = _out_dir(ctx, "round_trip")
    records = _records(writer, writer_results(writer), out_dir)
    paths = _finalize(writer, out_dir, records, f"{len(records)} records")
    back = _read_back(writer, paths, f"{len(records)} records")
    diff = _first_difference(_json_normal(records), _json_normal(back), "records")
    if diff:
        raise ConformanceError(f"read_records() does not give back what was written: {diff}; fix read_records "
                               f"(or finalize) so the files hold exactly the records, in order")


def _wr_empty(writer: Any, ctx: CheckContext) -> None:
    out_dir = _out_dir(ctx, "empty")
    _start(writer, out_dir)
    paths = _finalize(writer, out_dir, [], "no records", allow_none=True)
    if not paths:
        return  # nothing written for nothing: fine
    back = _read_back(writer, paths, "no records")
    if back:
        raise ConformanceError(f"read_records() on the files of an empty run gave {len(back)} records, expected 0")


def _wr_box_format(writer: Any, ctx: CheckContext) -> None:
    from regionkit.io.box_files import read_box_file

    fmt = writer.box_format
    out_dir = _out_dir(ctx, "box_format")
    records = _records(writer, writer_results(writer), out_dir)
    paths = _finalize(writer, out_dir, records, f"{len(records)} records")
    try:
        box_file = read_box_file(paths[0], [fmt])
    except Exception as exc:
        raise ConformanceError(f"the writer declares box_format '{fmt.name}', but reading {paths[0].name} with it "
                               f"fails: {exc}; stats and visualize read box files only through box_format") from exc
    if box_file.format != fmt.name:
        raise ConformanceError(f"reading {paths[0].name} with box_format '{fmt.name}' gave a '{box_file.format}' file")


#: the checks of this kind, in the order they run
CHECKS = (
    Check("records_are_json", "writers", _wr_json, "make_record gives strict JSON that survives a round trip, the same twice"),
    Check("finalize_writes_inside_out_dir", "writers", _wr_finalize, "finalize writes inside out_dir and returns every file it wrote"),
    Check("round_trip", "writers", _wr_round_trip, "read_records(finalize(...)) gives back the records"),
    Check("empty_run", "writers", _wr_empty, "a run without records writes no files, or files that read back as []"),
    Check("box_format_reads_back", "writers", _wr_box_format, "files read back through the writer's box_format",
          applies=lambda writer: getattr(writer, "box_format", None) is not None),
)
