"""Training-step time of the SPRC model on a CPU: the tiny preset vs the full ViT-g model.

One step: forward (``mode="loss"``: SPRC's ``itc + 0.4 rtc + 0.4 align``, optionally
``region_itc``), ``parse_losses``, backward, AdamW on the trainable parameters.  The tiny preset
runs from images (its ViT included); the full model (EVA ViT-g + BERT-base Q-Former, random
weights, a synthetic 30522-token vocabulary) is fed precomputed ViT outputs ``[B, 257, 1408]`` by
default, i.e. the cost of training with cached features of the frozen ViT; ``--full-vit`` adds
the frozen ViT-g forward (fp32 on a CPU: slow and ~5 GB).  Medians of wall-clock and process CPU
time over ``--steps`` steps after one warm-up step.  Run::

    nice python benchmarks/bench_sprc.py [--batch 4] [--steps 3] [--threads 1] [--region] [--skip-full] [--full-vit]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from regionkit.models.retrieval.sprc.model import DEFAULT_LOSSES, SprcModel
from regionkit.models.text.bert_tokenizer import synthetic_vocab, write_vocab

CAPTIONS = ["make the dog a cat", "add a red ball", "remove the people in the back", "show two birds instead"]


def _inputs(batch: int, full: bool, full_vit: bool, region: bool) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(0)
    out: dict[str, Any] = {"captions": [CAPTIONS[i % len(CAPTIONS)] for i in range(batch)]}
    if full and not full_vit:
        out["ref_vit_feats"] = torch.randn(batch, 257, 1408, generator=gen)
        out["tgt_vit_feats"] = torch.randn(batch, 257, 1408, generator=gen)
    else:
        out["ref_images"] = torch.randn(batch, 3, 224, 224, generator=gen)
        out["tgt_images"] = torch.randn(batch, 3, 224, 224, generator=gen)
    if region:
        boxes = [torch.tensor([[0.1, 0.1, 0.6, 0.7], [0.3, 0.2, 0.9, 0.9]])[: i % 3] for i in range(batch)]
        out["ref_boxes"], out["tgt_boxes"] = boxes, boxes[::-1]
    return out


def _time(model: SprcModel, inputs: dict[str, Any], steps: int) -> tuple[float, float, float]:
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    model.train()
    walls, cpus, loss_value = [], [], 0.0
    for step in range(steps + 1):
        wall, cpu = time.perf_counter(), time.process_time()
        loss, _ = model.parse_losses(model(inputs, mode="loss"))
        optim.zero_grad()
        loss.backward()
        optim.step()
        if step:  # the first step is a warm-up
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        loss_value = float(loss.detach())
    return statistics.median(walls), statistics.median(cpus), loss_value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--region", action="store_true", help="add region_itc (weight 0.1) and boxes")
    parser.add_argument("--skip-full", action="store_true", help="only the tiny preset")
    parser.add_argument("--full-vit", action="store_true", help="full model from images (frozen ViT-g forward)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    losses = [*DEFAULT_LOSSES, *([dict(type="region_itc", loss_weight=0.1)] if args.region else [])]
    print(f"batch {args.batch}, {args.steps} steps, {args.threads} thread(s), losses: "
          f"{', '.join(str(loss['type']) for loss in losses)}")
    runs: list[tuple[str, dict[str, Any], bool]] = [("tiny (from images)", dict(preset="tiny"), False)]
    if not args.skip_full:
        vocab = write_vocab(synthetic_vocab(30522), Path(tempfile.mkdtemp()) / "vocab.txt")
        label = "full ViT-g (from images)" if args.full_vit else "full ViT-g (cached ViT outputs)"
        runs.append((label, dict(preset="pretrain", vocab_file=vocab), True))
    for label, kwargs, full in runs:
        torch.manual_seed(0)
        build = time.perf_counter()
        model = SprcModel(losses=losses, **kwargs)
        build = time.perf_counter() - build
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        wall, cpu, loss = _time(model, _inputs(args.batch, full, args.full_vit, args.region), args.steps)
        print(f"{label:34s} build {build:6.1f} s  trainable {trainable / 1e6:7.2f} M  step wall {wall:7.3f} s  "
              f"cpu {cpu:7.3f} s  loss {loss:.4f}")
        del model


if __name__ == "__main__":
    main()
