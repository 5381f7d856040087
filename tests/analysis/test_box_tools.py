"""``regionkit stats`` / ``visualize`` and the box-file reader behind them, checked against hand-computed numbers."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from regionkit.analysis import load_box_file
from regionkit.analysis.stats import compute_stats
from regionkit.cli.box_tools import stats, visualize
from regionkit.io.box_files import BoxFileError
from regionkit.io.image_locator import ImageLocator
from regionkit.io.images import image_size
from regionkit.io.pictures import png_name

# ten boxes of height 1 and widths 0.1 .. 1.0 (areas 0.1 .. 1.0) spread over six images: 0,1,2,1,0,6 boxes
CIRR = {
    "a": [],
    "b": [[0.0, 0.0, 0.1, 1.0]],
    "c": [[0.0, 0.0, 0.2, 1.0], [0.5, 0.0, 0.8, 1.0]],
    "d": [[0.0, 0.0, 0.4, 1.0]],
    "e": [],
    "f": [[0.0, 0.0, w, 1.0] for w in (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)],
}
# sizes of the sample photos (width, height)
SIZES = {"astronaut.png": (512, 512), "coffee.png": (600, 400), "chelsea.png": (451, 300)}


def run(command, *args: str):
    return CliRunner().invoke(command, list(args), catch_exceptions=False)


def write(path: Path, data) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_sample_sizes_are_what_the_tests_assume(sample_images):
    for name, size in SIZES.items():
        assert Image.open(sample_images / name).size == size


# ---------------------------------------------------------------------- stats
def test_stats_of_a_cirr_file_match_hand_computed_values(tmp_path):
    path = write(tmp_path / "cirr_boxes.json", CIRR)
    result = run(stats, str(path), "--json")
    assert result.exit_code == 0, result.output
    s = json.loads(result.output)
    assert s["format"] == "cirr" and s["coordinates"] == "normalized"
    assert s["images"] == 6 and s["images_with_boxes"] == 4 and s["boxes"] == 10
    assert s["pct_with_boxes"] == pytest.approx(400 / 6)
    assert s["boxes_per_image"] == {"mean": pytest.approx(10 / 6), "median": 1.0, "max": 6,
                                    "distribution": {"0": 2, "1": 2, "2": 1, "3": 0, "4": 0, "5+": 1}}
    area = s["area"]
    assert area["unit"] == "fraction of image" and area["boxes"] == 10
    # linear quantiles of 0.1, 0.2, ..., 1.0: position q * 9 between sorted values
    expected = {"min": 0.1, "p10": 0.19, "p25": 0.325, "median": 0.55, "p75": 0.775, "p90": 0.91, "max": 1.0,
                "mean": 0.55}
    for key, value in expected.items():
        assert area[key] == pytest.approx(value, abs=1e-12), key


def test_stats_text_report_and_histogram_png(tmp_path):
    path = write(tmp_path / "cirr_boxes.json", CIRR)
    hist = tmp_path / "plots" / "areas.png"
    result = run(stats, str(path), "--histogram", str(hist))
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Images:           6" in out
    assert "With >= 1 box:    4 (66.7%)" in out
    assert "mean 1.667, median 1, max 6" in out
    assert "0: 2  1: 2  2: 1  3: 0  4: 0  5+: 1" in out
    assert "median 0.55" in out and "p90 0.91" in out
    assert f"Wrote {hist}" in out
    with Image.open(hist) as im:
        assert im.format == "PNG" and im.size == (640, 400)
        pixels = np.asarray(im.convert("RGB")).reshape(-1, 3)
    bar = (pixels == (72, 120, 168)).all(axis=1).sum()  # the bars' colour, #4878a8
    assert bar > 1000
    assert [p.name for p in hist.parent.iterdir()] == ["areas.png"]


def test_object_box_areas_use_image_sizes_from_the_folder(sample_images, tmp_path):
    data = {
        "data/samples/astronaut.png": {"image": "data/samples/astronaut.png", "bbox": [[0.0, 0.0, 256.0, 256.0]],
                                       "name": ["x"], "label": [0]},
        "data/samples/coffee.png": {"image": "data/samples/coffee.png",
                                    "bbox": [[0.0, 0.0, 300.0, 200.0], [10.0, 10.0, 70.0, 50.0]],
                                    "name": ["x", "y"], "label": [0, 0]},
        "data/samples/chelsea.png": {"image": "data/samples/chelsea.png", "bbox": [[0.0, 0.0, 450.0, 299.0]],
                                     "name": ["None"], "label": [1008611]},
        "data/samples/gone.png": {"image": "data/samples/gone.png", "bbox": [[0.0, 0.0, 5.0, 5.0]],
                                  "name": ["x"], "label": [0]},
    }
    path = write(tmp_path / "object_box.json", data)
    s = json.loads(run(stats, str(path), "--images", str(sample_images), "--json").output)
    assert s["format"] == "object_box" and s["images"] == 4 and s["boxes"] == 5
    assert s["images_without_size"] == 1
    assert s["area"]["boxes"] == 4  # the box of the missing image is left out
    areas = sorted([0.25, 0.25, 2400 / 240000, 450 * 299 / (451 * 300)])
    assert s["area"]["min"] == pytest.approx(areas[0]) and s["area"]["max"] == pytest.approx(areas[-1])
    assert s["area"]["median"] == pytest.approx(0.25)
    assert any("whole-image fallback" in n for n in s["notes"])
    # without the folder: square pixels
    s = json.loads(run(stats, str(path), "--json").output)
    assert s["area"]["unit"] == "pixels" and s["area"]["max"] == 450 * 299 and s["area"]["min"] == 25
    assert "images_without_size" not in s


def test_four_box_fields_and_coco_results(sample_images, tmp_path):
    four = [{"image": "samples/astronaut.png", "object_detect_box": [[0, 0, 512, 512]],
             "four_box": [[0, 0, 256, 256]] * 4, "two_box": [[0, 0, 512, 256], [0, 256, 512, 512]]}]
    path = write(tmp_path / "four_box.json", four)
    s = json.loads(run(stats, str(path), "--images", str(sample_images), "--json").output)
    assert (s["format"], s["boxes"], s["area"]["max"]) == ("four_box", 1, 1.0)
    s = json.loads(run(stats, str(path), "--images", str(sample_images), "--field", "four_box", "--json").output)
    assert (s["boxes"], s["area"]["median"]) == (4, 0.25)
    s = json.loads(run(stats, str(path), "--field", "two_box", "--json").output)
    assert (s["boxes"], s["area"]["unit"], s["area"]["mean"]) == (2, "pixels", 512 * 256)

    results = [{"image_id": 3, "category_id": 1, "bbox": [0, 0, 256, 256], "score": 0.9},
               {"image_id": 3, "category_id": 1, "bbox": [10, 10, 100, 100], "score": 0.5},
               {"image_id": 9, "category_id": 18, "bbox": [0, 0, 300, 200], "score": 0.7}]
    res = write(tmp_path / "coco_results.json", results)
    s = json.loads(run(stats, str(res), "--json").output)
    assert (s["format"], s["images"], s["boxes"], s["area"]["unit"]) == ("coco_results", 2, 3, "pixels")
    ann = write(tmp_path / "gt.json", {"images": [{"id": 9, "file_name": "coffee.png", "width": 600, "height": 400},
                                                  {"id": 3, "file_name": "astronaut.png", "width": 512, "height": 512},
                                                  {"id": 4, "file_name": "chelsea.png", "width": 451, "height": 300}]})
    s = json.loads(run(stats, str(res), "--ann-file", str(ann), "--json").output)
    assert s["images"] == 3 and s["images_with_boxes"] == 2
    assert s["boxes_per_image"]["distribution"] == {"0": 1, "1": 1, "2": 1, "3": 0, "4": 0, "5+": 0}
    assert s["area"]["unit"] == "fraction of image"
    assert s["area"]["min"] == pytest.approx(10000 / 512 ** 2) and s["area"]["max"] == pytest.approx(0.25)


@pytest.mark.parametrize("content, message", [
    ({"a": 1}, "unknown box file format"),
    ([{"foo": 1}], "unknown box file format"),
    ({"a": [], "b": {"x": 1}}, "entry 'b'"),
    ("just text", "unknown box file format"),
    ({"a": [[0, 0, 2.5, 1]]}, "outside [0, 1]"),
    ({"a": [[0, 0, 1]]}, "each box must be 4 numbers"),
])
def test_unknown_or_broken_files_give_one_line_errors(tmp_path, content, message):
    path = write(tmp_path / "boxes.json", content)
    result = CliRunner().invoke(stats, [str(path)])
    assert result.exit_code == 2
    assert message in result.output and result.output.startswith("Error: ")
    assert len(result.output.strip().splitlines()) == 1
    assert not isinstance(result.exception, BoxFileError)  # turned into a click error, no traceback


def test_other_user_mistakes(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    assert "not valid JSON" in CliRunner().invoke(stats, [str(tmp_path / "bad.json")]).output
    assert "box file not found" in CliRunner().invoke(stats, [str(tmp_path / "none.json")]).output
    path = write(tmp_path / "c.json", CIRR)
    result = CliRunner().invoke(stats, [str(path), "--field", "four_box"])
    assert result.exit_code == 2 and "--field applies to files with several box lists per image" in result.output
    result = CliRunner().invoke(stats, [str(path), "--images", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "image folder not found" in result.output
    assert load_box_file(write(tmp_path / "e1.json", {})).format == load_box_file(write(tmp_path / "e2.json", [])).format == "empty"
    empty = write(tmp_path / "empty.json", {})
    s = json.loads(run(stats, str(empty), "--json").output)
    assert s["images"] == 0 and s["pct_with_boxes"] is None and s["area"] is None


def test_image_size_reads_headers_and_applies_exif_rotation(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90°: a 40x20 file shows as 20x40
    Image.new("RGB", (40, 20), (200, 10, 10)).save(tmp_path / "rot.jpg", exif=exif)
    assert image_size(tmp_path / "rot.jpg") == (20, 40)
    (tmp_path / "junk.png").write_bytes(b"not an image")
    assert image_size(tmp_path / "junk.png") is None
    assert image_size(tmp_path / "missing.png") is None


def test_locator_finds_files_by_suffix_name_stem_and_coco_id(sample_images, tmp_path):
    root = tmp_path / "imgs"
    (root / "train" / "34").mkdir(parents=True)
    (root / "x").mkdir()
    shutil.copyfile(sample_images / "astronaut.png", root / "train" / "34" / "train-11-0-img0.png")
    shutil.copyfile(sample_images / "coffee.png", root / "000000000042.jpg")
    shutil.copyfile(sample_images / "chelsea.png", root / "x" / "dup.png")
    shutil.copyfile(sample_images / "chelsea.png", root / "dup.png")
    loc = ImageLocator(root)
    assert loc.locate("work/imgs/train/34/train-11-0-img0.png") == root / "train" / "34" / "train-11-0-img0.png"
    assert loc.locate("train-11-0-img0") == root / "train" / "34" / "train-11-0-img0.png"  # CIRR name
    assert loc.locate("42") == root / "000000000042.jpg"                                  # COCO id
    assert loc.locate("7", hints=("000000000042.jpg",)) == root / "000000000042.jpg"
    assert loc.locate("elsewhere/dup.png") == root / "dup.png"                             # suffix match first
    assert loc.locate("dup") is None                                                       # ambiguous stem
    assert loc.locate("nothing.png") is None
    with pytest.raises(BoxFileError):
        ImageLocator(tmp_path / "none")


def test_compute_stats_directly_leaves_areas_for_the_histogram(tmp_path):
    path = write(tmp_path / "c.json", CIRR)
    result, areas = compute_stats(load_box_file(path))
    assert sorted(areas.tolist()) == pytest.approx([w / 10 for w in range(1, 11)])
    assert result["boxes"] == len(areas)


# ---------------------------------------------------------------------- visualize
def test_visualize_draws_cirr_boxes_on_found_images(sample_images, tmp_path):
    images = tmp_path / "cirr_dataset"
    names = {"train-1-0-img0": "astronaut.png", "train-1-0-img1": "coffee.png", "train-2-0-img0": "chelsea.png"}
    for name, photo in names.items():
        target = images / "train" / "7" / f"{name}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sample_images / photo, target)
    boxes = {"train-1-0-img0": [[0.25, 0.25, 0.75, 0.75]], "train-1-0-img1": [], "train-2-0-img0": [[0, 0, 1, 1]]}
    path = write(tmp_path / "cirr_boxes.json", boxes)
    out = tmp_path / "vis"
    result = run(visualize, str(path), "--images", str(images), "--out", str(out), "--max-images", "2",
                 "--no-progress", "--line-width", "4")
    assert result.exit_code == 0, result.output
    assert "Wrote 2 PNG(s)" in result.output
    files = sorted(p.name for p in out.iterdir())
    assert files == sorted(png_name(f"train/7/{n}.png") for n in list(names)[:2])
    with Image.open(out / png_name("train/7/train-1-0-img0.png")) as im:
        assert im.size == (512, 512)
        rgb = im.convert("RGB")
        assert rgb.getpixel((129, 256)) == (230, 25, 75)       # left edge of the box at x = 128
        assert rgb.getpixel((64, 64)) == Image.open(sample_images / "astronaut.png").convert("RGB").getpixel((64, 64))
    with Image.open(out / png_name("train/7/train-1-0-img1.png")) as im:
        assert im.size == (600, 400)


def test_visualize_reports_missing_images_and_exits_1(sample_images, tmp_path):
    data = {"samples/astronaut.png": {"image": "samples/astronaut.png", "bbox": [[10.0, 10.0, 100.0, 100.0]],
                                      "name": ["x"], "label": [0]},
            "samples/lost.png": {"image": "samples/lost.png", "bbox": [], "name": ["None"], "label": []}}
    path = write(tmp_path / "object_box.json", data)
    out = tmp_path / "vis"
    result = CliRunner().invoke(visualize, [str(path), "--images", str(sample_images), "--out", str(out),
                                            "--max-size", "100", "--no-progress"])
    assert result.exit_code == 1
    assert "Wrote 1 PNG(s)" in result.output
    assert "samples/lost.png: no image file found" in result.output
    with Image.open(out / "astronaut.png.png") as im:
        assert im.size == (100, 100)
    result = CliRunner().invoke(visualize, [str(path), "--out", str(out)])
    assert result.exit_code == 2 and "--images" in result.output
    result = CliRunner().invoke(visualize, [str(path), "--images", str(sample_images), "--out", str(out),
                                            "--max-images", "0"])
    assert result.exit_code == 2
