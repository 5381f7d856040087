"""Conformance kit: check that a component honours its kind's contract.

Plugin authors get regionkit's contract tests for free, two ways:

* **the pytest plugin** (:mod:`regionkit.testing.pytest_plugin`, loaded automatically once
  regionkit is installed): ``pytest --regionkit-conformance=my-dist`` (or the ini key
  ``regionkit_conformance = my-dist``) runs one test per (component, check) for every
  component that distribution declares in its entry points;
* **these functions**, for your own tests::

      from regionkit.testing import check_detector
      check_detector(MyDetector(threshold=0.3))      # raises ConformanceError listing every failure

What is checked, per kind:

detectors (:func:`check_detector`)
    ``detect`` returns a list with one :class:`~regionkit.core.boxes.Boxes` per image;
    ``image_size == (width, height)``; boxes finite, non-empty (``x2 > x1``, ``y2 > y1``) and
    inside the image; scores finite and sorted descending; two calls give the same boxes; a
    batch of three mixed-size images gives what three single-image calls give; greyscale
    content, RGBA cut-outs (alpha dropped, as the image loader does), 16x16, very thin and
    flat (constant) images work; the input arrays are not modified.  Inputs are always RGB
    ``uint8`` ``(H, W, 3)`` arrays, as the runner passes them.  Real photographs from
    scikit-image are used when it is installed, synthetic scenes otherwise.
box selectors (:func:`check_selector`)
    the output is ``Boxes`` for the same image (same ``image_size``), valid (finite, not
    inverted, inside the image); empty input gives valid output; two calls agree; the input is
    not modified; if the class sets ``idempotent = True``, applying it twice equals applying it
    once.  Selectors with ``needs_image = True`` get ``image=`` an RGB array of the right size.
writers (:func:`check_writer`)
    ``start(out_dir)`` (if the writer has it) is called first, as the runner does;
    ``make_record`` on synthetic :class:`~regionkit.core.interfaces.ImageResult` s (with every
    region set ``required_regions()`` names; ``result.image`` only if ``needs_image``) gives
    strict JSON that survives a JSON round trip, the same twice; ``finalize(out_dir,
    iterator)`` writes its files inside ``out_dir``, returns every file it wrote and leaves no
    temporary files; ``read_records(paths)`` gives back the records; an empty run writes
    nothing or files that read back as ``[]``.
losses (:func:`check_loss`, needs torch; skipped without it)
    A loss is a ``torch.nn.Module`` whose constructor takes ``loss_weight`` (the value is
    multiplied by it) and whose class provides example inputs::

        class MyLoss(torch.nn.Module):
            def __init__(self, loss_weight: float = 1.0): ...
            def forward(self, pred, target): ...           # -> scalar tensor
            @classmethod
            def example_inputs(cls) -> dict:               # keyword arguments for forward
                return dict(pred=torch.randn(4, 8, requires_grad=True), target=torch.randn(4, 8))

    Checked: the output is a finite 0-dim floating tensor; ``backward()`` gives finite
    gradients to every input with ``requires_grad=True`` (at least one must have it);
    doubling ``loss_weight`` doubles the value.  ``example_inputs`` is called under
    ``torch.manual_seed(0)`` and must return fresh tensors.
captioners / matchers (:func:`check_captioner`, :func:`check_matcher`)
    one string per image / a subset of the given class names; deterministic.

Class attributes a component may set for the kit:

``conformance_params``
    a list of parameter dicts; the suite builds and checks the component once per dict
    (default: once, with its defaults).  Required when the constructor has parameters without
    defaults.
``idempotent = True``
    (selectors) also check ``sel(sel(b)) == sel(b)``.
``conformance_skip = "reason"``
    (pytest plugin) skip the component, e.g. when it cannot be built without model weights.
``conformance_tolerance``
    absolute tolerance (pixels and score units, default ``1e-6``) for the determinism and
    batch-equals-single comparisons, for detectors whose batched arithmetic differs slightly.

Importing this module is cheap (standard library only); numpy, regionkit's core and torch are
imported when a check runs.
"""
from __future__ import annotations

import json
import math
import shutil
import tempfile
import traceback
import unittest
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from regionkit.core.boxes import Boxes

__all__ = [
    "ConformanceError", "Check", "CheckContext", "CHECKS", "SampleImage",
    "check_detector", "check_selector", "check_writer", "check_loss", "check_captioner", "check_matcher",
    "check_component", "run_check", "applicable_checks", "conformance_images", "selector_inputs",
    "writer_results", "DEFAULT_TOLERANCE", "format_traceback",
]

#: default absolute tolerance of the determinism and batch comparisons
DEFAULT_TOLERANCE = 1e-6


class ConformanceError(AssertionError):
    """A component broke its kind's contract; the message says which check, on which input, and how."""


# ====================================================================== context and registry
@dataclass
class CheckContext:
    """What a check may use besides the component.

    ``label`` names the component in messages (``detector 'edge_density'``); ``params`` are
    the parameters it was built with; ``factory(params)`` builds another instance (the loss
    weight check needs one; default: the component's class called with ``params``);
    ``tmp_path`` is a folder writers may write into (a temporary one by default).
    """

    label: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    factory: Callable[[dict[str, Any]], Any] | None = None
    tmp_path: Path | None = None

    def build(self, component: Any, params: dict[str, Any]) -> Any:
        if self.factory is not None:
            return self.factory(params)
        return type(component)(**params)


