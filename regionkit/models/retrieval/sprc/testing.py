"""Deterministic, seeded random weights in SPRC's (LAVIS ``blip2_cir_align_prompt``) key layout, for tests.

Depends on torch and the standard library only, so the side environment that runs SPRC's own
code can load this file by path and build the *same* weights as the native tests.  Every tensor
comes from its own ``torch.Generator`` seeded from ``sha256(f"{seed}/{key}")``: a value depends
only on the seed, the key name and the shape, never on the order of the keys.

Rules (chosen so that a random model is well conditioned, not to carry any knowledge):
``position_ids`` is ``arange``; ``temp`` is uniform in [0.05, 0.1]; LayerNorm weights are
``1 + N(0, 0.05)`` and biases ``N(0, 0.02)``; linear and conv weights are
``N(0, 1 / fan_in)`` (unit gain, so that attention is far from uniform and the outputs differ
from sample to sample), the ViT's ``blocks.{i}`` output projections (``attn.proj``,
``mlp.fc2``, CLIP's ``out_proj`` / ``c_proj``) divided by ``sqrt(2 (i + 1))``; embeddings, query
and prompt tokens are ``N(0, 0.25)``; other biases ``N(0, 0.02)``.  Values are generated in fp32 and
cast to the key's dtype only by :func:`seeded_state_dict` with ``cast=True``.

The key-list format (``fixtures/*.txt``) is one ``key<TAB>shape<TAB>dtype`` line per tensor
(shape ``AxB`` or ``scalar``; ``#`` starts a comment line).
"""
from __future__ import annotations

import hashlib
import math
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import torch

__all__ = ["GENERATOR_VERSION", "KeySpec", "read_key_list", "format_key_list", "key_specs", "seeded_tensor",
           "seeded_state_dict", "seeded_inputs"]

#: bumped whenever a rule changes
GENERATOR_VERSION = "regionkit-sprc-seeded/1"

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "int64": torch.int64, "bfloat16": torch.bfloat16}
_NAMES = {v: k for k, v in _DTYPES.items()}
_BLOCK = re.compile(r"(?:^|\.)(?:blocks|resblocks)\.(\d+)\.")
_EMBEDDINGS = ("word_embeddings.weight", "position_embeddings.weight", "query_tokens", "prompt_tokens", "cls_token",
               "pos_embed", "class_embedding", "positional_embedding")
_RESIDUAL_OUT = (".attn.proj.weight", ".mlp.fc2.weight", ".attn.out_proj.weight", ".mlp.c_proj.weight")


class KeySpec(tuple):
    """``(key, shape, dtype)`` of one state_dict entry."""

    __slots__ = ()

    def __new__(cls, key: str, shape: Sequence[int], dtype: torch.dtype) -> KeySpec:
        return super().__new__(cls, (key, tuple(int(s) for s in shape), dtype))

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
    """Parse a key list file (module docstring)."""
    specs = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, shape_text, dtype_text = line.split("\t")
        shape = () if shape_text == "scalar" else tuple(int(s) for s in shape_text.split("x"))
        specs.append(KeySpec(key, shape, _DTYPES[dtype_text]))
    return specs


def format_key_list(specs: Iterable[KeySpec], header: Sequence[str] = ()) -> str:
    """The text of a key list file (inverse of :func:`read_key_list`)."""
    lines = [f"# {h}" for h in header]
    for spec in specs:
        shape = "x".join(str(s) for s in spec.shape) if spec.shape else "scalar"
        lines.append(f"{spec.key}\t{shape}\t{_NAMES[spec.dtype]}")
    return "\n".join(lines) + "\n"


def key_specs(state_dict: Mapping[str, torch.Tensor]) -> list[KeySpec]:
    """The specs of a state_dict, in its order."""
    return [KeySpec(k, tuple(v.shape), v.dtype) for k, v in state_dict.items()]


def _generator(seed: int, key: str) -> torch.Generator:
    digest = hashlib.sha256(f"{seed}/{key}".encode()).digest()
    gen = torch.Generator(device="cpu")
    gen.manual_seed(int.from_bytes(digest[:8], "little") & ((1 << 63) - 1))
    return gen


def _normal(shape: Sequence[int], std: float, gen: torch.Generator, mean: float = 0.0) -> torch.Tensor:
    return torch.randn(tuple(shape), generator=gen, dtype=torch.float32).mul_(std).add_(mean)


def _is_norm(key: str) -> bool:
    owner = key.rsplit(".", 1)[0].rsplit(".", 1)[-1]
    return owner in ("LayerNorm", "ln_vision", "norm1", "norm2", "ln_1", "ln_2", "ln_pre", "norm")


#: tied parameters (``transformers`` ties the LM head to the word embeddings): same values
_TIED = {"cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
         "cls.predictions.decoder.bias": "cls.predictions.bias"}


def _canonical(key: str) -> str:
    for tail, source in _TIED.items():
        if key.endswith(tail):
            return key[: len(key) - len(tail)] + source
    return key


def seeded_tensor(spec: KeySpec, seed: int) -> torch.Tensor:
    """The fp32 (int64 for ``position_ids``) tensor of one key; depends only on ``(seed, key, shape)``.

    The tied LM-head keys (``*cls.predictions.decoder.{weight, bias}``) get the values of the
    tensors they are tied to.
    """
    shape = spec.shape
    key = _canonical(spec.key)
    if key.endswith("position_ids"):
        return torch.arange(shape[-1], dtype=torch.int64).expand(shape).clone()
    gen = _generator(seed, key)
    if key == "temp":
        return torch.rand((), generator=gen).mul_(0.05).add_(0.05).reshape(shape)
    if _is_norm(key):
        return _normal(shape, 0.05, gen, mean=1.0) if key.endswith("weight") else _normal(shape, 0.02, gen)
    if len(shape) >= 2 and not key.endswith(_EMBEDDINGS):  # linear / conv weights: unit gain
        value = _normal(shape, 1.0 / math.sqrt(math.prod(shape[1:])), gen)
    elif key.endswith(_EMBEDDINGS):
        value = _normal(shape, 0.5, gen)
    else:  # biases
        value = _normal(shape, 0.02, gen)
    block = _BLOCK.search(key)
    if block is not None and key.endswith(_RESIDUAL_OUT):
        value /= math.sqrt(2.0 * (int(block.group(1)) + 1))
    return value


def seeded_state_dict(specs: Iterable[KeySpec], seed: int = 0, *, cast: bool = False,
                      exclude_prefixes: Sequence[str] = ()) -> OrderedDict[str, torch.Tensor]:
    """One seeded tensor per spec, in the order given; ``cast`` converts each to its spec's dtype."""
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for spec in specs:
        if exclude_prefixes and spec.key.startswith(tuple(exclude_prefixes)):
            continue
        value = seeded_tensor(spec, seed)
        out[spec.key] = value.to(spec.dtype) if cast else value
    return out


def seeded_inputs(name: str, shape: Sequence[int], seed: int = 0, std: float = 1.0) -> torch.Tensor:
    """A seeded ``N(0, std)`` fp32 input tensor (ViT outputs, images) named ``name``."""
    return _normal(shape, std, _generator(seed, f"input/{name}"))
