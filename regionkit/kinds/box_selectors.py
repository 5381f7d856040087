"""Box selectors: one box set of an image in, another out (filter, merge, derive regions)."""
from __future__ import annotations

import abc
from typing import TYPE_CHECKING

from regionkit.kinds.base import ContractMethod, Kind, Trait

if TYPE_CHECKING:
    from regionkit.structures.boxes import Boxes

__all__ = ["BaseBoxSelector", "KIND"]


class BaseBoxSelector(abc.ABC):
    """Maps one box set of an image to another (filter, merge, derive regions).

    Selectors are pure: the output depends only on the input boxes and ``image_size``.
    A selector that must look at pixels (e.g. a captioner-driven main box) sets
    ``needs_image = True``; the runner then calls ``selector(boxes, image=rgb_array)``.
    ``idempotent = True`` declares that applying it to its own output changes nothing
    (the conformance kit checks it).
    """

    needs_image: bool = False
    idempotent: bool = False

    @abc.abstractmethod
    def __call__(self, boxes: Boxes) -> Boxes:
        """Return the selected or derived boxes for the same image."""


KIND = Kind(
    key="box_selectors", singular="box selector",
    contract="__call__(boxes: Boxes) -> Boxes for the same image",
    methods=(ContractMethod("__call__", 1, "__call__(boxes) -> Boxes"),),
    traits=(Trait("needs_image", False, "called as selector(boxes, image=rgb)"),
            Trait("idempotent", False, "applying it to its own output changes nothing")),
    base=BaseBoxSelector, conformance="regionkit.devkit.conformance.selectors",
    example_target="my_pkg.selectors:MySelector",
    aliases=("selectors", "selector", "box-selectors"),
)