@dataclass(frozen=True)
class Check:
    """One contract check: ``func(component, context)`` raises :class:`ConformanceError` on a violation.

    ``applies(component)`` says whether the check is relevant (e.g. idempotence only for
    selectors that declare it); ``doc`` is a one-line description.
    """

    name: str
    kind: str
    func: Callable[[Any, CheckContext], None]
    doc: str
    applies: Callable[[Any], bool] | None = None

    def is_applicable(self, component: Any) -> bool:
        return self.applies is None or bool(self.applies(component))


#: kind -> {check name -> Check}, in the order they run
CHECKS: dict[str, dict[str, Check]] = {}


def _check(kind: str, name: str, doc: str, applies: Callable[[Any], bool] | None = None):
    def register(func: Callable[[Any, CheckContext], None]) -> Callable[[Any, CheckContext], None]:
        CHECKS.setdefault(kind, {})[name] = Check(name, kind, func, doc, applies)
        return func
    return register


def applicable_checks(kind: str, component: Any) -> list[Check]:
    """The checks of ``kind`` that apply to ``component`` (a class or an instance)."""
    return [c for c in CHECKS.get(kind, {}).values() if c.is_applicable(component)]


def run_check(kind: str, name: str, component: Any, context: CheckContext | None = None) -> None:
    """Run one named check; raises :class:`ConformanceError` (or ``unittest.SkipTest``)."""
    check = CHECKS[kind][name]
    ctx = context or CheckContext(label=_default_label(kind, component))
    if ctx.tmp_path is not None or kind != "writers":
        check.func(component, ctx)
        return
    tmp = Path(tempfile.mkdtemp(prefix="regionkit-conformance-"))
    try:
        ctx.tmp_path = tmp
        check.func(component, ctx)
    finally:
        ctx.tmp_path = None
        shutil.rmtree(tmp, ignore_errors=True)


def check_component(kind: str, component: Any, context: CheckContext | None = None) -> None:
    """Run every applicable check of ``kind``; raise one :class:`ConformanceError` listing all failures."""
    ctx = context or CheckContext(label=_default_label(kind, component))
    checks = applicable_checks(kind, component)
    failures: list[str] = []
    for check in checks:
        try:
            run_check(kind, check.name, component, ctx)
        except unittest.SkipTest:
            continue
        except ConformanceError as exc:
            failures.append(f"{check.name}: {exc}" + _cause_traceback(exc))
        except Exception as exc:  # a crash inside the component is a failure of that check
            failures.append(f"{check.name}: raised {type(exc).__name__}: {exc}\n" + format_traceback(exc))
    if failures:
        body = "\n".join("  - " + f.replace("\n", "\n    ") for f in failures)
        raise ConformanceError(f"{ctx.label}: {len(failures)} of {len(checks)} checks failed:\n{body}")


def format_traceback(exc: BaseException, limit: int = -4) -> str:
    """The last ``limit`` frames of ``exc``'s traceback (the component's code, not the kit's)."""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=limit, chain=False)).rstrip()


def _cause_traceback(exc: BaseException) -> str:
    cause = exc.__cause__
    if cause is None or isinstance(cause, ConformanceError):
        return ""
    return "\n" + format_traceback(cause)


def check_detector(detector: Any, *, label: str | None = None) -> None:
    """Run every detector check on ``detector`` (an instance); :class:`ConformanceError` lists the failures."""
    check_component("detectors", detector, CheckContext(label=label or _default_label("detectors", detector)))


def check_selector(selector: Any, *, label: str | None = None) -> None:
    """Run every box-selector check on ``selector`` (an instance)."""
    check_component("box_selectors", selector, CheckContext(label=label or _default_label("box_selectors", selector)))


def check_writer(writer: Any, tmp_path: str | Path, *, label: str | None = None) -> None:
    """Run every writer check on ``writer``, writing under ``tmp_path`` (each check in its own sub-folder)."""
    check_component("writers", writer, CheckContext(label=label or _default_label("writers", writer),
                                                    tmp_path=Path(tmp_path)))


def check_loss(loss: Any, params: Mapping[str, Any] | None = None, *,
               factory: Callable[[dict[str, Any]], Any] | None = None, label: str | None = None) -> None:
    """Run every loss check on ``loss`` (an instance built with ``params``).

    The ``loss_weight`` check builds two more instances, with ``factory(params)`` if given, else
    ``type(loss)(**params)``.  Raises ``unittest.SkipTest`` (a skip under pytest) without torch.
    """
    _torch()
    check_component("losses", loss, CheckContext(label=label or _default_label("losses", loss),
                                                 params=dict(params or {}), factory=factory))


def check_captioner(captioner: Any, *, label: str | None = None) -> None:
    """Run every captioner check on ``captioner``."""
    check_component("captioners", captioner, CheckContext(label=label or _default_label("captioners", captioner)))


def check_matcher(matcher: Any, *, label: str | None = None) -> None:
    """Run every matcher check on ``matcher``."""
    check_component("matchers", matcher, CheckContext(label=label or _default_label("matchers", matcher)))


def _default_label(kind: str, component: Any) -> str:
    singular = {"detectors": "detector", "box_selectors": "box selector", "writers": "writer", "losses": "loss",
                "captioners": "captioner", "matchers": "matcher"}.get(kind, kind)
    cls = component if isinstance(component, type) else type(component)
    return f"{singular} {cls.__module__}.{cls.__qualname__}"


