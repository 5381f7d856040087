"""The plugin author's kit: plugin-API versioning, `plugins validate`, the conformance checks and pytest plugin."""
from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from regionkit import BaseBoxSelector, BaseDetector, BaseWriter
from regionkit._version import PLUGIN_API_VERSION as HOST_API
from regionkit.devkit.validate import validate_distribution
from regionkit.discovery import get_index
from regionkit.discovery.api_version import check_plugin_api, parse_api_version
from regionkit.errors import ComponentNotFoundError
from regionkit.registry import DETECTORS
from regionkit.structures.boxes import Boxes
from regionkit.testing import (
    ConformanceError,
    check_detector,
    check_loss,
    check_selector,
    check_writer,
    conformance_images,
)
from tests.conftest import write_distribution

DETECTOR_SRC = '''
"""Detectors of a fake plugin."""
from regionkit.structures.boxes import Boxes
from regionkit import BaseDetector


class Whole(BaseDetector):
    """One box on the whole image."""

    def __init__(self, score: float = 0.9):
        self.score = score

    def detect(self, images):
        return [Boxes.create([[0, 0, im.shape[1], im.shape[0]]], (im.shape[1], im.shape[0]), scores=[self.score])
                for im in images]
'''


def _api_plugin(plugin_site, name: str, declaration: str | None):
    package = name.replace("-", "_")
    init = f"REGIONKIT_PLUGIN_API = {declaration}\n" if declaration is not None else '"""No declaration."""\n'
    plugin_site(name, "1.2", {"regionkit.detectors": [f"whole_{package} = {package}.dets:Whole"]},
                {f"{package}/__init__.py": init, f"{package}/dets.py": DETECTOR_SRC})
    return get_index().dists[package], f"whole_{package}", package


# ====================================================================== plugin-API versions
def test_api_version_parsing_and_rules():
    assert parse_api_version("1.0") == (1, 0) and parse_api_version(" 12.3 ") == (12, 3)
    for bad in ("1", "v1.0", "1.0.2", "", None):
        with pytest.raises(ValueError, match="MAJOR.MINOR"):
            parse_api_version(bad)  # type: ignore[arg-type]


def test_a_declared_compatible_version_loads_quietly(plugin_site):
    record, name, _ = _api_plugin(plugin_site, "rk-api-same", '"1.0"')
    assert record.status == "ok" and record.api_version == "1.0" and record.problems == []
    assert record.status_line() == "loaded"
    assert DETECTORS.build(dict(type=name)).score == 0.9


def test_an_older_minor_of_the_same_major_is_fine(plugin_site):
    verdict = check_plugin_api("x", "1", ["json"], host="1.3")  # any package without a declaration
    assert verdict.status == "missing"
    record, _name, _ = _api_plugin(plugin_site, "rk-api-old", '"1.0"')
    assert check_plugin_api(record.name, record.version, record.packages, host="1.4").status == "ok"


def test_a_newer_minor_warns_but_loads(plugin_site, caplog):
    with caplog.at_level(logging.WARNING, logger="regionkit.discovery.index"):
        record, name, _ = _api_plugin(plugin_site, "rk-api-newer", '"1.7"')
    message = (f"rk-api-newer 1.2 targets regionkit plugin API 1.7, newer than this regionkit's {HOST_API}; it is loaded, "
               "but it may rely on features this regionkit lacks — upgrade regionkit")
    assert record.status == "ok" and record.problems == [message] and record.status_line() == "loaded"
    assert message in caplog.text
    assert DETECTORS.build(dict(type=name)).score == 0.9
    assert get_index().problems() == [] or all("rk-api-newer" not in p for p in get_index().problems())
    assert f"rk-api-newer 1.2: {message}" in get_index().problems(include_advice=True)


def test_another_major_is_refused_with_a_clear_message(plugin_site, caplog):
    with caplog.at_level(logging.WARNING, logger="regionkit.discovery.index"):
        record, name, package = _api_plugin(plugin_site, "rk-api-next", '"2.0"')
    message = (f"rk-api-next 1.2 targets regionkit plugin API 2.0; this regionkit provides {HOST_API} — upgrade regionkit "
               "to a release that provides plugin API 2.x, or install a rk-api-next release for API 1.x. "
               "Its components are not loaded.")
    assert record.status == "incompatible" and record.problems == [message]
    assert record.status_line() == "incompatible (plugin API 2.0)"
    assert message in caplog.text
    with pytest.raises(ComponentNotFoundError) as info:
        DETECTORS.build(dict(type=name))
    assert "targets regionkit plugin API 2.0" in str(info.value)
    assert f"{package}.dets" not in sys.modules  # refused without importing it

    old, _, _ = _api_plugin(plugin_site, "rk-api-prev", '"0.9"')
    assert old.status == "incompatible"
    assert old.problems[0].endswith("install a rk-api-prev release for API 1.x, or use a regionkit release that "
                                    "provides plugin API 0.x. Its components are not loaded.")

    from regionkit.cli.main import cli

    out = CliRunner().invoke(cli, ["plugins"]).output
    row = next(line for line in out.splitlines() if line.startswith("rk-api-next"))
    assert row.split()[:4] == ["rk-api-next", "1.2", "incompatible", "(plugin"]
    assert f"  ! rk-api-next: {message}" in out


