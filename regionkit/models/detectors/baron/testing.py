"""Deterministic, seeded random weights in wusize/ovdet's BARON checkpoint layout (tests only).

This module depends on torch and the standard library only, so the side environment that runs
the original ovdet-in-mmdet code can load it by file path and build the *same* checkpoint the
native tests build.  Every tensor comes from its own ``torch.Generator`` seeded from
``sha256(f"{seed}/{key}")``, so a value depends only on the seed and the key name, never on the
order of the keys or on which other keys are generated.

The initialisation rules are chosen so that a random model is well conditioned and gives
non-trivial detections on real photographs: He-scaled convolutions, batch-norm weights near 1
with positive running variances, CLIP-style small weights in the text transformer, and
L2-normalised class embeddings.  The weights carry no knowledge; they exist to compare two
implementations number for number.
"""
from __future__ import annotations

import hashlib
import math
import re
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch

__all__ = [
    "GENERATOR_VERSION",
    "KeySpec",
    "read_key_list",
    "seeded_tensor",
    "seeded_state_dict",
    "save_seeded_checkpoint",
    "INFERENCE_ONLY_EXCLUDE",
    "openai_clip_state_dict",
]

#: Bumped whenever a rule below changes (it goes into the checkpoint's ``meta``).
GENERATOR_VERSION = "regionkit-baron-seeded/1"

#: Key prefixes that inference never reads (the CLIP image encoder and BARON's distillation
#: module).  Leaving them out makes a test checkpoint ~45% smaller; the other tensors do not
#: change, because every key is seeded on its own.
INFERENCE_ONLY_EXCLUDE: tuple[str, ...] = ("roi_head.clip.image_encoder.", "roi_head.baron_kd.")

_DTYPES = {"float32": torch.float32, "int64": torch.int64, "float16": torch.float16}
_TEXT = "roi_head.clip.text_encoder."
_TEXT_WIDTH = 512
_TEXT_LAYERS = 12
#: He gain 2 (ReLU input) unless listed: gain 1 where the input is not rectified (image, FPN
#: outputs, RoI features), and 1/4 for the FPN output convs whose input sums up to 4 laterals.
_GAINS = {"backbone.conv1.weight": 1.0, "rpn_head.rpn_conv.weight": 1.0,
          "roi_head.bbox_head.shared_convs.0.conv.weight": 1.0,
          **{f"neck.lateral_convs.{i}.conv.weight": 1.0 for i in range(4)},
          **{f"neck.fpn_convs.{i}.conv.weight": 0.25 for i in range(4)}}
_RESIDUAL_LAST_BN = re.compile(r"^backbone\.layer\d\.\d+\.bn3\.")


class KeySpec(tuple):
    """``(key, shape, dtype)`` of one state_dict entry."""

    __slots__ = ()

    def __new__(cls, key: str, shape: tuple[int, ...], dtype: torch.dtype) -> KeySpec:
        return super().__new__(cls, (key, tuple(shape), dtype))

    @property
    def key(self) -> str:
        return self[0]

    @property
    def shape(self) -> tuple[int, ...]:
        return self[1]

    @property
    def dtype(self) -> torch.dtype:
        return self[2]


def read_key_list(path: str | Path) -> list[KeySpec]:
    """Parse a key list (``key<TAB>shape<TAB>dtype`` lines, ``#`` comments; shape ``AxB`` or ``scalar``)."""
    specs: list[KeySpec] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, shape_text, dtype_text = line.split("\t")
        shape = () if shape_text == "scalar" else tuple(int(s) for s in shape_text.split("x"))
        specs.append(KeySpec(key, shape, _DTYPES[dtype_text]))
    return specs


def _generator(seed: int, key: str) -> torch.Generator:
    digest = hashlib.sha256(f"{seed}/{key}".encode()).digest()
    gen = torch.Generator(device="cpu")
    gen.manual_seed(int.from_bytes(digest[:8], "little") & ((1 << 63) - 1))
    return gen


def _normal(shape: Sequence[int], std: float, gen: torch.Generator, mean: float = 0.0) -> torch.Tensor:
    return torch.randn(tuple(shape), generator=gen, dtype=torch.float32).mul_(std).add_(mean)


