"""mkdocs hook: the recipe catalogue and the runtime options, generated from the packaged configs and the code.

Two markers:

``<!-- regionkit:recipes -->`` (``docs/recipes.md``)
    :func:`recipes_markdown`: every recipe ``regionkit config list`` shows
    (``regionkit.config.packaged.packaged_configs``), resolved with regionkit's own config
    loader: its one-line summary and description (the file's leading comments), the pipeline
    it builds (dataset, detector, selector stages with their region sets, writers and the files
    they write, runtime), the local files it needs (``regionkit.config.files.required_files``),
    the commands that run it, and its source; then the shared ``_base_`` parts.
``<!-- regionkit:runtime-options -->`` (``docs/configs.md``)
    :func:`runtime_options_markdown`: a table of the ``runtime`` section's options, read from
    the declared parameters of ``regionkit.inference.job.RuntimeOptions``.
"""
from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["RECIPES_MARKER", "RUNTIME_MARKER", "recipe_markdown", "recipes_markdown", "runtime_options_markdown",
           "on_page_markdown"]

RECIPES_MARKER = "<!-- regionkit:recipes -->"
RUNTIME_MARKER = "<!-- regionkit:runtime-options -->"

#: what each runtime option is for (the types, ranges and defaults come from the code)
_RUNTIME_MEANING = {
    "batch_size": "Images per detector call.",
    "num_workers": "Worker processes that decode images ahead of the detector (and run a `parallel_safe` "
                   "detector); `0` decodes in the main process. The upper bound is 64 or 4 × the CPU count, "
                   "whichever is larger (the range shown is the build machine's).",
    "seed": "Seeds Python's, numpy's and (when loaded) torch's random generators before the run.",
    "image_timeout": "Seconds after which an image becomes a failure in `failures.json`; `None` means no limit "
                     "(exact in worker processes; in the main process, for time spent in Python code).",
}


def _text(value: str) -> str:
    out = value.replace("\\", "\\\\").replace("&", "&amp;").replace("<", "&lt;")
    for char in "`*_[]|#":
        out = out.replace(char, "\\" + char)
    return " ".join(out.split())


def _prose(value: str) -> str:
    """Comment prose as Markdown: `code` spans stay code, the rest is escaped text (one line)."""
    out = []
    for i, part in enumerate(re.split(r"(`[^`]+`)", " ".join(value.split()))):
        if i % 2 or not part.strip():
            out.append(part)
        else:  # keep the spaces around code spans, which _text would strip
            out.append((" " if part[0] == " " else "") + _text(part) + (" " if part[-1] == " " else ""))
    return "".join(out).strip()


def _code(value: str) -> str:
    value = " ".join(value.split())  # a pipe inside a code span does not split a table cell
    return f"``{value}``" if "`" in value else f"`{value}`"


def _plain(value: Any) -> Any:
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if callable(to_dict) else value


