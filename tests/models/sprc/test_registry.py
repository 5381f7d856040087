"""``sprc`` as a ``models`` component: listed by ``regionkit list models`` and built through the registries.

The entry point ``regionkit.models: sprc = regionkit.models.retrieval.sprc.model:SprcModel`` is
declared in setup.py; the first tests install that same line in a throw-away distribution, so
they pass whether or not the editable install has picked it up; the last two check the real
installation and are skipped until it has.
"""
from __future__ import annotations

from importlib.metadata import entry_points

import pytest
from click.testing import CliRunner

from regionkit.cli.main import cli

ENTRY = "sprc = regionkit.models.retrieval.sprc.model:SprcModel"


def _installed() -> bool:
    return any(ep.name == "sprc" for ep in entry_points(group="regionkit.models"))


def _listing() -> str:
    result = CliRunner().invoke(cli, ["list", "models"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_entry_point_line_lists_and_builds_sprc(plugin_site):
    if not _installed():
        plugin_site("sprc-entry-point", "1.0", {"regionkit.models": [ENTRY]})
    output = _listing()
    line = next(row for row in output.splitlines() if row.split() and row.split()[0] == "sprc")
    assert "model" in line and "SPRC composed image retrieval" in line

    from regionkit.registry import MODELS

    model = MODELS.build(dict(type="sprc", preset="tiny"))
    assert type(model).__name__ == "SprcModel" and model.preset == "tiny"


def test_mmengine_builds_it_in_regionkits_scope(plugin_site):
    if not _installed():
        plugin_site("sprc-entry-point", "1.0", {"regionkit.models": [ENTRY]})
    from mmengine.registry import MODELS as MM_MODELS

    import regionkit.registry  # noqa: F401  (creates the child registries)

    model = MM_MODELS.build(dict(type="regionkit.sprc", preset="tiny", losses=[dict(type="itc")]))
    assert list(model.losses.losses) == ["itc"]


@pytest.mark.skipif(not _installed(), reason="the 'sprc' entry point is not in the installed metadata yet "
                                            "(setup.py, then pip install -e .)")
def test_installed_distribution_lists_sprc():
    assert any(row.split()[:1] == ["sprc"] for row in _listing().splitlines())


@pytest.mark.skipif(not _installed(), reason="the 'sprc' entry point is not installed yet")
def test_installed_losses_resolve_through_the_registry():
    from regionkit.registry import registry_for

    losses = registry_for("losses")
    if "itc" not in losses:
        pytest.skip("the losses' entry points are not installed yet")
    from regionkit.models.retrieval.sprc.model import SprcModel

    model = SprcModel(preset="tiny", losses=[dict(type="itc"), dict(type="region_itc")])
    assert set(model.losses.losses) == {"itc", "region_itc"}
