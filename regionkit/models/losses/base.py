"""The base class of regionkit's losses: ``loss_weight``, ``consumes`` and ``example_inputs()``.

A loss is an ``nn.Module`` whose ``forward`` takes, as keyword arguments, exactly the entries of a
model's output dict named in its class attribute ``consumes`` and returns a 0-dim tensor already
multiplied by ``loss_weight``.  ``name`` is its registry name; :class:`~regionkit.models.losses.
loss_set.LossSet` reports it as ``loss_<name>``.  ``example_inputs()`` returns forward()'s
keyword arguments for regionkit's conformance kit (``regionkit.testing.check_loss``).
"""
from __future__ import annotations

from typing import Annotated, Any, ClassVar

import torch
from torch import Tensor, nn

from regionkit.params import Range, checked

__all__ = ["BaseLoss", "LossWeight", "connected_zero"]

#: a loss weight: a finite number >= 0
LossWeight = Annotated[float, Range(0.0)]


class BaseLoss(nn.Module):
    """Common part of the built-in losses; subclasses set ``name``, ``consumes`` and implement ``forward``."""

    #: registry name (entry point ``regionkit.losses``); the loss-dict key is ``loss_<name>``
    name: ClassVar[str] = ""
    #: the model-output entries forward() reads, as keyword arguments
    consumes: ClassVar[tuple[str, ...]] = ()

    @checked
    def __init__(self, *, loss_weight: LossWeight = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    @classmethod
    def example_inputs(cls) -> dict[str, Any]:
        """Keyword arguments for ``forward`` (small random tensors; predictions require grad)."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"loss_weight={self.loss_weight}"


def connected_zero(*tensors: Tensor) -> Tensor:
    """A 0-dim zero that depends on ``tensors`` (so ``backward()`` reaches them with zero gradients)."""
    total = torch.zeros((), dtype=tensors[0].dtype, device=tensors[0].device)
    for t in tensors:
        if t.is_floating_point():
            total = total + t.sum() * 0.0
    return total
