"""Prompt pairs, the mapping file {query: [prompt, ...]} with top_k, similarity top-k and the mapping round trip."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from regionkit.errors import ConfigError
from regionkit.models.segmentation.seggpt.encoders import ThumbnailEncoder
from regionkit.models.segmentation.seggpt.prompts import (
    FixedSelection,
    MappingSelection,
    PromptLibrary,
    SimilaritySelection,
    cosine_top_k,
    find_mask,
    pixel_digest,
    prompt_pool,
    read_mapping,
    write_mapping,
)
from tests.models.seggpt.support import photo, write_prompt_folder

NAMES = ("astronaut", "coffee", "chelsea", "rocket")


@pytest.fixture
def pool_dir(tmp_path):
    write_prompt_folder(tmp_path / "prompts", NAMES)
    return tmp_path / "prompts"


@pytest.fixture
def queries(tmp_path):
    root = tmp_path / "queries"
    (root / "sub").mkdir(parents=True)
    Image.fromarray(photo("chelsea")[::2, ::2]).save(root / "cat.png")
    Image.fromarray(photo("astronaut")[::3, ::3]).save(root / "sub" / "man.png")
    return root


def test_masks_are_found_by_the_documented_rules(tmp_path, pool_dir):
    image = pool_dir / "images" / "coffee.png"
    assert find_mask(image) == pool_dir / "labels" / "coffee.png"
    other = tmp_path / "masks"
    other.mkdir()
    (other / "coffee.png").write_bytes((pool_dir / "labels" / "coffee.png").read_bytes())
    assert find_mask(image, other) == other / "coffee.png"
    loose = tmp_path / "a.jpg"
    loose.write_bytes(b"x")
    (tmp_path / "a_mask.png").write_bytes(b"x")
    assert find_mask(loose) == tmp_path / "a_mask.png"
    with pytest.raises(ConfigError, match="no mask for prompt image") as info:
        find_mask(tmp_path / "masks" / "coffee.png")
    assert "\n" not in str(info.value)


def test_pool_lists_prompts_first_then_the_folder(tmp_path, pool_dir):
    pair = [str(pool_dir / "images" / "rocket.png"), str(pool_dir / "labels" / "rocket.png")]
    pool = prompt_pool([pair], None, pool_dir)
    assert [p.name for p in pool] == ["rocket.png", "astronaut.png", "chelsea.png", "coffee.png"]
    with pytest.raises(ConfigError, match="prompt image not found"):
        prompt_pool([str(tmp_path / "nope.png")])
    with pytest.raises(ConfigError, match="quoted paths"):
        prompt_pool(["[a.png, b.png]"])


def test_mapping_selection_cuts_to_top_k_and_knows_queries_by_pixels(tmp_path, pool_dir, queries):
    library = PromptLibrary(prompt_pool([], None, pool_dir))
    mapping = tmp_path / "mapping.json"
    write_mapping(mapping, {"cat.png": ["coffee.png", "chelsea.png", "rocket.png"], "sub/man.png": ["astronaut.png"]})
    sel = MappingSelection(library, mapping, 2, queries)
    cat = np.asarray(Image.open(queries / "cat.png").convert("RGB"))
    assert [p.name for p in sel.select(cat, pixel_digest(cat))] == ["coffee.png", "chelsea.png"]
    man = np.asarray(Image.open(queries / "sub" / "man.png").convert("RGB"))
    assert [p.name for p in sel.select(man, pixel_digest(man))] == ["astronaut.png"]
    stranger = photo("rocket")
    with pytest.raises(ValueError, match="not in the prompt mapping"):
        sel.select(stranger, pixel_digest(stranger))
    with pytest.raises(ConfigError, match="query_root"):
        MappingSelection(library, mapping, 2, None)


def test_mapping_entries_may_be_paths_beside_the_mapping(tmp_path, pool_dir, queries):
    mapping = tmp_path / "m.json"
    mapping.write_text(json.dumps({"cat.png": ["prompts/images/rocket.png"]}))
    sel = MappingSelection(PromptLibrary([]), mapping, 5, queries)
    cat = np.asarray(Image.open(queries / "cat.png").convert("RGB"))
    (pair,) = sel.select(cat, pixel_digest(cat))
    assert pair.image == tmp_path / "prompts" / "images" / "rocket.png"
    assert pair.mask == tmp_path / "prompts" / "labels" / "rocket.png"


@pytest.mark.parametrize("text, needle", [("[1, 2]", "JSON object"), ('{"q": []}', "non-empty list"),
                                          ("{nope", "cannot read"), (None, "not found")])
def test_bad_mapping_files_are_one_line(tmp_path, text, needle):
    path = tmp_path / "m.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ConfigError, match=needle) as info:
        read_mapping(path)
    assert "\n" not in str(info.value)


def test_cosine_top_k_orders_ties_and_excludes():
    pool = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0], [1.0, 1.0]])
    assert cosine_top_k(np.array([1.0, 0.1]), pool, 3) == [0, 2, 3]
    assert cosine_top_k(np.array([1.0, 0.0]), pool, 2, exclude=[0]) == [2, 3]


def test_similarity_picks_nearest_skips_itself_and_the_written_mapping_round_trips(tmp_path, pool_dir, queries):
    library = PromptLibrary(prompt_pool([], None, pool_dir))
    out = tmp_path / "chosen.json"
    sel = SimilaritySelection(library, ThumbnailEncoder(), 2, queries, out)
    cat = np.asarray(Image.open(queries / "cat.png").convert("RGB"))
    chosen = [p.name for p in sel.select(cat, pixel_digest(cat))]
    assert chosen[0] == "chelsea.png" and len(chosen) == 2  # the same photo, at full size, is the nearest
    own = library.load(library.by_name["coffee.png"])[0]
    assert "coffee.png" not in [p.name for p in sel.select(own, pixel_digest(own))]  # never its own prompt
    sel.flush()
    written = read_mapping(out)
    assert written["cat.png"] == chosen and len(written) == 2
    again = MappingSelection(library, out, 2, queries)
    assert [p.name for p in again.select(cat, pixel_digest(cat))] == chosen
    assert [p.name for p in again.select(own, pixel_digest(own))] == written[pixel_digest(own)]
    # a resumed run merges into the file
    resumed = SimilaritySelection(library, ThumbnailEncoder(), 1, queries, out)
    assert set(resumed.written) == set(written)


def test_fixed_selection_needs_prompts():
    with pytest.raises(ConfigError, match="no prompts"):
        FixedSelection(PromptLibrary([]))


def test_prompt_mask_of_another_size_is_refused(tmp_path):
    Image.fromarray(photo("coffee")).save(tmp_path / "p.png")
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(tmp_path / "p_mask.png")
    library = PromptLibrary(prompt_pool([str(tmp_path / "p.png")]))
    with pytest.raises(ConfigError, match="is 5x5 but its image"):
        library.load(library.pairs[0])
