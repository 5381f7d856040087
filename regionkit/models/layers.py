"""Small layer blocks shared by the native models."""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["ConvNormAct", "FrozenBatchNorm2d", "freeze"]


class FrozenBatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` that always normalises with its running statistics (inference only).

    Same parameters and buffers as ``nn.BatchNorm2d`` (so the same checkpoint keys, including
    ``num_batches_tracked``) and the same arithmetic as its eval mode, whatever ``train()`` says.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                        False, 0.0, self.eps)


class ConvNormAct(nn.Module):
    """Conv2d -> optional BatchNorm -> optional ReLU, named like mmcv's ``ConvModule``.

    Children are ``conv`` and ``bn`` (the conv has a bias only when there is no norm), so
    state_dict keys read ``<prefix>.conv.weight``, ``<prefix>.bn.running_var`` and so on.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding: int = 0,
                 norm: bool = True, act: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, bias=not norm)
        self.bn: nn.Module | None = FrozenBatchNorm2d(out_channels) if norm else None
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        if self.act:
            x = torch.relu_(x)
        return x


def freeze(module: nn.Module) -> nn.Module:
    """Put ``module`` in eval mode and stop gradients for all its parameters; returns it."""
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module
