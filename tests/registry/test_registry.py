"""Registry and entry-point discovery: names, laziness, isolation of broken plugins, errors."""
from __future__ import annotations

import subprocess
import sys

import pytest

from regionkit.discovery import configure_plugins, get_index
from regionkit.discovery.policy import PluginPolicy
from regionkit.errors import AmbiguousNameError, ComponentNotFoundError, ConfigError, PluginLoadError, PluginPolicyError
from regionkit.registry import BOX_SELECTORS, DETECTORS, MODELS, WRITERS

TOY_DETECTOR = '''
"""Toy detectors for registry tests."""
from regionkit.structures.boxes import Boxes


class Toy:
    """A toy detector that finds nothing."""

    def __init__(self, gain: float = 1.0, mode: str = "a"):
        if mode not in ("a", "b"):
            raise ValueError(f"mode must be 'a' or 'b', got {mode!r}")
        self.gain = gain

    def detect(self, images):
        return [Boxes.empty((im.shape[1], im.shape[0])) for im in images]
'''


def test_builtins_are_discovered_through_entry_points():
    index = get_index()
    assert "regionkit" in index.dists
    entry = {e.name: e for e in index.entries("detectors")}["saliency"]
    assert entry.dist == "regionkit" and entry.target.endswith(":SaliencyDetector")
    info = {i.name: i for i in DETECTORS.list_components()}["saliency"]
    assert info.distribution == "regionkit" and info.summary.startswith("Spectral-residual saliency")


