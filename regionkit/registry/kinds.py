"""The component kinds regionkit knows, each with its entry-point group and contract."""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Kind", "KINDS", "ENTRY_POINT_PREFIX", "LIFECYCLE_GROUP", "normalize_kind"]

ENTRY_POINT_PREFIX = "regionkit."
#: entry-point group for pluggy lifecycle plugins (``name = "module"`` or ``"module:object"``)
LIFECYCLE_GROUP = "regionkit.lifecycle"


@dataclass(frozen=True)
class Kind:
    """One kind of component.

    ``key`` is the plural used on the command line and in entry-point groups
    (``regionkit.<key>``); ``mmengine_parent`` names mmengine's root registry of the same
    kind, if it has one, so that mmengine's Runner can build regionkit components.
    """

    key: str
    singular: str
    contract: str
    mmengine_parent: str | None = None

    @property
    def group(self) -> str:
        return ENTRY_POINT_PREFIX + self.key


KINDS: dict[str, Kind] = {k.key: k for k in (
    Kind("detectors", "detector", "detect(images: list[RGB uint8 HxWx3]) -> list[Boxes], pixel xyxy, score-descending"),
    Kind("box_selectors", "box selector", "__call__(boxes: Boxes) -> Boxes for the same image"),
    Kind("losses", "loss", "forward(...) -> scalar Tensor"),
    Kind("models", "model", "an mmengine BaseModel / torch.nn.Module", "MODELS"),
    Kind("datasets", "dataset", "a sized, indexable collection of samples", "DATASETS"),
    Kind("writers", "writer", "make_record(result) -> record; finalize(out_dir, records) -> written paths"),
    Kind("metrics", "metric", "an mmengine BaseMetric", "METRICS"),
    Kind("hooks", "hook", "an mmengine Hook for the training loop", "HOOKS"),
    Kind("captioners", "captioner", "caption(images: list[RGB uint8 HxWx3]) -> list[str]"),
    Kind("matchers", "matcher", "match(caption: str, class_names: list[str]) -> list[str]"),
)}

_ALIASES = {k.singular.replace(" ", "_"): k.key for k in KINDS.values()}
_ALIASES.update({"selectors": "box_selectors", "selector": "box_selectors", "box-selectors": "box_selectors"})


def normalize_kind(name: str) -> str | None:
    """Map ``detector``/``detectors``/``selectors``/… to a key of :data:`KINDS`, else ``None``."""
    key = name.strip().lower().replace("-", "_")
    if key in KINDS:
        return key
    return _ALIASES.get(key)