# ====================================================================== sample inputs
@dataclass(frozen=True)
class SampleImage:
    """A named RGB ``uint8`` ``(H, W, 3)`` test image; ``what`` says what it is for messages."""

    name: str
    array: "np.ndarray"
    what: str

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``."""
        return int(self.array.shape[1]), int(self.array.shape[0])

    def describe(self) -> str:
        w, h = self.size
        return f"image '{self.name}' ({self.what}, {w}x{h})"


def _resize(rgb: "np.ndarray", size: tuple[int, int]) -> "np.ndarray":
    import numpy as np
    from PIL import Image

    return np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR), dtype=np.uint8).copy()


def _synthetic_scene(width: int, height: int, seed: int) -> "np.ndarray":
    """A deterministic scene: a colour gradient, a few rectangles and ellipses, mild noise."""
    import numpy as np

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    base = np.stack([80 + 100 * xx / max(width - 1, 1), 90 + 60 * yy / max(height - 1, 1),
                     np.full_like(xx, 140.0)], axis=-1)
    for _ in range(4):
        colour = rng.uniform(0, 255, 3)
        x0, y0 = rng.uniform(0, 0.7) * width, rng.uniform(0, 0.7) * height
        w, h = rng.uniform(0.1, 0.3) * width, rng.uniform(0.1, 0.3) * height
        if rng.random() < 0.5:
            mask = (xx >= x0) & (xx < x0 + w) & (yy >= y0) & (yy < y0 + h)
        else:
            mask = ((xx - x0 - w / 2) / (w / 2)) ** 2 + ((yy - y0 - h / 2) / (h / 2)) ** 2 <= 1
        base[mask] = colour
    base += rng.normal(0, 6, base.shape)
    return np.clip(base, 0, 255).round().astype(np.uint8)


@lru_cache(maxsize=1)
def _photos() -> tuple[tuple[str, "np.ndarray"], ...]:
    """Real photographs shipped with scikit-image, or synthetic scenes without it."""
    try:
        import skimage.data as data

        return (("astronaut", data.astronaut()), ("chelsea", data.chelsea()), ("coffee", data.coffee()),
                ("camera", data.camera()))
    except Exception:  # scikit-image missing or its data files absent
        import numpy as np

        grey = _synthetic_scene(512, 512, 3).mean(axis=2).round().astype(np.uint8)
        return (("scene-a", _synthetic_scene(512, 512, 0)), ("scene-b", _synthetic_scene(451, 300, 1)),
                ("scene-c", _synthetic_scene(600, 400, 2)), ("scene-grey", grey))


@lru_cache(maxsize=1)
def _images() -> dict[str, SampleImage]:
    import numpy as np
    from PIL import Image

    (n1, a), (n2, b), (n3, c), (n4, grey) = _photos()
    out: dict[str, SampleImage] = {}
    out["square"] = SampleImage(n1, _resize(a, (256, 256)), "square photo")
    out["landscape"] = SampleImage(n2, _resize(b, (320, 213)), "landscape photo")
    portrait = np.ascontiguousarray(np.rot90(_resize(c, (300, 200))))
    out["portrait"] = SampleImage(f"{n3}-rotated", portrait, "portrait photo")
    grey_rgb = np.asarray(Image.fromarray(_resize(np.stack([grey] * 3, -1), (256, 256))).convert("L").convert("RGB"))
    out["greyscale"] = SampleImage(n4, grey_rgb.copy(), "greyscale content, converted to RGB")
    cut = _resize(b, (240, 160)).astype(np.uint8)
    yy, xx = np.mgrid[0:160, 0:240]
    alpha = (((xx - 120) / 90.0) ** 2 + ((yy - 80) / 60.0) ** 2 <= 1).astype(np.uint8) * 255
    rgba = np.dstack([cut * (alpha[..., None] > 0), alpha]).astype(np.uint8)
    rgb = np.asarray(Image.fromarray(rgba, "RGBA").convert("RGB")).copy()  # what the loader does
    out["rgba"] = SampleImage(f"{n2}-cutout", rgb, "RGBA cut-out with alpha dropped, black background")
    out["tiny"] = SampleImage(f"{n1}-tiny", _resize(a, (16, 16)), "tiny")
    out["wide"] = SampleImage(f"{n2}-strip", _resize(b, (300, 20)), "thin wide strip")
    out["tall"] = SampleImage(f"{n3}-strip", _resize(c, (20, 300)), "thin tall strip")
    out["flat"] = SampleImage("flat-grey", np.full((48, 64, 3), 128, dtype=np.uint8), "constant colour")
    for image in out.values():
        image.array.setflags(write=False)  # shared between checks: nobody may change them
    return out


def conformance_images() -> dict[str, SampleImage]:
    """The kit's test images by role: ``square``, ``landscape``, ``portrait`` (photos), ``greyscale``,
    ``rgba``, ``tiny`` (16x16), ``wide`` (300x20), ``tall`` (20x300), ``flat`` (constant).

    Each detector check gets fresh writable copies.
    """
    return dict(_images())


def _fresh(*roles: str) -> list[SampleImage]:
    images = _images()
    return [SampleImage(images[r].name, images[r].array.copy(), images[r].what) for r in roles]


def selector_inputs() -> list[tuple[str, "Boxes"]]:
    """Named box sets as a detector would produce them (sanitised, score-descending)."""
    import numpy as np

    from regionkit.core.boxes import Boxes

    rng = np.random.default_rng(7)
    names = ("cat", "dog", "car", "tree")

    def make(xyxy: Any, size: tuple[int, int], scores: Any = None) -> Boxes:
        xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        n = len(xyxy)
        if scores is None:
            scores = np.sort(rng.uniform(0.05, 0.95, n))[::-1]
        labels = rng.integers(0, len(names), n)
        return Boxes.create(xyxy, size, scores=scores, labels=labels, label_names=[names[i] for i in labels])

    def random_boxes(n: int, size: tuple[int, int]) -> np.ndarray:
        w, h = size
        x1 = rng.uniform(0, 0.75 * w, n)
        y1 = rng.uniform(0, 0.75 * h, n)
        bw = rng.uniform(0.05, 0.4, n) * w
        bh = rng.uniform(0.05, 0.4, n) * h
        return np.stack([x1, y1, np.minimum(x1 + bw, w), np.minimum(y1 + bh, h)], axis=1)

    size = (640, 480)
    cluster = []
    for cx, cy in ((150, 120), (420, 300), (560, 80)):
        for _ in range(3):
            jx, jy = rng.uniform(-15, 15, 2)
            cluster.append([max(cx + jx - 60, 0), max(cy + jy - 45, 0), min(cx + jx + 60, 640), min(cy + jy + 45, 480)])
    return [
        ("typical", make(random_boxes(6, size), size)),
        ("overlapping", make(cluster, size)),
        ("single", make([[200.0, 150.0, 420.0, 330.0]], size, scores=[0.8])),
        ("low-scores", make(random_boxes(4, size), size, scores=[0.25, 0.2, 0.1, 0.05])),
        ("touching-edges", make([[0.0, 0.0, 640.0, 480.0], [0.0, 300.0, 200.0, 480.0], [500.0, 0.0, 640.0, 90.0]],
                                size, scores=[0.9, 0.6, 0.4])),
        ("portrait", make(random_boxes(5, (211, 377)), (211, 377))),
        ("tiny-image", make([[0.0, 0.0, 8.0, 8.0], [4.0, 5.0, 16.0, 16.0]], (16, 16), scores=[0.7, 0.5])),
    ]


def writer_results(writer: Any) -> list[Any]:
    """Synthetic :class:`~regionkit.core.interfaces.ImageResult` s carrying every region set ``writer`` reads."""
    from regionkit.core.interfaces import ImageResult

    inputs = dict(selector_inputs())
    needs = sorted(set(writer.required_regions() if hasattr(writer, "required_regions") else ()) - {"detections"})
    wants_image = bool(getattr(writer, "needs_image", False))
    plan = [("typical", "photos/park"), ("overlapping", "photos/park"), ("portrait", "photos/street"),
            ("tiny-image", "scans"), ("single", "photos/street")]
    results = []
    for i, (key, folder) in enumerate(plan):
        boxes = inputs[key]
        regions = {}
        for j, name in enumerate(needs):
            k = (i + j) % 3
            regions[name] = boxes if k == 0 else (boxes[:1] if k == 1 else boxes[:0])
        rel = f"{folder}/img_{i:03d}.jpg"
        image = None
        if wants_image:
            w, h = boxes.image_size
            image = _synthetic_scene(w, h, i)
        results.append(ImageResult(path=f"/data/conformance/{rel}", rel_path=rel, image_size=boxes.image_size,
                                   detections=boxes, regions=regions, meta={"image_id": i + 1}, image=image))
    return results


# ====================================================================== shared helpers
def _fmt_box(row: Sequence[float]) -> str:
    return "[" + ", ".join(f"{float(v):.6g}" for v in row) + "]"


def _tolerance(component: Any) -> float:
    value = getattr(component, "conformance_tolerance", DEFAULT_TOLERANCE)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConformanceError(f"conformance_tolerance must be a number, got {value!r}") from None


def _is_boxes(obj: Any) -> bool:
    from regionkit.core.boxes import Boxes

    return isinstance(obj, Boxes)


def _validate_boxes(boxes: "Boxes", size: tuple[int, int], where: str, *, strict: bool, sorted_scores: bool,
                    slack: float = 0.0) -> None:
    """Finite, not inverted (empty too if ``strict``), inside ``size``; optionally score-descending."""
    import numpy as np

    w, h = size
    eps = slack + 1e-9 * max(w, h)
    for i, row in enumerate(boxes.xyxy):
        box = _fmt_box(row)
        if not np.all(np.isfinite(row)):
            raise ConformanceError(f"{where}: box {i} {box} has a non-finite coordinate")
        x1, y1, x2, y2 = (float(v) for v in row)
        if strict and (x2 <= x1 or y2 <= y1):
            raise ConformanceError(f"{where}: box {i} {box} is inverted or empty (needs x2 > x1 and y2 > y1; "
                                   f"xyxy is [x1, y1, x2, y2] in pixels)")
        if not strict and (x2 < x1 or y2 < y1):
            raise ConformanceError(f"{where}: box {i} {box} is inverted (needs x2 >= x1 and y2 >= y1)")
        edges = [("left", x1 < -eps, f"x1={x1:.6g} < 0"), ("top", y1 < -eps, f"y1={y1:.6g} < 0"),
                 ("right", x2 > w + eps, f"x2={x2:.6g} > width {w}"),
                 ("bottom", y2 > h + eps, f"y2={y2:.6g} > height {h}")]
        for edge, bad, detail in edges:
            if bad:
                raise ConformanceError(f"{where}: box {i} {box} extends past the {edge} edge of the {w}x{h} image "
                                       f"({detail}); boxes must lie within [0, width] x [0, height]")
    if len(boxes) and not np.all(np.isfinite(boxes.scores)):
        bad = int(np.flatnonzero(~np.isfinite(boxes.scores))[0])
        raise ConformanceError(f"{where}: score of box {bad} is {boxes.scores[bad]}; scores must be finite")
    if sorted_scores and len(boxes) > 1:
        drops = np.flatnonzero(np.diff(boxes.scores) > 0)
        if len(drops):
            i = int(drops[0])
            raise ConformanceError(f"{where}: scores are not sorted in descending order: box {i} has "
                                   f"{boxes.scores[i]:.6g} but box {i + 1} has {boxes.scores[i + 1]:.6g} "
                                   f"(use boxes.sorted_by_score())")


def _difference(a: "Boxes", b: "Boxes", tol: float) -> str | None:
    """Where two box sets differ (beyond ``tol``), or ``None``."""
    import numpy as np

    if a.image_size != b.image_size:
        return f"image_size {a.image_size} vs {b.image_size}"
    if len(a) != len(b):
        return f"{len(a)} boxes vs {len(b)} boxes"
    for field_name in ("xyxy", "scores"):
        x, y = getattr(a, field_name), getattr(b, field_name)
        close = np.isclose(x, y, rtol=0.0, atol=tol, equal_nan=True)
        if not np.all(close):
            i = int(np.argwhere(~close)[0][0])
            first = _fmt_box(x[i]) if field_name == "xyxy" else f"{x[i]:.9g}"
            second = _fmt_box(y[i]) if field_name == "xyxy" else f"{y[i]:.9g}"
            return f"box {i} {field_name}: {first} vs {second}"
    if not np.array_equal(a.labels, b.labels):
        return f"labels {a.labels.tolist()} vs {b.labels.tolist()}"
    if a.label_names != b.label_names:
        return f"label_names {list(a.label_names)} vs {list(b.label_names)}"
    return None


def _call(where: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call component code; an exception becomes a ConformanceError saying on what input it happened."""
    try:
        return func(*args, **kwargs)
    except (ConformanceError, unittest.SkipTest):
        raise
    except Exception as exc:
        raise ConformanceError(f"{where}: raised {type(exc).__name__}: {exc}") from exc


