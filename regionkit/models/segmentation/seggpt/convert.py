"""Painter's SegGPT checkpoint layout (``seggpt_vit_large.pth``) to transformers' ``SegGptForImageSegmentation`` and back.

The tensors are the same; only the names differ (the rename rules of transformers'
``convert_seggpt_to_hf.py``, spec §7)::

    patch_embed.proj.*              model.embeddings.patch_embeddings.projection.*
    mask_token                      model.embeddings.mask_token
    pos_embed                       model.embeddings.position_embeddings
    segment_token_x / _y            model.embeddings.segment_token_input / segment_token_prompt
    type_token_cls / _ins           model.embeddings.type_token_semantic / type_token_instance
    norm.*                          model.encoder.layernorm.*
    blocks.i.attn.*                 model.encoder.layers.i.attention.*    (qkv, proj, rel_pos_h, rel_pos_w)
    blocks.i.mlp.fc1 / fc2          model.encoder.layers.i.mlp.lin1 / lin2
    blocks.i.norm1 / norm2          model.encoder.layers.i.layernorm_before / layernorm_after
    decoder_embed.*                 decoder.decoder_embed.*
    decoder_pred.0 / .1 / .3        decoder.decoder_pred.conv / layernorm / head

Files read here:

* Painter's release: ``{'model': state_dict}``; the fine-tunes of the SegGPT-FineTune recipe:
  ``{'model_state_dict': state_dict, ...}`` (those were trained with the *semantic* type token);
  a bare state dict; DDP's ``module.`` prefix is stripped.
* transformers state dicts, including the early layout without the ``model.`` prefix and with
  ``mlp.fc1`` / ``fc2`` (normalised to today's names), and ``regionkit train`` checkpoints of the
  ``seggpt`` model (``{'state_dict': {'net.<transformers name>': ...}, 'meta': ...}``); their
  configuration is read from the tensor shapes as for Painter files.

Every conversion is strict: a key that maps nowhere, or a model key no file key fills, is an
error naming the keys (Painter's ``strict=False`` hid such mistakes).  Files are read with
``torch.load(weights_only=True)``; pickled training objects in a fine-tune's file are replaced
by inert stand-ins, never run.
"""
from __future__ import annotations

import json
import os
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from regionkit.models.errors import WeightsError
from regionkit.models.pickled import load_with_placeholders, unsafe_globals

__all__ = ["PainterFile", "read_checkpoint_file", "painter_to_transformers", "transformers_to_painter",
           "normalize_transformers_keys", "is_painter_layout", "config_from_painter", "convert_checkpoint",
           "SOURCE_FILE", "PAINTER_MERGE_INDEX", "PAINTER_FEATURE_INDICES"]

#: what :func:`convert_checkpoint` writes beside the transformers files (the detector's ``embedding_type='auto'`` reads it)
SOURCE_FILE = "regionkit_seggpt_source.json"
#: how a ``regionkit train`` checkpoint of the ``seggpt`` model is recognised: ``state_dict`` keys under ``net.``
RUNNER_PREFIX = "net."
RUNNER_KEY = "state_dict/net"
#: Painter hard-codes these for its 24-block ViT-L (``merge_idx`` and the decoder's feature blocks)
PAINTER_MERGE_INDEX = 2
PAINTER_FEATURE_INDICES = (5, 11, 17, 23)

_EMBEDDINGS = {
    "mask_token": "model.embeddings.mask_token",
    "pos_embed": "model.embeddings.position_embeddings",
    "segment_token_x": "model.embeddings.segment_token_input",
    "segment_token_y": "model.embeddings.segment_token_prompt",
    "type_token_cls": "model.embeddings.type_token_semantic",
    "type_token_ins": "model.embeddings.type_token_instance",
}
_PREFIXES = (  # (Painter prefix, transformers prefix), tried in order
    ("patch_embed.proj.", "model.embeddings.patch_embeddings.projection."),
    ("norm.", "model.encoder.layernorm."),
    ("decoder_embed.", "decoder.decoder_embed."),
    ("decoder_pred.0.", "decoder.decoder_pred.conv."),
    ("decoder_pred.1.", "decoder.decoder_pred.layernorm."),
    ("decoder_pred.3.", "decoder.decoder_pred.head."),
)
_BLOCK_PARTS = (("attn.", "attention."), ("mlp.fc1.", "mlp.lin1."), ("mlp.fc2.", "mlp.lin2."),
                ("norm1.", "layernorm_before."), ("norm2.", "layernorm_after."))
