"""The ``regionkit`` command line.

Heavy modules (torch, mmengine, plugins) are imported inside commands, so ``regionkit
--help`` stays fast.  Every user mistake ends in a one-line ``Error: ...`` and exit code 2;
``--debug`` shows the traceback instead.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from regionkit.cli.doctor import print_version
from regionkit.cli.errors import EXIT_FAILURES, echo_safe, user_errors

__all__ = ["cli", "main", "expand_cfg_options"]


class _Group(click.Group):
    """Turns regionkit's user-facing errors into one-line messages (see :mod:`regionkit.cli.errors`)."""

    def invoke(self, ctx: click.Context) -> Any:
        with user_errors(ctx):
            return super().invoke(ctx)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=print_version,
              help="Show the version, the plugin API version and those of torch, mmengine, ultralytics and "
                   "transformers, then exit ('regionkit doctor' for the full environment).")
@click.option("--no-plugins", is_flag=True,
              help="Do not autoload third-party plugins (same as REGIONKIT_DISABLE_PLUGIN_AUTOLOAD=1).")
@click.option("-p", "--plugin", "plugin_specs", multiple=True, metavar="NAME|no:NAME",
              help="Enable a plugin (even with --no-plugins) or block one with no:NAME. Repeatable.")
@click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, no_plugins: bool, plugin_specs: tuple[str, ...], debug: bool) -> None:
    """regionkit: turn image collections into region boxes with plugin detectors and selectors.

    \b
    Quick examples:
      regionkit samples work_dirs/samples
      regionkit infer configs/saliency_four_box.py --images work_dirs/samples
      regionkit config check configs/saliency_four_box.py
      regionkit list detectors
      regionkit plugins

    \b
    Exit codes: 0 success; 1 some images failed (see failures.json) or a
    check found problems; 2 a user error (one-line message); 130 interrupted.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    if no_plugins or plugin_specs:
        from regionkit.discovery.index import configure_plugins
        from regionkit.discovery.policy import PluginPolicy

        configure_plugins(PluginPolicy.from_env().merged(plugin_specs, disable_autoload=no_plugins))


# ---------------------------------------------------------------------- infer
@cli.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--images", type=click.Path(), help="Image folder (overrides dataset.root in the config).")
@click.option("--out-dir", type=click.Path(file_okay=False), help="Output folder [default: work_dirs/<config name>].")
@click.option("--cfg-options", "-o", "cfg_options", multiple=True, metavar="KEY=VALUE",
              help="Override config values, e.g. detector.threshold=0.4 runtime.batch_size=8 (several allowed).")
@click.option("--max-images", type=int, help="Process only the first N images (in dataset order).")
@click.option("--split", help="Dataset split to run (sets dataset.split), e.g. train, val, test1.")
@click.option("--all-splits", is_flag=True, help="Run every split the dataset defines, each into OUT_DIR/<split>/.")
@click.option("--resume", is_flag=True, help="Continue an interrupted run in the same output folder.")
@click.option("--overwrite", is_flag=True, help="Discard an unfinished run in the output folder and start again.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def infer(config: str, images: str | None, out_dir: str | None, cfg_options: tuple[str, ...], max_images: int | None,
          split: str | None, all_splits: bool, resume: bool, overwrite: bool, no_progress: bool) -> None:
    """Run CONFIG's detector, box selectors and writers over a dataset of images.

    Writes the writers' files (e.g. four_box.json, object_box.json) to the output folder,
    plus journal.jsonl, which records every image as it finishes: if a run is killed or
    interrupted, run the same command with --resume to continue; the final files are
    identical to an uninterrupted run's.  The output folder is locked while a run uses it.
    Images that cannot be processed are listed with a reason in failures.json; the command
    then exits with code 1.  The config is checked completely first (all problems are listed
    by 'regionkit config check CONFIG').
    """
    from regionkit.inference.job import run_infer

    runs = run_infer(config, images=images, out_dir=out_dir, cfg_options=cfg_options, progress=not no_progress,
                     max_images=max_images, split=split, all_splits=all_splits, resume=resume, overwrite=overwrite)
    failed = 0
    for run in runs:
        summary = run.summary
        label = f"[{run.split}] " if run.split else ""
        resumed = f" ({summary.num_resumed} already done)" if summary.num_resumed else ""
        echo_safe(f"{label}Processed {summary.num_ok}/{summary.num_images} images{resumed} in {summary.seconds:.1f}s.")
        for line in _describe_skipped(getattr(run.dataset, "skipped", [])):
            echo_safe(f"{label}{line}")
        if summary.sanitize.dropped or summary.sanitize.clipped:
            echo_safe(f"{label}Detector boxes repaired: {summary.sanitize.describe()}")
        if summary.worker_restarts:
            echo_safe(f"{label}Worker processes were restarted {summary.worker_restarts} time(s) after a worker "
                      f"died or timed out; the images involved are in failures.json")
        for line in _describe_outputs(summary.outputs):
            echo_safe(f"{label}Wrote {line}")
        failed += len(summary.failures)
    if failed:
        echo_safe(f"{failed} image(s) failed; reasons are in failures.json.", err=True)
        sys.exit(EXIT_FAILURES)


def _describe_skipped(skipped: Sequence[tuple[str, str]], examples: int = 2) -> list[str]:
    """``Skipped N entries: REASON (e.g. a, b)`` per reason."""
    by_reason: dict[str, list[str]] = {}
    for rel, reason in skipped:
        by_reason.setdefault(reason, []).append(rel)
    lines = []
    for reason, rels in by_reason.items():
        shown = ", ".join(rels[:examples]) + (", ..." if len(rels) > examples else "")
        if reason.startswith("not an image extension"):
            lines.append(f"Skipped {len(rels)} non-image file(s) in the folder ({reason}), e.g. {shown}")
        else:
            lines.append(f"Skipped {len(rels)} entr{'y' if len(rels) == 1 else 'ies'} in the image folder: {reason} "
                         f"({shown})")
    return lines


# ---------------------------------------------------------------------- list / plugins
@cli.command(name="list")
@click.argument("kind", required=False)
@click.argument("pattern", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_cmd(kind: str | None, pattern: str | None, as_json: bool) -> None:
    """List components: name, kind, providing distribution and version, summary.

    KIND is detectors, box_selectors, losses, models, datasets, writers, metrics, hooks,
    captioners or matchers
    (singular works too); PATTERN is a glob such as 'sal*'.  With one argument that is not a
    kind, it is taken as the pattern.  Plugin code is not imported.
    """
    from regionkit.kinds import normalize_kind
    from regionkit.registry import REGISTRIES

    kinds = list(REGISTRIES)
    if kind is not None:
        key = normalize_kind(kind)
        if key is not None:
            kinds = [key]
        elif pattern is None:
            pattern = kind
        else:
            from regionkit.errors import ConfigError, did_you_mean
            raise ConfigError(f"unknown kind '{kind}'{did_you_mean(kind, REGISTRIES)}; kinds: {', '.join(REGISTRIES)}")
    infos = [info for k in kinds for info in REGISTRIES[k].list_components(pattern)]
    if as_json:
        click.echo(json.dumps([i.as_dict() for i in infos], indent=2))
        return
    if not infos:
        click.echo("No components match." if pattern else "No components registered.")
        return
    rows = [(i.name, i.kind, f"{i.distribution} {i.version}".strip(), i.summary) for i in infos]
    _print_table(("NAME", "KIND", "PROVIDED BY", "SUMMARY"), rows)


@cli.group(cls=_Group, invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--check-imports", is_flag=True, help="Also import every component to find broken plugins.")
@click.pass_context
def plugins(ctx: click.Context, as_json: bool, check_imports: bool) -> None:
    """Show each distribution that provides regionkit components, with its status or errors."""
    if ctx.invoked_subcommand is not None:
        return
    from regionkit.discovery.index import get_index
    from regionkit.errors import PluginLoadError
    from regionkit.registry import REGISTRIES

    index = get_index()
    if check_imports:
        for registry in REGISTRIES.values():
            for cand in registry.candidates():
                if cand.entry is not None:
                    with contextlib.suppress(PluginLoadError):  # recorded in the index by load()
                        registry.load(cand)
    dists = sorted(index.dists.values(), key=lambda d: (not d.is_builtin, d.name.lower()))
    if as_json:
        click.echo(json.dumps([{
            "distribution": d.name, "version": d.version, "status": d.status_line(),
            "components": [{"kind": e.kind, "name": e.name, "target": e.target} for e in d.entries],
            "problems": d.problems} for d in dists], indent=2))
        return
    policy = index.policy
    click.echo(f"Plugin autoload: {'on' if policy.autoload else 'off'}"
               + (f"; enabled: {', '.join(sorted(policy.enabled))}" if policy.enabled else "")
               + (f"; blocked: {', '.join(sorted(policy.blocked))}" if policy.blocked else ""))
    rows = [(d.name, d.version, d.status_line(), str(len(d.entries))) for d in dists]
    _print_table(("DISTRIBUTION", "VERSION", "STATUS", "COMPONENTS"), rows)
    for d in dists:
        for problem in d.problems:
            click.echo(f"  ! {d.name}: {problem}")


# ---------------------------------------------------------------------- config / samples
@cli.group(cls=_Group)
def config() -> None:
    """Inspect config files."""


@config.command(name="list")
@click.option("--package", default="regionkit", show_default=True, metavar="NAME",
              help="The installed package whose configs/ folder to list (a plugin may ship recipes too).")
def config_list(package: str) -> None:
    """List the recipes shipped inside a package, with one-line descriptions.

    Run any of them from any folder by its name, e.g. 'regionkit infer
    regionkit::saliency_four_box.py --images DIR'; inherit from one in your own config with
    _base_ = ['regionkit::_base_/patch_matters_divide.py'].
    """
    from regionkit.config.packaged import packaged_configs

    recipes = packaged_configs(package)
    if not recipes:
        echo_safe(f"{package} ships no recipes")
        return
    width = max(len(c.name) for c in recipes)
    for recipe in recipes:
        echo_safe(f"{recipe.name:<{width}}  {recipe.summary}".rstrip())


@config.command(name="show")
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.option("--cfg-options", "-o", "cfg_options", multiple=True, metavar="KEY=VALUE", help="Overrides to apply.")
def config_show(config_path: str, cfg_options: tuple[str, ...]) -> None:
    """Print CONFIG with its _base_ files merged and overrides applied."""
    from regionkit.config.loader import load_config

    cfg = load_config(config_path, cfg_options)
    click.echo(f"# resolved from {config_path}")
    click.echo(cfg.pretty_text)


@config.command(name="check")
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.option("--cfg-options", "-o", "cfg_options", multiple=True, metavar="KEY=VALUE", help="Overrides to apply.")
def config_check(config_path: str, cfg_options: tuple[str, ...]) -> None:
    """Check CONFIG completely without running it: every problem at once.

    Every component at any depth (the dataset, the detector and the detectors inside a
    hybrid, each selector, captioner, matcher and writer) is looked up in its registry, its
    parameter names are checked against its signature and its values against their declared
    types and ranges; the runtime options, the selector-stage wiring and the writers' output
    names are checked too.  Nothing is built, loaded or written.  Exit code 0 when all is
    well, 1 when problems were found.
    """
    from regionkit.config.check import format_problems
    from regionkit.config.loader import load_config
    from regionkit.inference.job import check_infer_config

    problems = check_infer_config(load_config(config_path, cfg_options))
    if not problems:
        echo_safe(f"{config_path}: OK")
        return
    echo_safe(f"{config_path}: {len(problems)} problem(s)")
    echo_safe(format_problems(problems))
    sys.exit(EXIT_FAILURES)


@cli.command()
@click.argument("out_dir", type=click.Path(file_okay=False))
def samples(out_dir: str) -> None:
    """Write real sample photographs (shipped with scikit-image) into OUT_DIR."""
    from regionkit.io.samples import write_sample_images

    paths = write_sample_images(out_dir)
    click.echo(f"Wrote {len(paths)} sample images to {out_dir}")


# ---------------------------------------------------------------------- helpers
def _describe_outputs(paths: Sequence[Any], limit: int = 3) -> list[str]:
    """One line per output file, but ``N files in DIR`` where a folder holds more than ``limit``."""
    from collections import Counter
    from pathlib import Path

    per_dir = Counter(Path(p).parent for p in paths)
    lines, grouped = [], set()
    for p in paths:
        parent = Path(p).parent
        if per_dir[parent] <= limit:
            lines.append(str(p))
        elif parent not in grouped:
            grouped.add(parent)
            lines.append(f"{per_dir[parent]} files in {parent}{os.sep}")
    return lines


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [str(c).ljust(w) for c, w in zip(row, widths)] + [str(row[-1])]
        click.echo("  ".join(cells).rstrip())


def expand_cfg_options(argv: Sequence[str]) -> list[str]:
    """Accept mmengine style ``--cfg-options a=1 b=2``: each KEY=VALUE after the flag gets its own flag.

    A flag with no ``KEY=VALUE`` after it is kept as it is, so click reports the missing value
    (it is never dropped silently).
    """
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("--cfg-options", "-o"):
            values = []
            j = i + 1
            while j < len(argv) and "=" in argv[j] and not argv[j].startswith("-"):
                values.append(argv[j])
                j += 1
            if not values:
                out.append(arg)
                i += 1
                continue
            for value in values:
                out.extend(["--cfg-options", value])
            i = j
            continue
        out.append(arg)
        i += 1
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point (``regionkit``)."""
    args = expand_cfg_options(sys.argv[1:] if argv is None else argv)
    cli.main(args=args, prog_name="regionkit")


def _attach_subcommands() -> None:
    """Commands defined in their own modules (each imports only click at module level)."""
    from regionkit.cli.box_tools import stats, visualize
    from regionkit.cli.check import check
    from regionkit.cli.doctor import doctor
    from regionkit.cli.plugins_validate import validate
    from regionkit.cli.report import report
    from regionkit.cli.seggpt import seggpt
    from regionkit.cli.train import test, train
    from regionkit.cli.vocab import vocab

    cli.add_command(check)
    cli.add_command(doctor)
    cli.add_command(stats)
    cli.add_command(visualize)
    cli.add_command(vocab)
    cli.add_command(report)
    cli.add_command(seggpt)
    cli.add_command(train)
    cli.add_command(test)
    plugins.add_command(validate)


_attach_subcommands()

if __name__ == "__main__":
    main()