# ====================================================================== detectors
def _detect(det: Any, images: Sequence[SampleImage], what: str) -> list["Boxes"]:
    arrays = [im.array for im in images]
    where = f"detect() on {what}"
    out = _call(where, det.detect, arrays)
    if not isinstance(out, (list, tuple)):
        raise ConformanceError(f"{where} returned {type(out).__name__}; it must return a list with one Boxes "
                               f"per image")
    if len(out) != len(arrays):
        raise ConformanceError(f"{where} returned {len(out)} results for {len(arrays)} images; it must return "
                               f"exactly one Boxes per image, in order")
    for i, boxes in enumerate(out):
        if not _is_boxes(boxes):
            raise ConformanceError(f"{where}: result {i} is {type(boxes).__name__}, not "
                                   f"regionkit.core.boxes.Boxes (build one with Boxes.create(xyxy, (width, height), "
                                   f"scores=..., labels=..., label_names=...))")
    return list(out)


def _check_sizes(results: Sequence["Boxes"], images: Sequence[SampleImage]) -> None:
    for boxes, image in zip(results, images):
        w, h = image.size
        if boxes.image_size != (w, h):
            hint = " — that is (height, width); image_size is (width, height)" if boxes.image_size == (h, w) else ""
            raise ConformanceError(f"detect() on {image.describe()} returned image_size {boxes.image_size}, "
                                   f"expected {(w, h)}{hint}")