_BLOCK = re.compile(r"^blocks\.(\d+)\.(.+)$")
_LAYER = re.compile(r"^model\.encoder\.layers\.(\d+)\.(.+)$")


@dataclass(frozen=True)
class PainterFile:
    """A checkpoint file's state dict and where in the file it was (``model``, ``model_state_dict`` or the top level)."""

    state: dict[str, Any]
    key: str
    path: Path

    @property
    def fine_tuned(self) -> bool:
        """Saved by the SegGPT-FineTune recipe or by ``regionkit train`` (both train with the semantic type token)."""
        return self.key in ("model_state_dict", RUNNER_KEY)


def _rename(key: str, table: tuple[tuple[str, str], ...]) -> str | None:
    for old, new in table:
        if key.startswith(old):
            return new + key[len(old):]
    return None


def painter_to_transformers(state: Mapping[str, Any]) -> dict[str, Any]:
    """Painter names -> transformers names (same tensors); a WeightsError lists keys no rule covers."""
    out: dict[str, Any] = {}
    unknown = []
    for key, value in state.items():
        new = _EMBEDDINGS.get(key) or _rename(key, _PREFIXES)
        if new is None:
            match = _BLOCK.match(key)
            part = _rename(match.group(2), _BLOCK_PARTS) if match else None
            new = f"model.encoder.layers.{match.group(1)}.{part}" if match and part else None
        if new is None:
            unknown.append(key)
        else:
            out[new] = value
    if unknown:
        raise WeightsError(f"{len(unknown)} key(s) of the Painter checkpoint match no SegGPT rename rule: "
                           f"{', '.join(sorted(unknown)[:8])}{' ...' if len(unknown) > 8 else ''}")
    return out


def transformers_to_painter(state: Mapping[str, Any]) -> dict[str, Any]:
    """transformers names -> Painter names (the inverse of :func:`painter_to_transformers`)."""
    embeddings = {v: k for k, v in _EMBEDDINGS.items()}
    prefixes = tuple((new, old) for old, new in _PREFIXES)
    parts = tuple((new, old) for old, new in _BLOCK_PARTS)
    out: dict[str, Any] = {}
    unknown = []
    for key, value in normalize_transformers_keys(state).items():
        old = embeddings.get(key) or _rename(key, prefixes)
        if old is None:
            match = _LAYER.match(key)
            part = _rename(match.group(2), parts) if match else None
            old = f"blocks.{match.group(1)}.{part}" if match and part else None
        if old is None:
            unknown.append(key)
        else:
            out[old] = value
    if unknown:
        raise WeightsError(f"{len(unknown)} transformers key(s) have no Painter name: {', '.join(sorted(unknown)[:8])}")
    return out


def normalize_transformers_keys(state: Mapping[str, Any]) -> dict[str, Any]:
    """transformers keys in today's layout: ``model.`` prefix added, ``mlp.fc1``/``fc2`` -> ``lin1``/``lin2``."""
    out = {}
    for key, value in state.items():
        new = f"model.{key}" if key.startswith(("embeddings.", "encoder.")) else key
        new = new.replace(".mlp.fc1.", ".mlp.lin1.").replace(".mlp.fc2.", ".mlp.lin2.")
        out[new] = value
    return out


def is_painter_layout(state: Mapping[str, Any]) -> bool:
    """Whether ``state`` uses Painter's names (``blocks.*``, ``patch_embed.*``) rather than transformers'."""
    return any(k.startswith(("blocks.", "patch_embed.")) for k in state)


def _strip_module(state: Mapping[str, Any]) -> dict[str, Any]:
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}


def _torch_load(path: Path) -> Any:
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as first:
        names = unsafe_globals(path)
        if not names:
            raise WeightsError(f"cannot read SegGPT checkpoint {path}: {first}") from None
        return load_with_placeholders(path, names)


