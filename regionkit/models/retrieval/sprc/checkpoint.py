"""Loading BLIP-2 / SPRC weights by local path, safely, with errors that name the file and the keys.

Three kinds of file, loaded in this order (each optional; a later one overrides an earlier one):

* ``vit_checkpoint``: the image encoder alone, ``eva_vit_g.pth`` (EVA ViT-g) or ``clip_vit_L.pth``
  (CLIP ViT-L), keys without prefix (``visual_encoder.*`` keys are taken from a full checkpoint
  too).  As in LAVIS, blocks beyond the model's depth (EVA's ``blocks.39``) and other keys the
  model lacks are ignored and reported; a position embedding for another image size is
  interpolated;
* ``pretrained``: BLIP-2's stage-1 checkpoint ``blip2_pretrained.pth`` / ``blip2_pretrained_vitL.pth``
  (``{"model": state_dict}``).  It lacks SPRC's ``prompt_tokens`` (kept at their N(0, 0.02)
  initialisation, as in SPRC) and, normally, the ViT;
* ``checkpoint``: an SPRC fine-tuned model (``{"Blip2QformerCirAlignPrompt": state_dict, "epoch": n}``
  as SPRC's ``save_model`` writes it, e.g. ``sprc_cirr.pt``), a LAVIS ``{"model": ...}``, an
  mmengine ``{"state_dict": ...}`` (regionkit's own training runs) or a bare state_dict.

Every file is read with ``torch.load(weights_only=True)``: no code from the file runs.  A file
that also pickles non-tensor objects (an mmengine training checkpoint's ``message_hub``, numpy
arrays, ...) is refused with an error naming them, unless ``allow_pickled_objects=True``: then
those objects are replaced by inert placeholders, never executed, and dropped; only tensors are
used.  A ``module.`` prefix is stripped.  ``Qformer.bert.embeddings.position_ids`` (a constant
buffer), the tied LM-head copies ``Qformer.cls.predictions.decoder.*`` and regionkit's own
additions (``region_embedder.*``, ``losses.*``) are never required (and ignored when the model
has none, e.g. a checkpoint trained with a region loss loaded without one).  Anything else that is
missing, unexpected or of the wrong shape is reported together in one
:class:`~regionkit.models.errors.WeightsError` naming the file (``strict=False`` loads what fits
and returns the report instead).
"""
from __future__ import annotations

import os
import pickle
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from regionkit.models.errors import WeightsError, describe_key_problems
from regionkit.models.pickled import load_with_placeholders, unsafe_globals

__all__ = ["LoadReport", "read_state_dict", "load_weights", "load_file", "sprc_state_dict", "save_sprc_checkpoint",
           "EXTRA_PREFIXES", "OPTIONAL_KEYS", "SOURCES", "Role"]

Role = Literal["vit", "pretrained", "checkpoint"]

#: state_dict prefixes regionkit adds to SPRC's layout (absent from SPRC / LAVIS files)
EXTRA_PREFIXES = ("region_embedder.", "losses.")
#: keys never required in a file: a constant buffer and the copies tied to other keys
OPTIONAL_KEYS = ("Qformer.bert.embeddings.position_ids", "Qformer.cls.predictions.decoder.weight",
                 "Qformer.cls.predictions.decoder.bias")
#: the container keys tried, in order, for the state_dict inside a file
CONTAINER_KEYS = ("Blip2QformerCirAlignPrompt", "model", "state_dict")
_STRIP = ("module.",)
_LAVIS = "https://storage.googleapis.com/sfr-vision-language-research/LAVIS/models/BLIP2/"
#: where each file comes from (said when it is missing); regionkit never downloads
SOURCES: dict[str, str] = {
    "vit:eva": f"EVA ViT-g weights 'eva_vit_g.pth', which LAVIS's create_eva_vit_g downloads from {_LAVIS}eva_vit_g.pth",
    "vit:clip": f"CLIP ViT-L weights 'clip_vit_L.pth', which LAVIS's create_clip_vit_L downloads from "
                f"{_LAVIS}clip_vit_L.pth",
    "pretrained": f"BLIP-2's stage-1 checkpoint 'blip2_pretrained.pth' (ViT-g) or 'blip2_pretrained_vitL.pth' "
                  f"(ViT-L), the 'pretrained' files of LAVIS's blip2_pretrain*.yaml, from {_LAVIS}",
    "checkpoint": "an SPRC checkpoint: the released 'sprc_cirr.pt' / 'sprc_fiq.pt' (ViT-g) or 'sprc_cirr_vitl.pt' / "
                  "'sprc_fiq_vitl.pt' (ViT-L) linked in chunmeifeng/SPRC's README, a 'tuned_clip_*.pt' written by "
                  "SPRC's training, or a regionkit training checkpoint",
}
_HOW = " regionkit never downloads weights: download the file on a machine with internet access and pass its local path."


