# mypy: ignore-errors
# (runs in the side environment, where SPRC's bundled LAVIS is importable; see below)
"""Regenerate the SPRC parity fixtures by running the ORIGINAL code (chunmeifeng/SPRC's bundled LAVIS).

Not a test (no ``test_`` prefix) and not importable from regionkit's environment: it runs in a
side virtualenv with SPRC's dependencies.  Nothing is downloaded: the BERT config, the tokenizer
vocabulary and the ViT weight files that LAVIS would fetch are replaced here (see ``_patch``):

* ``BertConfig.from_pretrained("bert-base-uncased")`` returns bert-base-uncased's public
  configuration (hidden 768, 12 layers, 12 heads, FFN 3072, vocab 30522, 512 positions, type
  vocab 2, LayerNorm eps 1e-12) or, for the tiny reference, the tiny preset's;
* ``BertLMHeadModel.from_pretrained(name, config=...)`` builds the model from the config with
  random weights; ``BertTokenizer.from_pretrained`` reads a local ``vocab.txt``: the deterministic
  :func:`regionkit.models.text.bert_tokenizer.synthetic_vocab` (BERT's real vocabulary is not
  on this machine; ids and shapes are what matter for parity);
* ``download_cached_file`` (``eva_vit_g.pth``, ``clip_vit_L.pth``) returns an empty state dict.

Weights: :mod:`regionkit.models.retrieval.sprc.testing` (loaded by file path; torch + stdlib
only) seeds every tensor from ``sha256(f"{seed}/{key}")``, seed 0; models run in eval mode
(dropout off), fp32, CPU.  Outputs (``fixtures/``):

* ``sprc_keys_vitg.txt`` / ``sprc_keys_vitl.txt``: every state_dict key, shape and dtype of
  ``Blip2QformerCirAlignPrompt`` as SPRC builds it for ``pretrain`` (EVA ViT-g, ViT in fp16) and
  ``pretrain_vitL`` (CLIP ViT-L);
* ``sprc_keys_tiny.txt``, ``reference_tiny.pt``: SPRC's class with the tiny preset's sizes (LAVIS's
  own EVA ``VisionTransformer`` with 2 blocks of width 48, a 2-layer BERT of width 64, the
  synthetic 1000-token vocabulary), on seeded images ``[3, 3, 224, 224]``: SPRC's ``forward``
  losses, the projected features (hooks on ``text_proj`` / ``vision_proj``) and ``inference``
  scores;
* ``reference_full_vitg.pt`` / ``reference_full_vitl.pt``: the full-size Q-Former (BLIP-2 sizes,
  30523-token embeddings) with the ViT replaced by an identity, fed seeded ViT outputs
  ``[3, 257, 1408]`` (``[3, 257, 1024]``): losses, features, scores;
* ``reference_vit.pt``: LAVIS's EVA ViT-g and CLIP ViT-L on one seeded image ``[1, 3, 224, 224]``,
  at full depth (39 / 23 blocks) and with 2 blocks: tokens 0, 1, 128, 256 and per-token mean / std;
* ``reference_tokenizer.json``: ``transformers.BertTokenizer`` (4.36.2, slow) ids for a list of
  strings with the synthetic vocabulary, ``max_length=32``, ``padding="max_length"``.

Rebuild (Python 3.11; only the package index is reachable)::

    python3 -m venv /work/side/sprc/venv
    /work/side/sprc/venv/bin/pip install torch==2.14.1 torchvision==0.29.1
    /work/side/sprc/venv/bin/pip install transformers==4.36.2 timm==0.9.12 omegaconf iopath pandas "numpy<2" \\
        fairscale==0.4.13
    git clone https://github.com/chunmeifeng/SPRC /work/side/sprc/src    # tested at 2935a53
    cd /work/main && nice /work/side/sprc/venv/bin/python tests/models/sprc/make_reference.py \\
        --sprc /work/side/sprc/src --work /work/side/sprc/work [keys tiny full vit tokenizer]

(``transformers==4.36.2`` is SPRC's ``requirements.txt`` pin; LAVIS's ``lavis/__init__.py`` and
``lavis/models/__init__.py`` are bypassed because they import every LAVIS model and dataset.)
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import sys
import types
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
FIXTURES = HERE / "fixtures"
SEED = 0
SPRC_COMMIT = "2935a5397732260d1db6fa577e5926f963e36f0f"
BATCH = 3
CAPTIONS = [
    "Change the dog to a cat and make the background blue.",
    "is red and has white stripes",
    "Remove the people; show only two dogs (sitting) on the grass! " + "and more " * 12,
]
TOKENIZER_STRINGS = [
    "Change the dog to a cat.", "is  red and has  white STRIPES", "ΟΔΟΣ Σσ café naïve Ünïcödé", "中文字符 mixed 日本",
    "a[SEP]b [CLS]x [DEC] y [dec] [sep] [UNK] [PAD][MASK]", "remove\tthe\nbackground\r\n", "x" * 120,
    "supercalifragilistic", "", "  ", "don't! (stop) #1: ~tilde; \"q\" a.b,c", "İstanbul ǅemal ﬁne",
    "\x00nul\ufffdrepl\x07bell", "emoji 😀 ok", "a " * 40, "dogs sitting playing", "bigger closer photos",
    "e\u0301 combining", "zero\u200bwidth", "nbsp\u00a0space", "tab\u3000ideographic space", "¿qué? ¡sí!",
    "under_score and-dash", "3.5 dogs, 10% off", "ALL CAPS SHOUT", "mixedCase wordsHere", "—em dash–en dash…",
    "[unused5] [CLS][CLS]", "a" * 100, "a" * 101, "Ǆ ǅ ǆ", "ﬃ ligature", "Ⅻ roman", "⁵ superscript",
]

BERT_BASE = dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072, hidden_act="gelu", hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
                 max_position_embeddings=512, type_vocab_size=2, initializer_range=0.02, layer_norm_eps=1e-12,
                 pad_token_id=0, position_embedding_type="absolute", use_cache=True)
#: the tiny preset's sizes (regionkit/models/retrieval/sprc/presets.py, ``TINY``)
TINY_BERT = dict(BERT_BASE, vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                 intermediate_size=128)
TINY_VIT = dict(img_size=224, patch_size=14, embed_dim=48, depth=2, num_heads=4, mlp_ratio=4.3637, qkv_bias=True)


def _load_by_path(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


TESTING = _load_by_path("sprc_testing", REPO / "regionkit" / "models" / "retrieval" / "sprc" / "testing.py")
BERT_TOK = _load_by_path("sprc_bert_tokenizer", REPO / "regionkit" / "models" / "text" / "bert_tokenizer.py")


class _State:
    bert: dict[str, Any] = BERT_BASE
    vocab: Path = Path()
    vit: Callable[..., Any] | None = None  # replaces create_eva_vit_g / create_clip_vit_L when set


def _setup(sprc: Path, work: Path) -> types.SimpleNamespace:
    """Import SPRC's LAVIS pieces (bypassing the package __init__s) with downloads replaced."""
    src = sprc / "src"
    sys.path.insert(0, str(src))
    for name in ("lavis", "lavis.models", "lavis.models.blip_models", "lavis.processors"):
        module = types.ModuleType(name)
        module.__path__ = [str(src / name.replace(".", "/"))]
        sys.modules[name] = module
    import torch
    import transformers
    from transformers.models.bert.configuration_bert import BertConfig

    empty = work / "empty_state_dict.pth"
    torch.save({}, empty)
    import lavis.common.dist_utils as dist_utils
    from lavis.models.base_model import BaseModel

    sys.modules["lavis.models"].BaseModel = BaseModel  # what the registry's type check imports

    dist_utils.download_cached_file = lambda *a, **k: str(empty)
    from lavis.models import clip_vit, eva_vit
    from lavis.models.blip2_models import Qformer, blip2

    eva_vit.download_cached_file = clip_vit.download_cached_file = lambda *a, **k: str(empty)
    BertConfig.from_pretrained = classmethod(lambda cls, name, **kw: cls(**_State.bert))  # type: ignore[assignment]
    Qformer.BertLMHeadModel.from_pretrained = classmethod(lambda cls, name, config=None, **kw: cls(config))
    transformers.BertTokenizer.from_pretrained = classmethod(  # type: ignore[assignment]
        lambda cls, name, **kw: cls(vocab_file=str(_State.vocab), **kw))
    real_g, real_l = blip2.create_eva_vit_g, blip2.create_clip_vit_L
    blip2.create_eva_vit_g = lambda *a, **k: _State.vit(*a, **k) if _State.vit else real_g(*a, **k)
    blip2.create_clip_vit_L = lambda *a, **k: _State.vit(*a, **k) if _State.vit else real_l(*a, **k)
    from lavis.models.blip2_models.blip2_qformer_cir_align_prompt import Blip2QformerCirAlignPrompt
    from lavis.processors.base_processor import BaseProcessor

    sys.modules["lavis.processors"].BaseProcessor = BaseProcessor
    sys.modules.setdefault("cv2", types.ModuleType("cv2"))  # only RandomAugment (unused) needs OpenCV
    from lavis.processors.blip_processors import BlipCaptionProcessor

    return types.SimpleNamespace(torch=torch, transformers=transformers, eva_vit=eva_vit, clip_vit=clip_vit,
                                 Model=Blip2QformerCirAlignPrompt, captions=BlipCaptionProcessor())


