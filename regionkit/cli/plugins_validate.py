"""``regionkit plugins validate DIST [--imports]``: the command (logic in :mod:`regionkit.devkit.validate`).

Attached to the ``plugins`` group in :mod:`regionkit.cli.main`; also runnable on its own as
``python -m regionkit.cli.plugins_validate DIST``.
"""
from __future__ import annotations

import sys

import click

__all__ = ["validate"]


@click.command("validate")
@click.argument("dist", metavar="DIST")
@click.option("--imports", is_flag=True,
              help="Also import every component and check its class, contract methods and constructor.")
def validate(dist: str, imports: bool) -> None:
    """Check plugin distribution DIST: entry points, names, targets, plugin-API version.

    DIST is the distribution name (as in pip list) or its top-level package.  Without
    --imports nothing of the plugin is imported: its metadata and source files are read.
    Prints one line per finding (error, warning, ok) and exits with 1 if there is any error.
    """
    from regionkit.devkit.validate import validate_distribution

    findings = validate_distribution(dist, imports=imports)
    for finding in findings:
        click.echo(finding.line())
    errors = sum(f.severity == "error" for f in findings)
    warnings = sum(f.severity == "warning" for f in findings)
    click.echo(f"{dist}: {errors} error{'s' if errors != 1 else ''}, "
               f"{warnings} warning{'s' if warnings != 1 else ''}"
               + ("" if imports or errors else " (add --imports to import and check every component)"))
    if errors:
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    validate()