def test_a_missing_declaration_gets_the_exact_line_to_add(plugin_site):
    record, name, _package = _api_plugin(plugin_site, "rk-api-none", None)
    hint = (f"rk-api-none does not declare the plugin API it targets; add the line `REGIONKIT_PLUGIN_API = \"{HOST_API}\"` "
            f"to rk_api_none/__init__.py (this regionkit provides plugin API {HOST_API})")
    assert record.status == "ok" and record.problems == [hint] and record.advice == [hint]
    assert record.status_line() == "loaded" and record.api_version is None
    assert DETECTORS.build(dict(type=name)).score == 0.9
    assert not any("rk-api-none" in p for p in get_index().problems())


def test_a_declaration_that_is_not_a_literal_is_treated_as_missing(plugin_site):
    record, name, _ = _api_plugin(plugin_site, "rk-api-dynamic", "__import__('regionkit').PLUGIN_API_VERSION")
    (advice,) = record.problems
    assert advice.startswith("rk_api_dynamic/__init__.py line 1: REGIONKIT_PLUGIN_API must be assigned a string "
                             f"literal such as \"{HOST_API}\"")
    assert record.status == "ok" and DETECTORS.build(dict(type=name)).score == 0.9


def test_a_single_module_plugin_declares_in_its_module(plugin_site):
    plugin_site("rk-api-module", "0.1", {"regionkit.detectors": ["whole_mod = rk_api_module_mod:Whole"]},
                {"rk_api_module_mod.py": 'REGIONKIT_PLUGIN_API = "1.0"\n' + DETECTOR_SRC})
    record = get_index().dists["rk_api_module"]
    assert record.status == "ok" and record.problems == [] and record.api_version == "1.0"


def test_regionkit_itself_is_exempt():
    host = get_index().dists["regionkit"]
    assert host.status == "ok" and host.api_version is None and not any("PLUGIN_API" in p for p in host.problems)


# ====================================================================== plugins validate
GOOD_SELECTOR = '''
from regionkit import BaseBoxSelector


class Keep(BaseBoxSelector):
    """Keeps everything."""

    idempotent = True

    def __call__(self, boxes):
        return boxes
'''

BROKEN_STATIC = '''
from regionkit import BaseDetector


class NoDetect(BaseDetector):
    """Forgot detect()."""


class PositionalOnly(BaseDetector):
    def __init__(self, a, /, b=1):
        pass

    def detect(self, images):
        return []


class Finder(BaseDetector):
    def detect(self, images):
        return []
'''

BROKEN_IMPORTS = '''
from regionkit.structures.boxes import Boxes
from regionkit import BaseBoxSelector, BaseDetector


class Abstract(BaseDetector):
    """Inherits BaseDetector without implementing detect."""

    def find(self, images):
        return []


class NoArgs(BaseDetector):
    def detect(self):
        return []


class NeedsWeights(BaseDetector):
    def __init__(self, weights: str, threshold: float = 0.5):
        self.weights = weights

    def detect(self, images):
        return []


class BadParams(BaseDetector):
    conformance_params = [dict(treshold=0.1)]

    def __init__(self, threshold: float = 0.5):
        self.threshold = threshold

    def detect(self, images):
        return []


class Looker(BaseBoxSelector):
    needs_image = True

    def __call__(self, boxes):
        return boxes
'''

TYPO_HOOKS = '''
from regionkit import hookimpl


@hookimpl
def regionkit_run_strat(run):
    pass
'''


def _lines(findings, severity):
    return [f.message for f in findings if f.severity == severity]


