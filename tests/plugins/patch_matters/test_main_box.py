"""Main box: MainBoxUnion, PatchMattersMainBox (fake captioner/matcher), matchers, transformers error paths, writer."""
from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from regionkit import BaseCaptioner, BaseMatcher, ImageItem, ImageResult
from regionkit.errors import ConfigError, RegionkitError
from regionkit.plugins.language.captioner import (
    ModelPathNotFoundError,
    TransformersCaptioner,
    TransformersUnavailableError,
)
from regionkit.plugins.language.matchers import KeywordMatcher, LlmMatcher, parse_bracket_list
from regionkit.plugins.patch_matters.geometry import image_to_n_part
from regionkit.plugins.patch_matters.main_box import MainBoxUnion, PatchMattersMainBox
from regionkit.plugins.patch_matters.whole_image import WHOLE_IMAGE_LABEL, WHOLE_IMAGE_NAME
from regionkit.plugins.patch_matters.writers import MainBoxWriter
from regionkit.registry import BOX_SELECTORS, CAPTIONERS, MATCHERS
from regionkit.structures.boxes import Boxes

W, H = 640, 480
WHOLE = [0.0, 0.0, W - 1.0, H - 1.0]
IMAGE = np.zeros((H, W, 3), dtype=np.uint8)


def detections() -> Boxes:
    return Boxes.create(
        [[100, 120, 200, 220],   # dog
         [300, 50, 400, 300],    # person
         [10, 10, 50, 50],       # cat
         [500, 400, 600, 470]],  # dog, low score: still part of the union (no thresholds in §1.7)
        (W, H), scores=[0.9, 0.8, 0.6, 0.35], labels=[16, 0, 15, 16], label_names=["dog", "person", "cat", "dog"])


def assert_main(out: Boxes, xyxy, score=None):
    assert len(out) == 1 and out.image_size == (W, H)
    assert out.xyxy[0].tolist() == list(xyxy)
    if list(xyxy) == WHOLE:
        assert out.labels.tolist() == [WHOLE_IMAGE_LABEL] and out.label_names == (WHOLE_IMAGE_NAME,) == ("None",)
        assert out.scores.tolist() == [1.0]
    else:
        assert out.labels.tolist() == [-1] and out.label_names == ("main_box",)
        if score is not None:
            assert out.scores.tolist() == [score]


# ---------------------------------------------------------------------------------------- MainBoxUnion
def test_union_of_the_most_confident_class():
    assert_main(MainBoxUnion()(detections()), [100, 120, 600, 470], 0.9)  # both dogs
    assert_main(MainBoxUnion(top_classes=2)(detections()), [100, 50, 600, 470], 0.9)  # dogs + person
    assert_main(MainBoxUnion(top_classes=10)(detections()), [10, 10, 600, 470], 0.9)
    assert_main(MainBoxUnion(min_score=0.5)(detections()), [100, 120, 200, 220], 0.9)  # low dog left out
    assert_main(MainBoxUnion(min_score=0.85, top_classes=3)(detections()), [100, 120, 200, 220], 0.9)


def test_union_ties_are_broken_by_label_name():
    boxes = Boxes.create([[0, 0, 10, 10], [20, 20, 30, 30], [5, 5, 8, 8]], (W, H), scores=[0.7, 0.7, 0.2],
                         label_names=["zebra", "apple", "zebra"])
    assert_main(MainBoxUnion()(boxes), [20, 20, 30, 30], 0.7)
    assert_main(MainBoxUnion()(boxes[[1, 0, 2]]), [20, 20, 30, 30], 0.7)  # input order does not matter


def test_union_falls_back_to_the_whole_image():
    assert_main(MainBoxUnion()(Boxes.empty((W, H))), WHOLE)
    assert_main(MainBoxUnion(min_score=0.95)(detections()), WHOLE)


@pytest.mark.parametrize("params, message", [(dict(top_classes=0), "top_classes"), (dict(top_classes=1.0), "top_classes"),
                                             (dict(min_score="0.5"), "min_score")])
def test_union_bad_parameters(params, message):
    with pytest.raises(ValueError, match=message):
        MainBoxUnion(**params)


# ---------------------------------------------------------------------------------------- PatchMattersMainBox
class FakeCaptioner(BaseCaptioner):
    """Fake captioner for tests: always the same caption."""

    calls: list[int] = []

    def __init__(self, text: str = "a dog and a man in a park"):
        self.text = text

    def caption(self, images):
        FakeCaptioner.calls.append(len(images))
        assert all(im.shape == (H, W, 3) for im in images)
        return [self.text for _ in images]


