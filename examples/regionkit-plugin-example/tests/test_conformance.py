"""regionkit's conformance kit on this plugin.

Running ``pytest`` here runs these tests *and* the full conformance suite for the installed
distribution, because pyproject.toml sets ``regionkit_conformance = ["regionkit-plugin-example"]``
(the same as ``pytest --regionkit-conformance=regionkit-plugin-example``): one test per
(component, parameter set, check), e.g.
``regionkit-conformance[regionkit-plugin-example]::detectors.edge_density::batch_equals_single``.

The conformance functions of the ``regionkit`` façade check any instance directly, as below.
"""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from regionkit_plugin_example.detectors import EdgeDensityDetector

from regionkit import check_detector, registry_for


@pytest.mark.parametrize("params", [
    {},
    dict(threshold=0.2, max_boxes=1),
    dict(work_size=8, window_frac=1.0),
    dict(threshold=1.0, min_area_frac=0.0),
])
def test_edge_density_honours_the_detector_contract(params):
    check_detector(EdgeDensityDetector(**params))


def test_the_entry_point_makes_it_buildable_by_name():
    detectors = registry_for("detectors")
    detector = detectors.build(dict(type="edge_density", threshold=0.4))
    assert isinstance(detector, EdgeDensityDetector) and detector.threshold == 0.4
    qualified = detectors.build(dict(type="regionkit-plugin-example.edge_density"))
    assert isinstance(qualified, EdgeDensityDetector)


def test_the_distribution_validates_cleanly():
    regionkit = shutil.which("regionkit", path=str(Path(sys.executable).parent))
    result = subprocess.run([regionkit, "plugins", "validate", "regionkit-plugin-example", "--imports"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    assert [line for line in result.stdout.splitlines() if line.startswith(("error", "warning"))] == []
