"""Shared helpers of the SPRC tests: fixture paths, seeded models built the way the references were."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from regionkit.models.retrieval.sprc import testing
from regionkit.models.retrieval.sprc.model import SprcModel
from regionkit.models.text.bert_tokenizer import synthetic_vocab, write_vocab

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SEED = 0
#: the fixtures' key lists per preset
KEY_LISTS = {"tiny": "sprc_keys_tiny.txt", "pretrain": "sprc_keys_vitg.txt", "pretrain_vitL": "sprc_keys_vitl.txt"}
VIT_WIDTH = {"pretrain": 1408, "pretrain_vitL": 1024}
SPRC_WEIGHTS = {"loss_itc": 1.0, "loss_rtc": 0.4, "loss_align": 0.4}  # the default loss weights


def key_list(preset: str) -> list[testing.KeySpec]:
    return testing.read_key_list(FIXTURES / KEY_LISTS[preset])


def reference(name: str) -> dict[str, Any]:
    return torch.load(FIXTURES / name, weights_only=True)


@lru_cache(maxsize=1)
def bert_sized_vocab() -> Path:
    """The synthetic 30522-token vocabulary the full-size references used (a temporary file)."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="regionkit-sprc-vocab-"))
    return write_vocab(synthetic_vocab(30522), folder / "vocab.txt")


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run with one intra-op thread (small CPU models are much faster so on a loaded 2-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def seed_into(model: torch.nn.Module, specs: list[testing.KeySpec] | None = None,
              exclude: tuple[str, ...] = ()) -> None:
    """Copy the seeded tensors of ``specs`` (default: the model's own keys) into ``model``, key by key."""
    state = model.state_dict(keep_vars=True)
    specs = specs if specs is not None else testing.key_specs(state)
    with torch.no_grad():
        for spec in specs:
            if not spec.key.startswith(exclude):
                state[spec.key].copy_(testing.seeded_tensor(spec, SEED))


def seeded_tiny(**kwargs: Any) -> SprcModel:
    """The tiny preset with the reference's seeded weights, in eval mode."""
    model = SprcModel(preset="tiny", **kwargs)
    seed_into(model, key_list("tiny"))
    return model.eval()


def seeded_full(preset: str, **kwargs: Any) -> SprcModel:
    """A full-size model with seeded weights but no ViT (left on the meta device: feed ViT outputs), eval mode."""
    with torch.device("meta"):
        model = SprcModel(preset=preset, vocab_file=bert_sized_vocab(), **kwargs)  # type: ignore[arg-type]
    model.to_empty(device="cpu", recurse=False)
    for name, child in model.named_children():
        if name != "visual_encoder":
            child.to_empty(device="cpu")
    seed_into(model, [s for s in key_list(preset) if not s.key.startswith("visual_encoder.")])
    return model.eval()


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a.double() - b.double()).abs().max())


def unweighted(losses: Mapping[str, torch.Tensor]) -> dict[str, float]:
    return {k: float(v) / SPRC_WEIGHTS[k] for k, v in losses.items() if k in SPRC_WEIGHTS}