class FakeMatcher(BaseMatcher):
    """Fake matcher for tests: a fixed answer, records what it was asked."""

    seen: list[tuple[str, list[str]]] = []

    def __init__(self, answer=()):
        self.answer = answer

    def match(self, caption, class_names):
        FakeMatcher.seen.append((caption, list(class_names)))
        return self.answer


@pytest.fixture
def fakes():
    FakeCaptioner.calls.clear()
    FakeMatcher.seen.clear()
    try:
        CAPTIONERS.register_module(name="fake_captioner_for_test", module=FakeCaptioner)
        MATCHERS.register_module(name="fake_matcher_for_test", module=FakeMatcher)
        yield
    finally:
        CAPTIONERS._module_dict.pop("fake_captioner_for_test", None)
        MATCHERS._module_dict.pop("fake_matcher_for_test", None)


def main_box(answer, caption="a dog and a man in a park"):
    return BOX_SELECTORS.build(dict(type=PatchMattersMainBox,
                                    captioner=dict(type="fake_captioner_for_test", text=caption),
                                    matcher=dict(type="fake_matcher_for_test", answer=answer)))


def test_matched_names_give_the_union_of_every_detection_of_those_names(fakes):
    sel = main_box(["dog"])
    assert sel.needs_image is True
    assert_main(sel(detections(), image=IMAGE), [100, 120, 600, 470], 0.9)
    assert FakeCaptioner.calls == [1]
    assert FakeMatcher.seen == [("a dog and a man in a park", ["dog", "person", "cat"])]  # unique, detection order
    assert_main(main_box(["person", "dog"])(detections(), image=IMAGE), [100, 50, 600, 470], 0.9)
    assert_main(main_box(["cat", "cat"])(detections(), image=IMAGE), [10, 10, 50, 50], 0.6)


def test_no_match_gives_the_whole_image(fakes):
    assert_main(main_box([])(detections(), image=IMAGE), WHOLE)
    assert_main(main_box(["None"])(detections(), image=IMAGE), WHOLE)  # the original LLM's "no match" reply


def test_names_the_detector_did_not_report_are_ignored(fakes):
    assert_main(main_box(["horse"])(detections(), image=IMAGE), WHOLE)
    assert_main(main_box(["horse", "cat"])(detections(), image=IMAGE), [10, 10, 50, 50], 0.6)
    assert_main(main_box(["Dog", "dogs", " dog"])(detections(), image=IMAGE), WHOLE)  # exact names only


def test_no_detections_skip_the_models(fakes):
    assert_main(main_box(["dog"])(Boxes.empty((W, H)), image=IMAGE), WHOLE)
    assert FakeCaptioner.calls == [] and FakeMatcher.seen == []


def test_image_is_required_and_matcher_must_return_a_list(fakes):
    with pytest.raises(ValueError, match="needs the image"):
        main_box(["dog"])(detections())
    with pytest.raises(TypeError, match="list of names"):
        main_box("dog")(detections(), image=IMAGE)


def test_default_matcher_is_the_keyword_matcher(fakes):
    sel = PatchMattersMainBox(captioner=dict(type="fake_captioner_for_test", text="Two dogs chase a cat."))
    assert isinstance(sel.matcher, KeywordMatcher)
    assert_main(sel(detections(), image=IMAGE), [10, 10, 600, 470], 0.9)  # dogs + cat


def test_bad_component_configs(fakes):
    with pytest.raises(ConfigError, match="captioner is required"):
        BOX_SELECTORS.build(dict(type=PatchMattersMainBox))
    with pytest.raises(RegionkitError, match="no_such_captioner"):
        PatchMattersMainBox(captioner=dict(type="no_such_captioner"))
    with pytest.raises(ConfigError, match="unknown parameter"):
        PatchMattersMainBox(captioner=dict(type="fake_captioner_for_test", txt="x"))
    with pytest.raises(ValueError, match="matcher must be a config dict"):
        PatchMattersMainBox(captioner=dict(type="fake_captioner_for_test"), matcher="keyword_matcher")
    sel = PatchMattersMainBox(captioner=FakeCaptioner("a cat"), matcher=FakeMatcher(["cat"]))  # objects work too
    assert_main(sel(detections(), image=IMAGE), [10, 10, 50, 50], 0.6)


