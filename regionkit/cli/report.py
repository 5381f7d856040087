"""``regionkit report``: a static, offline HTML report of any regionkit box file.

The logic lives in :mod:`regionkit.analysis.report`.  Problems end in a one-line
``Error: ...`` with exit code 2 (``regionkit --debug`` shows the traceback).
"""
from __future__ import annotations

import sys

import click

from regionkit.cli.errors import EXIT_FAILURES, echo_safe, user_errors

__all__ = ["report"]


@click.command()
@click.argument("boxes_file", metavar="BOXES.json", type=click.Path())
@click.option("--images", required=True, type=click.Path(),
              help="Folder holding the images (searched recursively by path, file name or CIRR name).")
@click.option("--out", "out_dir", required=True, type=click.Path(), help="Folder for index.html and its files.")
@click.option("--max-images", type=int, help="Show only the first N images of the file.")
@click.option("--ann-file", type=click.Path(),
              help="COCO results only: the annotation JSON, for image sizes, file names and the images "
                   "without results.")
@click.option("--thumb-size", type=int, default=320, show_default=True,
              help="Longer side of the JPEG thumbnails, in pixels.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@click.pass_context
def report(ctx: click.Context, boxes_file: str, images: str, out_dir: str, max_images: int | None,
           ann_file: str | None, thumb_size: int, no_progress: bool) -> None:
    """Write an offline HTML report of BOXES.json into --out (open OUT/index.html).

    \b
    Example:
      regionkit report work_dirs/saliency_four_box/four_box.json \\
          --images work_dirs/samples --out work_dirs/report

    Any box file 'regionkit stats' reads works; every region set of the file is read
    (four_box.json: object_detect_box, four_box, two_box; main_box.json: main_box,
    equal_four_box) and drawn over JPEG thumbnails in its own colour, with a checkbox
    to toggle it.  Cards can be sorted and filtered by box count and box area; the
    page also holds the 'regionkit stats' summary and area histogram of each set.
    The page needs no network.  Its state is kept in the address, e.g.
    index.html#hide=four_box,two_box&sort=count.  Images that cannot be found or
    read get a card saying why; the command then exits with code 1.
    """
    from regionkit.analysis.report import write_report

    with user_errors(ctx):
        result = write_report(boxes_file, images, out_dir, ann_file=ann_file, max_images=max_images,
                              thumb_size=thumb_size, progress=not no_progress)
    echo_safe(f"Wrote a report of {result.cards} image(s) ({', '.join(result.region_sets)}) to {result.index}")
    if result.failures:
        for key, reason in result.failures[:5]:
            echo_safe(f"  ! {key}: {reason}", err=True)
        more = " (first 5 shown)" if len(result.failures) > 5 else ""
        echo_safe(f"{len(result.failures)} image(s) could not be shown{more}; the report lists them.", err=True)
        sys.exit(EXIT_FAILURES)
