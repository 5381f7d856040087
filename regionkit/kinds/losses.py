"""Losses: ``torch.nn.Module`` s that turn a model's named outputs into a weighted scalar."""
from __future__ import annotations

import inspect

from regionkit.kinds.base import Kind

__all__ = ["KIND"]


def _loss_rules(cls: type) -> list[tuple[str, str]]:
    """A loss is an ``nn.Module`` taking ``loss_weight`` with an ``example_inputs()`` classmethod."""
    try:
        import torch
    except ImportError:  # a loss plugin without torch fails to import anyway
        return []
    problems: list[tuple[str, str]] = []
    if not issubclass(cls, torch.nn.Module):
        problems.append(("error", f"{cls.__qualname__} is not a torch.nn.Module"))
    if not isinstance(inspect.getattr_static(cls, "example_inputs", None), (classmethod, staticmethod)):
        problems.append(("warning", f"{cls.__qualname__} has no example_inputs() classmethod; the conformance kit "
                                    f"needs one (returning forward()'s keyword arguments) to test the loss"))
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        params = {}  # type: ignore[assignment]
    if "loss_weight" not in params:
        problems.append(("warning", f"{cls.__qualname__}'s constructor takes no loss_weight; regionkit losses take "
                                    f"loss_weight: float = 1.0 and multiply their value by it"))
    return problems


KIND = Kind(
    key="losses", singular="loss", contract="forward(...) -> scalar Tensor, multiplied by loss_weight",
    mmengine_parent="MODELS", conformance="regionkit.devkit.conformance.losses", extra_rules=_loss_rules,
    example_target="my_pkg.losses:MyLoss",
)
