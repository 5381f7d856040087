"""Conformance checks for losses: a finite scalar, gradients, loss_weight scaling (skipped without torch)."""
from __future__ import annotations

import math
import unittest
from collections.abc import Mapping
from typing import Any

from regionkit.devkit.conformance.framework import Check, CheckContext, ConformanceError, call_component

__all__ = ["CHECKS", "require_torch"]


def require_torch() -> Any:
    """``torch``, or ``unittest.SkipTest`` (a pytest skip) where it is not installed."""
    try:
        import torch
    except ImportError:
        raise unittest.SkipTest("torch is not installed; the loss checks need it") from None
    return torch


def _example_inputs(loss: Any) -> dict[str, Any]:
    torch = require_torch()
    cls = type(loss)
    maker = getattr(cls, "example_inputs", None)
    if maker is None:
        raise ConformanceError(
            f"{cls.__qualname__} has no example_inputs() classmethod; the kit needs inputs to call it with. Add:\n"
            f"    @classmethod\n    def example_inputs(cls):\n"
            f"        return dict(pred=torch.randn(4, 8, requires_grad=True), target=torch.randn(4, 8))")
    torch.manual_seed(0)
    inputs = call_component(f"{cls.__qualname__}.example_inputs()", maker)
    if not isinstance(inputs, Mapping):
        raise ConformanceError(f"{cls.__qualname__}.example_inputs() returned {type(inputs).__name__}; it must "
                               f"return a dict of keyword arguments for forward()")
    return dict(inputs)


def _loss_value(loss: Any, inputs: dict[str, Any], where: str) -> Any:
    torch = require_torch()
    out = call_component(where, loss, **inputs)
    if not isinstance(out, torch.Tensor):
        raise ConformanceError(f"{where} returned {type(out).__name__}; a loss returns a torch.Tensor")
    if out.dim() != 0:
        raise ConformanceError(f"{where} returned a tensor of shape {tuple(out.shape)}; a loss returns a 0-dim "
                               f"scalar (reduce with .mean() or .sum())")
    if not out.dtype.is_floating_point:
        raise ConformanceError(f"{where} returned dtype {out.dtype}; a loss is a floating-point scalar")
    if not bool(torch.isfinite(out)):
        raise ConformanceError(f"{where} returned {out.item()}; the loss must be finite on example_inputs()")
    return out


def _grad_inputs(inputs: Mapping[str, Any]) -> list[tuple[str, Any]]:
    torch = require_torch()
    found = []
    for key, value in inputs.items():
        items = list(enumerate(value)) if isinstance(value, (list, tuple)) else [(None, value)]
        for i, v in items:
            if isinstance(v, torch.Tensor) and v.requires_grad:
                found.append((key if i is None else f"{key}[{i}]", v))
    return found


def _loss_scalar(loss: Any, ctx: CheckContext) -> None:
    _loss_value(loss, _example_inputs(loss), "loss(**example_inputs())")


def _loss_grad(loss: Any, ctx: CheckContext) -> None:
    torch = require_torch()
    inputs = _example_inputs(loss)
    wanted = _grad_inputs(inputs)
    if not wanted:
        raise ConformanceError("example_inputs() marks no tensor requires_grad=True; mark the predictions, e.g. "
                               "pred=torch.randn(4, 8, requires_grad=True)")
    out = _loss_value(loss, inputs, "loss(**example_inputs())")
    if not out.requires_grad:
        names = ", ".join(name for name, _ in wanted)
        raise ConformanceError(f"the loss value does not require grad although input(s) {names} do: forward() "
                               f"detaches them (.detach(), .item(), numpy, torch.no_grad()), so nothing would train")
    call_component("loss.backward()", out.backward)
    for name, tensor in wanted:
        if tensor.grad is None:
            raise ConformanceError(f"input '{name}' has no gradient after backward(): the loss does not depend on "
                                   f"it, or detaches it (.detach(), .item(), numpy)")
        if not bool(torch.isfinite(tensor.grad).all()):
            raise ConformanceError(f"the gradient of input '{name}' has non-finite values")


def _loss_weight(loss: Any, ctx: CheckContext) -> float:
    import inspect

    if "loss_weight" in ctx.params:
        return float(ctx.params["loss_weight"])
    try:
        sig = inspect.signature(type(loss))
    except (TypeError, ValueError):
        sig = None
    if sig is None or "loss_weight" not in sig.parameters:
        raise ConformanceError(f"{type(loss).__qualname__}'s constructor takes no loss_weight; regionkit losses "
                               f"take loss_weight: float = 1.0 and multiply their value by it")
    value = getattr(loss, "loss_weight", sig.parameters["loss_weight"].default)
    try:
        return float(value)
    except (TypeError, ValueError):
        return 1.0


def _loss_weight_check(loss: Any, ctx: CheckContext) -> None:
    torch = require_torch()
    weight = _loss_weight(loss, ctx) or 1.0
    values = []
    for w in (weight, 2 * weight):
        params = {**ctx.params, "loss_weight": w}
        instance = call_component(f"building the loss with loss_weight={w}", ctx.build, loss, params)
        with torch.no_grad():
            values.append(_loss_value(instance, _example_inputs(instance),
                                      f"loss with loss_weight={w}").item())
    single, double = values
    if not math.isclose(double, 2 * single, rel_tol=1e-5, abs_tol=1e-7):
        raise ConformanceError(f"loss_weight={weight} gives {single:.9g} but loss_weight={2 * weight} gives "
                               f"{double:.9g}, not {2 * single:.9g}; multiply the loss by self.loss_weight")


#: the checks of this kind, in the order they run
CHECKS = (
    Check("finite_scalar", "losses", _loss_scalar, "loss(**example_inputs()) is a finite 0-dim floating tensor"),
    Check("differentiable", "losses", _loss_grad, "backward() gives finite gradients for inputs with requires_grad"),
    Check("loss_weight_scales", "losses", _loss_weight_check, "doubling loss_weight doubles the value"),
)