# ---------------------------------------------------------------------------------------- matchers
@pytest.mark.parametrize("text, expected", [
    ("Sure! ['dog', 'person']", ["dog", "person"]),
    ("['None']", ["None"]),
    ("[]", []),
    ("no list at all", []),
    ("['dog'", []),
    ('Answer: ["traffic_light" , "cat"] and later [x]', ["traffic_light", "cat"]),
    ("[\n  'dog',\n  'cat',\n]", ["dog", "cat"]),
    ("[dog]", ["dog"]),
    ("[['dog', 'cat']]", ["dog", "cat"]),
    (None, []),
])
def test_parse_bracket_list(text, expected):
    assert parse_bracket_list(text) == expected


def test_keyword_matcher():
    m = KeywordMatcher()
    names = ["traffic_light", "bus", "car", "dog", "box", "bench", "dog"]
    assert m.match("Two traffic lights over a bus.", names) == ["traffic_light", "bus"]
    assert m.match("A DOG sits on boxes near the benches", names) == ["dog", "box", "bench"]
    assert m.match("a hotdog stand; a carousel", names) == []
    assert m.match("", names) == [] and m.match("a dog", []) == []


# ---------------------------------------------------------------------------------------- transformers classes
@pytest.mark.parametrize("cls", [TransformersCaptioner, LlmMatcher])
def test_missing_model_path_is_named(cls, tmp_path):
    missing = tmp_path / "no" / "blip2-opt-2.7b"
    with pytest.raises(ModelPathNotFoundError, match=str(missing)) as err:
        cls(model=str(missing))
    assert isinstance(err.value, FileNotFoundError) and isinstance(err.value, ConfigError)
    assert "never downloads" in str(err.value)
    with pytest.raises(ValueError, match="local path"):
        cls(model="")
    with pytest.raises(ValueError, match="URL"):
        cls(model="https://huggingface.co/Salesforce/blip2-opt-2.7b")


