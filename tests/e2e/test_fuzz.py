"""Property-based tests: generated inputs end in success, a one-line error (exit 2), or per-image failures -- never a
traceback or a hang.

* every parameter of every built-in component, with values drawn from its declared type and range
  and from garbage (huge numbers, NaN, strings with NUL, nested lists and dicts), built through
  the registry and, when it builds, run through the runner on tiny images;
* mutated configs and overrides through ``regionkit infer``;
* malformed box files through ``regionkit stats`` and ``regionkit visualize``.

``REGIONKIT_FUZZ_EXAMPLES`` raises the number of examples per property (default 25; examples
are derandomised, so a failure reproduces).
"""
from __future__ import annotations

import json
import math
import os
import typing
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from regionkit.errors import RegionkitError
from regionkit.params import NonEmpty, Range, parameter_specs
from tests.conftest import REPO

EXAMPLES = int(os.environ.get("REGIONKIT_FUZZ_EXAMPLES", "25"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# ---------------------------------------------------------------------- value strategies
SCALARS = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.integers(min_value=-3, max_value=300),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-2, max_value=2),
    st.text(max_size=12),
    st.sampled_from(["", ".", "..", "a/b", "x\x00y", "saliency", "detections", "kept", "merged", "float64_div",
                     "fallback", "union", "score", "area", "cpu", "none.json", "out.json", "train"]),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                      max_leaves=6)


