"""``regionkit report``: the HTML report of every box format, its escaping and errors, and the page in a real browser.

The unit tests parse the written ``index.html``; the browser tests run the system's headless
Chromium (``apt-get install chromium``) on it and are skipped when there is none.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.parse
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from regionkit.analysis.report import ReportCard, card_html, script_json, thumbnail_name
from regionkit.cli.report import report
from regionkit.io.atomic import TMP_SUFFIX
from regionkit.io.pictures import PALETTE

# sizes of the sample photos (width, height)
SIZES = {"astronaut.png": (512, 512), "coffee.png": (600, 400), "chelsea.png": (451, 300), "rocket.jpg": (640, 427),
         "motorcycle_left.png": (741, 500), "camera.png": (512, 512)}
FOUR_BOX = [
    {"image": "samples/astronaut.png", "object_detect_box": [[50, 40, 300, 400]],
     "four_box": [[0, 0, 256, 256], [256, 0, 512, 256], [0, 256, 256, 512], [256, 256, 512, 512]],
     "two_box": [[0, 0, 512, 256], [0, 256, 512, 512]]},
    {"image": "samples/coffee.png", "object_detect_box": [[100, 50, 500, 350], [10, 10, 90, 90]],
     "four_box": [[0, 0, 300, 200]] * 4, "two_box": [[0, 0, 600, 200], [0, 200, 600, 400]]},
    {"image": "samples/chelsea.png", "object_detect_box": [], "four_box": [], "two_box": [[0, 0, 451, 150]]},
    {"image": "samples/rocket.jpg", "object_detect_box": [[200, 50, 300, 400]], "four_box": [], "two_box": []},
    {"image": "samples/motorcycle_left.png", "object_detect_box": [[30, 30, 600, 450]], "four_box": [[0, 0, 10, 10]],
     "two_box": []},
    {"image": "samples/lost.png", "object_detect_box": [[0, 0, 5, 5]], "four_box": [], "two_box": []},
]


# ---------------------------------------------------------------------- helpers
VOID = {"img", "input", "meta", "br", "hr", "link", "source"}


class Page(HTMLParser):
    """The parts of a report page the tests look at: cards, their overlay groups, toggles, the embedded JSON."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.cards: list[dict] = []
        self.toggles: dict[str, dict] = {}
        self.body: dict = {}
        self.scripts: list[str] = []
        self.histograms: list[str] = []
        self.pres: list[str] = []
        self._in: list[str] = []  # what the text being read belongs to
        self._script: str | None = None
        self.feed(markup)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "body":
            self.body = a
        elif tag == "article" and "card" in classes:
            self.cards.append({"id": a["id"], "classes": classes, "hidden": "hidden" in a, "name": "", "img": None,
                               "groups": [], "counts": {}, "text": "", "problem": ""})
        elif tag == "script":
            self._script = ""
        elif tag == "input" and a.get("id", "").startswith("toggle-"):
            self.toggles[a["id"]] = a
        elif tag == "img" and "histogram" in classes:
            self.histograms.append(a["src"])
        elif self.cards and tag == "img":
            self.cards[-1]["img"] = a
        elif self.cards and tag == "g":
            self.cards[-1]["groups"].append({"set": a["data-set"], "classes": classes, "rects": []})
        elif self.cards and tag == "rect":
            self.cards[-1]["groups"][-1]["rects"].append({k: float(v) for k, v in a.items()})
        elif self.cards and tag == "li":
            self.cards[-1]["counts"][classes[0]] = None
        if tag in VOID:
            return
        self._in.append("name" if tag == "h3" and "name" in classes else
                        "count" if tag == "b" and "count" in classes else
                        "problem" if tag == "p" and "problem" in classes else "pre" if tag == "pre" else tag)
        if tag == "pre":
            self.pres.append("")

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if tag == "script" and self._script is not None:
            self.scripts.append(self._script)
            self._script = None
        if self._in:
            self._in.pop()

    def handle_data(self, data):
        if self._script is not None:
            self._script += data
            return
        where = self._in[-1] if self._in else ""
        if where == "pre":
            self.pres[-1] += data
        if not self.cards or self._in.count("article") == 0:
            return
        card = self.cards[-1]
        card["text"] += data
        if where == "name":
            card["name"] += data
        elif where == "problem":
            card["problem"] += data
        elif where == "count":
            last = list(card["counts"])[-1]
            card["counts"][last] = int(data)

    def data(self) -> dict:
        """The JSON embedded in ``<script id=report-data>`` (the first script)."""
        return json.loads(self.scripts[0])


