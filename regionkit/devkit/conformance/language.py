"""Conformance checks for captioners and matchers: one caption per image, subsets of the names, determinism."""
from __future__ import annotations

from typing import Any

from regionkit.devkit.conformance.framework import Check, CheckContext, ConformanceError, call_component
from regionkit.devkit.conformance.inputs import PHOTOS, fresh

__all__ = ["CHECKS"]


def _cap_structure(captioner: Any, ctx: CheckContext) -> None:
    images = fresh(*PHOTOS)
    out = call_component("caption() on 3 photos", captioner.caption, [im.array for im in images])
    if not isinstance(out, (list, tuple)) or len(out) != len(images) or not all(isinstance(c, str) for c in out):
        raise ConformanceError(f"caption() on 3 photos returned {out!r:.200}; it must return a list of 3 strings")


def _cap_deterministic(captioner: Any, ctx: CheckContext) -> None:
    first = call_component("caption()", captioner.caption, [im.array for im in fresh(*PHOTOS)])
    second = call_component("caption()", captioner.caption, [im.array for im in fresh(*PHOTOS)])
    if list(first) != list(second):
        raise ConformanceError(f"two caption() calls disagree: {list(first)!r:.200} vs {list(second)!r:.200}")


_MATCH_CASES: tuple[tuple[str, list[str]], ...] = (("a cat sleeping on a red sofa next to a dog", ["cat", "dog", "car", "sofa"]),
                ("an empty street at night", ["cat", "dog"]),
                ("", ["person"]),
                ("a photo of a kitchen", []))


def _match_subset(matcher: Any, ctx: CheckContext) -> None:
    for caption, names in _MATCH_CASES:
        out = call_component(f"match({caption!r}, {names})", matcher.match, caption, list(names))
        if not isinstance(out, (list, tuple)) or not all(isinstance(n, str) and n in names for n in out):
            raise ConformanceError(f"match({caption!r}, {names}) returned {out!r:.200}; it must return a list of "
                                   f"names taken from the given class names")


def _match_deterministic(matcher: Any, ctx: CheckContext) -> None:
    for caption, names in _MATCH_CASES:
        a = call_component("match()", matcher.match, caption, list(names))
        b = call_component("match()", matcher.match, caption, list(names))
        if list(a) != list(b):
            raise ConformanceError(f"two match({caption!r}, {names}) calls disagree: {a!r} vs {b!r}")


#: the checks of this kind, in the order they run
CHECKS = (
    Check("one_caption_per_image", "captioners", _cap_structure, "caption(images) returns one string per image"),
    Check("deterministic", "captioners", _cap_deterministic, "two calls give the same captions"),
    Check("returns_subset", "matchers", _match_subset, "match(caption, names) returns a list drawn from names"),
    Check("deterministic", "matchers", _match_deterministic, "two calls give the same names"),
)
