"""Main-box selectors: one box around an image's main subject.

* :class:`PatchMattersMainBox` reproduces Patch Matters' ``divide/get_main_box.py``: caption
  the image, let a matcher pick the detected class names the caption mentions, and take the
  union (enclosing box) of **every** detection of those names; otherwise the whole image.
* :class:`MainBoxUnion` is a deterministic, model-free stand-in: the union of the
  detections of the most confident class(es).

Both return exactly one box.  A real main box has label ``-1`` and name
:data:`MAIN_BOX_NAME` (``"main_box"``) and the highest score among the boxes it encloses;
the whole-image fallback ``[0, 0, W-1, H-1]`` (Patch Matters' convention) is the same box the
score filter falls back to (:func:`~regionkit.plugins.patch_matters.whole_image.whole_image_box`:
score 1.0, label ``1008611``, name ``"None"``).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import numpy as np

from regionkit.kinds.box_selectors import BaseBoxSelector
from regionkit.params import Range, checked
from regionkit.plugins.patch_matters.whole_image import whole_image_box
from regionkit.structures import box_ops
from regionkit.structures.boxes import Boxes

__all__ = ["MainBoxUnion", "PatchMattersMainBox", "MAIN_BOX_NAME", "main_box_of"]

#: label name of a main box built from detections
MAIN_BOX_NAME = "main_box"


def main_box_of(boxes: Boxes, mask: np.ndarray) -> Boxes:
    """One box: the union of ``boxes[mask]`` (label -1, name ``"main_box"``), or the whole image if none."""
    mask = np.asarray(mask, dtype=bool).reshape(-1)
    if not mask.any():
        return whole_image_box(boxes.image_size)
    union = box_ops.enclosing_box(boxes.xyxy[mask])
    return Boxes.create([union], boxes.image_size, scores=[float(boxes.scores[mask].max())], labels=[-1],
                        label_names=[MAIN_BOX_NAME])


class MainBoxUnion(BaseBoxSelector):
    """Deterministic main box: union of all detections of the top_classes most confident classes, else the whole image.

    Parameters (keyword only):

    top_classes:
        How many classes make up the main subject.  A class is a label name; its
        confidence is the highest score of its boxes; classes are ranked by that confidence,
        descending, ties broken by label name (alphabetically).
    min_score:
        Only detections with ``score >= min_score`` take part.

    The output is one box enclosing every qualifying detection of the chosen classes, or
    ``[0, 0, W-1, H-1]`` (label ``1008611``, name ``"None"``) when none qualifies.
    """

    @checked
    def __init__(self, *, top_classes: Annotated[int, Range(1, 100000)] = 1, min_score: float = 0.0) -> None:
        self.top_classes = top_classes
        self.min_score = min_score

    def __repr__(self) -> str:
        return f"MainBoxUnion(top_classes={self.top_classes}, min_score={self.min_score})"

    def __call__(self, boxes: Boxes) -> Boxes:
        qualifies = boxes.scores >= self.min_score
        confidence: dict[str, float] = {}
        for name, score, ok in zip(boxes.label_names, boxes.scores.tolist(), qualifies.tolist()):
            if ok:
                confidence[name] = max(score, confidence.get(name, -np.inf))
        ranked = sorted(confidence, key=lambda n: (-confidence[n], n))[: self.top_classes]
        chosen = set(ranked)
        mask = qualifies & np.array([n in chosen for n in boxes.label_names], dtype=bool).reshape(-1)
        return main_box_of(boxes, mask)


def _component(value: object, registry_name: str, method: str, what: str) -> Any:
    """Build ``value`` (a config dict) from the named registry, or accept an object with ``method``."""
    if isinstance(value, Mapping):
        from regionkit.registry import registry_for

        return registry_for(registry_name).build(dict(value))
    if value is not None and not isinstance(value, (str, bytes)) and callable(getattr(value, method, None)):
        return value
    raise ValueError(f"{what} must be a config dict such as dict(type=...), or an object with a {method}() "
                     f"method, got {value!r}")


class PatchMattersMainBox(BaseBoxSelector):
    """Patch Matters main box: caption the image, match detected class names, union their boxes, else the whole image.

    Reproduces the selection rule of ``divide/get_main_box.py`` (L256-312):

    1. the detected class names, unique, in detection order (the original used
       ``list(set(names))``, whose order varies between runs);
    2. ``caption = captioner.caption([image])[0]``;
    3. ``matched = matcher.match(caption, names)``; only names exactly among the detected
       names are kept (anything else the matcher says is ignored);
    4. main box = union (enclosing box) of **every** detection whose name is kept, with no
       score or area threshold; if no name is kept, ``[0, 0, W-1, H-1]``.

    Parameters (keyword only):

    captioner:
        Config dict built with the captioners registry (e.g.
        ``dict(type='transformers_captioner', model='/models/blip2-opt-2.7b')``), or a
        captioner object.  Required: the default (``None``) is refused with an example.
    matcher:
        Config dict built with the matchers registry (e.g.
        ``dict(type='llm_matcher', model='/models/Llama-3.1-8B-Instruct')``), or a matcher
        object.  Default (``None``): the model-free
        :class:`~regionkit.plugins.language.matchers.KeywordMatcher`.

    Use the Patch Matters score filter's output (``kept``) as input, as the original read
    ``object_box.json``.  With no detections the models are not called and the whole image
    is returned.  The runner passes the image (``needs_image = True``).
    """

    conformance_skip = "needs a captioner with a local model; tests/test_main_box.py covers it with fakes"

    needs_image = True

    def __init__(self, *, captioner: Mapping[str, Any] | None = None,
                 matcher: Mapping[str, Any] | None = None) -> None:
        if captioner is None:
            raise ValueError("captioner is required, e.g. dict(type='transformers_captioner', "
                             "model='/path/to/blip2-opt-2.7b')")
        self.captioner = _component(captioner, "captioners", "caption", "captioner")
        if matcher is None:
            from regionkit.plugins.language.matchers import KeywordMatcher

            self.matcher: Any = KeywordMatcher()
        else:
            self.matcher = _component(matcher, "matchers", "match", "matcher")

    def __repr__(self) -> str:
        return f"PatchMattersMainBox(captioner={self.captioner!r}, matcher={self.matcher!r})"

    def select(self, boxes: Boxes, caption: str) -> Boxes:
        """Steps 1 and 3-4 for a caption already computed (no image needed)."""
        names = list(dict.fromkeys(boxes.label_names))
        matched = self.matcher.match(caption, names) if names else []
        if isinstance(matched, (str, bytes)):
            raise TypeError(f"{type(self.matcher).__name__}.match must return a list of names, got a string")
        keep = set(names).intersection(str(m) for m in matched)
        mask = np.array([n in keep for n in boxes.label_names], dtype=bool).reshape(-1)
        return main_box_of(boxes, mask)

    def __call__(self, boxes: Boxes, image: np.ndarray | None = None) -> Boxes:
        if len(boxes) == 0:
            return whole_image_box(boxes.image_size)
        if image is None:
            raise ValueError("PatchMattersMainBox needs the image: call it as selector(boxes, image=rgb_array)")
        captions: Sequence[str] = self.captioner.caption([image])
        if len(captions) != 1:
            raise ValueError(f"{type(self.captioner).__name__}.caption returned {len(captions)} captions for 1 image")
        return self.select(boxes, str(captions[0]))