def _check_outputs(results: Sequence["Boxes"], images: Sequence[SampleImage]) -> None:
    _check_sizes(results, images)
    for boxes, image in zip(results, images):
        _validate_boxes(boxes, image.size, f"detect() on {image.describe()}", strict=True, sorted_scores=True)


_PHOTOS = ("square", "landscape", "portrait")


@_check("detectors", "returns_one_boxes_per_image", "detect(images) returns a list with one Boxes per image")
def _det_structure(det: Any, ctx: CheckContext) -> None:
    _detect(det, _fresh(*_PHOTOS), "a batch of 3 photos")
    single = _detect(det, _fresh("square"), "a batch of 1 photo")
    if len(single) != 1:  # pragma: no cover - _detect already checks
        raise ConformanceError("detect() on one image must return one Boxes")


@_check("detectors", "image_size_matches", "each Boxes has image_size == (width, height) of its image")
def _det_sizes(det: Any, ctx: CheckContext) -> None:
    images = _fresh(*_PHOTOS, "tiny", "wide", "tall")
    for image in images:
        _check_sizes(_detect(det, [image], image.describe()), [image])


@_check("detectors", "boxes_finite_and_inside_image", "boxes are finite, non-empty and inside the image")
def _det_inside(det: Any, ctx: CheckContext) -> None:
    images = _fresh(*_PHOTOS)
    results = _detect(det, images, "a batch of 3 photos")
    _check_sizes(results, images)
    for boxes, image in zip(results, images):
        _validate_boxes(boxes, image.size, f"detect() on {image.describe()}", strict=True, sorted_scores=False)


