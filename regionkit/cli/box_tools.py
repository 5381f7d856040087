"""``regionkit stats`` and ``regionkit visualize``: summarise and draw any regionkit box file.

The logic lives in :mod:`regionkit.analysis`; box files are read through the formats their
writers own, so every file a regionkit writer writes can be summarised and drawn.  Problems
end in a one-line ``Error: ...`` with exit code 2 (``regionkit --debug`` shows the traceback).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from regionkit.cli.errors import EXIT_FAILURES, echo_safe, user_errors

__all__ = ["stats", "visualize"]

_field_option = click.option("--field", default=None, metavar="NAME",
                             help="For files with several box lists per image: which one (four_box.json: "
                                  "object_detect_box [default], four_box, two_box; main_box.json: main_box "
                                  "[default], equal_four_box).")
_ann_option = click.option("--ann-file", type=click.Path(dir_okay=False),
                           help="COCO results only: the annotation JSON, for image sizes, file names and "
                                "the images without results.")


@click.command()
@click.argument("boxes_file", metavar="BOXES.json", type=click.Path(dir_okay=False))
@click.option("--images", type=click.Path(file_okay=False),
              help="Image folder: pixel boxes get areas as fractions of their image (sizes read from file headers).")
@_ann_option
@_field_option
@click.option("--histogram", type=click.Path(dir_okay=False), metavar="PNG",
              help="Save a histogram of the box areas to this PNG file.")
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
@click.pass_context
def stats(ctx: click.Context, boxes_file: str, images: str | None, ann_file: str | None, field: str | None,
          histogram: str | None, as_json: bool) -> None:
    """Summarise a box file: images, boxes per image, box areas.

    BOXES.json is any box file a regionkit writer writes (CIRR boxes, Patch Matters'
    object_box.json, four_box.json and main_box.json, COCO results, and those of installed
    plugins); the format is detected.  Pixel boxes are reported as fractions of
    the image area when --images (or, for COCO results, --ann-file) gives the image
    sizes, else in square pixels.
    """
    from regionkit.analysis import load_box_file
    from regionkit.analysis.stats import compute_stats, format_stats, save_area_histogram
    from regionkit.io.image_locator import ImageLocator

    with user_errors(ctx):
        box_file = load_box_file(boxes_file, field=field, ann_file=ann_file)
        locator = ImageLocator(images) if images else None
        result, areas = compute_stats(box_file, locator)
        if histogram:
            unit = result["area"]["unit"] if result["area"] else "fraction of image"
            path = save_area_histogram(areas, histogram, unit=unit, title=f"{Path(box_file.path).name} ({areas.size} boxes)")
            result["histogram"] = str(path)
    if as_json:
        echo_safe(json.dumps(result, indent=2, ensure_ascii=False, allow_nan=False))
    else:
        echo_safe(format_stats(result))
        if histogram:
            echo_safe(f"Wrote {result['histogram']}")


@click.command()
@click.argument("boxes_file", metavar="BOXES.json", type=click.Path(dir_okay=False))
@click.option("--images", required=True, type=click.Path(file_okay=False),
              help="Folder holding the images (searched recursively by path, file name or CIRR name).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder for the PNGs.")
@click.option("--max-images", type=click.IntRange(min=1), help="Draw only the first N images of the file.")
@_ann_option
@_field_option
@click.option("--line-width", type=click.IntRange(min=1), default=2, show_default=True, help="Box outline width.")
@click.option("--max-size", type=click.IntRange(min=1), default=1024, show_default=True,
              help="Shrink images so their longer side is at most this many pixels.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@click.pass_context
def visualize(ctx: click.Context, boxes_file: str, images: str, out_dir: str, max_images: int | None,
              ann_file: str | None, field: str | None, line_width: int, max_size: int, no_progress: bool) -> None:
    """Draw the boxes of BOXES.json on their images and save PNGs in --out.

    Any box file ``regionkit stats`` reads works.  Images that cannot be found or read are
    listed; the command then exits with code 1.
    """
    from regionkit.analysis import load_box_file
    from regionkit.analysis.render import render_box_file
    from regionkit.io.image_locator import ImageLocator

    with user_errors(ctx):
        box_file = load_box_file(boxes_file, field=field, ann_file=ann_file)
        locator = ImageLocator(images)
        report = render_box_file(box_file, locator, out_dir, max_images=max_images, line_width=line_width,
                                 max_size=max_size, progress=not no_progress)
    echo_safe(f"Wrote {len(report.written)} PNG(s) to {out_dir}")
    if report.failures:
        for key, reason in report.failures[:5]:
            echo_safe(f"  ! {key}: {reason}", err=True)
        more = " (first 5 shown)" if len(report.failures) > 5 else ""
        echo_safe(f"{len(report.failures)} image(s) could not be drawn{more}.", err=True)
        sys.exit(EXIT_FAILURES)