def write(path: Path, data) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def make_report(*args: str) -> tuple[object, Page | None]:
    """Run ``regionkit report`` (without a progress bar); the result and the parsed page, if written."""
    result = CliRunner().invoke(report, [*args, "--no-progress"])
    out = Path(args[args.index("--out") + 1])
    index = out / "index.html"
    return result, Page(index.read_text(encoding="utf-8")) if index.is_file() else None


def set_counts(card: dict) -> dict[str, int]:
    """Boxes per region set as the card's text says, keyed by the set's class (``rs-0``, ``rs-1``, ...)."""
    return dict(card["counts"])


def rects_per_set(card: dict) -> dict[str, int]:
    """Boxes per region set as the card's overlay draws them, keyed by set name."""
    return {g["set"]: len(g["rects"]) for g in card["groups"]}


@pytest.fixture
def images(sample_images: Path, tmp_path: Path) -> Path:
    """The sample photos under ``<tmp>/imgs/samples/``."""
    folder = tmp_path / "imgs" / "samples"
    shutil.copytree(sample_images, folder)
    return folder.parent


# ---------------------------------------------------------------------- every format
def test_four_box_report_has_every_field_as_a_region_set(images, tmp_path):
    path = write(tmp_path / "four_box.json", FOUR_BOX)
    out = tmp_path / "report"
    result, page = make_report(str(path), "--images", str(images), "--out", str(out))
    assert result.exit_code == 1, result.output  # one image is missing: listed, exit code 1 like visualize
    assert "Wrote a report of 6 image(s) (object_detect_box, four_box, two_box)" in result.output
    assert "samples/lost.png: no image file found" in result.output
    assert page is not None and len(page.cards) == 6
    assert list(page.toggles) == ["toggle-0", "toggle-1", "toggle-2"]
    assert [c["name"] for c in page.cards] == [e["image"] for e in FOUR_BOX]
    fields = ("object_detect_box", "four_box", "two_box")
    for card, entry in zip(page.cards, FOUR_BOX):
        expected = [len(entry[f]) for f in fields]
        assert list(set_counts(card).values()) == expected, card["name"]
        if "missing" in card["classes"]:
            continue
        assert rects_per_set(card) == dict(zip(fields, expected))  # the overlay draws every set
    # pixel boxes stay in the image's pixels; the overlay's view box is the image
    astro = page.cards[0]
    assert astro["groups"][0]["rects"] == [{"x": 50, "y": 40, "width": 250, "height": 360}]
    html_text = (out / "index.html").read_text(encoding="utf-8")
    assert 'viewBox="0 0 512 512"' in html_text
    # the missing image has a card saying why
    lost = page.cards[5]
    assert "missing" in lost["classes"] and "no image file found under" in lost["problem"] and lost["img"] is None
    assert any("lost.png" in li for li in re.findall(r'<details class="failures".*?</details>', html_text, re.S))
    # per-set colours are the palette visualize uses
    for i in range(3):
        r, g, b = PALETTE[i]
        assert f".rs-{i} rect{{stroke:#{r:02x}{g:02x}{b:02x}}}" in html_text
    # areas (fractions of the image) reach the page's script: four_box of the astronaut is 4 x 0.25
    data = page.data()
    assert [s["name"] for s in data["sets"]] == list(fields)
    assert data["cards"][0]["counts"] == [1, 4, 2]
    assert data["cards"][0]["areas"][1] == pytest.approx([0.25] * 4)
    assert data["cards"][5]["areas"] == [None, None, None]  # no image, no size
    # the stats of each set, and its histogram next to the page
    assert len(page.pres) == 3 and all("Images:           6" in p for p in page.pres)
    assert "Boxes:            9" in page.pres[1]
    assert [s["region_set"] for s in data["stats"]] == list(fields)
    assert data["stats"][1]["area"]["median"] == pytest.approx(0.25)
    assert len(page.histograms) == 3
    for src in page.histograms:
        with Image.open(out / urllib.parse.unquote(src)) as im:
            assert im.format == "PNG"