def _uniform(shape: Sequence[int], low: float, high: float, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(tuple(shape), generator=gen, dtype=torch.float32).mul_(high - low).add_(low)


def _fan_in(shape: Sequence[int]) -> int:
    return int(math.prod(shape[1:])) if len(shape) > 1 else int(shape[0])


def _is_norm(key: str) -> bool:
    """Batch-norm / layer-norm parameters and buffers, by mmdet / CLIP naming."""
    leaf_owner = key.rsplit(".", 2)[-2]
    return (
        leaf_owner.startswith(("bn", "ln"))
        or leaf_owner == "bn"
        or key.endswith(("running_mean", "running_var"))
        or ".downsample.1." in key
        or key.endswith(("pos_proj.1.weight", "pos_proj.1.bias"))
    )


def _text_rule(key: str, shape: Sequence[int], gen: torch.Generator) -> torch.Tensor:
    """CLIP's own initialisation (``CLIP.initialize_parameters``) plus small LN noise."""
    width = _TEXT_WIDTH
    attn_std = width ** -0.5
    proj_std = attn_std * (2 * _TEXT_LAYERS) ** -0.5
    fc_std = (2 * width) ** -0.5
    name = key[len(_TEXT):]
    if name == "token_embedding.weight":
        return _normal(shape, 0.02, gen)
    if name == "positional_embedding":
        return _normal(shape, 0.01, gen)
    if name == "text_projection":
        return _normal(shape, attn_std, gen)
    if ".ln_" in name or name.startswith("ln_final"):
        return _normal(shape, 0.05, gen, mean=1.0) if name.endswith("weight") else _normal(shape, 0.02, gen)
    if name.endswith("attn.in_proj_weight"):
        # 3x CLIP's std: sharper attention, so that the EOT output (and the predicted class)
        # varies from region to region instead of collapsing onto one class
        return _normal(shape, 3.0 * attn_std, gen)
    if name.endswith("attn.out_proj.weight"):
        # larger than CLIP's proj_std so that the EOT output depends on the pseudo words
        return _normal(shape, attn_std, gen)
    if name.endswith("mlp.c_proj.weight"):
        return _normal(shape, proj_std, gen)
    if name.endswith("mlp.c_fc.weight"):
        return _normal(shape, fc_std, gen)
    if name.endswith("bias"):
        return _normal(shape, 0.01, gen)
    return _normal(shape, 0.02, gen)


def _bn_rule(key: str, shape: Sequence[int], gen: torch.Generator) -> torch.Tensor:
    if _RESIDUAL_LAST_BN.search(key) and key.endswith("weight"):
        # small gamma on the last norm of each bottleneck (cf. mmdet's zero_init_residual): with
        # He-scaled convolutions and unit-ish running variances the residual stream would
        # otherwise double with every block.
        return _normal(shape, 0.02, gen, mean=0.2)
    if key.endswith("running_var"):
        return _uniform(shape, 0.5, 1.5, gen)
    if key.endswith("running_mean"):
        return _normal(shape, 0.1, gen)
    if key.endswith("weight"):
        return _normal(shape, 0.1, gen, mean=1.0)
    return _normal(shape, 0.1, gen)  # bias


def seeded_tensor(spec: KeySpec, seed: int) -> torch.Tensor:
    """The tensor for one key; depends only on ``(seed, spec.key)`` and the shape."""
    key, shape, dtype = spec
    if dtype == torch.int64:  # num_batches_tracked
        return torch.zeros(shape, dtype=torch.int64)
    gen = _generator(seed, key)
    if key.startswith(_TEXT):
        value = _text_rule(key, shape, gen)
    elif key == "roi_head.bbox_head.cls_embeddings":
        value = _normal(shape, 1.0, gen)
        value = value / value.norm(dim=1, keepdim=True)
    elif key.startswith("roi_head.bbox_head.bg_embedding."):
        # the background row is normalize(W @ [1] + b): a random direction
        value = _normal(shape, 1.0, gen)
    elif key.startswith("roi_head.bbox_head.fc_cls."):
        # pseudo words of moderate size (each text block layer-normalises its input first)
        value = _normal(shape, 0.5 / math.sqrt(_fan_in(shape)), gen) if key.endswith("weight") \
            else _normal(shape, 0.02, gen)
    elif key == "roi_head.bbox_head.fc_reg.2.weight":
        value = _normal(shape, 0.2 / math.sqrt(_fan_in(shape)), gen)
    elif key.startswith("rpn_head.rpn_reg."):
        value = _normal(shape, 0.1 / math.sqrt(_fan_in(shape)), gen) if key.endswith("weight") \
            else _normal(shape, 0.02, gen)
    elif key == "rpn_head.rpn_cls.2.bias":
        value = _normal(shape, 0.1, gen, mean=-1.0)
    elif _is_norm(key):
        value = _bn_rule(key, shape, gen) if "clip." not in key else (
            _normal(shape, 0.05, gen, mean=1.0) if key.endswith("weight") else _normal(shape, 0.02, gen))
    elif key.startswith("roi_head.clip.") or key.startswith("roi_head.baron_kd."):
        value = _normal(shape, 0.02, gen) if len(shape) > 1 or key.endswith("class_embedding") \
            else _normal(shape, 0.01, gen)
    elif len(shape) >= 2:  # conv / linear weights: He scaling, gain per layer (see _GAINS)
        value = _normal(shape, math.sqrt(_GAINS.get(key, 2.0) / _fan_in(shape)), gen)
    else:  # conv / linear biases
        value = _normal(shape, 0.01, gen)
    return value.to(dtype)


def seeded_state_dict(specs: Iterable[KeySpec], seed: int = 0,
                      exclude_prefixes: Sequence[str] = ()) -> OrderedDict[str, torch.Tensor]:
    """A state_dict with one seeded tensor per spec (in the order given), minus excluded prefixes."""
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for spec in specs:
        if exclude_prefixes and spec.key.startswith(tuple(exclude_prefixes)):
            continue
        out[spec.key] = seeded_tensor(spec, seed)
    return out


def save_seeded_checkpoint(path: str | Path, specs: Iterable[KeySpec], seed: int = 0,
                           exclude_prefixes: Sequence[str] = ()) -> Path:
    """Write ``{"meta": {...}, "state_dict": {...}}`` (mmengine's layout) and return the path."""
    path = Path(path)
    state = seeded_state_dict(specs, seed=seed, exclude_prefixes=exclude_prefixes)
    meta = {"generator": GENERATOR_VERSION, "seed": int(seed), "torch": str(torch.__version__),
            "excluded_prefixes": list(exclude_prefixes)}
    torch.save({"meta": meta, "state_dict": state}, path)
    return path


def openai_clip_state_dict(state_dict: dict[str, torch.Tensor]) -> OrderedDict[str, torch.Tensor]:
    """OpenAI CLIP layout (``clip_vitb32.pth``) from a BARON state_dict: text keys at the root,
    image-encoder keys under ``visual.`` (those present)."""
    text, image = "roi_head.clip.text_encoder.", "roi_head.clip.image_encoder."
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for key, value in state_dict.items():
        if key.startswith(text):
            out[key[len(text):]] = value
        elif key.startswith(image):
            out["visual." + key[len(image):]] = value
    return out
