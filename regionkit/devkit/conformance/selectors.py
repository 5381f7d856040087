"""Conformance checks for box selectors: same image, empty input, valid output, purity, idempotence."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from regionkit.devkit.conformance.framework import Check, CheckContext, ConformanceError, call_component
from regionkit.devkit.conformance.inputs import difference, selector_inputs, synthetic_scene, validate_boxes
from regionkit.kinds import BOX_SELECTOR

if TYPE_CHECKING:  # pragma: no cover
    from regionkit.structures.boxes import Boxes

__all__ = ["CHECKS"]


def _select(sel: Any, boxes: Boxes, what: str) -> Boxes:
    kwargs = {}
    if BOX_SELECTOR.trait(sel, "needs_image"):
        w, h = boxes.image_size
        kwargs["image"] = synthetic_scene(w, h, 5)
    where = f"selector on {what} ({len(boxes)} boxes, image {boxes.image_size[0]}x{boxes.image_size[1]})"
    out = call_component(where, sel, boxes, **kwargs)
    from regionkit.structures.boxes import Boxes

    if not isinstance(out, Boxes):
        raise ConformanceError(f"{where} returned {type(out).__name__}; a selector returns "
                               f"regionkit.structures.boxes.Boxes")
    if out.image_size != boxes.image_size:
        raise ConformanceError(f"{where} returned boxes for image_size {out.image_size}; the output must be for the "
                               f"same image (image_size {boxes.image_size})")
    return out


def _empty_like(size: tuple[int, int]) -> Boxes:
    from regionkit.structures.boxes import Boxes

    return Boxes.empty(size)


def _sel_structure(sel: Any, ctx: CheckContext) -> None:
    for name, boxes in selector_inputs():
        _select(sel, boxes, f"'{name}' boxes")


def _sel_empty(sel: Any, ctx: CheckContext) -> None:
    for size in ((640, 480), (16, 16)):
        out = _select(sel, _empty_like(size), "empty boxes")
        validate_boxes(out, size, f"selector on empty boxes (image {size[0]}x{size[1]})", strict=False,
                        sorted_scores=False)


def _sel_valid(sel: Any, ctx: CheckContext) -> None:
    for name, boxes in selector_inputs():
        out = _select(sel, boxes, f"'{name}' boxes")
        validate_boxes(out, boxes.image_size, f"selector on '{name}' boxes", strict=False, sorted_scores=False)


def _sel_deterministic(sel: Any, ctx: CheckContext) -> None:
    for name, boxes in selector_inputs():
        diff = difference(_select(sel, boxes, f"'{name}' boxes"), _select(sel, boxes, f"'{name}' boxes"), 0.0)
        if diff:
            raise ConformanceError(f"two calls on the '{name}' boxes disagree: {diff}; selectors must be pure")


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


def _sel_idempotent(sel: Any, ctx: CheckContext) -> None:
    for name, boxes in selector_inputs():
        once = _select(sel, boxes, f"'{name}' boxes")
        twice = _select(sel, once, f"its own output on '{name}' boxes")
        diff = difference(once, twice, 1e-9)
        if diff:
            raise ConformanceError(f"the selector declares idempotent = True, but applying it to its own output on "
                                   f"the '{name}' boxes changes it: {diff}")


#: the checks of this kind, in the order they run
CHECKS = (
    Check("returns_boxes_for_same_image", "box_selectors", _sel_structure, "output is Boxes with the input's image_size"),
    Check("empty_input", "box_selectors", _sel_empty, "empty input gives valid Boxes for the same image"),
    Check("output_valid", "box_selectors", _sel_valid, "output boxes are finite, not inverted and inside the image"),
    Check("deterministic", "box_selectors", _sel_deterministic, "two calls on the same boxes give the same output"),
    Check("does_not_modify_input", "box_selectors", _sel_input, "the input Boxes' arrays are left unchanged"),
    Check("idempotent", "box_selectors", _sel_idempotent, "applying the selector twice equals applying it once (idempotent = True)", applies=lambda sel: BOX_SELECTOR.trait(sel, "idempotent")),
)
