"""mmengine's own build path (how a Runner builds datasets, models, hooks, metrics) gives regionkit's guarantees."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from mmengine.registry import DATASETS as MM_DATASETS
from mmengine.registry import MODELS as MM_MODELS
from mmengine.registry import DefaultScope

from regionkit.errors import ConfigError
from regionkit.registry import DATASETS, DETECTORS, LOSSES, MODELS, REGISTRIES

LOSS_PLUGIN = '''
import torch
from torch import nn

class ToyLoss(nn.Module):
    """A toy loss."""
    def __init__(self, loss_weight: float = 1.0):
        super().__init__()
        self.loss_weight = loss_weight
    def forward(self, pred):
        return self.loss_weight * pred.pow(2).mean()
'''


def test_a_dataset_built_through_mmengine_gets_did_you_mean_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"got unknown parameter 'rooot' \(did you mean 'root'\?\)"):
        MM_DATASETS.build(dict(type="regionkit.image_folder", rooot=str(tmp_path)))
    with DefaultScope.overwrite_default_scope("regionkit"):
        with pytest.raises(ConfigError, match="did you mean 'root'"):
            MM_DATASETS.build(dict(type="image_folder", rooot=str(tmp_path)))
        (tmp_path / "a.png").write_bytes(b"")
        dataset = MM_DATASETS.build(dict(type="image_folder", root=str(tmp_path)))
    assert type(dataset).__name__ == "ImageFolder" and len(dataset) == 1
    with pytest.raises(ConfigError, match="recursive must be True or False"):
        MM_DATASETS.build(dict(type="regionkit.image_folder", root=str(tmp_path), recursive="False"))


def test_losses_are_reachable_through_mmengines_models(plugin_site):
    plugin_site("toy-losses", "1.0", {"regionkit.losses": ["toy_loss = toy_loss_mod:ToyLoss"]},
                {"toy_loss_mod.py": LOSS_PLUGIN})
    loss = MM_MODELS.build(dict(type="regionkit.toy_loss", loss_weight=2.0))
    assert type(loss).__name__ == "ToyLoss" and loss.loss_weight == 2.0
    with DefaultScope.overwrite_default_scope("regionkit"):
        assert type(MM_MODELS.build(dict(type="toy_loss"))).__name__ == "ToyLoss"
        with pytest.raises(ConfigError, match="did you mean 'loss_weight'"):
            MM_MODELS.build(dict(type="toy_loss", loss_wieght=2.0))
    assert "toy_loss" in LOSSES and "toy_loss" in MODELS  # a model config builds its losses through MODELS
    assert LOSSES.parent is MODELS and MODELS.parent is MM_MODELS


def test_scope_is_honoured():
    from mmengine.registry import Registry

    other = Registry("thing", parent=MM_DATASETS, scope="rk_test_scope")

    @other.register_module()
    class Elsewhere:
        def __init__(self, value: int = 1) -> None:
            self.value = value

    try:
        built = DATASETS.build(dict(type="Elsewhere", _scope_="rk_test_scope", value=3))
        assert type(built).__name__ == "Elsewhere" and built.value == 3
        with pytest.raises(ConfigError, match="no mmengine registry of that scope"):
            DATASETS.build(dict(type="Elsewhere", _scope_="no_such_scope"))
        with pytest.raises(ConfigError, match="_scope_"):
            DETECTORS.build(dict(type="saliency", _scope_="mmdet"))
        assert type(DETECTORS.build(dict(type="saliency", _scope_="regionkit"))).__name__ == "SaliencyDetector"
    finally:
        MM_DATASETS._children.pop("rk_test_scope", None)


def test_len_and_in_report_our_names():
    assert len(DETECTORS) >= 3 and "saliency" in DETECTORS and "regionkit.saliency" in DETECTORS
    assert "nope" not in DETECTORS and 3 not in DETECTORS
    for key, registry in REGISTRIES.items():
        assert registry.kind.key == key
        assert len(registry) == len({c.qualified_name for c in registry.candidates()})


def test_importing_the_facade_imports_neither_mmengine_nor_torch():
    code = textwrap.dedent("""
        import sys
        import regionkit
        bare = [m for m in ("mmengine", "torch", "numpy", "ultralytics") if m in sys.modules]
        from regionkit import BaseDetector, BaseWriter, Boxes, checked, Range, hookimpl, ConfigError, check_detector
        used = [m for m in ("mmengine", "torch", "ultralytics") if m in sys.modules]
        print(",".join(bare) + "|" + ",".join(used))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "|", f"importing the facade imported {out}"


def test_the_facade_is_the_documented_api():
    import regionkit

    for name in regionkit.__all__:
        assert getattr(regionkit, name) is not None, name
    with pytest.raises(AttributeError):
        regionkit.not_a_name  # noqa: B018
    assert regionkit.PLUGIN_API_VERSION.startswith("1.")