def _near_valid(annotation: typing.Any) -> st.SearchStrategy:
    """Values close to what ``annotation`` accepts (bounds, choices), so building often succeeds."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *meta = typing.get_args(annotation)
        ranges = [m for m in meta if isinstance(m, Range)]
        if ranges and base in (int, float):
            r = ranges[0]
            low = -1e6 if math.isinf(r.low) else r.low
            high = 1e6 if math.isinf(r.high) else r.high
            edges = st.sampled_from([low, high, (low + high) / 2, low - 1, high + 1])
            if base is int:
                return st.one_of(st.integers(int(low), int(min(high, low + 50))), edges.map(int))
            return st.one_of(st.floats(low, high), edges)
        if any(isinstance(m, NonEmpty) for m in meta) and base is str:
            return st.text(min_size=1, max_size=10)
        return _near_valid(base)
    if origin is typing.Literal:
        return st.sampled_from(typing.get_args(annotation))
    if origin in (typing.Union, __import__("types").UnionType):
        return st.one_of(*[_near_valid(a) for a in typing.get_args(annotation)])
    if annotation is bool:
        return st.booleans()
    if annotation is type(None):
        return st.none()
    return VALUES


def _builtins(kind: str) -> list[str]:
    from regionkit.registry import registry_for

    return sorted({c.name for c in registry_for(kind).candidates() if c.is_builtin})


def _params_strategy(cls: typing.Any) -> st.SearchStrategy:
    specs = parameter_specs(cls)
    if not specs:
        return st.just({})
    return st.fixed_dictionaries({}, optional={s.name: st.one_of(_near_valid(s.annotation), VALUES) for s in specs})


# ---------------------------------------------------------------------- a tiny dataset to run on
@pytest.fixture(scope="module")
def tiny_images(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny")
    rng = np.random.default_rng(5)
    for name, (w, h) in {"a.png": (1, 1), "b.png": (5, 3), "c.png": (40, 30)}.items():
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(folder / name)
    return folder


def _items(folder: Path):
    from regionkit.plugins.generic.image_folder import ImageFolder

    return list(ImageFolder(str(folder)))


def _run(detector, stages, writers, folder: Path, out: Path) -> None:
    from regionkit.inference.runner import InferenceRunner

    runner = InferenceRunner(detector, stages, writers, progress=False)
    runner.run(_items(folder), out, overwrite=True)


# ---------------------------------------------------------------------- components
SKIP_RUN = {"yolo", "transformers_captioner", "llm_matcher"}  # need model files: building is all we check


@pytest.mark.parametrize("name", _builtins("detectors"))
def test_every_detector_parameter(name, tiny_images, tmp_path):
    from regionkit.plugins.patch_matters.writers import PatchMattersObjectBoxWriter
    from regionkit.registry import DETECTORS

    cls = DETECTORS.get(name)

    @FUZZ
    @given(_params_strategy(cls))
    def check(params):
        try:
            det = DETECTORS.build({"type": name, **params})
        except RegionkitError as exc:
            assert "\n" not in str(exc)
            return
        if name in SKIP_RUN:
            return
        _run(det, [], {"objects": PatchMattersObjectBoxWriter(boxes="detections")}, tiny_images, tmp_path / "out")

    check()


@pytest.mark.parametrize("name", _builtins("box_selectors"))
def test_every_selector_parameter(name, tiny_images, tmp_path):
    from regionkit.inference.runner import SelectorStage
    from regionkit.plugins.detectors.saliency import SaliencyDetector
    from regionkit.plugins.patch_matters.writers import PatchMattersObjectBoxWriter
    from regionkit.registry import BOX_SELECTORS

    cls = BOX_SELECTORS.get(name)

    @FUZZ
    @given(_params_strategy(cls))
    def check(params):
        try:
            sel = BOX_SELECTORS.build({"type": name, **params})
        except RegionkitError as exc:
            assert "\n" not in str(exc)
            return
        _run(SaliencyDetector(threshold=0.2), [SelectorStage(sel, "detections", "out")],
             {"objects": PatchMattersObjectBoxWriter(boxes="out")}, tiny_images, tmp_path / "out")

    check()


@pytest.mark.parametrize("name", _builtins("writers"))
def test_every_writer_parameter(name, tiny_images, tmp_path):
    from regionkit.inference.runner import SelectorStage
    from regionkit.plugins.detectors.saliency import SaliencyDetector
    from regionkit.registry import WRITERS

    cls = WRITERS.get(name)
    regions = ["detections", "kept", "merged", "four_box", "two_box", "cirr", "main_box", "out"]

    @FUZZ
    @given(_params_strategy(cls))
    def check(params):
        try:
            writer = WRITERS.build({"type": name, **params})
        except RegionkitError as exc:
            assert "\n" not in str(exc)
            return
        stages = [SelectorStage(BoxIdentity(), "detections", r) for r in regions[1:]]
        try:
            _run(SaliencyDetector(threshold=0.2), stages, {"w": writer}, tiny_images, tmp_path / "out")
        except RegionkitError as exc:  # a wiring or output problem the runner finds before any image
            assert "\n" not in str(exc)

    check()


class BoxIdentity:
    """A selector that passes boxes through (to offer writers every region-set name)."""

    def __call__(self, boxes):
        return boxes


@pytest.mark.parametrize("name", _builtins("datasets"))
def test_every_dataset_parameter(name, tmp_path, monkeypatch):
    from regionkit.registry import DATASETS

    cls = DATASETS.get(name)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.png").write_bytes(b"")

    @FUZZ
    @given(_params_strategy(cls))
    def check(params):
        try:
            dataset = DATASETS.build({"type": name, **params})
        except RegionkitError as exc:
            assert "\n" not in str(exc)
            return
        assert len(dataset) == len(list(dataset))

    check()


@FUZZ
@given(_params_strategy(__import__("regionkit.inference.job", fromlist=["RuntimeOptions"]).RuntimeOptions))
def test_every_runtime_option(params):
    from regionkit.inference.job import RuntimeOptions
    from regionkit.registry.signature import check_parameters

    try:
        check_parameters(RuntimeOptions, params, "runtime")
        options = RuntimeOptions(**params)
    except RegionkitError as exc:
        assert "\n" not in str(exc)
        return
    assert 1 <= options.batch_size <= 4096 and options.num_workers >= 0


# ---------------------------------------------------------------------- configs and overrides through the CLI
KEYS = ["detector", "detector.threshold", "detector.max_regions", "detector.type", "detector.variant",
        "dataset", "dataset.root", "dataset.recursive", "dataset.extensions", "dataset.type",
        "selectors", "selectors.0", "selectors.0.threshold", "selectors.1.iou_threshold", "selectors.2.n",
        "selectors.0.input", "selectors.3.output", "writers", "writers.0", "writers.0.filename", "writers.1.boxes",
        "writers.0.type", "runtime", "runtime.seed", "runtime.batch_size", "runtime.num_workers",
        "runtime.image_timeout", "runtime.extra"]


def _literal(value: typing.Any) -> str:
    try:
        return repr(value)
    except Exception:  # pragma: no cover - hypothesis values all have a repr
        return "None"


@FUZZ
@given(overrides=st.lists(st.tuples(st.sampled_from(KEYS), VALUES), min_size=1, max_size=3))
def test_mutated_overrides_through_infer(overrides, tmp_path_factory):
    from regionkit.cli.main import cli, expand_cfg_options

    folder = tmp_path_factory.getbasetemp() / "fuzz-images"
    if not folder.exists():
        folder.mkdir()
        rng = np.random.default_rng(1)
        for i, (w, h) in enumerate([(9, 7), (33, 20)]):
            Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(folder / f"i{i}.png")
    out = tmp_path_factory.mktemp("fuzz-out")
    args = ["infer", str(REPO / "configs" / "saliency_four_box.py"), "--images", str(folder), "--out-dir", str(out),
            "--no-progress", "--overwrite", "-o", *[f"{k}={_literal(v)}" for k, v in overrides]]
    result = CliRunner().invoke(cli, expand_cfg_options(args))
    assert result.exit_code in (0, 1, 2), result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    if result.exit_code == 2:
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.output


# ---------------------------------------------------------------------- malformed box files
NUMBERS = st.one_of(st.integers(min_value=-(10**400), max_value=10**400), st.floats(allow_nan=False),
                    st.floats(min_value=0, max_value=1))
BOX = st.one_of(st.lists(NUMBERS, min_size=4, max_size=4), st.lists(NUMBERS, max_size=6), VALUES)
ENTRY = st.one_of(
    st.lists(BOX, max_size=3),
    st.fixed_dictionaries({"bbox": st.lists(BOX, max_size=3)}, optional={"label": VALUES, "image": VALUES}),
    st.fixed_dictionaries({"main_box": BOX}, optional={"equal_four_box": st.lists(BOX, max_size=4)}),
    VALUES)
BOX_FILES = st.one_of(
    st.dictionaries(st.text(max_size=8), ENTRY, max_size=4),
    st.lists(st.one_of(st.fixed_dictionaries({"image_id": VALUES, "bbox": BOX, "category_id": VALUES}),
                       st.fixed_dictionaries({"image": VALUES, "object_detect_box": st.lists(BOX, max_size=2)},
                                             optional={"four_box": st.lists(BOX, max_size=4)}),
                       VALUES), max_size=4),
    VALUES,
    st.integers(min_value=1, max_value=3000).map(lambda depth: "[" * depth + "]" * depth),  # deep nesting
)


@FUZZ
@given(content=BOX_FILES, field=st.sampled_from([None, "four_box", "equal_four_box", "nope"]))
def test_malformed_box_files_through_stats_and_visualize(content, field, tmp_path_factory):
    from regionkit.cli.main import cli

    folder = tmp_path_factory.mktemp("boxes")
    path = folder / "boxes.json"
    path.write_text(content if isinstance(content, str) and content.startswith("[") else json.dumps(content))
    (folder / "img").mkdir()
    Image.new("RGB", (8, 6)).save(folder / "img" / "a.png")
    extra = ["--field", field] if field else []
    for args in (["stats", str(path), "--json", "--histogram", str(folder / "h.png"), *extra],
                 ["stats", str(path), "--images", str(folder / "img"), *extra],
                 ["visualize", str(path), "--images", str(folder / "img"), "--out", str(folder / "vis"),
                  "--no-progress", *extra]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code in (0, 1, 2), (args, result.output)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        if result.exit_code == 2:
            assert result.output.startswith("Error: ") and len(result.output.strip().splitlines()) == 1
        if args[0] == "stats" and "--json" in args and result.exit_code == 0:
            def refuse(name):
                raise AssertionError(f"--json printed {name}")

            json.loads(result.output.split("\nWrote ")[0], parse_constant=refuse)