@dataclass
class LoadReport:
    """What happened to the keys of one file: ``loaded`` counts the tensors copied into the model."""

    path: str
    role: str
    loaded: int = 0
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)  # "key: (file shape) in file vs (model shape) in model"
    ignored: list[str] = field(default_factory=list)  # in the file, deliberately not used
    kept: list[str] = field(default_factory=list)  # not in the file, left at their current values (allowed)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def describe(self, limit: int = 12) -> str:
        return describe_key_problems(self.missing, self.unexpected, self.mismatched, limit) or f"all {self.loaded} keys matched"


def _torch_load(path: Path, what: str, allow_pickled_objects: bool) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        names = unsafe_globals(path)
        if not names:
            raise WeightsError(f"cannot read {what} {path} with torch.load(weights_only=True): {exc}") from None
        if not allow_pickled_objects:
            raise WeightsError(
                f"{what} {path} pickles objects that are not tensors ({', '.join(names[:6])}"
                f"{', ...' if len(names) > 6 else ''}), which torch.load(weights_only=True) refuses. If you trust "
                f"the file, pass allow_pickled_objects=True: those objects are then replaced by inert placeholders "
                f"(never executed) and only its tensors are used; or re-save its state_dict alone.") from None
    try:
        return load_with_placeholders(path, names)
    except Exception as exc:  # pragma: no cover - exotic pickles
        raise WeightsError(f"cannot read {what} {path} even with inert placeholders ({exc}); "
                               f"re-save its state_dict alone") from None


def read_state_dict(path: str | os.PathLike[str], what: str, source: str, *, allow_pickled_objects: bool = False,
                    containers: Sequence[str] = CONTAINER_KEYS) -> OrderedDict[str, Tensor]:
    """The tensors of the state_dict in ``path`` (first of ``containers`` present, else the file itself).

    A missing file raises WeightsError naming ``path`` and ``source`` (where the file comes from).
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{what} not found: {path}. It is {source}.{_HOW}")
    try:
        obj = _torch_load(path, what, allow_pickled_objects)
    except WeightsError:
        raise
    except Exception as exc:
        raise WeightsError(f"cannot read {what} {path}: {exc}") from None
    if isinstance(obj, Mapping):
        for key in containers:
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping):
        raise WeightsError(f"{what} {path} holds no state_dict (got {type(obj).__name__})")
    bad = [str(k) for k, v in obj.items() if not isinstance(v, Tensor)]
    if bad:
        raise WeightsError(f"{what} {path}: entries that are not tensors: {', '.join(bad[:8])}"
                           f"{' ...' if len(bad) > 8 else ''} (expected a state_dict, or one under "
                           f"{' / '.join(repr(c) for c in containers)})")
    out: OrderedDict[str, Tensor] = OrderedDict()
    for key, value in obj.items():
        for prefix in _STRIP:
            while key.startswith(prefix):
                key = key[len(prefix):]
        out[key] = value
    return out


def _is_optional(key: str) -> bool:
    return key in OPTIONAL_KEYS or key.startswith(EXTRA_PREFIXES) or key.endswith("num_batches_tracked")


def sprc_state_dict(model: nn.Module) -> OrderedDict[str, Tensor]:
    """The model's state_dict in SPRC's layout: without regionkit's additions (:data:`EXTRA_PREFIXES`)."""
    return OrderedDict((k, v) for k, v in model.state_dict().items() if not k.startswith(EXTRA_PREFIXES))


def _vit_kind(vit: nn.Module) -> str:
    return "clip" if hasattr(vit, "positional_embedding") else "eva"



def _vit_state(state: Mapping[str, Tensor], vit: nn.Module) -> tuple[dict[str, Tensor], list[str]]:
    """``(usable, ignored)`` ViT tensors without prefix: deeper blocks and unknown keys ignored, pos. embedding resized."""
    prefixed = {k[len("visual_encoder."):]: v for k, v in state.items() if k.startswith("visual_encoder.")}
    state = prefixed or dict(state)
    own = vit.state_dict()
    usable, ignored = {}, []
    for key, value in state.items():
        if key not in own:  # e.g. EVA's blocks.39, CLIP's ln_post / proj
            ignored.append(key)
            continue
        usable[key] = value
    from regionkit.models.backbones.clip_vit import interpolate_positional_embedding
    from regionkit.models.backbones.eva_vit import interpolate_pos_embed

    if "pos_embed" in usable and usable["pos_embed"].shape != own["pos_embed"].shape:
        usable["pos_embed"] = interpolate_pos_embed(usable["pos_embed"], own["pos_embed"].shape[1] - 1)
    if "positional_embedding" in usable and usable["positional_embedding"].shape != own["positional_embedding"].shape:
        usable["positional_embedding"] = interpolate_positional_embedding(usable["positional_embedding"],
                                                                          own["positional_embedding"].shape[0] - 1)
    return usable, sorted(ignored)