def test_thumbnails_are_jpegs_with_the_chosen_longer_side(images, tmp_path):
    path = write(tmp_path / "four_box.json", FOUR_BOX)
    out = tmp_path / "report"
    result, page = make_report(str(path), "--images", str(images), "--out", str(out), "--max-images", "2",
                               "--thumb-size", "100")
    assert result.exit_code == 0, result.output
    assert len(page.cards) == 2
    for card, name in zip(page.cards, ("astronaut.png", "coffee.png")):
        src = card["img"]["src"]
        assert src == "thumbs/" + urllib.parse.quote(thumbnail_name(f"samples/{name}"))
        with Image.open(out / urllib.parse.unquote(src)) as im:
            w, h = SIZES[name]
            assert im.format == "JPEG" and max(im.size) == 100
            assert im.size == (int(card["img"]["width"]), int(card["img"]["height"]))
            assert abs(im.size[0] / im.size[1] - w / h) < 0.02
    assert sorted(p.name for p in (out / "thumbs").iterdir()) == ["samples%2Fastronaut.png.jpg",
                                                                 "samples%2Fcoffee.png.jpg"]
    # the default size is 320 px, and a rerun into the same folder replaces the files cleanly
    result, page = make_report(str(path), "--images", str(images), "--out", str(out), "--max-images", "1")
    with Image.open(out / "thumbs" / "samples%2Fastronaut.png.jpg") as im:
        assert im.size == (320, 320)
    assert not list(out.rglob(f"*{TMP_SUFFIX}"))