@_check("detectors", "scores_descending", "boxes are sorted by descending score")
def _det_sorted(det: Any, ctx: CheckContext) -> None:
    images = _fresh(*_PHOTOS, "greyscale")
    for boxes, image in zip(_detect(det, images, "a batch of 4 photos"), images):
        _validate_boxes(boxes, image.size, f"detect() on {image.describe()}", strict=False, sorted_scores=True,
                        slack=math.inf)


@_check("detectors", "deterministic", "two calls on the same images give the same boxes")
def _det_deterministic(det: Any, ctx: CheckContext) -> None:
    images = _fresh(*_PHOTOS)
    first = _detect(det, images, "a batch of 3 photos (first call)")
    second = _detect(det, _fresh(*_PHOTOS), "the same batch (second call)")
    tol = _tolerance(det)
    for a, b, image in zip(first, second, images):
        diff = _difference(a, b, tol)
        if diff:
            raise ConformanceError(f"two detect() calls on {image.describe()} disagree: {diff}; detectors must "
                                   f"be deterministic (seed any randomness, keep no state between calls)")


@_check("detectors", "batch_equals_single", "a batch of 3 mixed-size images gives what 3 single calls give")
def _det_batch(det: Any, ctx: CheckContext) -> None:
    images = _fresh(*_PHOTOS)
    batch = _detect(det, images, "a batch of 3 photos of different sizes")
    tol = _tolerance(det)
    for i, image in enumerate(images):
        (alone,) = _detect(det, _fresh(("square", "landscape", "portrait")[i]), image.describe())
        diff = _difference(batch[i], alone, tol)
        if diff:
            raise ConformanceError(f"{image.describe()} at position {i} of a 3-image batch gives different boxes "
                                   f"than alone: {diff}; each image's boxes must not depend on the other images "
                                   f"in the batch (the runner batches images of different sizes and retries "
                                   f"failed batches one image at a time)")


@_check("detectors", "greyscale_and_rgba_inputs", "greyscale-content and RGBA-cut-out RGB images work")
def _det_grey_rgba(det: Any, ctx: CheckContext) -> None:
    images = _fresh("greyscale", "rgba")
    for image in images:
        _check_outputs(_detect(det, [image], image.describe()), [image])
    _check_outputs(_detect(det, images, "a batch of a greyscale and an RGBA-derived image"), images)


@_check("detectors", "tiny_thin_and_flat_images", "16x16, 300x20, 20x300 and constant-colour images work")
def _det_edge_cases(det: Any, ctx: CheckContext) -> None:
    for image in _fresh("tiny", "wide", "tall", "flat"):
        _check_outputs(_detect(det, [image], image.describe()), [image])


@_check("detectors", "does_not_modify_input", "detect() leaves the input arrays unchanged")
def _det_input(det: Any, ctx: CheckContext) -> None:
    import numpy as np

    images = _fresh(*_PHOTOS, "greyscale")
    before = [im.array.copy() for im in images]
    _detect(det, images, "a batch of 4 images")
    for image, original in zip(images, before):
        if not np.array_equal(image.array, original):
            raise ConformanceError(f"detect() modified the input array of {image.describe()} in place; the runner "
                                   f"passes the same array on to selectors and writers, so copy before changing it")


# ====================================================================== box selectors
def _select(sel: Any, boxes: "Boxes", what: str) -> "Boxes":
    kwargs = {}
    if getattr(sel, "needs_image", False):
        w, h = boxes.image_size
        kwargs["image"] = _synthetic_scene(w, h, 5)
    where = f"selector on {what} ({len(boxes)} boxes, image {boxes.image_size[0]}x{boxes.image_size[1]})"
    out = _call(where, sel, boxes, **kwargs)
    if not _is_boxes(out):
        raise ConformanceError(f"{where} returned {type(out).__name__}; a selector returns "
                               f"regionkit.core.boxes.Boxes")
    if out.image_size != boxes.image_size:
        raise ConformanceError(f"{where} returned boxes for image_size {out.image_size}; the output must be for the "
                               f"same image (image_size {boxes.image_size})")
    return out


def _empty_like(size: tuple[int, int]) -> "Boxes":
    from regionkit.core.boxes import Boxes

    return Boxes.empty(size)


@_check("box_selectors", "returns_boxes_for_same_image", "output is Boxes with the input's image_size")
def _sel_structure(sel: Any, ctx: CheckContext) -> None:
    for name, boxes in selector_inputs():
        _select(sel, boxes, f"'{name}' boxes")


@_check("box_selectors", "empty_input", "empty input gives valid Boxes for the same image")
def _sel_empty(sel: Any, ctx: CheckContext) -> None:
    for size in ((640, 480), (16, 16)):
        out = _select(sel, _empty_like(size), "empty boxes")
        _validate_boxes(out, size, f"selector on empty boxes (image {size[0]}x{size[1]})", strict=False,
                        sorted_scores=False)


@_check("box_selectors", "output_valid", "output boxes are finite, not inverted and inside the image")
def _sel_valid(sel: Any, ctx: CheckContext) -> None:
    for name, boxes in selector_inputs():
        out = _select(sel, boxes, f"'{name}' boxes")
        _validate_boxes(out, boxes.image_size, f"selector on '{name}' boxes", strict=False, sorted_scores=False)


@_check("box_selectors", "deterministic", "two calls on the same boxes give the same output")
def _sel_deterministic(sel: Any, ctx: CheckContext) -> None:
    for name, boxes in selector_inputs():
        diff = _difference(_select(sel, boxes, f"'{name}' boxes"), _select(sel, boxes, f"'{name}' boxes"), 0.0)
        if diff:
            raise ConformanceError(f"two calls on the '{name}' boxes disagree: {diff}; selectors must be pure")