def read_checkpoint_file(path: str | os.PathLike[str]) -> PainterFile:
    """The state dict of a ``.pth``/``.pt``/``.bin``/``.safetensors`` file (Painter, fine-tune or transformers)."""
    import torch

    p = Path(path)
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj: Any = load_file(str(p))
        else:
            obj = _torch_load(p)
    except WeightsError:
        raise
    except Exception as exc:
        raise WeightsError(f"cannot read SegGPT checkpoint {p}: {type(exc).__name__}: {exc}") from None
    key = ""
    for candidate in ("model_state_dict", "model", "state_dict"):
        if isinstance(obj, Mapping) and isinstance(obj.get(candidate), Mapping):
            obj, key = obj[candidate], candidate
            break
    if not isinstance(obj, Mapping):
        raise WeightsError(f"SegGPT checkpoint {p} holds no state dict (got {type(obj).__name__})")
    state = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not state:
        raise WeightsError(f"SegGPT checkpoint {p} holds no tensors (keys: {', '.join(list(map(str, obj))[:6])})")
    state = _strip_module(state)
    if key == "state_dict" and all(k.startswith(RUNNER_PREFIX) for k in state):
        # a regionkit train checkpoint of the seggpt model: transformers names under the wrapper's attribute
        state, key = {k[len(RUNNER_PREFIX):]: v for k, v in state.items()}, RUNNER_KEY
    return PainterFile(state, key, p)


def config_from_painter(state: Mapping[str, Any], **overrides: Any) -> Any:
    """The ``SegGptConfig`` a Painter-layout state dict was made with, read from its tensor shapes.

    Shapes give the width, depth, patch and canvas size, heads (from the relative-position
    tables), MLP and decoder widths and the pretraining grid.  ``merge_index`` and the decoder's
    feature blocks are not stored: Painter hard-codes 2 and (5, 11, 17, 23) for 24 blocks; other
    depths need them in ``overrides`` (a WeightsError says so).
    """
    from transformers import SegGptConfig

    try:
        proj = state["patch_embed.proj.weight"]
        hidden, channels, patch = int(proj.shape[0]), int(proj.shape[1]), int(proj.shape[2])
        depth = 1 + max(int(m.group(1)) for m in (_BLOCK.match(k) for k in state) if m)
        rel_h, rel_w = state["blocks.0.attn.rel_pos_h"], state["blocks.0.attn.rel_pos_w"]
        head_dim = int(rel_h.shape[1])
        grid = round((int(state["pos_embed"].shape[1]) - 1) ** 0.5)
        features = int(state["decoder_embed.weight"].shape[1]) // hidden
        values: dict[str, Any] = dict(
            hidden_size=hidden, num_channels=channels, patch_size=patch, num_hidden_layers=depth,
            num_attention_heads=hidden // head_dim,
            image_size=[(int(rel_h.shape[0]) + 1) // 2 * patch, (int(rel_w.shape[0]) + 1) // 2 * patch],
            mlp_dim=int(state["blocks.0.mlp.fc1.weight"].shape[0]), pretrain_image_size=grid * patch,
            decoder_hidden_size=int(state["decoder_pred.0.weight"].shape[0]),
            qkv_bias="blocks.0.attn.qkv.bias" in state)
    except (KeyError, ValueError, IndexError, AttributeError) as exc:
        raise WeightsError(f"not a Painter SegGPT state dict (cannot read its shapes: {exc})") from None
    if depth == 24 and features == len(PAINTER_FEATURE_INDICES):
        values.update(merge_index=PAINTER_MERGE_INDEX, intermediate_hidden_state_indices=list(PAINTER_FEATURE_INDICES))
    values.update(overrides)
    if "merge_index" not in values or "intermediate_hidden_state_indices" not in values:
        raise WeightsError(f"a {depth}-block Painter checkpoint with {features} decoder feature blocks: its merge index "
                           f"and feature blocks are not stored in the file (Painter hard-codes them for 24 blocks); "
                           f"give them as merge_index=... and intermediate_hidden_state_indices=[...]")
    return SegGptConfig(**values)


def convert_checkpoint(src: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                       config: Mapping[str, Any] | None = None) -> Path:
    """Write ``src`` (a Painter or fine-tuned ``.pth``) as a transformers folder ``out_dir`` (config + safetensors).

    ``config`` overrides :func:`config_from_painter`'s reading (a ``config.json``'s contents).
    The weights are loaded strictly; a ``regionkit_seggpt_source.json`` beside them records the
    source file and the type token the weights expect.  Returns ``out_dir``.
    """
    from regionkit.models.segmentation.seggpt.model import build_from_state

    file = read_checkpoint_file(src)
    model = build_from_state(file.state, config, where=str(file.path))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    info = {"source": str(Path(src).resolve()), "checkpoint_key": file.key or None,
            "layout": "painter" if is_painter_layout(file.state) else "transformers",
            "embedding_type": "semantic" if file.fine_tuned else "instance"}
    (out / SOURCE_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return out