def test_cirr_report_scales_normalised_boxes_to_each_image(sample_images, tmp_path):
    root = tmp_path / "cirr"
    names = {"train-1-0-img0": "astronaut.png", "train-1-0-img1": "coffee.png", "dev-3-1-img0": "chelsea.png"}
    for name, photo in names.items():
        target = root / "train" / "7" / f"{name}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sample_images / photo, target)
    boxes = {"train-1-0-img0": [[0.25, 0.25, 0.75, 0.75]], "train-1-0-img1": [],
             "dev-3-1-img0": [[0, 0, 1, 1], [0.0, 0.0, 0.5, 0.5]]}
    path = write(tmp_path / "cirr_boxes.json", boxes)
    result, page = make_report(str(path), "--images", str(root), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert [c["name"] for c in page.cards] == list(boxes)
    assert list(page.toggles) == ["toggle-0"]
    assert [rects_per_set(c) for c in page.cards] == [{"cirr": 1}, {"cirr": 0}, {"cirr": 2}]
    assert page.cards[0]["groups"][0]["rects"] == [{"x": 128, "y": 128, "width": 256, "height": 256}]
    assert page.cards[2]["groups"][0]["rects"][1] == {"x": 0, "y": 0, "width": 225.5, "height": 150}
    assert "file: train/7/train-1-0-img0.png" in page.cards[0]["text"]
    assert page.data()["cards"][2]["areas"] == [pytest.approx([1.0, 0.25])]
    assert "scores" not in page.cards[0]["text"]  # the format has none


def test_main_box_report_has_both_fields(images, tmp_path):
    data = {"work/samples/astronaut.png": {"main_box": [10.0, 20.0, 400.0, 500.0],
                                           "equal_four_box": [[0, 0, 256, 256], [256, 0, 512, 256],
                                                              [0, 256, 256, 512], [256, 256, 512, 512]]},
            "work/samples/coffee.png": {"main_box": [0.0, 0.0, 599.0, 399.0],
                                        "equal_four_box": [[0, 0, 300, 200], [300, 0, 600, 200],
                                                           [0, 200, 300, 400], [300, 200, 600, 400]]}}
    path = write(tmp_path / "main_box.json", data)
    result, page = make_report(str(path), "--images", str(images), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert [c["name"] for c in page.cards] == list(data)
    assert [rects_per_set(c) for c in page.cards] == [{"main_box": 1, "equal_four_box": 4}] * 2
    assert [set_counts(c) for c in page.cards] == [{"rs-0": 1, "rs-1": 4}] * 2
    assert page.data()["cards"][0]["areas"][0] == [pytest.approx(390 * 480 / 512 ** 2)]


def test_object_box_report_escapes_names_and_lists_unreadable_images(images, tmp_path):
    odd = 'we<i>rd "quoted" & \'ünï\'.png'
    shutil.copyfile(images / "samples" / "chelsea.png", images / "samples" / odd)
    (images / "samples" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    data = {f"data/samples/{odd}": {"image": f"data/samples/{odd}", "bbox": [[0.0, 0.0, 225.5, 150.0]],
                                    "name": ["cat"], "label": [0]},
            "data/samples/broken.png": {"image": "data/samples/broken.png", "bbox": [], "name": ["None"],
                                        "label": []},
            "data/samples/<script>alert(1)</script>.png": {"image": "x", "bbox": [[1.0, 1.0, 2.0, 2.0]],
                                                           "name": ["x"], "label": [0]}}
    path = write(tmp_path / "object_box.json", data)
    out = tmp_path / "out"
    result, page = make_report(str(path), "--images", str(images), "--out", str(out))
    assert result.exit_code == 1
    assert "2 image(s) could not be shown" in result.output
    markup = (out / "index.html").read_text(encoding="utf-8")
    # names come back exactly once parsed, and never as markup
    assert [c["name"] for c in page.cards] == list(data)
    assert "<i>rd" not in markup and "<script>alert" not in markup
    assert "we&lt;i&gt;rd &quot;quoted&quot; &amp; &#x27;ünï&#x27;.png" in markup
    assert markup.count("<script") == 2  # the data block and the page script, nothing injected
    first, broken, script = page.cards
    assert first["img"]["alt"] == f"data/samples/{odd}"
    assert (out / urllib.parse.unquote(first["img"]["src"])).is_file()  # the URL is quoted, the file is there
    assert "cannot read samples/broken.png" in broken["problem"] and "missing" in broken["classes"]
    assert "no image file found" in script["problem"]
    assert page.data()["cards"][0]["areas"] == [pytest.approx([0.25])]


def test_a_file_name_that_is_not_utf8_is_shown_escaped(images, tmp_path):
    name = os.fsdecode(b"caf\xe9 <1>.png")  # a Latin-1 name: Python spells the byte as a lone surrogate
    shutil.copyfile(images / "samples" / "coffee.png", images / "samples" / name)
    path = tmp_path / "object_box.json"
    path.write_text(json.dumps({f"samples/{name}": {"bbox": [[0.0, 0.0, 300.0, 200.0]], "name": ["x"], "label": [0]}}),
                    encoding="ascii")  # JSON spells the surrogate \udce9
    out = tmp_path / "out"
    result, page = make_report(str(path), "--images", str(images), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert page.cards[0]["name"] == "samples/caf\\udce9 <1>.png"
    assert page.data()["cards"][0]["key"] == f"samples/{name}"
    src = urllib.parse.unquote(page.cards[0]["img"]["src"])
    assert src == "thumbs/samples%2Fcaf%E9%20%3C1%3E.png.jpg" and (out / src).is_file()


def test_coco_results_with_and_without_an_annotation_file(images, tmp_path):
    results = [{"image_id": 3, "category_id": 1, "bbox": [0, 0, 256, 256], "score": 0.9},
               {"image_id": 3, "category_id": 1, "bbox": [10, 10, 100, 100], "score": 0.5},
               {"image_id": 9, "category_id": 18, "bbox": [0, 0, 300, 200], "score": 0.7}]
    res = write(tmp_path / "coco_results.json", results)
    ann = write(tmp_path / "gt.json", {"images": [{"id": 9, "file_name": "coffee.png", "width": 600, "height": 400},
                                                  {"id": 3, "file_name": "astronaut.png", "width": 512, "height": 512},
                                                  {"id": 4, "file_name": "chelsea.png", "width": 451, "height": 300}]})
    result, page = make_report(str(res), "--images", str(images), "--out", str(tmp_path / "a"), "--ann-file", str(ann))
    assert result.exit_code == 0, result.output
    assert [c["name"] for c in page.cards] == ["3", "4", "9"]  # every image of the annotations, by id
    assert [set_counts(c) for c in page.cards] == [{"rs-0": 2}, {"rs-0": 0}, {"rs-0": 1}]
    assert [rects_per_set(c) for c in page.cards] == [{"coco_results": 2}, {"coco_results": 0}, {"coco_results": 1}]
    assert page.cards[0]["groups"][0]["rects"][1] == {"x": 10, "y": 10, "width": 100, "height": 100}
    assert "file: samples/astronaut.png" in page.cards[0]["text"]
    assert "scores 0.9, 0.5" in page.cards[0]["text"] and "scores 0.7" in page.cards[2]["text"]
    assert page.data()["cards"][2]["areas"] == [pytest.approx([0.25])]
    assert "Images:           3" in page.pres[0]
    # without the annotations: only the images with results, and nothing names their files
    result, page = make_report(str(res), "--images", str(images), "--out", str(tmp_path / "b"))
    assert result.exit_code == 1
    assert [c["name"] for c in page.cards] == ["3", "9"]
    assert all("missing" in c["classes"] for c in page.cards)
    assert "pass an annotation file (--ann-file)" in (tmp_path / "b" / "index.html").read_text(encoding="utf-8")


def test_scores_are_shown_where_entries_carry_them():
    card = ReportCard("img.png", [np.array([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 5.0, 5.0]])], [[0.25, 0.0625]],
                      [[0.91, 0.5]], size=(20, 20), image_size=(20, 20), thumb="thumbs/img.png.jpg",
                      thumb_size=(20, 20))
    html_text = card_html(0, card, ["boxes"])
    assert '<span class="scores">scores 0.91, 0.5</span>' in html_text
    assert "area mean 15.6%, max 25.0%" in html_text
    card.scores = [None]
    assert "scores" not in card_html(0, card, ["boxes"])


def test_json_in_the_script_cannot_end_it():
    value = {"key": "</script><script>alert(1)</script><!-- \u2028 & é", "n": [1, 2.5]}
    dumped = script_json(value)
    assert "<" not in dumped and ">" not in dumped and "&" not in dumped and "\u2028" not in dumped
    assert json.loads(dumped) == value


def test_an_empty_box_file_gives_an_empty_report(images, tmp_path):
    path = write(tmp_path / "empty.json", {})
    result, page = make_report(str(path), "--images", str(images), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert page.cards == [] and "the file holds no images" in (tmp_path / "out" / "index.html").read_text()


# ---------------------------------------------------------------------- user mistakes
@pytest.mark.parametrize("case, message", [
    ("missing box file", "box file not found"),
    ("box file is a folder", "(it is a folder)"),
    ("not JSON", "is not valid JSON"),
    ("unknown format", "unknown box file format"),
    ("missing images folder", "image folder not found"),
    ("images folder is a file", "image folder not found"),
    ("out is a file", "is a file; give a folder for the report"),
    ("out below a file", "cannot create the report folder"),
    ("missing ann file", "COCO annotation file not found"),
    ("ann file for another format", "an annotation file applies to COCO results only"),
    ("max images 0", "--max-images must be at least 1"),
    ("thumb size 2", "--thumb-size must be at least 16"),
])
def test_user_mistakes_are_one_line_errors(images, tmp_path, case, message):
    good = write(tmp_path / "cirr.json", {"astronaut": [[0, 0, 1, 1]]})
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "bad.json").write_text("{nope")
    write(tmp_path / "odd.json", {"a": 1})
    args = {"boxes": str(good), "--images": str(images), "--out": str(tmp_path / "out")}
    extra: list[str] = []
    if case == "missing box file":
        args["boxes"] = str(tmp_path / "none.json")
    elif case == "box file is a folder":
        args["boxes"] = str(images)
    elif case == "not JSON":
        args["boxes"] = str(tmp_path / "bad.json")
    elif case == "unknown format":
        args["boxes"] = str(tmp_path / "odd.json")
    elif case == "missing images folder":
        args["--images"] = str(tmp_path / "no_images")
    elif case == "images folder is a file":
        args["--images"] = str(tmp_path / "a_file")
    elif case == "out is a file":
        args["--out"] = str(tmp_path / "a_file")
    elif case == "out below a file":
        args["--out"] = str(tmp_path / "a_file" / "report")
    elif case == "missing ann file":
        args["boxes"] = str(write(tmp_path / "res.json", [{"image_id": 1, "bbox": [0, 0, 1, 1], "score": 1}]))
        extra = ["--ann-file", str(tmp_path / "gt.json")]
    elif case == "ann file for another format":
        extra = ["--ann-file", str(tmp_path / "a_file")]
    elif case == "max images 0":
        extra = ["--max-images", "0"]
    elif case == "thumb size 2":
        extra = ["--thumb-size", "2"]
    result = CliRunner().invoke(report, [args["boxes"], "--images", args["--images"], "--out", args["--out"],
                                         "--no-progress", *extra])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out" / "index.html").exists()


def test_the_command_is_attached_to_the_cli():
    from regionkit.cli.main import cli

    result = CliRunner().invoke(cli, ["report", "--help"])
    assert result.exit_code == 0 and "regionkit report" in result.output and "#hide=" in result.output


# ---------------------------------------------------------------------- a real browser
def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no headless browser: install Chromium (apt-get install -y chromium) to run the browser tests")


def browse(tmp_path: Path, url: str, *flags: str, timeout: float = 60) -> str:
    """Run headless Chromium on ``url`` with ``flags``; its standard output."""
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    cmd = [_chromium(), "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-extensions",
           "--hide-scrollbars", "--mute-audio", f"--user-data-dir={profile}", "--virtual-time-budget=5000",
           *flags, url]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture
def four_box_report(images, tmp_path) -> Path:
    path = write(tmp_path / "four_box.json", FOUR_BOX)
    out = tmp_path / "report"
    result = CliRunner().invoke(report, [str(path), "--images", str(images), "--out", str(out), "--no-progress"])
    assert result.exit_code == 1, result.output
    return out / "index.html"


def test_browser_runs_the_page_script_and_loads_every_thumbnail(four_box_report, tmp_path):
    page = Page(browse(tmp_path, four_box_report.as_uri(), "--dump-dom"))
    assert page.body["data-ready"] == "1"
    assert len(page.cards) == 6 and page.body["data-shown"] == "6"
    assert page.body["data-thumbs-loaded"] == "5"  # every image found, drawn from thumbs/
    assert all("off" not in g["classes"] for c in page.cards for g in c["groups"])


def test_browser_hides_a_region_set_from_the_address_like_its_checkbox(four_box_report, tmp_path):
    page = Page(browse(tmp_path, four_box_report.as_uri() + "#hide=four_box", "--dump-dom"))
    groups = [g for c in page.cards for g in c["groups"]]
    assert {g["set"] for g in groups if "off" in g["classes"]} == {"four_box"}
    assert sum(1 for g in groups if g["set"] == "four_box") == 5  # on every card with a thumbnail
    assert "checked" not in page.toggles["toggle-1"] and "checked" in page.toggles["toggle-0"]
    # clicking the checkbox (its change handler) gives the same page as the address did
    clicker = four_box_report.with_name("clicked.html")
    clicker.write_text(four_box_report.read_text(encoding="utf-8").replace(
        "</body>", '<script>document.getElementById("toggle-1").click();'
                   'document.body.setAttribute("data-hash", location.hash);</script></body>'), encoding="utf-8")
    clicked = Page(browse(tmp_path, clicker.as_uri(), "--dump-dom"))
    assert [[g["classes"] for g in c["groups"]] for c in clicked.cards] == \
           [[g["classes"] for g in c["groups"]] for c in page.cards]
    assert clicked.body["data-hash"] == "#hide=four_box"  # and the address now records it


def test_browser_sorts_and_filters_from_the_address(four_box_report, tmp_path):
    # sets shown: object_detect_box and two_box; counts per image 3, 4, 1, 1, 1, 1 (file order)
    page = Page(browse(tmp_path, four_box_report.as_uri() + "#hide=four_box&sort=count&dir=desc&min_count=2",
                       "--dump-dom"))
    shown = [c["name"] for c in page.cards if not c["hidden"]]
    assert shown == ["samples/coffee.png", "samples/astronaut.png"]
    assert page.body["data-shown"] == "2"
    # the largest single box first, only images with a box of at least half the image
    page = Page(browse(tmp_path, four_box_report.as_uri() + "#sort=max_area&area=max&min_area=0.5", "--dump-dom"))
    shown = [c["name"] for c in page.cards if not c["hidden"]]
    # motorcycle: 570 x 420 of 741 x 500 = 64.6 %; then three images whose largest box is exactly half (file order)
    assert shown == ["samples/motorcycle_left.png", "samples/astronaut.png", "samples/coffee.png",
                     "samples/chelsea.png"]


def test_browser_screenshot_shows_thumbnails_and_boxes(four_box_report, tmp_path):
    shot = tmp_path / "report.png"
    browse(tmp_path, four_box_report.as_uri(), f"--screenshot={shot}", "--window-size=1280,900")
    assert shot.is_file()
    with Image.open(shot) as im:
        assert im.size == (1280, 900)
        pixels = np.asarray(im.convert("RGB")).reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) > 5000  # photographs, not a blank page
    red = np.abs(pixels.astype(int) - PALETTE[0]).max(axis=1) <= 12
    assert red.sum() > 200  # object_detect_box outlines drawn over the thumbnails
    target = os.environ.get("REGIONKIT_REPORT_SCREENSHOT")
    if target:  # keep a copy to look at
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)
