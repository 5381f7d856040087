"""``LossSet``: build losses by name and call each with the model outputs it consumes.

::

    losses = LossSet([dict(type="itc"), dict(type="rtc", loss_weight=0.4), dict(type="align", loss_weight=0.4),
                      dict(type="region_itc", loss_weight=0.1)],
                     share_temperature=[("itc", "rtc")])          # SPRC's single learnable temp
    loss_dict = losses(model_outputs)    # {"loss_itc": t, "loss_rtc": t, ...}, each already weighted
    loss, log_vars = model.parse_losses(loss_dict)                 # mmengine's BaseModel

A config is ``dict(type=NAME, **params)`` with two optional keys read here: ``name`` (the
dict key becomes ``loss_<name>``; default: the loss's registry name) and ``inputs`` (a mapping
``forward-argument -> model-output key`` for models whose output names differ).  Names resolve
through ``builder``, by default :func:`build_loss` (regionkit's ``losses`` registry: the
built-in losses and those of installed plugins, declared by entry point).  Already-built modules are accepted too.  The ``LossSet``
is an ``nn.Module``: make it a sub-module of the model so the optimiser sees the temperatures.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from regionkit.errors import ConfigError, did_you_mean

__all__ = ["LossSet", "build_loss"]

LossConfig = Mapping[str, Any] | nn.Module


def build_loss(cfg: Mapping[str, Any]) -> nn.Module:
    """A loss from ``dict(type=NAME, **params)`` built by regionkit's ``losses`` registry (built-ins and plugins).

    Unknown names and parameters are one-line errors with a did-you-mean; ``type`` may also be
    a loss class.
    """
    params = dict(cfg)
    if "type" not in params:
        raise ConfigError(f"a loss config needs a 'type' key, got {dict(cfg)!r:.200}")
    if not isinstance(params["type"], str):
        cls = params.pop("type")
        try:
            return cls(**params)
        except ConfigError as exc:
            raise ConfigError(f"loss {getattr(cls, '__name__', cls)!r}: {exc}") from exc
    from regionkit.registry import registry_for

    return registry_for("losses").build(params)


def _consumes(loss: nn.Module, label: str) -> tuple[str, ...]:
    consumes = getattr(type(loss), "consumes", None)
    if not isinstance(consumes, tuple) or not all(isinstance(k, str) for k in consumes):
        raise ConfigError(f"loss {label!r} ({type(loss).__qualname__}) has no 'consumes' tuple naming the model "
                          f"outputs its forward() reads")
    return consumes


class LossSet(nn.Module):
    """Weighted losses keyed ``loss_<name>``; see the module docstring.

    ``losses``: a sequence of configs/modules, or a mapping ``name -> config/module``.
    ``share_temperature``: groups of loss names whose losses use the first one's temperature.
    """

    def __init__(self, losses: Sequence[LossConfig] | Mapping[str, LossConfig], *,
                 share_temperature: Sequence[Sequence[str]] = (),
                 builder: Callable[[Mapping[str, Any]], nn.Module] | None = None) -> None:
        super().__init__()
        items = list(losses.items()) if isinstance(losses, Mapping) else [(None, item) for item in losses]
        self.losses = nn.ModuleDict()
        self.inputs: dict[str, dict[str, str]] = {}
        for given_name, item in items:
            name, loss, inputs = self._build(given_name, item, builder or build_loss)
            if name in self.losses:
                raise ConfigError(f"two losses are named {name!r}; give one of them another name=...")
            consumes = _consumes(loss, name)
            unknown = [k for k in inputs if k not in consumes]
            if unknown:
                raise ConfigError(f"loss {name!r}: inputs maps {unknown[0]!r}, which it does not consume; it consumes "
                                  f"{', '.join(consumes)}")
            self.losses[name] = loss
            self.inputs[name] = {arg: inputs.get(arg, arg) for arg in consumes}
        for group in share_temperature:
            self._share(tuple(group))

    @staticmethod
    def _build(given_name: str | None, item: LossConfig,
               builder: Callable[[Mapping[str, Any]], nn.Module]) -> tuple[str, nn.Module, dict[str, str]]:
        if isinstance(item, nn.Module):
            name = given_name or getattr(type(item), "name", "") or type(item).__name__.lower()
            return name, item, {}
        if not isinstance(item, Mapping):
            raise ConfigError(f"a loss must be a config dict(type=...) or an nn.Module, got {type(item).__name__}")
        cfg = dict(item)
        name = cfg.pop("name", None) or given_name
        inputs = cfg.pop("inputs", None) or {}
        if not isinstance(inputs, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                      for k, v in inputs.items()):
            raise ConfigError(f"a loss's inputs must map forward() arguments to model-output keys, got {inputs!r:.200}")
        loss = builder(cfg)
        if name is None:
            kind = cfg.get("type")
            name = kind if isinstance(kind, str) else getattr(type(loss), "name", "") or type(loss).__name__.lower()
        return str(name), loss, dict(inputs)

    def _share(self, group: tuple[str, ...]) -> None:
        missing = [n for n in group if n not in self.losses]
        if missing:
            raise ConfigError(f"share_temperature names {missing[0]!r}, which is not in this loss set "
                              f"({', '.join(self.losses)})")
        first = self.losses[group[0]]
        for name in group:
            if not isinstance(getattr(self.losses[name], "temperature", None), nn.Module):
                raise ConfigError(f"loss {name!r} has no temperature to share")
        for name in group[1:]:
            self.losses[name].temperature = first.temperature

    def consumed_keys(self) -> set[str]:
        """Every model-output key some loss of the set reads."""
        return {key for mapping in self.inputs.values() for key in mapping.values()}

    def forward(self, outputs: Mapping[str, Any]) -> dict[str, Tensor]:
        """``{"loss_<name>": weighted 0-dim tensor}`` for each loss, in the order given."""
        result: dict[str, Tensor] = {}
        for name, loss in self.losses.items():
            kwargs = {}
            for arg, key in self.inputs[name].items():
                if key not in outputs:
                    produced = ", ".join(sorted(map(str, outputs))) or "nothing"
                    raise ConfigError(f"loss {name!r} reads model output {key!r}{did_you_mean(key, map(str, outputs))}"
                                      f", which the model did not produce; the model produced: {produced}")
                kwargs[arg] = outputs[key]
            result[f"loss_{name}"] = loss(**kwargs)
        return result