def test_validate_passes_a_good_distribution_statically_and_with_imports(plugin_site):
    plugin_site("rk-good", "0.4", {"regionkit.detectors": ["whole_good = rk_good.dets:Whole"],
                                   "regionkit.box_selectors": ["keep_good = rk_good.sel:Keep"]},
                {"rk_good/__init__.py": 'REGIONKIT_PLUGIN_API = "1.0"\n', "rk_good/dets.py": DETECTOR_SRC,
                 "rk_good/sel.py": GOOD_SELECTOR})
    static = validate_distribution("rk-good")
    assert _lines(static, "error") == [] and _lines(static, "warning") == []
    assert "rk_good.dets" not in sys.modules  # static: nothing imported
    assert "detector 'whole_good' -> rk_good.dets:Whole: found in source" in _lines(static, "ok")
    assert any("declares REGIONKIT_PLUGIN_API = \"1.0\"" in m for m in _lines(static, "ok"))
    imported = validate_distribution("rk_good", imports=True)  # the package name works too
    assert _lines(imported, "error") == [] and _lines(imported, "warning") == []
    assert "box selector 'keep_good' -> rk_good.sel:Keep: imports and honours the contract" in _lines(imported, "ok")


def test_validate_reports_every_static_problem(plugin_site):
    plugin_site("rk-broken", "0.1", {
        "regionkit.detectors": [
            "bad-name = rk_broken.dets:Finder",
            "finder = rk_broken.dets:Finder",
            "finder = rk_broken.dets:Finder",
            "saliency = rk_broken.dets:Finder",
            "gone = rk_broken.missing:Finder",
            "typo = rk_broken.dets:Fidner",
            "no_detect = rk_broken.dets:NoDetect",
            "posonly = rk_broken.dets:PositionalOnly",
            "not_a_target = rk_broken.dets",
        ],
        "regionkit.detector": ["x = rk_broken.dets:Finder"],
        "regionkit_selectors": ["y = rk_broken.dets:Finder"],
        "nope": ["not_ours = rk_broken.dets:Finder"],
    }, {"rk_broken/__init__.py": 'REGIONKIT_PLUGIN_API = "2.0"\n', "rk_broken/dets.py": BROKEN_STATIC})
    findings = validate_distribution("rk-broken")
    errors, warnings = "\n".join(_lines(findings, "error")), "\n".join(_lines(findings, "warning"))
    expected_errors = [
        "entry point 'y = rk_broken.dets:Finder' is in group 'regionkit_selectors', which regionkit does not read "
        "(did you mean 'regionkit.box_selectors'",
        f"rk-broken 0.1 targets regionkit plugin API 2.0; this regionkit provides {HOST_API}",
        "entry point 'bad-name = rk_broken.dets:Finder' in [regionkit.detectors]: the name must be a Python "
        "identifier (letters, digits, _), e.g. 'bad_name'",
        "entry point 'finder = rk_broken.dets:Finder' in [regionkit.detectors]: the name 'finder' is declared twice",
        "entry point 'gone = rk_broken.missing:Finder' in [regionkit.detectors]: module 'rk_broken.missing' not found",
        "entry point 'typo = rk_broken.dets:Fidner' in [regionkit.detectors]: 'Fidner' is not defined at the top "
        "level of rk_broken.dets",
        "(did you mean 'Finder'?)",
        "entry point 'no_detect = rk_broken.dets:NoDetect' in [regionkit.detectors]: class NoDetect defines no "
        "detect(); a detector implements detect(images) -> list[Boxes]",
        "PositionalOnly.__init__ has positional-only parameter(s) a; configs pass parameters by keyword",
        "entry point 'not_a_target = rk_broken.dets' in [regionkit.detectors]: the value must be "
        "'package.module:ClassName'",
        "entry point 'x = rk_broken.dets:Finder' in [regionkit.detector]: unknown group (did you mean "
        "'regionkit.detectors'?)",
    ]
    for text in expected_errors:
        assert text in errors, text
    assert "not_ours" not in errors  # an unrelated group is none of regionkit's business
    assert ("'saliency' is the name of a regionkit built-in detector; configs get the built-in for 'saliency' and "
            "the plugin's only as 'rk_broken.saliency'") in warnings
    assert "PositionalOnly requires a (no default)" in warnings
    assert "rk_broken.dets" not in sys.modules