def _vocab(work: Path, size: int) -> Path:
    return BERT_TOK.write_vocab(BERT_TOK.synthetic_vocab(size), work / f"vocab_{size}.txt")


def _header(what: str) -> list[str]:
    import torch

    return [what, f"chunmeifeng/SPRC {SPRC_COMMIT}, built by tests/models/sprc/make_reference.py",
            f"torch {torch.__version__}, python {platform.python_version()}"]


def make_keys(env: types.SimpleNamespace, work: Path) -> None:
    """The full key lists, ViT-g (fp16, as SPRC) and ViT-L."""
    _State.bert, _State.vocab, _State.vit = BERT_BASE, _vocab(work, 30522), None
    for vit, name in (("eva_clip_g", "vitg"), ("clip_L", "vitl")):
        model = env.Model(vit_model=vit, img_size=224, vit_precision="fp16")
        specs = TESTING.key_specs(model.state_dict())
        text = TESTING.format_key_list(specs, _header(f"Blip2QformerCirAlignPrompt(vit_model={vit!r}) state_dict"))
        (FIXTURES / f"sprc_keys_{name}.txt").write_text(text, encoding="utf-8")
        print(name, len(specs), "keys")
        del model


class _IdentityViT:
    """Stands in for the ViT: returns its input (precomputed ViT outputs) and reports ``num_features``."""

    def __new__(cls, num_features: int) -> Any:
        import torch

        module = torch.nn.Identity()
        module.num_features = num_features
        return module


