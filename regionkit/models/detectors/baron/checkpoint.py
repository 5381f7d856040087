"""Loading ovdet / mmengine BARON checkpoints (and a separate CLIP text encoder) safely.

Files are read with ``torch.load(weights_only=True)``: no code from the file ever runs.  An
mmengine training checkpoint also pickles non-tensor training state (``message_hub`` history
buffers, numpy arrays, ...); such objects are replaced by inert placeholders while loading and
then dropped, and only the tensors of ``state_dict`` are used (anything else there is an error).

Key handling: a ``module.`` (DDP) prefix is stripped; training-only keys are ignored
(``roi_head.baron_kd.*``, the CLIP image encoder ``roi_head.clip.image_encoder.*``, every
``*num_batches_tracked``); missing, unexpected and wrongly shaped keys are collected in a
:class:`LoadReport` and reported together in one :class:`~regionkit.models.errors.WeightsError`.

The text encoder (``roi_head.clip.text_encoder.*``) is normally inside a BARON checkpoint.  If
it is not, pass ``clip_vitb32.pth``: OpenAI CLIP ViT-B/32's ``state_dict`` (its text keys
``token_embedding.weight``, ``transformer.resblocks.*``, ... are mapped under the prefix); an
original OpenAI TorchScript archive (``ViT-B-32.pt``) is accepted too.
"""
from __future__ import annotations

import pickle
import zipfile
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from regionkit.models.errors import WeightsError, describe_key_problems
from regionkit.models.pickled import load_with_placeholders, unsafe_globals

__all__ = [
    "TEXT_PREFIX", "IGNORED_PREFIXES", "LoadReport", "read_checkpoint", "baron_state_dict",
    "text_encoder_state_dict", "load_into",
]

TEXT_PREFIX = "roi_head.clip.text_encoder."
IGNORED_PREFIXES = ("roi_head.baron_kd.", "roi_head.clip.image_encoder.")
_STRIP_PREFIXES = ("module.",)

_BARON_HELP = (
    "The BARON weights used by Patch Matters are ovdet's OV-COCO model "
    "'this_repo_R-50-FPN_CLIP_iter_90000.pth' (config baron_kd_faster_rcnn_r50_fpn_syncbn_90kx2; "
    "'iter_90000.pth' in ovdet), linked as 'model' (Google Drive) in "
    "https://github.com/wusize/ovdet/blob/main/configs/baron/ov_coco/README.md. "
    "regionkit never downloads weights: download it on a machine with internet access and pass its local path.")
_CLIP_HELP = (
    "The text encoder file is 'clip_vitb32.pth': the state_dict of OpenAI CLIP ViT-B/32 "
    "(ovdet's README: torch.save(clip.load('ViT-B/32')[0].state_dict(), 'checkpoints/clip_vitb32.pth')); "
    "OpenAI's original 'ViT-B-32.pt' archive works as well. It is only needed when the BARON checkpoint "
    "lacks 'roi_head.clip.text_encoder.*'.")


@dataclass
class LoadReport:
    """What happened to the keys of a checkpoint when loaded into a model."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)  # "key: file (shape) vs model (shape)"
    ignored: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def describe(self, limit: int = 12) -> str:
        return describe_key_problems(self.missing, self.unexpected, self.mismatched, limit) or "all keys matched"


def _torch_load(path: Path) -> Any:
    """``torch.load(weights_only=True)``, with inert stand-ins for non-tensor training objects."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as first_error:
        names = unsafe_globals(path)
        if not names:
            raise WeightsError(f"cannot read {path} safely: {first_error}. Re-save its state_dict only.") from None
        try:
            return load_with_placeholders(path, names)
        except Exception as exc:  # pragma: no cover - exotic pickles
            raise WeightsError(f"cannot read {path} safely ({exc}); re-save its state_dict only") from None


