"""The built-in losses as plugins: declared by entry point, built by name from config, conformant."""
from __future__ import annotations

import importlib
from importlib.metadata import entry_points

import pytest

pytest.importorskip("torch")

from regionkit.errors import ConfigError, RegionkitError
from regionkit.models.losses.loss_set import LossSet
from regionkit.registry import registry_for
from regionkit.testing import check_loss

DECLARED = {ep.name: ep.value for ep in entry_points(group="regionkit.losses") if ep.value.startswith("regionkit.")}


def test_every_builtin_loss_module_is_declared_as_an_entry_point():
    import pkgutil

    import regionkit.models.losses as package

    classes = set()
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for obj in vars(module).values():
            if isinstance(obj, type) and obj.__module__ == module.__name__ and getattr(obj, "name", "") \
                    and hasattr(obj, "consumes") and not obj.__name__.startswith("_"):
                classes.add(f"{obj.name} = {obj.__module__}:{obj.__qualname__}")
    assert classes == {f"{k} = {v}" for k, v in DECLARED.items()}


@pytest.mark.parametrize("name", sorted(DECLARED))
def test_built_by_name_through_the_registry_and_conformant(name):
    loss = registry_for("losses").build({"type": name, "loss_weight": 0.5})
    assert loss.loss_weight == 0.5 and type(loss).name == name
    check_loss(loss)


def test_loss_set_built_with_the_registry_reports_mistakes_in_one_line():
    build = registry_for("losses").build
    losses = LossSet([{"type": "itc"}, {"type": "rtc", "loss_weight": 0.4}], builder=build)
    assert list(losses.losses) == ["itc", "rtc"]
    with pytest.raises(ConfigError, match="did you mean 'loss_weight'") as info:
        LossSet([{"type": "itc", "loss_wieght": 1.0}], builder=build)
    assert "\n" not in str(info.value)
    with pytest.raises(RegionkitError, match="unknown loss .itcc.*did you mean .itc."):
        LossSet([{"type": "itcc"}], builder=build)