def _captured(model: Any) -> dict[str, list[Any]]:
    """Forward hooks collecting the outputs of ``text_proj`` and ``vision_proj``."""
    store: dict[str, list[Any]] = {"text_proj": [], "vision_proj": []}
    for name in store:
        getattr(model, name).register_forward_hook(lambda m, i, o, n=name: store[n].append(o.detach().clone()))
    return store


def _run(env: types.SimpleNamespace, model: Any, ref: Any, tgt: Any) -> dict[str, Any]:
    """SPRC's training losses, projected features and inference scores on (ref, tgt, CAPTIONS)."""
    torch = env.torch
    F = torch.nn.functional
    captions = [env.captions(c) for c in CAPTIONS]
    store = _captured(model)
    with torch.no_grad():
        losses = model({"image": ref, "target": tgt, "text_input": captions})
        fusion, text_only = (F.normalize(t, dim=-1) for t in store["text_proj"][:2])
        target = F.normalize(store["vision_proj"][0], dim=-1)
        index_feats, _index_embeds = model.extract_target_features(tgt)
        ref_embeds = model.ln_vision(model.visual_encoder(ref))
        scores = model.inference(ref_embeds, index_feats, captions)
    out = {k: v.detach().clone() for k, v in losses.items()}
    out.update(fusion_feats=fusion, text_only_feats=text_only, target_feats=target, scores=scores,
               index_feats=index_feats, captions_processed=captions)
    return out


def _assign_seeded(model: Any) -> list[Any]:
    """Copy the seeded tensors into ``model``'s state one key at a time (low peak memory); its specs."""
    import torch

    state = model.state_dict(keep_vars=True)
    specs = TESTING.key_specs(state)
    with torch.no_grad():
        for spec in specs:
            state[spec.key].copy_(TESTING.seeded_tensor(spec, SEED))
    return specs


def _seed_model(env: types.SimpleNamespace, model: Any, specs_path: Path | None = None) -> list[Any]:
    specs = _assign_seeded(model)
    model.eval()
    if specs_path is not None:
        specs_path.write_text(TESTING.format_key_list(specs, _header("tiny preset state_dict (SPRC's class)")),
                              encoding="utf-8")
    return specs


def make_tiny(env: types.SimpleNamespace, work: Path) -> None:
    torch = env.torch
    _State.bert, _State.vocab = TINY_BERT, _vocab(work, TINY_BERT["vocab_size"])
    _State.vit = lambda *a, **k: env.eva_vit.VisionTransformer(
        **TINY_VIT, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), use_mean_pooling=False)
    model = env.Model(vit_model="eva_clip_g", img_size=224, vit_precision="fp32", embed_dim=64)
    _seed_model(env, model, FIXTURES / "sprc_keys_tiny.txt")
    ref = TESTING.seeded_inputs("tiny/ref_images", (BATCH, 3, 224, 224), SEED)
    tgt = TESTING.seeded_inputs("tiny/tgt_images", (BATCH, 3, 224, 224), SEED)
    out = _run(env, model, ref, tgt)
    with torch.no_grad():
        out["ref_embeds"] = model.ln_vision(model.visual_encoder(ref))[:, :4].clone()
    out["meta"] = _meta("tiny")
    torch.save(out, FIXTURES / "reference_tiny.pt")
    print("tiny", {k: float(v) for k, v in out.items() if k.startswith("loss")})