def _is_torchscript(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return any(name.endswith("constants.pkl") for name in zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def read_checkpoint(path: str | Path, what: str = "BARON checkpoint",
                    help_text: str = _BARON_HELP) -> tuple[dict[str, torch.Tensor], dict]:
    """``(state_dict, meta)`` of an mmengine checkpoint, a bare state_dict or a TorchScript archive.

    A missing file raises WeightsError naming ``path`` followed by ``help_text`` (where the weights come from).
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{what} not found: {path}. {help_text}")
    if _is_torchscript(path):
        try:
            state: Any = torch.jit.load(str(path), map_location="cpu").state_dict()
        except Exception as exc:
            raise WeightsError(f"cannot read TorchScript archive {path}: {exc}") from None
        return dict(state), {}
    try:
        obj = _torch_load(path)
    except WeightsError:
        raise
    except Exception as exc:
        raise WeightsError(f"cannot read {what} {path}: {exc}") from None
    meta: dict = {}
    if isinstance(obj, Mapping) and "state_dict" in obj:
        raw_meta = obj.get("meta")
        meta = raw_meta if isinstance(raw_meta, dict) else {}
        obj = obj["state_dict"]
    elif isinstance(obj, Mapping) and "model" in obj and isinstance(obj["model"], Mapping):
        obj = obj["model"]
    if not isinstance(obj, Mapping):
        raise WeightsError(f"{what} {path} holds no state_dict (got {type(obj).__name__})")
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    state = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if bad and not all(k in ("input_resolution", "context_length", "vocab_size") for k in bad):
        raise WeightsError(f"{what} {path}: state_dict entries that are not tensors: {bad[:8]}")
    return state, meta


def _strip(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        for prefix in _STRIP_PREFIXES:
            while key.startswith(prefix):
                key = key[len(prefix):]
        out[key] = value
    return out


def _ignored(key: str) -> bool:
    return key.startswith(IGNORED_PREFIXES) or key.endswith("num_batches_tracked")


def baron_state_dict(path: str | Path) -> tuple[dict[str, torch.Tensor], list[str], dict]:
    """``(usable state_dict, ignored keys, meta)`` from an ovdet BARON checkpoint file."""
    state, meta = read_checkpoint(path, "BARON checkpoint")
    state = _strip(state)
    ignored = sorted(k for k in state if _ignored(k))
    return {k: v for k, v in state.items() if not _ignored(k)}, ignored, meta


def text_encoder_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Text-encoder tensors under :data:`TEXT_PREFIX` from ``clip_vitb32.pth`` (OpenAI layout) or a
    BARON checkpoint."""
    state, _ = read_checkpoint(path, "CLIP text encoder file", _CLIP_HELP)
    state = _strip(state)
    if any(k.startswith(TEXT_PREFIX) for k in state):
        return {k: v for k, v in state.items() if k.startswith(TEXT_PREFIX)}
    text_roots = ("token_embedding.", "positional_embedding", "transformer.", "ln_final.", "text_projection")
    out = {TEXT_PREFIX + k: v for k, v in state.items() if k.startswith(text_roots)}
    if not out:
        raise WeightsError(f"CLIP text encoder file {path} has no text-encoder keys "
                           f"(token_embedding.weight, transformer.resblocks.*, ...). {_CLIP_HELP}")
    return out


def load_into(module: torch.nn.Module, state: Mapping[str, torch.Tensor], ignored: Iterable[str] = (),
              strict: bool = True, source: str = "checkpoint") -> LoadReport:
    """Copy ``state`` into ``module`` (``num_batches_tracked`` never required) and report.

    With ``strict`` (default) any missing, unexpected or mis-shaped key raises WeightsError
    listing them all; otherwise matching keys are loaded and the report is returned.
    """
    own = OrderedDict((k, v) for k, v in module.state_dict().items() if not k.endswith("num_batches_tracked"))
    counters = [k for k in state if k.endswith("num_batches_tracked")]
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    report = LoadReport(ignored=sorted(set(ignored) | set(counters)))
    report.missing = [k for k in own if k not in state]
    report.unexpected = sorted(k for k in state if k not in own)
    usable = {}
    for key, value in state.items():
        if key not in own:
            continue
        if tuple(value.shape) != tuple(own[key].shape):
            report.mismatched.append(f"{key}: {tuple(value.shape)} in file vs {tuple(own[key].shape)} in model")
            continue
        usable[key] = value
    if strict and not report.ok:
        hint = ""
        if any(k.startswith(TEXT_PREFIX) for k in report.missing):
            hint = f" The text encoder is missing: pass text_encoder_path. {_CLIP_HELP}"
        raise WeightsError(f"{source} does not fit the BARON model: {report.describe()}.{hint}")
    module.load_state_dict(usable, strict=False)
    return report
