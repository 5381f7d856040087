"""The documentation site: ``mkdocs build --strict`` passes, and its generated pages match the code.

The fast tests call the generation hooks in ``docs/hooks/`` directly (no mkdocs needed); the slow
test builds the whole site in strict mode and reads the pages back.
"""
from __future__ import annotations

import html
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner

from regionkit.cli.main import cli

REPO = Path(__file__).resolve().parents[2]
HOOKS = REPO / "docs" / "hooks"
#: what `mkdocs build` with this repository's mkdocs.yml imports (the `docs` extra)
DOCS_MODULES = ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")


def load_hook(name: str) -> ModuleType:
    """A module of ``docs/hooks/`` imported by path, as mkdocs imports it (registered in ``sys.modules``)."""
    module_name = f"regionkit_docs_hooks_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, HOOKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def missing_docs_modules() -> list[str]:
    missing = []
    for name in DOCS_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except ImportError:
            found = False
        if not found:
            missing.append(name)
    return missing


def headings(page: str, level: int) -> dict[str, str]:
    """``{id: text}`` of the page's ``<hN>`` headings, without their permalink."""
    out = {}
    for match in re.finditer(rf'<h{level} id="([^"]+)"[^>]*>(.*?)</h{level}>', page, re.S):
        inner = re.sub(r'<a class="headerlink".*?</a>', "", match.group(2), flags=re.S)
        out[match.group(1)] = html.unescape(re.sub(r"<[^>]+>", "", inner)).strip()
    return out


# ---------------------------------------------------------------------- fast: the hooks alone
def test_component_section_has_the_saliency_parameters_table():
    from regionkit.params import describe_type, parameter_specs
    from regionkit.registry import DETECTORS

    text = load_hook("components").component_section("detectors", "saliency")

    assert any(line.startswith("| parameter | type | default | required |") for line in text.splitlines())
    specs = parameter_specs(DETECTORS.get("saliency"))
    assert {"threshold", "max_regions", "min_area_frac", "resize_width", "variant"} <= {s.name for s in specs}
    for spec in specs:
        row = next((line for line in text.splitlines() if line.startswith(f"| `{spec.name}` |")), None)
        assert row is not None, f"no table row for {spec.name}:\n{text}"
        cells = [cell.strip() for cell in row.strip("|").split(" | ")]
        wording = describe_type(spec.annotation)
        assert cells[1].replace("\\", "") == wording, (cells, wording)
        assert cells[2] == f"`{spec.default!r}`"
        assert cells[3] == "no"
    assert "regionkit.plugins.detectors.saliency:SaliencyDetector" in text
    assert "parallel_safe = True" in text


def test_a_component_that_cannot_be_imported_is_listed_from_its_source():
    from regionkit.registry import DETECTORS

    components = load_hook("components")
    info = next(i for i in DETECTORS.list_components() if i.name == "yolo")

    class Unloadable:
        def resolve(self, name):
            return name

        def load(self, candidate):
            raise ModuleNotFoundError("No module named 'ultralytics'")

    doc = components.component_doc("detectors", info, registry=Unloadable())
    text = components.component_markdown(doc)

    assert doc.problem == "could not be loaded: ModuleNotFoundError: No module named 'ultralytics'"
    assert "(could not be loaded: ModuleNotFoundError" in text
    assert {"model", "conf", "iou", "imgsz"} <= {row.name for row in doc.params}
    assert next(row for row in doc.params if row.name == "model").required


def test_the_cli_page_covers_every_command_and_option():
    text = load_hook("cli").cli_markdown()

    for name, command in cli.commands.items():
        assert f"## `regionkit {name}` {{ #regionkit-{name} }}" in text
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("-"):
                    assert f"`{opt}`" in text, (name, opt)


def test_the_api_page_names_every_facade_name_once():
    import regionkit

    groups = load_hook("api").facade_groups()
    names = [name for _, members in groups for name in members]
    assert sorted(names) == sorted(regionkit.__all__)
    assert "Data structures" in [title for title, _ in groups]


def test_the_recipes_page_lists_every_packaged_recipe():
    from regionkit.config.packaged import packaged_configs

    text = load_hook("configs").recipes_markdown()
    for recipe in packaged_configs():
        assert f"## `{recipe.name}`" in text
        assert f"regionkit infer {recipe.name}" in text
    assert "| `image_timeout` |" in load_hook("configs").runtime_options_markdown()


def test_docstring_roles_become_code_spans():
    pytest.importorskip("griffe", reason="griffe comes with the docs extra (mkdocstrings[python])")
    rewrite = load_hook("griffe_roles").rewrite_roles
    assert rewrite("see :class:`~regionkit.errors.ConfigError` s and :func:`checked`::") == \
        "see `ConfigError`s and `checked()`:"
    assert rewrite("Per kind:\n\ndetectors\n    one Boxes per image;\nwriters\n    strict JSON.") == \
        "Per kind:\n\ndetectors\n:   one Boxes per image;\n\nwriters\n:   strict JSON."
    literal = "Example::\n\n    x = 1\n    y = 2"
    assert rewrite(literal) == "Example:\n\n    x = 1\n    y = 2"


# ---------------------------------------------------------------------- slow: the whole site
@pytest.mark.slow
def test_strict_build_documents_every_component_and_command(tmp_path):
    missing = missing_docs_modules()
    if missing:
        pytest.skip(f"the docs extra is not installed (no {', '.join(missing)}): pip install -e '.[docs]'")
    site = tmp_path / "site"
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                            cwd=REPO, capture_output=True, text=True, timeout=1200,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-8000:]

    listed = CliRunner().invoke(cli, ["list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)  # stdout only: a plugin warning on stderr must not break the JSON
    components_page = (site / "components.html").read_text(encoding="utf-8")
    component_headings = set(headings(components_page, 3).values())
    assert rows and [row["name"] for row in rows if row["name"] not in component_headings] == []

    baron_start = components_page.index('id="detectors-baron"')
    baron = components_page[baron_start:components_page.index("<h3", baron_start + 1)]
    assert "<code>checkpoint</code>" in baron

    cli_headings = headings((site / "cli.html").read_text(encoding="utf-8"), 2)
    for name in cli.commands:
        assert cli_headings.get(f"regionkit-{name}") == f"regionkit {name}", (name, cli_headings)

    for page in ("index", "recipes", "configs", "plugins", "api"):
        assert (site / f"{page}.html").is_file()
    api_page = (site / "api.html").read_text(encoding="utf-8")
    assert 'id="regionkit.Boxes"' in api_page and 'id="regionkit.testing"' in api_page
