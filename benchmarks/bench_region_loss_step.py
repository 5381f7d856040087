"""Training-step time of a small composed-retrieval model with the ``region_itc`` loss on vs off (CPU).

The model: a tiny ViT (patch 14 on 224 px: CLS + 16x16 = 257 tokens) shared by the reference and
the target image, a query projection of the reference CLS token and a target projection of the
first 32 target tokens (stand-ins for SPRC's fused query and target query tokens), trained with
SPRC's ``itc``.  "On" adds region embeddings (``RegionEmbedder``: batched RoI Align over both
images' tokens, projection, L2 norm) and ``region_itc`` (weight 0.1); the boxes are 0-5 per image
(about 15 % of the images without boxes, as in the CIRR box file), mapped from the original
images through SPRC's TargetPad pipeline every step.  One step: forward, losses, backward, AdamW.
Steps with and without the region loss alternate; the medians of wall-clock and of process CPU
time are reported (CPU time is the robust one on a shared machine: run with ``--threads 1`` so
that it is not inflated by waiting worker threads).  Run::

    python benchmarks/bench_region_loss_step.py [--batch 16] [--width 128] [--depth 2] [--threads N]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from regionkit.models.losses.loss_set import LossSet
from regionkit.models.region_features.box_mapping import map_boxes_norm_batch
from regionkit.models.region_features.embedder import RegionEmbedder


class TinyViT(nn.Module):
    """Patch embedding, CLS token, learned positions, pre-norm transformer layers, final LayerNorm."""

    def __init__(self, width: int, depth: int, heads: int) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, width, 14, 14)
        self.cls = nn.Parameter(torch.zeros(1, 1, width))
        self.pos = nn.Parameter(torch.randn(1, 257, width) * 0.02)
        self.blocks = nn.Sequential(*[nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0,
                                                                 batch_first=True, norm_first=True)
                                      for _ in range(depth)])
        self.norm = nn.LayerNorm(width)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.patch(images).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos
        return self.norm(self.blocks(x))


class TinyComposer(nn.Module):
    def __init__(self, width: int, depth: int, embed: int = 256) -> None:
        super().__init__()
        self.encoder = TinyViT(width, depth, heads=max(1, width // 64))
        self.query_proj = nn.Linear(width, embed)
        self.target_proj = nn.Linear(width, embed)
        self.regions = RegionEmbedder(width, embed)

    def forward(self, ref: torch.Tensor, tgt: torch.Tensor, ref_boxes: list[torch.Tensor] | None,
                tgt_boxes: list[torch.Tensor] | None) -> dict[str, torch.Tensor]:
        r, t = self.encoder(ref), self.encoder(tgt)
        out = {"fusion_feats": self.query_proj(r[:, 0]), "target_feats": self.target_proj(t[:, :32])}
        if ref_boxes is not None and tgt_boxes is not None:
            ref_regions, tgt_regions = self.regions(r, ref_boxes), self.regions(t, tgt_boxes)
            out |= {"ref_region_feats": ref_regions.features, "ref_region_owner": ref_regions.owner,
                    "tgt_region_feats": tgt_regions.features, "tgt_region_owner": tgt_regions.owner}
        return out


def random_boxes(gen: torch.Generator, batch: int) -> tuple[list[list[list[float]]], list[tuple[int, int]]]:
    """0-5 normalised boxes per image on originals of random sizes (about 15 % of images without boxes)."""
    boxes, sizes = [], []
    for _ in range(batch):
        count = 0 if float(torch.rand(1, generator=gen)) < 0.15 else int(torch.randint(1, 6, (1,), generator=gen))
        xy = torch.rand(count, 2, generator=gen) * 0.7
        wh = torch.rand(count, 2, generator=gen) * 0.3 + 0.05
        boxes.append(torch.cat([xy, (xy + wh).clamp(max=1.0)], 1).tolist())
        sizes.append((int(torch.randint(300, 900, (1,), generator=gen)), int(torch.randint(300, 900, (1,), generator=gen))))
    return boxes, sizes


def to_grid(boxes: list[list[list[float]]], sizes: list[tuple[int, int]]) -> list[torch.Tensor]:
    """What a collate function does: map through TargetPad(1.25) -> Resize(224) -> CenterCrop(224), to grid units."""
    return [m.to_grid((16, 16))[m.valid].float() for m in map_boxes_norm_batch(boxes, sizes, "targetpad")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--steps", type=int, default=15, help="measured steps per side")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--verbose", action="store_true", help="print every step time")
    args = parser.parse_args()
    verbose = args.verbose
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    model = TinyComposer(args.width, args.depth)
    losses = {False: LossSet([dict(type="itc")]),
              True: LossSet([dict(type="itc"), dict(type="region_itc", loss_weight=0.1)])}
    params = list(model.parameters()) + [p for s in losses.values() for p in s.parameters()]
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    ref = torch.randn(args.batch, 3, 224, 224, generator=gen)
    tgt = torch.randn(args.batch, 3, 224, 224, generator=gen)
    ref_raw, tgt_raw = random_boxes(gen, args.batch), random_boxes(gen, args.batch)

    def step(region: bool) -> tuple[float, float]:
        start, cpu = time.perf_counter(), time.process_time()
        boxes = (to_grid(*ref_raw), to_grid(*tgt_raw)) if region else (None, None)
        loss_dict = losses[region](model(ref, tgt, *boxes))
        total = sum(loss_dict.values())
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        return time.perf_counter() - start, time.process_time() - cpu

    for region in (False, True, False, True):  # warm-up
        step(region)
    wall: dict[bool, list[float]] = {False: [], True: []}
    cpu: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.steps):
        for region in (False, True):
            w, c = step(region)
            wall[region].append(w)
            cpu[region].append(c)
    regions = sum(len(b) for b in ref_raw[0]) + sum(len(b) for b in tgt_raw[0])
    print(f"batch {args.batch}, tiny ViT width {args.width} depth {args.depth}, {regions} boxes, "
          f"{torch.get_num_threads()} threads, median of {args.steps} steps per side")
    for label, times in (("wall-clock", wall), ("process CPU", cpu)):
        off, on = statistics.median(times[False]), statistics.median(times[True])
        print(f"  {label:11s}  region_itc off {off * 1e3:8.1f} ms/step   on {on * 1e3:8.1f} ms/step   "
              f"ratio {on / off:.3f} ({(on / off - 1) * 100:+.1f} %)")
    # the region branch alone (box mapping, RoI Align on both images, projection, loss, backward), on fixed tokens
    width = args.width
    tokens = [torch.randn(args.batch, 257, width, generator=gen, requires_grad=True) for _ in range(2)]
    region_loss = losses[True].losses["region_itc"]

    def branch() -> float:
        cpu_start = time.process_time()
        r = model.regions(tokens[0], to_grid(*ref_raw))
        t = model.regions(tokens[1], to_grid(*tgt_raw))
        region_loss(r.features, r.owner, t.features, t.owner).backward()
        return time.process_time() - cpu_start

    branch()
    alone = statistics.median(branch() for _ in range(20))
    off_cpu = statistics.median(cpu[False])
    print(f"  region branch alone (CPU): {alone * 1e3:.1f} ms = {alone / off_cpu * 100:.1f} % of a step without it")
    if verbose:
        for region in (False, True):
            print(f"  {'on ' if region else 'off'} wall (ms): {' '.join(f'{t * 1e3:.0f}' for t in wall[region])}")

if __name__ == "__main__":
    main()
