"""Reading the reference fixtures written by ``fixtures/make_references.py``."""
from __future__ import annotations

from pathlib import Path

import torch

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def unpack(packed: dict) -> dict[str, torch.Tensor]:
    """The named tensors of one packed case (flat ``data`` + ``[(name, shape, offset)]`` ``index``)."""
    data = packed["data"]
    return {name: data[offset:offset + torch.Size(shape).numel()].reshape(shape)
            for name, shape, offset in packed["index"]}


def load_cases(name: str) -> dict[str, dict[str, torch.Tensor]]:
    """``{case: {tensor name: tensor}}`` of ``fixtures/<name>``."""
    raw = torch.load(FIXTURES / name, weights_only=True)
    return {key: unpack(value) for key, value in raw.items() if isinstance(value, dict)}