@pytest.mark.parametrize("cls", [TransformersCaptioner, LlmMatcher])
def test_missing_transformers_names_the_extra(cls, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # `import transformers` now raises ImportError
    with pytest.raises(TransformersUnavailableError, match=r"regionkit\[mainbox\]") as err:
        cls(model=str(tmp_path))
    assert isinstance(err.value, ImportError)


@pytest.mark.parametrize("params, message", [(dict(max_new_tokens=0), "max_new_tokens"), (dict(device=""), "device"),
                                             (dict(dtype="fp16"), "dtype")])
def test_transformers_parameters_are_checked(params, message, tmp_path):
    for cls in (TransformersCaptioner, LlmMatcher):
        with pytest.raises(ValueError, match=message):
            cls(model=str(tmp_path), **params)


def fake_transformers(monkeypatch, reply):
    calls = []

    def pipeline(**kwargs):
        def run(inputs, **call_kwargs):
            calls.append((kwargs, inputs, call_kwargs))
            return [{"generated_text": reply}]
        run.tokenizer = None
        return run

    monkeypatch.setitem(sys.modules, "transformers", types.SimpleNamespace(pipeline=pipeline))
    return calls


def test_captioner_calls_an_image_to_text_pipeline(tmp_path, monkeypatch):
    calls = fake_transformers(monkeypatch, "Describe this image in one sentence. a dog on grass")
    cap = TransformersCaptioner(model=str(tmp_path), prompt="Describe this image in one sentence.")
    assert cap.caption([IMAGE, IMAGE[:10]]) == ["a dog on grass", "a dog on grass"]
    kwargs, image, call_kwargs = calls[0]
    assert kwargs == {"task": "image-to-text", "model": str(tmp_path), "device": "cpu"}
    assert image.size == (W, H) and image.mode == "RGB"
    assert call_kwargs == {"generate_kwargs": {"max_new_tokens": 30}, "prompt": "Describe this image in one sentence."}


def test_llm_matcher_parses_the_reply_and_keeps_detected_names_only(tmp_path, monkeypatch):
    calls = fake_transformers(monkeypatch, "Here you go: ['dog', 'horse', 'dog']\n['cat']")
    m = LlmMatcher(model=str(tmp_path))
    assert m.match("a dog and a horse", ["person", "dog", "person"]) == ["dog"]
    kwargs, prompt, call_kwargs = calls[0]
    assert kwargs["task"] == "text-generation"
    assert "a dog and a horse" in prompt and "'person', 'dog'" in prompt and "'person', 'dog', 'person'" not in prompt
    assert call_kwargs["do_sample"] is False and call_kwargs["return_full_text"] is False
    assert m.match("anything", []) == [] and len(calls) == 1  # no names: no model call
    sampled = LlmMatcher(model=str(tmp_path), temperature=0.2)
    sampled.match("a dog", ["dog"])
    assert calls[-1][2]["do_sample"] is True and calls[-1][2]["temperature"] == 0.2 and calls[-1][2]["top_p"] == 0.9


def test_modules_import_nothing_heavy():
    code = ("import sys\n"
            "import regionkit.plugins.cirr.box_filter, regionkit.plugins.generic.selectors\n"
            "import regionkit.plugins.patch_matters.main_box, regionkit.plugins.patch_matters.writers\n"
            "import regionkit.plugins.language.captioner, regionkit.plugins.language.matchers\n"
            "heavy = [m for m in ('torch', 'transformers', 'torchvision') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------------------- writer
def result(path: str, size, boxes: Boxes | None) -> ImageResult:
    regions = {} if boxes is None else {"main_box": boxes}
    return ImageResult(item=ImageItem(path=path, rel_path=Path(path).name), image_size=size,
                       detections=Boxes.empty(size), regions=regions)


def test_main_box_quadrants_use_integer_halves():
    assert image_to_n_part((641, 427), 4) == [[0, 0, 320, 213], [320, 0, 641, 213], [0, 213, 320, 427],
                                          [320, 213, 641, 427]]
    assert image_to_n_part((640, 480), 4) == [[0, 0, 320, 240], [320, 0, 640, 240], [0, 240, 320, 480],
                                          [320, 240, 640, 480]]


def test_writer_output_matches_the_original_layout_byte_for_byte(tmp_path):
    x1, y1, x2, y2 = (float(np.float32(v)) for v in (196.40742, 19.076568, 422.27682, 462.36536))
    one = Boxes.create([[x1, y1, x2, y2]], (640, 480), label_names=["main_box"])
    results = [
        result("coco_image/x/000000247929.jpg", (640, 480), one),
        result("coco_image/données/é.jpg", (612, 612), Boxes.empty((612, 612))),  # empty set: whole image
        result("coco_image/x/b.jpg", (101, 51), Boxes.create([[1, 2, 3, 4], [0, 5, 2, 9]], (101, 51))),  # union
    ]
    writer = MainBoxWriter()
    assert writer.required_regions() == {"main_box"}
    records = [writer.make_record(r) for r in results]
    paths = writer.finalize(tmp_path, iter(records))
    assert paths == [tmp_path / "main_box.json"]
    expected = {
        "coco_image/x/000000247929.jpg": {"main_box": [x1, y1, x2, y2],
                                          "equal_four_box": [[0, 0, 320, 240], [320, 0, 640, 240],
                                                             [0, 240, 320, 480], [320, 240, 640, 480]]},
        "coco_image/données/é.jpg": {"main_box": [0.0, 0.0, 611.0, 611.0],
                                     "equal_four_box": [[0, 0, 306, 306], [306, 0, 612, 306],
                                                        [0, 306, 306, 612], [306, 306, 612, 612]]},
        "coco_image/x/b.jpg": {"main_box": [0.0, 2.0, 3.0, 9.0],
                               "equal_four_box": [[0, 0, 50, 25], [50, 0, 101, 25], [0, 25, 50, 51], [50, 25, 101, 51]]},
    }
    text = paths[0].read_text(encoding="utf-8")
    assert text == json.dumps(expected, ensure_ascii=False, indent=4)
    assert "196.4074249267578" in text  # float32 values print as the original's did
    assert writer.read_records(paths) == json.loads(json.dumps(records))


def test_writer_parameters_and_missing_region(tmp_path):
    with pytest.raises(ValueError, match="filename"):
        MainBoxWriter(filename="../x.json")
    with pytest.raises(ValueError, match="main_box"):
        MainBoxWriter(main_box="")
    with pytest.raises(KeyError, match="main_box"):
        MainBoxWriter().make_record(result("a.jpg", (10, 10), None))
    assert MainBoxWriter().finalize(tmp_path, iter([]))[0].read_text() == "{}"