def test_listing_imports_no_plugin_code():
    code = ("import sys; from regionkit.registry import REGISTRIES\n"
            "infos = [i for r in REGISTRIES.values() for i in r.list_components()]\n"
            "assert any(i.name == 'saliency' and i.summary for i in infos), infos\n"
            "loaded = sorted(m for m in sys.modules if m.startswith('regionkit.plugins.'))\n"
            "assert not loaded, loaded\n"
            "assert 'torch' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_bare_and_qualified_names_resolve_to_the_same_class():
    assert DETECTORS.get("saliency") is DETECTORS.get("regionkit.saliency")
    assert "saliency" in DETECTORS and "nonexistent" not in DETECTORS


def test_third_party_plugin_is_lazy_and_usable(plugin_site):
    plugin_site("toy-dets", "2.1", {"regionkit.detectors": ["toy = toy_dets_mod:Toy"]},
                {"toy_dets_mod.py": TOY_DETECTOR})
    infos = {i.name: i for i in DETECTORS.list_components()}
    assert infos["toy"].distribution == "toy-dets" and infos["toy"].version == "2.1"
    assert infos["toy"].summary == "A toy detector that finds nothing."
    assert "toy_dets_mod" not in sys.modules
    det = DETECTORS.build({"type": "toy", "gain": 2.0})
    assert det.gain == 2.0 and "toy_dets_mod" in sys.modules
    assert type(DETECTORS.build({"type": "toy_dets.toy"})) is type(det)


def test_ambiguous_bare_name_lists_qualified_candidates(plugin_site):
    plugin_site("alpha-dets", "1.0", {"regionkit.detectors": ["toy = alpha_mod:Toy"]}, {"alpha_mod.py": TOY_DETECTOR})
    plugin_site("beta-dets", "1.0", {"regionkit.detectors": ["toy = beta_mod:Toy"]}, {"beta_mod.py": TOY_DETECTOR})
    with pytest.raises(AmbiguousNameError) as err:
        DETECTORS.get("toy")
    assert "alpha_dets.toy" in str(err.value) and "beta_dets.toy" in str(err.value)
    assert DETECTORS.get("beta_dets.toy").__module__ == "beta_mod"
    assert DETECTORS.get("beta-dets.toy").__module__ == "beta_mod"
    listed = {i.name for i in DETECTORS.list_components()}
    assert {"alpha_dets.toy", "beta_dets.toy"} <= listed and "toy" not in listed


def test_plugin_reusing_a_builtin_name_never_changes_what_configs_build(plugin_site):
    plugin_site("shadow-dets", "1.0", {"regionkit.detectors": ["saliency = shadow_mod:Toy"]},
                {"shadow_mod.py": TOY_DETECTOR})
    assert DETECTORS.get("saliency").__module__ == "regionkit.plugins.detectors.saliency"
    assert DETECTORS.get("shadow_dets.saliency").__module__ == "shadow_mod"
    assert any("clashes with regionkit's built-in" in p for p in get_index().problems())


def test_broken_plugin_is_isolated_and_reported(plugin_site):
    plugin_site("broken-dets", "0.1", {"regionkit.detectors": ["kaput = broken_mod:Toy"]},
                {"broken_mod.py": "import module_that_does_not_exist_anywhere\n"})
    plugin_site("fine-dets", "0.1", {"regionkit.detectors": ["fine = fine_mod:Toy"]}, {"fine_mod.py": TOY_DETECTOR})
    assert {"kaput", "fine", "saliency"} <= {i.name for i in DETECTORS.list_components()}
    with pytest.raises(PluginLoadError) as err:
        DETECTORS.build({"type": "kaput"})
    msg = str(err.value)
    assert "broken-dets 0.1" in msg and "module_that_does_not_exist_anywhere" in msg
    DETECTORS.build({"type": "fine"})  # everything else keeps working
    with pytest.raises(ComponentNotFoundError) as err:
        DETECTORS.get("kaputt")
    assert "did you mean 'kaput'" in str(err.value)
    assert "broken-dets 0.1" in str(err.value) and "failed to load" in str(err.value)


def test_malformed_entry_points_are_reported_not_raised(plugin_site):
    plugin_site("messy", "1.0", {
        "regionkit.detector": ["a = messy_mod:Toy"],            # typo in the group
        "regionkit.box_selectors": ["bad name = messy_mod:Toy",  # not an identifier
                                    "nocolon = messy_mod"],     # no attribute
        "regionkit.writers": ["ok_writer = messy_mod:Toy"],
    }, {"messy_mod.py": TOY_DETECTOR})
    problems = "\n".join(get_index().problems())
    assert "unknown group (did you mean 'regionkit.detectors'?)" in problems
    assert "must be a Python identifier" in problems
    assert "the value must be 'package.module:ClassName'" in problems
    assert "ok_writer" in {i.name for i in WRITERS.list_components()}
    assert "saliency" in DETECTORS


def test_unknown_name_suggests_and_names_the_right_kind():
    with pytest.raises(ComponentNotFoundError) as err:
        DETECTORS.get("salency")
    msg = str(err.value)
    assert "did you mean 'saliency'" in msg and "regionkit.detectors" in msg
    with pytest.raises(ComponentNotFoundError) as err:
        BOX_SELECTORS.get("saliency")
    assert "'saliency' is a detector, not a box selector" in str(err.value)


def test_autoload_off_keeps_builtins_and_allow_list_enables(plugin_site, monkeypatch):
    plugin_site("toy-dets", "1.0", {"regionkit.detectors": ["toy = toy_off_mod:Toy"]}, {"toy_off_mod.py": TOY_DETECTOR})
    monkeypatch.setenv("REGIONKIT_DISABLE_PLUGIN_AUTOLOAD", "1")
    configure_plugins(None)
    assert "toy" not in DETECTORS and "saliency" in DETECTORS
    assert get_index().dists["toy_dets"].status == "disabled"
    configure_plugins(PluginPolicy.from_env().merged(["toy_dets"]))  # -p toy_dets
    assert "toy" in DETECTORS
    monkeypatch.delenv("REGIONKIT_DISABLE_PLUGIN_AUTOLOAD")
    monkeypatch.setenv("REGIONKIT_PLUGINS", "no:toy-dets")
    configure_plugins(None)
    assert "toy" not in DETECTORS and get_index().dists["toy_dets"].status == "blocked"


def test_allow_list_with_unknown_name_is_an_error(plugin_site):
    plugin_site("toy-dets", "1.0", {"regionkit.detectors": ["toy = toy_x_mod:Toy"]}, {"toy_x_mod.py": TOY_DETECTOR})
    with pytest.raises(PluginPolicyError, match="unknown plugin 'toy_dest'.*did you mean 'toy_dets'"):
        configure_plugins(PluginPolicy.from_specs(["no:toy-dest"]))
        get_index()
    with pytest.raises(PluginPolicyError, match="cannot be blocked"):
        configure_plugins(PluginPolicy.from_specs(["no:regionkit"]))
        get_index()


def test_in_process_registration_same_object_is_noop_and_clash_names_both():
    class LocalSel:
        """Local selector."""

        def __call__(self, boxes):
            return boxes

    class OtherSel(LocalSel):
        pass

    try:
        BOX_SELECTORS.register_module(name="local_sel_for_test", module=LocalSel)
        BOX_SELECTORS.register_module(name="local_sel_for_test", module=LocalSel)  # no-op
        assert BOX_SELECTORS.get("local_sel_for_test") is LocalSel
        with pytest.raises(KeyError, match="already registered by .*LocalSel.*OtherSel"):
            BOX_SELECTORS.register_module(name="local_sel_for_test", module=OtherSel)
        with pytest.raises(ValueError, match="without dots"):
            BOX_SELECTORS.register_module(name="a.b", module=OtherSel)
    finally:
        BOX_SELECTORS._module_dict.pop("local_sel_for_test", None)


def test_build_checks_parameter_names_and_values(plugin_site):
    plugin_site("toy-dets", "1.0", {"regionkit.detectors": ["toy = toy_p_mod:Toy"]}, {"toy_p_mod.py": TOY_DETECTOR})
    with pytest.raises(ConfigError) as err:
        DETECTORS.build({"type": "toy", "gian": 2})
    assert "detector 'toy' got unknown parameter 'gian' (did you mean 'gain'?)" in str(err.value)
    assert "it accepts: gain=1.0, mode='a'" in str(err.value)
    with pytest.raises(ConfigError, match="detector 'toy': mode must be 'a' or 'b'"):
        DETECTORS.build({"type": "toy", "mode": "c"})
    with pytest.raises(ConfigError, match="needs a 'type' key"):
        DETECTORS.build({"gain": 1})


def test_mmengine_root_registry_builds_regionkit_models():
    import torch
    from mmengine.registry import MODELS as MMENGINE_MODELS

    class TinyModelForTest(torch.nn.Module):
        def __init__(self, width: int = 3):
            super().__init__()
            self.fc = torch.nn.Linear(width, 1)

    assert MODELS.parent is MMENGINE_MODELS and MMENGINE_MODELS.children["regionkit"] is MODELS
    try:
        MODELS.register_module(module=TinyModelForTest)
        model = MMENGINE_MODELS.build({"type": "regionkit.TinyModelForTest", "width": 5})
        assert isinstance(model, TinyModelForTest) and model.fc.in_features == 5
    finally:
        MODELS._module_dict.pop("TinyModelForTest", None)


BAD_PLUGINS = '''
import sys
from regionkit import BaseDetector, Boxes

class KeyErrorInInit(BaseDetector):
    def __init__(self):
        raise KeyError("model_dir")
    def detect(self, images):
        return []

class ExitInInit(BaseDetector):
    def __init__(self):
        sys.exit(4)
    def detect(self, images):
        return []
'''


def test_constructor_failures_and_sys_exit_in_plugins_are_one_line_errors(plugin_site):
    plugin_site("bad-dets", "1.0", {"regionkit.detectors": ["keyerr = bad_mod:KeyErrorInInit",
                                                            "exiter = bad_mod:ExitInInit",
                                                            "exit_at_import = exit_mod:Anything"]},
                {"bad_mod.py": BAD_PLUGINS, "exit_mod.py": "import sys\nsys.exit(9)\n"})
    with pytest.raises(ConfigError, match=r"detector 'keyerr' could not be built: KeyError: 'model_dir'"):
        DETECTORS.build(dict(type="keyerr"))
    with pytest.raises(ConfigError, match=r"detector 'exiter' called sys.exit\(4\) while being built"):
        DETECTORS.build(dict(type="exiter"))
    with pytest.raises(PluginLoadError, match=r"failed to load: it called sys.exit\(9\) while being imported"):
        DETECTORS.build(dict(type="exit_at_import"))
    assert any("sys.exit(9)" in p for p in get_index().problems())  # reported as the plugin's failure