@_check("box_selectors", "does_not_modify_input", "the input Boxes' arrays are left unchanged")
def _sel_input(sel: Any, ctx: CheckContext) -> None:
    import numpy as np

    for name, boxes in selector_inputs():
        before = (boxes.xyxy.copy(), boxes.scores.copy(), boxes.labels.copy())
        _select(sel, boxes, f"'{name}' boxes")
        after = (boxes.xyxy, boxes.scores, boxes.labels)
        for field_name, old, new in zip(("xyxy", "scores", "labels"), before, after):
            if not np.array_equal(old, new):
                raise ConformanceError(f"the selector changed the input's {field_name} in place on the '{name}' "
                                       f"boxes; other stages may read the same Boxes, so build new arrays")


@_check("box_selectors", "idempotent", "applying the selector twice equals applying it once (idempotent = True)",
        applies=lambda sel: bool(getattr(sel, "idempotent", False)))
def _sel_idempotent(sel: Any, ctx: CheckContext) -> None:
    for name, boxes in selector_inputs():
        once = _select(sel, boxes, f"'{name}' boxes")
        twice = _select(sel, once, f"its own output on '{name}' boxes")
        diff = _difference(once, twice, 1e-9)
        if diff:
            raise ConformanceError(f"the selector declares idempotent = True, but applying it to its own output on "
                                   f"the '{name}' boxes changes it: {diff}")


# ====================================================================== writers
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
        _call(f"start({out_dir})", start, out_dir)


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


@_check("writers", "records_are_json", "make_record gives strict JSON that survives a round trip, the same twice")
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


@_check("writers", "finalize_writes_inside_out_dir", "finalize writes inside out_dir and returns every file it wrote")
def _wr_finalize(writer: Any, ctx: CheckContext) -> None:
    out_dir = _out_dir(ctx, "finalize")
    records = _records(writer, writer_results(writer), out_dir)
    _finalize(writer, out_dir, records, f"{len(records)} records")


@_check("writers", "round_trip", "read_records(finalize(...)) gives back the records")
def _wr_round_trip(writer: Any, ctx: CheckContext) -> None:
    out_dir = _out_dir(ctx, "round_trip")
    records = _records(writer, writer_results(writer), out_dir)
    paths = _finalize(writer, out_dir, records, f"{len(records)} records")
    back = _read_back(writer, paths, f"{len(records)} records")
    diff = _first_difference(_json_normal(records), _json_normal(back), "records")
    if diff:
        raise ConformanceError(f"read_records() does not give back what was written: {diff}; fix read_records "
                               f"(or finalize) so the files hold exactly the records, in order")


@_check("writers", "empty_run", "a run without records writes no files, or files that read back as []")
def _wr_empty(writer: Any, ctx: CheckContext) -> None:
    out_dir = _out_dir(ctx, "empty")
    _start(writer, out_dir)
    paths = _finalize(writer, out_dir, [], "no records", allow_none=True)
    if not paths:
        return  # nothing written for nothing: fine
    back = _read_back(writer, paths, "no records")
    if back:
        raise ConformanceError(f"read_records() on the files of an empty run gave {len(back)} records, expected 0")


# ====================================================================== losses
def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise unittest.SkipTest("torch is not installed; the loss checks need it") from None
    return torch


def _example_inputs(loss: Any) -> dict[str, Any]:
    torch = _torch()
    cls = type(loss)
    maker = getattr(cls, "example_inputs", None)
    if maker is None:
        raise ConformanceError(
            f"{cls.__qualname__} has no example_inputs() classmethod; the kit needs inputs to call it with. Add:\n"
            f"    @classmethod\n    def example_inputs(cls):\n"
            f"        return dict(pred=torch.randn(4, 8, requires_grad=True), target=torch.randn(4, 8))")
    torch.manual_seed(0)
    inputs = _call(f"{cls.__qualname__}.example_inputs()", maker)
    if not isinstance(inputs, Mapping):
        raise ConformanceError(f"{cls.__qualname__}.example_inputs() returned {type(inputs).__name__}; it must "
                               f"return a dict of keyword arguments for forward()")
    return dict(inputs)


def _loss_value(loss: Any, inputs: dict[str, Any], where: str) -> Any:
    torch = _torch()
    out = _call(where, loss, **inputs)
    if not isinstance(out, torch.Tensor):
        raise ConformanceError(f"{where} returned {type(out).__name__}; a loss returns a torch.Tensor")
    if out.dim() != 0:
        raise ConformanceError(f"{where} returned a tensor of shape {tuple(out.shape)}; a loss returns a 0-dim "
                               f"scalar (reduce with .mean() or .sum())")
    if not out.dtype.is_floating_point:
        raise ConformanceError(f"{where} returned dtype {out.dtype}; a loss is a floating-point scalar")
    if not bool(torch.isfinite(out)):
        raise ConformanceError(f"{where} returned {out.item()}; the loss must be finite on example_inputs()")
    return out


def _grad_inputs(inputs: Mapping[str, Any]) -> list[tuple[str, Any]]:
    torch = _torch()
    found = []
    for key, value in inputs.items():
        items = list(enumerate(value)) if isinstance(value, (list, tuple)) else [(None, value)]
        for i, v in items:
            if isinstance(v, torch.Tensor) and v.requires_grad:
                found.append((key if i is None else f"{key}[{i}]", v))
    return found