def test_validate_with_imports_checks_classes_contracts_and_constructors(plugin_site):
    plugin_site("rk-imports", "0.2", {
        "regionkit.detectors": [
            "abstract = rk_imports.dets:Abstract",
            "no_args = rk_imports.dets:NoArgs",
            "needs_weights = rk_imports.dets:NeedsWeights",
            "bad_params = rk_imports.dets:BadParams",
            "crash = rk_imports.crash:Anything",
        ],
        "regionkit.box_selectors": ["looker = rk_imports.dets:Looker"],
        "regionkit.lifecycle": ["typo_hooks = rk_imports.hooks"],
    }, {"rk_imports/__init__.py": 'REGIONKIT_PLUGIN_API = "1.0"\n', "rk_imports/dets.py": BROKEN_IMPORTS,
        "rk_imports/crash.py": "Anything = 1\nraise RuntimeError('boom at import')\n",
        "rk_imports/hooks.py": TYPO_HOOKS})
    static = validate_distribution("rk-imports")
    assert "rk_imports.crash" not in sys.modules
    assert "needs_weights" in "\n".join(_lines(static, "warning"))
    findings = validate_distribution("rk-imports", imports=True)
    errors, warnings = "\n".join(_lines(findings, "error")), "\n".join(_lines(findings, "warning"))
    for text in [
        "Abstract is abstract: it does not implement detect",
        "NoArgs.detect(self) cannot be called as detect(images) -> list[Boxes]",
        "BadParams.conformance_params[0] got unknown parameter 'treshold' (did you mean 'threshold'?)",
        "failed to load: RuntimeError: boom at import (at ",
        "Looker.__call__(self, boxes) cannot be called as __call__(boxes, image=rgb) -> Boxes",
        "lifecycle plugin 'rk_imports.typo_hooks' implements unknown hook 'regionkit_run_strat' "
        "(did you mean 'regionkit_run_start'?)",
    ]:
        assert text in errors, text
    assert ("NeedsWeights requires weights (no default): every config must set it, and the conformance kit cannot "
            "build it; give defaults or add to the class: conformance_params = [dict(weights=...)]") in warnings


def test_validate_unknown_distribution_and_the_cli_command(plugin_site):
    (finding,) = validate_distribution("rk-no-such-plugin")
    assert finding.severity == "error" and "no installed distribution named 'rk-no-such-plugin'" in finding.message

    from regionkit.cli.main import cli, plugins
    from regionkit.cli.plugins_validate import validate

    plugin_site("rk-cli-check", "0.1", {"regionkit.detectors": ["whole_cli = rk_cli_check.dets:Whole"]},
                {"rk_cli_check/__init__.py": '"""No API declaration."""\n', "rk_cli_check/dets.py": DETECTOR_SRC})

    def run(*args):
        if "validate" in plugins.commands:  # attached to `regionkit plugins`
            return CliRunner().invoke(cli, ["plugins", "validate", *args])
        return CliRunner().invoke(validate, list(args))

    ok = run("rk-cli-check", "--imports")
    assert ok.exit_code == 0, ok.output
    lines = ok.output.splitlines()
    assert lines[0] == "ok: distribution rk-cli-check 0.1 is installed"
    assert any(line.startswith("warning: rk-cli-check does not declare the plugin API") for line in lines)
    assert lines[-1] == "rk-cli-check: 0 errors, 1 warning"
    bad = run("rk-no-such-plugin")
    assert bad.exit_code == 1 and bad.output.startswith("error: no installed distribution")


def test_validate_regionkit_itself_finds_no_error():
    findings = validate_distribution("regionkit", imports=True)
    assert _lines(findings, "error") == []
    assert "detector 'saliency' -> regionkit.plugins.detectors.saliency:SaliencyDetector: imports and honours the " \
           "contract" in _lines(findings, "ok")


# ====================================================================== conformance checks: passing
def test_builtin_saliency_detector_passes_the_kit():
    from regionkit.plugins.detectors.saliency import SaliencyDetector

    check_detector(SaliencyDetector())
    check_detector(SaliencyDetector(threshold=0.3, max_regions=2, resize_width=32))


@pytest.mark.parametrize("params", [
    ("patch_matters_score_filter", {}), ("neighbor_rpn_merge", {}), ("neighbor_rpn_merge", {"variant": "clean"}),
    ("n_part_regions", {"n": 4}), ("n_part_regions", {"n": 2}),
])
def test_patch_matters_selectors_pass_the_kit(params):
    from regionkit.registry import BOX_SELECTORS

    name, kwargs = params
    check_selector(BOX_SELECTORS.build(dict(type=name, **kwargs)))


@pytest.mark.parametrize("name", ["patch_matters_four_box", "patch_matters_object_box"])
def test_patch_matters_writers_pass_the_kit(name, tmp_path):
    from regionkit.registry import WRITERS

    check_writer(WRITERS.build(dict(type=name)), tmp_path)


