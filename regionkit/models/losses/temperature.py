"""A learnable temperature that turns similarities into logits, shareable between losses.

Two parameterisations, as the originals store them:

* ``"temperature"`` (SPRC): the parameter is ``temp`` (init 0.07, unclamped) and
  ``logits = sim / temp``;
* ``"logit_scale"`` (CLIP, FG-CLIP): the parameter is ``s`` (init ``log(1 / 0.07) = 2.6593``;
  FG-CLIP's config ``2.6592``) and ``logits = exp(s) * sim``.

Several losses share one temperature by holding the same :class:`Temperature` module
(:class:`~regionkit.models.losses.loss_set.LossSet` ``share_temperature``), as SPRC's ``itc`` and
``rtc`` share ``self.temp``.  ``learnable=False`` stores the value as a buffer.
"""
from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

__all__ = ["Temperature", "TemperatureMode"]

TemperatureMode = Literal["temperature", "logit_scale"]


class Temperature(nn.Module):
    """``forward(sim)`` -> logits (same shape): ``sim / value`` or ``exp(value) * sim``."""

    value: Tensor

    def __init__(self, value: float, mode: TemperatureMode = "temperature", learnable: bool = True) -> None:
        super().__init__()
        if mode not in ("temperature", "logit_scale"):
            raise ValueError(f"mode must be 'temperature' or 'logit_scale', got {mode!r}")
        if mode == "temperature" and not value > 0:
            raise ValueError(f"a temperature must be > 0, got {value}")
        self.mode: TemperatureMode = mode
        tensor = torch.tensor(float(value))
        if learnable:
            self.value = nn.Parameter(tensor)
        else:
            self.register_buffer("value", tensor)

    def forward(self, sim: Tensor) -> Tensor:
        value = self.value.to(sim.dtype)
        return sim / value if self.mode == "temperature" else sim * value.exp()

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, value={float(self.value):.6g}, learnable={isinstance(self.value, nn.Parameter)}"