def _literal(value: Any) -> str:
    """A config value as a config file writes it: ``dict(type='yolo', conf=0.3)``, lists, Python literals."""
    value = _plain(value)
    if isinstance(value, Mapping) and all(isinstance(k, str) and k.isidentifier() for k in value):
        return "dict(" + ", ".join(f"{k}={_literal(v)}" for k, v in value.items()) + ")"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(_literal(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return repr(value)


def _settings(section: Mapping[str, Any], skip: tuple[str, ...] = ("type",)) -> str:
    items = [f"{k}={_literal(v)}" for k, v in section.items() if k not in skip]
    return _code(", ".join(items)) if items else ""


def _component_link(kind: str, name: str) -> str:
    """A link to the component's entry on the components page (anchors as ``docs/hooks/components.py`` makes them)."""
    from regionkit.registry import REGISTRIES

    if name not in REGISTRIES[kind]:
        return _code(name)
    anchor = f"{kind}-{name}".replace(".", "-").replace("_", "-").lower()
    return f"[{_code(name)}](components.md#{anchor})"


def _comment_block(path: Path) -> tuple[str, list[tuple[str, str]]]:
    """``(summary, [("prose" | "code", text), ...])`` from a config file's leading comment lines."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[1:][1:] if line[1:].startswith(" ") else line[1:])
    if not lines:
        return "", []
    blocks: list[tuple[str, list[str]]] = []
    for line in lines[1:]:
        kind = "code" if line.startswith((" ", "\t")) else "prose"
        if blocks and blocks[-1][0] == kind:
            blocks[-1][1].append(line)
        else:
            blocks.append((kind, [line]))
    out = [(kind, "\n".join(body)) for kind, body in blocks]
    return lines[0].strip(), out


def _writer_output(writer: Mapping[str, Any]) -> str:
    """The file (or folder) a writer config creates: its ``filename``/``folder``, else the writer's default."""
    for key in ("filename", "folder"):
        if key in writer:
            return str(writer[key])
    try:
        from regionkit.params import parameter_specs
        from regionkit.registry import WRITERS

        specs = {s.name: s for s in parameter_specs(WRITERS.get(str(writer.get("type"))))}
    except Exception:  # an unknown writer: the config check reports it, the page just says less
        return "?"
    for key in ("filename", "folder"):
        if key in specs and not specs[key].required:
            return str(specs[key].default)
    return "?"


def _pipeline(cfg: Any) -> list[str]:
    """The table rows of a resolved config: dataset, detector, each selector stage, each writer, runtime."""
    rows = ["| stage | component | settings |", "|---|---|---|"]
    dataset = _plain(cfg.get("dataset")) or {}
    if dataset:
        rows.append(f"| dataset | {_component_link('datasets', str(dataset.get('type')))} | {_settings(dataset)} |")
    detector = _plain(cfg.get("detector")) or {}
    if detector:
        rows.append(f"| detector | {_component_link('detectors', str(detector.get('type')))} | "
                    f"{_settings(detector)} |")
    previous = "detections"
    for i, stage in enumerate(_plain(cfg.get("selectors")) or []):
        source = stage.get("input", previous)
        target = stage.get("output") or str(stage.get("type")).rpartition(".")[2]  # the runner's default
        flow = f"{_code(source)} → {_code(target)}"
        extra = _settings(stage, skip=("type", "input", "output"))
        rows.append(f"| selector {i + 1} | {_component_link('box_selectors', str(stage.get('type')))} | "
                    f"{flow}{'; ' + extra if extra else ''} |")
        previous = target
    for writer in _plain(cfg.get("writers")) or []:
        extra = _settings(writer, skip=("type", "filename", "folder"))
        rows.append(f"| writer | {_component_link('writers', str(writer.get('type')))} | writes "
                    f"{_code(_writer_output(writer))}{'; ' + extra if extra else ''} |")
    runtime = _plain(cfg.get("runtime")) or {}
    if runtime:
        rows.append(f"| runtime | | {_settings(runtime, skip=())} |")
    return rows


def _recipe_anchor(name: str) -> str:
    """``regionkit::box_generation/x.py`` -> ``box_generation-x`` (the id of the recipe's heading)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name.partition("::")[2].removesuffix(".py")).strip("-").lower()


def _override_key(where: str) -> str:
    """``detector.detectors[0].model (default)`` -> ``detector.detectors.0.model`` (the ``-o`` spelling)."""
    return re.sub(r"\[(\d+)\]", r".\1", where.split(" (")[0])


def recipe_markdown(recipe: Any) -> str:
    """One recipe's section (``recipe`` is a ``regionkit.config.packaged.PackagedConfig``)."""
    from regionkit.config.files import required_files
    from regionkit.config.loader import load_config
    from regionkit.config.packaged import _alias_target

    source_path = _alias_target(recipe.path) or recipe.path
    summary, blocks = _comment_block(source_path)
    cfg = load_config(recipe.path)
    folder = Path(recipe.path).parents[0]
    while folder.name != "configs" and folder != folder.parent:
        folder = folder.parent
    grouped = source_path.resolve().relative_to(folder.resolve()).as_posix()
    out = [f"## `{recipe.name}` {{ #{_recipe_anchor(recipe.name)} }}", "", f"**{_prose(recipe.summary or summary)}**", ""]
    for kind, text in blocks:
        out += [f"```text\n{textwrap.dedent(text).strip(chr(10))}\n```" if kind == "code" else _prose(text), ""]
    package = recipe.name.partition("::")[0]
    out += [f"File: {_code(f'{package}::{grouped}')}"
            + (f" (also {_code(recipe.name)})" if grouped != recipe.name.partition('::')[2] else ""), ""]
    out += [*_pipeline(cfg), ""]
    files = required_files(cfg)
    if files:
        out += ["**Local files it needs** (nothing is downloaded; `regionkit check` checks them):", ""]
        for item in files:
            out.append(f"- {_code(_override_key(item.where))} = {_code(str(item.path))}: {_text(item.marker.what)}; "
                       f"{_text(item.marker.source)}")
        out.append("")
    dataset = _plain(cfg.get("dataset")) or {}
    commands = [f"regionkit config check {recipe.name}"]
    if files:
        commands.append(f"regionkit check {recipe.name}"
                        + "".join(f" -o {_override_key(f.where)}=PATH" for f in files))
    if dataset.get("type") == "cirr_split":
        commands.append(f"regionkit infer {recipe.name} -o dataset.root=CIRR_ROOT --all-splits")
    else:
        commands.append(f"regionkit infer {recipe.name} --images DIR")
    out += ["```bash", *commands, "```", ""]
    source = source_path.read_text(encoding="utf-8").rstrip()
    out += ['??? example "Source"', "", "    ```python", *[("    " + line).rstrip() for line in source.splitlines()],
            "    ```", ""]
    return "\n".join(out)


def _bases_markdown(folder: Path, package: str) -> str:
    out = ["## Shared parts (`_base_`)", "",
           f"Inherit these in your own configs with `_base_ = ['{package}::_base_/NAME.py']` and override what "
           "differs (see [Configs](configs.md#inheritance)).", ""]
    for path in sorted((folder / "_base_").glob("*.py")):
        summary, blocks = _comment_block(path)
        out += [f"### `{package}::_base_/{path.name}`", "", _prose(summary), ""]
        for kind, text in blocks:
            out += [f"```text\n{textwrap.dedent(text).strip(chr(10))}\n```" if kind == "code" else _prose(text), ""]
        out += ['??? example "Source"', "", "    ```python",
                *[("    " + line).rstrip() for line in path.read_text(encoding="utf-8").rstrip().splitlines()],
                "    ```", ""]
    return "\n".join(out)


def recipes_markdown(package: str = "regionkit") -> str:
    """Every recipe ``regionkit config list --package PACKAGE`` shows, then the package's ``_base_`` parts."""
    from regionkit.config.packaged import package_configs_dir, packaged_configs

    recipes = packaged_configs(package)
    table = ["| recipe | what it does |", "|---|---|"]
    for recipe in recipes:
        table.append(f"| [{_code(recipe.name)}](#{_recipe_anchor(recipe.name)}) | {_prose(recipe.summary)} |")
    sections = [recipe_markdown(recipe) for recipe in recipes]
    return "\n".join([*table, "", *sections, _bases_markdown(package_configs_dir(package), package)])


def runtime_options_markdown() -> str:
    """The ``runtime`` options table, from ``RuntimeOptions``' declared parameters."""
    from regionkit.inference.job import RuntimeOptions
    from regionkit.params import describe_type, parameter_specs

    rows = ["| option | type | default | meaning |", "|---|---|---|---|"]
    for spec in parameter_specs(RuntimeOptions):
        rows.append(f"| {_code(spec.name)} | {_text(describe_type(spec.annotation))} | {_code(repr(spec.default))} | "
                    f"{_RUNTIME_MEANING.get(spec.name, '')} |")
    return "\n".join(rows)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """mkdocs event: fill the recipe and runtime-option markers."""
    if RECIPES_MARKER in markdown:
        markdown = markdown.replace(RECIPES_MARKER, recipes_markdown())
    if RUNTIME_MARKER in markdown:
        markdown = markdown.replace(RUNTIME_MARKER, runtime_options_markdown())
    return markdown
