"""``regionkit check CONFIG``: every local file a config needs, present or missing, with size and sha256."""
from __future__ import annotations

import json
import sys

import click

from regionkit.cli.errors import EXIT_FAILURES, echo_safe

__all__ = ["check"]


@click.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.option("--cfg-options", "-o", "cfg_options", multiple=True, metavar="KEY=VALUE", help="Overrides to apply.")
@click.option("--no-hash", is_flag=True, help="Skip computing sha256 (hashes are still compared where published).")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def check(config_path: str, cfg_options: tuple[str, ...], no_hash: bool, as_json: bool) -> None:
    """List every file CONFIG's components load (checkpoints, vocabularies, YOLO weights).

    For each: where in the config it is set (or that the component's default is used), the
    path, whether it is present and intact (a torch checkpoint's zip index, a .npy header
    against the file size), its size and sha256 (compared with the published hash where one
    is known), and where to get it when it is missing.  Nothing is loaded.  'regionkit infer'
    runs the same check before it reads any image.  Exit code 0 when every file is usable,
    1 otherwise.

    \b
    Example:
      regionkit check regionkit::ovd_four_box.py -o detector.checkpoint=/data/baron.pth
    """
    from regionkit.config.files import check_files, describe_problem, required_files
    from regionkit.config.loader import load_config
    from regionkit.io.weights import format_size

    cfg = load_config(config_path, cfg_options)
    results = check_files(required_files(cfg), hash_files=not no_hash)
    bad = [(item, status) for item, status in results if not status.ok]
    if as_json:
        echo_safe(json.dumps([{
            "where": item.where, "what": item.marker.what, "path": str(item.path), "exists": status.exists,
            "size": status.size, "sha256": status.sha256,
            "published_sha256": item.marker.published_sha256(item.path.name), "ok": status.ok,
            "problem": None if status.ok else describe_problem(item, status)} for item, status in results],
            indent=2, ensure_ascii=False))
    elif not results:
        echo_safe(f"{config_path}: needs no local files")
    else:
        for item, status in results:
            mark = "ok " if status.ok else "!! "
            echo_safe(f"{mark} {item.where}: {item.marker.what}  {item.path}")
            if status.ok:
                published = item.marker.published_sha256(item.path.name)
                digest = status.sha256 or "(not computed)"
                note = "matches the published hash" if published else "no published hash to compare"
                echo_safe(f"      {format_size(status.size)}  sha256 {digest}  ({note})")
            else:
                echo_safe(f"      {describe_problem(item, status)}")
        echo_safe(f"{len(results) - len(bad)} of {len(results)} file(s) usable")
    if bad:
        sys.exit(EXIT_FAILURES)
