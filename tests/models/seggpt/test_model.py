"""The tiny random SegGPT forward, loading by local path, and the feature-ensemble choice (spec section 8.1)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from regionkit.models.errors import WeightsError  # noqa: E402
from regionkit.models.segmentation.seggpt.model import SegGptNet, load_seggpt  # noqa: E402
from tests.models.seggpt.support import TINY, tiny_model  # noqa: E402

H, W = TINY["image_size"][0] // 2, TINY["image_size"][1]


def _inputs(prompts: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((1, 3, H, W)).astype(np.float32)
    p = rng.standard_normal((1, prompts, 3, H, W)).astype(np.float32)
    m = rng.standard_normal((1, prompts, 3, H, W)).astype(np.float32)
    return q, p, m


def _reference(net, q, p, m, feature_ensemble, painter_rule=False):
    """transformers' own forward on the N pairs; with ``painter_rule`` its per-stream test patched to Painter's ``<=``."""
    layer_cls = transformers.models.seggpt.modeling_seggpt.SegGptLayer
    original = layer_cls.forward
    merge = net.config.merge_index
    index = {id(layer): i for i, layer in enumerate(net.model.encoder.layers)}

    def patched(self, hidden_states, ensemble_cond, *args, **kwargs):
        return original(self, hidden_states, 2 if index[id(self)] <= merge else 1, *args, **kwargs)

    n = p.shape[1]
    kwargs = dict(pixel_values=torch.from_numpy(np.repeat(q, n, 0)), prompt_pixel_values=torch.from_numpy(p[0]),
                  prompt_masks=torch.from_numpy(m[0]), feature_ensemble=feature_ensemble)
    try:
        if painter_rule:
            layer_cls.forward = patched
        with torch.inference_mode():
            out = net(**kwargs).pred_masks
    finally:
        layer_cls.forward = original
    return out[:, :, H:].mean(0).numpy()


@pytest.fixture(scope="module")
def net():
    return tiny_model(seed=1)


def test_tiny_forward_shapes_and_the_query_half(net, one_thread):
    q, p, m = _inputs(1)
    out = SegGptNet(net).predict(q, p, m)
    assert out.shape == (1, 3, H, W) and np.isfinite(out).all()
    np.testing.assert_allclose(out[0], _reference(net, q, p, m, False), atol=1e-6)
    assert out.std() > 0.05  # the random model paints structure, not a constant


def test_painter_ensemble_is_painters_rule(net, one_thread):
    """ensemble='painter' equals transformers with its per-stream test changed to Painter's ``i <= merge_index``."""
    q, p, m = _inputs(3, seed=2)
    ours = SegGptNet(net, ensemble="painter").predict(q, p, m)[0]
    np.testing.assert_allclose(ours, _reference(net, q, p, m, True, painter_rule=True), atol=1e-5)
    theirs = SegGptNet(net, ensemble="transformers").predict(q, p, m)[0]
    np.testing.assert_allclose(theirs, _reference(net, q, p, m, True), atol=1e-5)
    assert np.abs(ours - theirs).max() > 1e-3  # the two rules really differ (block merge_index)
    off = SegGptNet(net, ensemble="off").predict(q, p, m)[0]
    np.testing.assert_allclose(off, _reference(net, q, p, m, False), atol=1e-5)
    assert np.abs(off - ours).max() > 1e-3


def test_painter_ensemble_one_prompt_equals_it_repeated_and_queries_can_share_a_batch(net, one_thread):
    q, p, m = _inputs(1, seed=3)
    painter = SegGptNet(net, ensemble="painter")
    single = painter.predict(q, p, m)
    repeated = painter.predict(q, np.repeat(p, 3, axis=1), np.repeat(m, 3, axis=1))
    np.testing.assert_allclose(repeated, single, atol=1e-5)
    q2, p2, m2 = _inputs(2, seed=4)
    both = painter.predict(np.concatenate([q2, q2 * 0.5]), np.concatenate([p2, p2[:, ::-1]]),
                           np.concatenate([m2, m2[:, ::-1]]))
    np.testing.assert_allclose(both[0], painter.predict(q2, p2, m2)[0], atol=1e-5)
    np.testing.assert_allclose(both[1], painter.predict(q2 * 0.5, p2[:, ::-1], m2[:, ::-1])[0], atol=1e-5)


def test_transformers_ensemble_alters_a_single_prompt(net, one_thread):
    """The spec's finding: transformers' feature_ensemble=True changes block merge_index even for one prompt."""
    q, p, m = _inputs(1, seed=5)
    plain = _reference(net, q, p, m, False)
    assert np.abs(_reference(net, q, p, m, True) - plain).max() > 1e-4
    np.testing.assert_allclose(SegGptNet(net, ensemble="painter").predict(q, p, m)[0], plain, atol=1e-6)


def test_embedding_type_selects_the_type_token(net, one_thread):
    q, p, m = _inputs(1, seed=6)
    inst = SegGptNet(net, embedding_type="instance").predict(q, p, m)
    sem = SegGptNet(net, embedding_type="semantic").predict(q, p, m)
    assert np.abs(inst - sem).max() > 1e-4


def test_input_shapes_are_checked(net):
    q, p, m = _inputs(2)
    with pytest.raises(ValueError, match="prompts must be"):
        SegGptNet(net).predict(q, p[0], m[0])
    with pytest.raises(ValueError, match="queries must be"):
        SegGptNet(net).predict(q[:, :, :4], p, m)


def test_folder_loading_and_its_errors(tmp_path, tiny_seggpt_dir, one_thread):
    loaded = load_seggpt(tiny_seggpt_dir)
    assert loaded.net.config.hidden_size == TINY["hidden_size"] and loaded.embedding_type is None
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text('{"model_type": "seggpt"}')
    with pytest.raises(WeightsError, match="has no weights"):
        load_seggpt(empty)
    (empty / "config.json").write_text('{"model_type": "clip"}')
    with pytest.raises(WeightsError, match="not a SegGPT config"):
        load_seggpt(empty)
