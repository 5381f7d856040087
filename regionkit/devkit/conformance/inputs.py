"""The conformance kit's inputs: sample images, detector-like box sets and synthetic results; box comparisons."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from regionkit.devkit.conformance.framework import DEFAULT_TOLERANCE, ConformanceError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from regionkit.structures.boxes import Boxes

__all__ = ["SampleImage", "conformance_images", "fresh", "selector_inputs", "writer_results", "synthetic_scene",
           "fmt_box", "tolerance", "validate_boxes", "difference", "PHOTOS"]

#: the roles of the three photographs most checks use
PHOTOS = ("square", "landscape", "portrait")


@dataclass(frozen=True)
class SampleImage:
    """A named RGB ``uint8`` ``(H, W, 3)`` test image; ``what`` says what it is for messages."""

    name: str
    array: np.ndarray
    what: str

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``."""
        return int(self.array.shape[1]), int(self.array.shape[0])

    def describe(self) -> str:
        w, h = self.size
        return f"image '{self.name}' ({self.what}, {w}x{h})"


def _resize(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import numpy as np
    from PIL import Image

    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR), dtype=np.uint8).copy()


def synthetic_scene(width: int, height: int, seed: int) -> np.ndarray:
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
def _photos() -> tuple[tuple[str, np.ndarray], ...]:
    """Real photographs shipped with scikit-image, or synthetic scenes without it."""
    try:
        import skimage.data as data

        return (("astronaut", data.astronaut()), ("chelsea", data.chelsea()), ("coffee", data.coffee()),
                ("camera", data.camera()))
    except Exception:  # scikit-image missing or its data files absent
        import numpy as np

        grey = synthetic_scene(512, 512, 3).mean(axis=2).round().astype(np.uint8)
        return (("scene-a", synthetic_scene(512, 512, 0)), ("scene-b", synthetic_scene(451, 300, 1)),
                ("scene-c", synthetic_scene(600, 400, 2)), ("scene-grey", grey))


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


def fresh(*roles: str) -> list[SampleImage]:
    images = _images()
    return [SampleImage(images[r].name, images[r].array.copy(), images[r].what) for r in roles]


def selector_inputs() -> list[tuple[str, Boxes]]:
    """Named box sets as a detector would produce them (sanitised, score-descending)."""
    import numpy as np

    from regionkit.structures.boxes import Boxes

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
    """Synthetic :class:`~regionkit.structures.results.ImageResult` s carrying every region set ``writer`` reads."""
    from regionkit.structures.results import ImageResult

    inputs = dict(selector_inputs())
    from regionkit.kinds import WRITER
    from regionkit.structures.results import ImageItem

    needs = sorted(set(writer.required_regions() if hasattr(writer, "required_regions") else ()) - {"detections"})
    wants_image = WRITER.trait(writer, "needs_image")
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
            image = synthetic_scene(w, h, i)
        item = ImageItem(path=f"/data/conformance/{rel}", rel_path=rel, meta={"image_id": i + 1})
        results.append(ImageResult(item=item, image_size=boxes.image_size, detections=boxes, regions=regions,
                                   image=image))
    return results


def fmt_box(row: Sequence[float]) -> str:
    return "[" + ", ".join(f"{float(v):.6g}" for v in row) + "]"


def tolerance(component: Any) -> float:
    value = getattr(component, "conformance_tolerance", DEFAULT_TOLERANCE)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConformanceError(f"conformance_tolerance must be a number, got {value!r}") from None


def validate_boxes(boxes: Boxes, size: tuple[int, int], where: str, *, strict: bool, sorted_scores: bool,
                    slack: float = 0.0) -> None:
    """Finite, not inverted (empty too if ``strict``), inside ``size``; optionally score-descending."""
    import numpy as np

    w, h = size
    eps = slack + 1e-9 * max(w, h)
    for i, row in enumerate(boxes.xyxy):
        box = fmt_box(row)
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
        first = int(np.flatnonzero(~np.isfinite(boxes.scores))[0])
        raise ConformanceError(f"{where}: score of box {first} is {boxes.scores[first]}; scores must be finite")
    if sorted_scores and len(boxes) > 1:
        drops = np.flatnonzero(np.diff(boxes.scores) > 0)
        if len(drops):
            i = int(drops[0])
            raise ConformanceError(f"{where}: scores are not sorted in descending order: box {i} has "
                                   f"{boxes.scores[i]:.6g} but box {i + 1} has {boxes.scores[i + 1]:.6g} "
                                   f"(use boxes.sorted_by_score())")


def difference(a: Boxes, b: Boxes, tol: float) -> str | None:
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
            first = fmt_box(x[i]) if field_name == "xyxy" else f"{x[i]:.9g}"
            second = fmt_box(y[i]) if field_name == "xyxy" else f"{y[i]:.9g}"
            return f"box {i} {field_name}: {first} vs {second}"
    if not np.array_equal(a.labels, b.labels):
        return f"labels {a.labels.tolist()} vs {b.labels.tolist()}"
    if a.label_names != b.label_names:
        return f"label_names {list(a.label_names)} vs {list(b.label_names)}"
    return None