@_check("losses", "finite_scalar", "loss(**example_inputs()) is a finite 0-dim floating tensor")
def _loss_scalar(loss: Any, ctx: CheckContext) -> None:
    _loss_value(loss, _example_inputs(loss), "loss(**example_inputs())")


@_check("losses", "differentiable", "backward() gives finite gradients for inputs with requires_grad")
def _loss_grad(loss: Any, ctx: CheckContext) -> None:
    torch = _torch()
    inputs = _example_inputs(loss)
    wanted = _grad_inputs(inputs)
    if not wanted:
        raise ConformanceError("example_inputs() marks no tensor requires_grad=True; mark the predictions, e.g. "
                               "pred=torch.randn(4, 8, requires_grad=True)")
    out = _loss_value(loss, inputs, "loss(**example_inputs())")
    if not out.requires_grad:
        names = ", ".join(name for name, _ in wanted)
        raise ConformanceError(f"the loss value does not require grad although input(s) {names} do: forward() "
                               f"detaches them (.detach(), .item(), numpy, torch.no_grad()), so nothing would train")
    _call("loss.backward()", out.backward)
    for name, tensor in wanted:
        if tensor.grad is None:
            raise ConformanceError(f"input '{name}' has no gradient after backward(): the loss does not depend on "
                                   f"it, or detaches it (.detach(), .item(), numpy)")
        if not bool(torch.isfinite(tensor.grad).all()):
            raise ConformanceError(f"the gradient of input '{name}' has non-finite values")


def _loss_weight(loss: Any, ctx: CheckContext) -> float:
    import inspect

    if "loss_weight" in ctx.params:
        return float(ctx.params["loss_weight"])
    try:
        sig = inspect.signature(type(loss))
    except (TypeError, ValueError):
        sig = None
    if sig is None or "loss_weight" not in sig.parameters:
        raise ConformanceError(f"{type(loss).__qualname__}'s constructor takes no loss_weight; regionkit losses "
                               f"take loss_weight: float = 1.0 and multiply their value by it")
    value = getattr(loss, "loss_weight", sig.parameters["loss_weight"].default)
    try:
        return float(value)
    except (TypeError, ValueError):
        return 1.0


@_check("losses", "loss_weight_scales", "doubling loss_weight doubles the value")
def _loss_weight_check(loss: Any, ctx: CheckContext) -> None:
    torch = _torch()
    weight = _loss_weight(loss, ctx) or 1.0
    values = []
    for w in (weight, 2 * weight):
        params = {**ctx.params, "loss_weight": w}
        instance = _call(f"building the loss with loss_weight={w}", ctx.build, loss, params)
        with torch.no_grad():
            values.append(_loss_value(instance, _example_inputs(instance),
                                      f"loss with loss_weight={w}").item())
    single, double = values
    if not math.isclose(double, 2 * single, rel_tol=1e-5, abs_tol=1e-7):
        raise ConformanceError(f"loss_weight={weight} gives {single:.9g} but loss_weight={2 * weight} gives "
                               f"{double:.9g}, not {2 * single:.9g}; multiply the loss by self.loss_weight")


# ====================================================================== captioners and matchers
@_check("captioners", "one_caption_per_image", "caption(images) returns one string per image")
def _cap_structure(captioner: Any, ctx: CheckContext) -> None:
    images = _fresh(*_PHOTOS)
    out = _call("caption() on 3 photos", captioner.caption, [im.array for im in images])
    if not isinstance(out, (list, tuple)) or len(out) != len(images) or not all(isinstance(c, str) for c in out):
        raise ConformanceError(f"caption() on 3 photos returned {out!r:.200}; it must return a list of 3 strings")


@_check("captioners", "deterministic", "two calls give the same captions")
def _cap_deterministic(captioner: Any, ctx: CheckContext) -> None:
    first = _call("caption()", captioner.caption, [im.array for im in _fresh(*_PHOTOS)])
    second = _call("caption()", captioner.caption, [im.array for im in _fresh(*_PHOTOS)])
    if list(first) != list(second):
        raise ConformanceError(f"two caption() calls disagree: {list(first)!r:.200} vs {list(second)!r:.200}")


_MATCH_CASES = (("a cat sleeping on a red sofa next to a dog", ["cat", "dog", "car", "sofa"]),
                ("an empty street at night", ["cat", "dog"]),
                ("", ["person"]),
                ("a photo of a kitchen", []))


@_check("matchers", "returns_subset", "match(caption, names) returns a list drawn from names")
def _match_subset(matcher: Any, ctx: CheckContext) -> None:
    for caption, names in _MATCH_CASES:
        out = _call(f"match({caption!r}, {names})", matcher.match, caption, list(names))
        if not isinstance(out, (list, tuple)) or not all(isinstance(n, str) and n in names for n in out):
            raise ConformanceError(f"match({caption!r}, {names}) returned {out!r:.200}; it must return a list of "
                                   f"names taken from the given class names")


@_check("matchers", "deterministic", "two calls give the same names")
def _match_deterministic(matcher: Any, ctx: CheckContext) -> None:
    for caption, names in _MATCH_CASES:
        a = _call("match()", matcher.match, caption, list(names))
        b = _call("match()", matcher.match, caption, list(names))
        if list(a) != list(b):
            raise ConformanceError(f"two match({caption!r}, {names}) calls disagree: {a!r} vs {b!r}")