def _copy(module: nn.Module, state: Mapping[str, Tensor], report: LoadReport, required: Sequence[str],
          prefix: str = "") -> None:
    """Shape-check ``state`` against ``module`` and copy what fits; fills ``report``."""
    own = module.state_dict()
    report.missing += [prefix + k for k in required if k not in state]
    report.kept += sorted(prefix + k for k in own if k not in state and k not in required)
    usable = {}
    for key, value in state.items():
        if key not in own and key.startswith(EXTRA_PREFIXES):  # regionkit's additions this model does not have
            report.ignored.append(prefix + key)
        elif key not in own:
            report.unexpected.append(prefix + key)
        elif tuple(value.shape) != tuple(own[key].shape):
            report.mismatched.append(f"{prefix}{key}: {tuple(value.shape)} in file vs {tuple(own[key].shape)} in model")
        else:
            usable[key] = value
    report.unexpected.sort()
    report.ignored.sort()
    if not report.mismatched:  # nothing is copied from a file that does not fit
        module.load_state_dict(usable, strict=False)
        report.loaded = len(usable)


def load_file(model: nn.Module, path: str | os.PathLike[str], role: Role, *, allow_pickled_objects: bool = False,
              strict: bool = True, vit_loaded: bool = False) -> LoadReport:
    """Load one file into an SPRC model (``visual_encoder``, ``ln_vision``, ``Qformer``, ...); see the module docstring.

    ``vit_loaded``: a ViT file was loaded before, so a ``checkpoint`` may lack ``visual_encoder.*``.
    """
    vit = model.get_submodule("visual_encoder")
    kind = _vit_kind(vit)
    report = LoadReport(str(path), role)
    if role == "vit":
        what, source = ("CLIP ViT-L weights file" if kind == "clip" else "EVA ViT-g weights file"), SOURCES[f"vit:{kind}"]
        state = read_state_dict(path, what, source, allow_pickled_objects=allow_pickled_objects)
        usable, report.ignored = _vit_state(state, vit)
        _copy(vit, usable, report, list(vit.state_dict()), prefix="visual_encoder.")
    elif role in ("pretrained", "checkpoint"):
        what, source = ("BLIP-2 pretrained checkpoint" if role == "pretrained" else "SPRC checkpoint"), SOURCES[role]
        state = read_state_dict(path, what, source, allow_pickled_objects=allow_pickled_objects)
        vit_elsewhere = not any(k.startswith("visual_encoder.") for k in state) and (role == "pretrained" or vit_loaded)
        required = [k for k in model.state_dict() if not _is_optional(k)
                    and not (vit_elsewhere and k.startswith("visual_encoder."))
                    and not (role == "pretrained" and k == "prompt_tokens")]
        _copy(model, state, report, required)
    else:
        raise ValueError(f"role must be 'vit', 'pretrained' or 'checkpoint', got {role!r}")
    if strict and not report.ok:
        hint = ""
        if any(k.startswith("visual_encoder.") for k in report.missing):
            hint = f" The image encoder is missing from it: also pass vit_checkpoint ({SOURCES['vit:' + kind]})."
        backbone = "CLIP ViT-L" if kind == "clip" else "EVA ViT-g"
        raise WeightsError(f"{what} {path} does not fit this SPRC model ({backbone} image encoder): "
                           f"{report.describe()}. Expected {source}.{hint}")
    return report


def load_weights(model: nn.Module, *, vit_checkpoint: str | os.PathLike[str] | None = None, pretrained: str | os.PathLike[str] | None = None,
                 checkpoint: str | os.PathLike[str] | None = None, allow_pickled_objects: bool = False,
                 strict: bool = True) -> list[LoadReport]:
    """Load the given files in the order ViT, BLIP-2 pretrained, SPRC checkpoint; one report per file."""
    reports = []
    for role, path in (("vit", vit_checkpoint), ("pretrained", pretrained), ("checkpoint", checkpoint)):
        if path is not None:
            reports.append(load_file(model, path, role, allow_pickled_objects=allow_pickled_objects,  # type: ignore[arg-type]
                                     strict=strict, vit_loaded=vit_checkpoint is not None))
    return reports


def save_sprc_checkpoint(model: nn.Module, path: str | os.PathLike[str], *, layout: Literal["sprc", "lavis"] = "sprc",
                         epoch: int = 0, include_vit: bool = True) -> Path:
    """Write the model in SPRC's (``{"epoch", "Blip2QformerCirAlignPrompt"}``) or LAVIS's (``{"model"}``) layout.

    Only SPRC's keys are written (no regionkit additions), so SPRC's own scripts can read the file.
    """
    state = sprc_state_dict(model)
    if not include_vit:
        state = OrderedDict((k, v) for k, v in state.items() if not k.startswith("visual_encoder."))
    state = OrderedDict((k, v.detach().cpu()) for k, v in state.items())
    payload: dict[str, Any] = {"epoch": epoch, "Blip2QformerCirAlignPrompt": state} if layout == "sprc" else \
        {"model": state}
    path = Path(path)
    torch.save(payload, path)
    return path