def make_full(env: types.SimpleNamespace, work: Path) -> None:
    torch = env.torch
    _State.bert, _State.vocab = BERT_BASE, _vocab(work, 30522)
    for vit, name, width in (("eva_clip_g", "vitg", 1408), ("clip_L", "vitl", 1024)):
        _State.vit = lambda *a, w=width, **k: _IdentityViT(w)
        model = env.Model(vit_model=vit, img_size=224, vit_precision="fp32")
        _seed_model(env, model)
        ref = TESTING.seeded_inputs(f"full_{name}/ref_vit", (BATCH, 257, width), SEED)
        tgt = TESTING.seeded_inputs(f"full_{name}/tgt_vit", (BATCH, 257, width), SEED)
        out = _run(env, model, ref, tgt)
        out.pop("index_feats")
        out["target_feats"] = out["target_feats"][:, :4].clone()
        out["meta"] = _meta(f"full {name}")
        torch.save(out, FIXTURES / f"reference_full_{name}.pt")
        print(name, {k: float(v) for k, v in out.items() if k.startswith("loss")})
        del model


def _token_summary(torch: Any, tokens: Any) -> dict[str, Any]:
    return {"tokens": tokens[0, [0, 1, 128, 256]].clone(), "mean": tokens[0].mean(-1), "std": tokens[0].std(-1)}


def make_vit(env: types.SimpleNamespace, work: Path) -> None:
    torch = env.torch
    image = TESTING.seeded_inputs("vit/image", (1, 3, 224, 224), SEED)
    out: dict[str, Any] = {"meta": _meta("vit")}
    for depth, tag in ((2, "2"), (39, "full")):
        vit = env.eva_vit.VisionTransformer(img_size=224, patch_size=14, use_mean_pooling=False, embed_dim=1408,
                                            depth=depth, num_heads=16, mlp_ratio=4.3637, qkv_bias=True,
                                            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6))
        _assign_seeded(vit)
        with torch.no_grad():
            out[f"eva_g_{tag}"] = _token_summary(torch, vit.eval()(image))
        del vit
    for layers, tag in ((2, "2"), (23, "full")):
        vit = env.clip_vit.VisionTransformer(input_resolution=224, patch_size=14, width=1024, layers=layers, heads=16,
                                             use_grad_checkpointing=False)
        _assign_seeded(vit)
        with torch.no_grad():
            out[f"clip_l_{tag}"] = _token_summary(torch, vit.eval()(image))
        del vit
    torch.save(out, FIXTURES / "reference_vit.pt")
    print("vit", sorted(out))


def make_tokenizer(env: types.SimpleNamespace, work: Path) -> None:
    tok = env.transformers.BertTokenizer(vocab_file=str(_vocab(work, 30522)), truncation_side="right")
    tok.add_special_tokens({"bos_token": "[DEC]"})
    rows = []
    for text in TOKENIZER_STRINGS + CAPTIONS + [env.captions(c) for c in CAPTIONS]:
        enc = tok(text, padding="max_length", truncation=True, max_length=32)
        rows.append({"text": text, "input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
                     "tokens": tok.tokenize(text), "caption": env.captions(text)})
    data = {"meta": _meta("tokenizer") | {"len": len(tok), "bos_token_id": tok.bos_token_id}, "rows": rows}
    (FIXTURES / "reference_tokenizer.json").write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n",
                                                       encoding="utf-8")
    print("tokenizer", len(rows), "strings")


def _meta(what: str) -> dict[str, Any]:
    import torch
    import transformers

    return {"what": what, "sprc_commit": SPRC_COMMIT, "seed": SEED, "generator": TESTING.GENERATOR_VERSION,
            "torch": str(torch.__version__), "transformers": transformers.__version__,
            "python": platform.python_version(), "batch": BATCH, "captions": CAPTIONS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sprc", type=Path, required=True, help="a checkout of chunmeifeng/SPRC")
    parser.add_argument("--work", type=Path, required=True, help="a scratch folder")
    parser.add_argument("what", nargs="*", default=["keys", "tiny", "full", "vit", "tokenizer"])
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    FIXTURES.mkdir(exist_ok=True)
    env = _setup(args.sprc.resolve(), args.work.resolve())
    env.torch.manual_seed(SEED)
    steps = {"keys": make_keys, "tiny": make_tiny, "full": make_full, "vit": make_vit, "tokenizer": make_tokenizer}
    for what in args.what:
        steps[what](env, args.work.resolve())


if __name__ == "__main__":
    main()