def test_kit_images_cover_the_documented_cases():
    images = conformance_images()
    assert {k: v.size for k, v in images.items() if k in ("tiny", "wide", "tall")} == {
        "tiny": (16, 16), "wide": (300, 20), "tall": (20, 300)}
    assert images["portrait"].size[0] < images["portrait"].size[1]
    grey = images["greyscale"].array
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 1], grey[..., 2])
    assert all(im.array.dtype == np.uint8 and im.array.shape[2] == 3 for im in images.values())
    assert (images["rgba"].array == 0).all(axis=2).mean() > 0.2  # the transparent surround decodes to black


# ====================================================================== conformance checks: bugs caught
class GoodDetector(BaseDetector):
    def detect(self, images):
        out = []
        for im in images:
            h, w = im.shape[:2]
            out.append(Boxes.create([[w * 0.25, h * 0.25, w * 0.75, h * 0.75], [0, 0, w / 2, h / 2]], (w, h),
                                    scores=[0.9, 0.5], labels=[0, 0], label_names=["a", "a"]))
        return out


class OutsideDetector(GoodDetector):
    def detect(self, images):
        return [b.with_xyxy(b.xyxy + [0, 0, b.width * 0.5, 0]) for b in super().detect(images)]


class UnsortedDetector(GoodDetector):
    def detect(self, images):
        return [b[[1, 0]] for b in super().detect(images)]


class NoisyDetector(GoodDetector):
    def __init__(self):
        self.rng = np.random.default_rng()

    def detect(self, images):
        return [b.with_xyxy(b.xyxy * self.rng.uniform(0.9, 1.0)) for b in super().detect(images)]


class BatchDependentDetector(GoodDetector):
    def detect(self, images):  # scores normalised over the batch: a classic batching bug
        return [Boxes.create(b.xyxy, b.image_size, scores=b.scores / len(images)) for b in super().detect(images)]


class SwappedSizeDetector(GoodDetector):
    def detect(self, images):
        return [Boxes.create(b.xyxy, (b.height, b.width), scores=b.scores) for b in super().detect(images)]


class InPlaceDetector(GoodDetector):
    def detect(self, images):
        for im in images:
            im[0, 0] = 255 - im[0, 0]
        return super().detect(images)


class TinyCrashDetector(GoodDetector):
    def detect(self, images):
        if any(min(im.shape[:2]) < 20 for im in images):
            raise IndexError("window larger than the image")
        return super().detect(images)


class DropsOneDetector(GoodDetector):
    def detect(self, images):
        return super().detect(images)[:1]


@pytest.mark.parametrize("detector, failing, text", [
    (OutsideDetector(), "boxes_finite_and_inside_image",
     "box 0 [64, 64, 320, 192] extends past the right edge of the 256x256 image (x2=320 > width 256)"),
    (UnsortedDetector(), "scores_descending",
     "scores are not sorted in descending order: box 0 has 0.5 but box 1 has 0.9 (use boxes.sorted_by_score())"),
    (NoisyDetector(), "deterministic", "two detect() calls on image 'astronaut' (square photo, 256x256) disagree"),
    (BatchDependentDetector(), "batch_equals_single",
     "image 'astronaut' (square photo, 256x256) at position 0 of a 3-image batch gives different boxes than alone: "
     "box 0 scores: 0.3 vs 0.9"),
    (SwappedSizeDetector(), "image_size_matches",
     "returned image_size (213, 320), expected (320, 213) — that is (height, width); image_size is (width, height)"),
    (InPlaceDetector(), "does_not_modify_input", "detect() modified the input array of image 'astronaut'"),
    (TinyCrashDetector(), "tiny_thin_and_flat_images",
     "detect() on image 'astronaut-tiny' (tiny, 16x16): raised IndexError: window larger than the image"),
    (DropsOneDetector(), "returns_one_boxes_per_image",
     "detect() on a batch of 3 photos returned 1 results for 3 images"),
])
def test_detector_bugs_are_caught_precisely(detector, failing, text):
    from regionkit.testing import run_check

    with pytest.raises(ConformanceError) as info:
        check_detector(detector, label="detector 'buggy'")
    report = str(info.value)
    assert report.startswith("detector 'buggy': ") and f"  - {failing}: " in report
    with pytest.raises(ConformanceError) as single:
        run_check("detectors", failing, detector)
    assert text in str(single.value), str(single.value)


def test_a_correct_toy_detector_passes():
    check_detector(GoodDetector())


class ShrinkingSelector(BaseBoxSelector):
    def __call__(self, boxes):
        return Boxes.empty((max(1, boxes.width // 2), boxes.height))


class MutatingSelector(BaseBoxSelector):
    def __call__(self, boxes):
        boxes.xyxy[:] = np.round(boxes.xyxy)
        return boxes


class FakeIdempotent(BaseBoxSelector):
    idempotent = True

    def __call__(self, boxes):
        return boxes[: max(len(boxes) - 1, 0)]


class ExpandingSelector(BaseBoxSelector):
    def __call__(self, boxes):
        return boxes.with_xyxy(boxes.xyxy + [-5, -5, 5, 5])


@pytest.mark.parametrize("selector, text", [
    (ShrinkingSelector(), "the output must be for the same image (image_size (640, 480))"),
    (MutatingSelector(), "the selector changed the input's xyxy in place on the 'typical' boxes"),
    (FakeIdempotent(), "the selector declares idempotent = True, but applying it to its own output on the 'typical' "
                       "boxes changes it: 5 boxes vs 4 boxes"),
    (ExpandingSelector(), "box 3 [459.557, 309.668, 645, 376.002] extends past the right edge of the 640x480 image "
                          "(x2=645 > width 640)"),
])
def test_selector_bugs_are_caught(selector, text):
    with pytest.raises(ConformanceError) as info:
        check_selector(selector)
    assert text in str(info.value), str(info.value)


class JsonListWriter(BaseWriter):
    filename = "boxes.json"

    def make_record(self, result):
        return {"image": result.rel_path, "boxes": result.detections.tolist()}

    def finalize(self, out_dir, records):
        path = Path(out_dir) / self.filename
        path.write_text(json.dumps(list(records)))
        return [path]


class LossyWriter(JsonListWriter):
    def read_records(self, paths):  # forgets the last record: the round trip must catch it
        return super().read_records(paths)[:-1]


class RoundingWriter(JsonListWriter):
    def finalize(self, out_dir, records):
        rounded = [{**r, "boxes": [[round(v) for v in b] for b in r["boxes"]]} for r in records]
        return super().finalize(out_dir, rounded)


class TupleWriter(JsonListWriter):
    def make_record(self, result):
        return {"image": result.rel_path, "size": tuple(result.image_size)}


class LeftoverWriter(JsonListWriter):
    def finalize(self, out_dir, records):
        (Path(out_dir) / ".boxes.json.tmp").write_text("partial")
        return super().finalize(out_dir, records)


class LenWriter(JsonListWriter):
    def finalize(self, out_dir, records):
        if len(records) == 0:
            return []
        return super().finalize(out_dir, records)


class OutsideWriter(JsonListWriter):
    def finalize(self, out_dir, records):
        return super().finalize(Path(out_dir).parent, records)


@pytest.mark.parametrize("writer, text", [
    (LossyWriter(), "read_records() does not give back what was written: records: 5 items vs 4 items"),
    (RoundingWriter(), "read_records() does not give back what was written: records[0]['boxes'][0][0]: "),
    (TupleWriter(), "the record for 'photos/park/img_000.jpg' changes in a JSON round trip: record['size']: "
                    "(640, 480) (tuple) vs [640, 480] (list)"),
    (LeftoverWriter(), "left .boxes.json.tmp in out_dir but did not return it"),
    (LenWriter(), "raised TypeError: object of type 'list_iterator' has no len(); finalize must accept any iterable"),
    (OutsideWriter(), "which is outside out_dir"),
])
def test_writer_bugs_are_caught(writer, text, tmp_path):
    with pytest.raises(ConformanceError) as info:
        check_writer(writer, tmp_path)
    assert text in str(info.value), str(info.value)


def test_a_correct_toy_writer_passes(tmp_path):
    check_writer(JsonListWriter(), tmp_path)


# ====================================================================== losses
try:
    import torch
except ImportError:  # pragma: no cover - torch is one of regionkit's requirements
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


def _loss_classes():
    class L1Loss(torch.nn.Module):
        def __init__(self, loss_weight: float = 1.0, reduction: str = "mean"):
            super().__init__()
            self.loss_weight = loss_weight
            self.reduction = reduction

        def forward(self, pred, target):
            diff = (pred - target).abs()
            return self.loss_weight * (diff.mean() if self.reduction == "mean" else diff.sum())

        @classmethod
        def example_inputs(cls):
            return dict(pred=torch.randn(4, 8, requires_grad=True), target=torch.randn(4, 8))

    class IgnoresWeight(L1Loss):
        def forward(self, pred, target):
            return (pred - target).abs().mean()

    class VectorLoss(L1Loss):
        def forward(self, pred, target):
            return self.loss_weight * (pred - target).abs().mean(dim=1)

    class DetachedLoss(L1Loss):
        def forward(self, pred, target):
            return self.loss_weight * (pred.detach() - target).abs().mean() + 0 * target.sum()

    class NoExamples(torch.nn.Module):
        def __init__(self, loss_weight: float = 1.0):
            super().__init__()

        def forward(self, pred):
            return pred.sum()

    return dict(L1Loss=L1Loss, IgnoresWeight=IgnoresWeight, VectorLoss=VectorLoss, DetachedLoss=DetachedLoss,
                NoExamples=NoExamples)


@needs_torch
def test_a_correct_loss_passes():
    L1Loss = _loss_classes()["L1Loss"]
    check_loss(L1Loss())
    check_loss(L1Loss(loss_weight=0.5, reduction="sum"), dict(loss_weight=0.5, reduction="sum"))


@needs_torch
@pytest.mark.parametrize("name, text", [
    ("IgnoresWeight", "loss_weight_scales: loss_weight=1.0 gives "),
    ("VectorLoss", "returned a tensor of shape (4,); a loss returns a 0-dim scalar"),
    ("DetachedLoss", "the loss value does not require grad although input(s) pred do: forward() detaches them"),
    ("NoExamples", "NoExamples has no example_inputs() classmethod"),
])
def test_loss_bugs_are_caught(name, text):
    with pytest.raises(ConformanceError) as info:
        check_loss(_loss_classes()[name]())
    assert text in str(info.value), str(info.value)


def test_loss_checks_skip_without_torch(monkeypatch):
    import unittest

    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    with pytest.raises(unittest.SkipTest, match="torch is not installed"):
        check_loss(object())


# ====================================================================== the pytest plugin, end to end
KIT_PLUGIN = '''
"""A fake plugin with good and buggy components for the conformance suite."""
from pathlib import Path
import json

from regionkit.structures.boxes import Boxes
from regionkit import BaseBoxSelector, BaseDetector, BaseWriter


class Half(BaseDetector):
    """A correct detector: the central half."""

    conformance_params = [dict(), dict(fraction=0.25)]

    def __init__(self, fraction: float = 0.5):
        self.fraction = fraction

    def detect(self, images):
        out = []
        for im in images:
            h, w = im.shape[:2]
            mx, my = w * (1 - self.fraction) / 2, h * (1 - self.fraction) / 2
            out.append(Boxes.create([[mx, my, w - mx, h - my]], (w, h), scores=[1.0]))
        return out


class Outside(Half):
    """Buggy: its box sticks out of the image."""

    conformance_params = None

    def detect(self, images):
        return [Boxes.create([[0, 0, b.width + 10, b.height]], b.image_size) for b in super().detect(images)]


class NeedsWeights(Half):
    """Cannot be built with defaults."""

    conformance_params = None

    def __init__(self, weights: str, fraction: float = 0.5):
        super().__init__(fraction)


class NeedsModel(Half):
    """Cannot be built on a test machine."""

    conformance_params = None
    conformance_skip = "needs the model weights"


class Keep(BaseBoxSelector):
    """Idempotent and correct."""

    idempotent = True

    def __call__(self, boxes):
        return boxes


class Dump(BaseWriter):
    """A correct writer."""

    def make_record(self, result):
        return {"image": result.rel_path, "n": len(result.detections)}

    def finalize(self, out_dir, records):
        path = Path(out_dir) / "dump.json"
        path.write_text(json.dumps(list(records)))
        return [path]
'''


@pytest.fixture(scope="module")
def kit_site(tmp_path_factory):
    """A folder holding the fake distributions the pytest plugin is run against (put on PYTHONPATH)."""
    site = tmp_path_factory.mktemp("kit_site")
    write_distribution(site, "rk-kit-fake", "0.5", {
        "regionkit.detectors": ["half = rk_kit_fake.comps:Half", "outside = rk_kit_fake.comps:Outside",
                                "needs_weights = rk_kit_fake.comps:NeedsWeights"],
        "regionkit.box_selectors": ["keep = rk_kit_fake.comps:Keep"],
        "regionkit.writers": ["dump = rk_kit_fake.comps:Dump"],
    }, {"rk_kit_fake/__init__.py": 'REGIONKIT_PLUGIN_API = "1.0"\n', "rk_kit_fake/comps.py": KIT_PLUGIN})
    write_distribution(site, "rk-kit-undeclared", "0.1", {"regionkit.detectors": [
        "half2 = rk_kit_undeclared.c:Half", "needs_model = rk_kit_undeclared.c:NeedsModel"]},
                       {"rk_kit_undeclared/__init__.py": "", "rk_kit_undeclared/c.py": KIT_PLUGIN})
    return site


def _pytest(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site)}
    for var in ("REGIONKIT_DISABLE_PLUGIN_AUTOLOAD", "REGIONKIT_PLUGINS", "PYTEST_ADDOPTS", "PYTEST_PLUGINS"):
        env.pop(var, None)
    # -p no:regionkit + -p MODULE works whether or not the pytest11 entry point is installed yet
    cmd = [sys.executable, "-m", "pytest", "-p", "no:regionkit", "-p", "regionkit.devkit.pytest_plugin",
           "-p", "no:cacheprovider", "-rfEs", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _counts(output: str) -> dict[str, int]:
    last = [line for line in output.splitlines() if re.search(r"\d+ (passed|failed)", line)][-1]
    return {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped|error|deselected)", last)}


def test_pytest_plugin_runs_the_suite_on_a_distribution(kit_site, tmp_path):
    result = _pytest(kit_site, tmp_path, "--regionkit-conformance=rk-kit-fake", "-v")
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    # api_version + entry_points; 4 detector nodes (half with 2 parameter sets, outside, needs_weights), each
    # build + 9 checks; keep: build + 6 checks (idempotent included); dump: build + 4 checks.
    # outside fails 3 checks (its box sticks out); needs_weights fails build and all 9 checks.
    assert _counts(out) == {"passed": 2 + 20 + 7 + 7 + 5, "failed": 3 + 10}, out
    assert "regionkit conformance: rk-kit-fake" in out
    assert ("regionkit-conformance[rk-kit-fake]::detectors.half[fraction=0.25]::batch_equals_single PASSED" in out)
    assert "regionkit-conformance[rk-kit-fake]::box_selectors.keep::idempotent PASSED" in out
    assert "regionkit-conformance[rk-kit-fake]::detectors.outside::boxes_finite_and_inside_image FAILED" in out
    assert "extends past the right edge of the 256x256 image (x2=266 > width 256)" in out
    assert "regionkit-conformance[rk-kit-fake]::detectors.needs_weights::build FAILED" in out
    assert "    conformance_params = [dict(weights=...)]" in out
    assert "regionkit-conformance[rk-kit-fake]::detectors.needs_weights::deterministic FAILED" in out
    assert ("cannot build the component (its 'build' test says how to fix it): detector "
            "'rk_kit_fake.needs_weights' (rk_kit_fake.comps:NeedsWeights) cannot be built with its defaults") in out
    assert "collected 54 items" in out


def test_pytest_plugin_selection_ini_key_and_api_check(kit_site, tmp_path):
    selected = _pytest(kit_site, tmp_path, "--regionkit-conformance=rk-kit-fake", "-k", "half and not fraction")
    assert selected.returncode == 0, selected.stdout
    assert _counts(selected.stdout) == {"passed": 10, "deselected": 44}, selected.stdout

    (tmp_path / "pytest.ini").write_text("[pytest]\nregionkit_conformance = rk-kit-undeclared\n")
    ini = _pytest(kit_site, tmp_path, "-q")
    assert ini.returncode == 1 and _counts(ini.stdout) == {"passed": 21, "failed": 1, "skipped": 10}, ini.stdout
    assert "FAILED regionkit-conformance[rk-kit-undeclared]::api_version" in ini.stdout
    assert re.search(r"SKIPPED \[10\] \S*rk_kit_undeclared/c\.py:\d+: detector 'rk_kit_undeclared.needs_model' "
                     r"\(rk_kit_undeclared.c:NeedsModel\): conformance_skip = 'needs the model weights'", ini.stdout)
    assert f"add the line `REGIONKIT_PLUGIN_API = \"{HOST_API}\"` to rk_kit_undeclared/__init__.py" in ini.stdout


def test_pytest_plugin_names_a_missing_distribution(kit_site, tmp_path):
    result = _pytest(kit_site, tmp_path, "--regionkit-conformance=rk-kit-fak")
    assert result.returncode == 4
    assert ("no installed distribution 'rk-kit-fak' declares regionkit entry points (did you mean 'rk-kit-fake'?)"
            in result.stderr), result.stderr
    untouched = _pytest(kit_site, tmp_path, "--co", "-q")  # without the option the plugin adds nothing
    assert "regionkit-conformance" not in untouched.stdout
