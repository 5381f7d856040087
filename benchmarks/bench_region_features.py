"""Batched region features vs a per-image Python loop (the pattern of the SPRC fork's ``extract_region_features``).

Setting (defaults): batch 64, 257 tokens (CLS + 16x16 patches), width 1408 (SPRC's ViT-g
``ln_vision`` output), 1-5 boxes per image, fp32 on CPU.  Three ways to pool one feature per box,
all with FG-CLIP's RoI Align (output 1x1, spatial_scale 1, sampling_ratio -1, aligned):

* ``loop``: per image, reshape its tokens to a ``[1, D, 16, 16]`` map, build the rois from Python
  lists, call ``torchvision.ops.roi_align`` (what the fork does, written here from its description);
* ``batched (torchvision)``: ``roi_align_tokens(..., backend="torchvision")``, one roi_align call;
* ``batched (separable)``: ``roi_align_tokens(...)``, the default exact separable form.

Each side includes turning the normalised boxes into grid units.  Times are medians over
``--repeats`` interleaved calls; the outputs are checked to agree.  Run::

    python benchmarks/bench_region_features.py [--batch 64] [--dim 1408] [--threads N]
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torchvision.ops import roi_align  # type: ignore[import-untyped]

from regionkit.models.region_features.grid import boxes_norm_to_grid
from regionkit.models.region_features.roi import roi_align_tokens


def make_inputs(batch: int, dim: int, seed: int) -> tuple[torch.Tensor, list[list[list[float]]]]:
    """Tokens ``[B, 257, dim]`` and 1-5 normalised boxes per image (Python lists, as the fork's collate gives)."""
    gen = torch.Generator().manual_seed(seed)
    tokens = torch.randn(batch, 257, dim, generator=gen)
    boxes = []
    for _ in range(batch):
        count = int(torch.randint(1, 6, (1,), generator=gen))
        xy = torch.rand(count, 2, generator=gen) * 0.7
        wh = torch.rand(count, 2, generator=gen) * 0.3 + 0.05
        boxes.append(torch.cat([xy, (xy + wh).clamp(max=1.0)], 1).tolist())
    return tokens, boxes


def loop_features(tokens: torch.Tensor, boxes: list[list[list[float]]]) -> list[torch.Tensor]:
    """One roi_align call per image, rois built from Python lists (the fork's per-sample pattern)."""
    batch, count, dim = tokens.shape
    side = int((count - 1) ** 0.5)
    patches = tokens[:, 1:, :]
    out = []
    for i in range(batch):
        if not boxes[i]:
            out.append(torch.empty(0, dim))
            continue
        fmap = patches[i].view(side, side, dim).permute(2, 0, 1).unsqueeze(0)
        rois = torch.tensor([[0, x1 * side, y1 * side, x2 * side, y2 * side] for x1, y1, x2, y2 in boxes[i]],
                            dtype=torch.float32)
        out.append(roi_align(fmap, rois, (1, 1), 1.0, -1, True).squeeze(-1).squeeze(-1))
    return out


def batched_features(tokens: torch.Tensor, boxes: list[list[list[float]]], backend: str) -> torch.Tensor:
    grid_boxes = [boxes_norm_to_grid(torch.tensor(b, dtype=torch.float32).reshape(-1, 4), (16, 16)) for b in boxes]
    return roi_align_tokens(tokens, grid_boxes, backend=backend).features  # type: ignore[arg-type]


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--dim", type=int, default=1408)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    tokens, boxes = make_inputs(args.batch, args.dim, args.seed)
    sides: dict[str, Callable[[], object]] = {
        "loop (per image)": lambda: loop_features(tokens, boxes),
        "batched (torchvision)": lambda: batched_features(tokens, boxes, "torchvision"),
        "batched (separable)": lambda: batched_features(tokens, boxes, "separable"),
    }
    with torch.no_grad():
        reference = torch.cat(loop_features(tokens, boxes))
        for name in list(sides)[1:]:
            diff = (batched_features(tokens, boxes, "torchvision" if "torchvision" in name else "separable")
                    - reference).abs().max().item()
            assert diff < 1e-4, f"{name} differs from the loop by {diff}"
        times: dict[str, list[float]] = {name: [] for name in sides}
        for fn in sides.values():
            fn()  # warm-up
        for _ in range(args.repeats):
            for name, fn in sides.items():
                times[name].append(timed(fn))
    regions = sum(len(b) for b in boxes)
    print(f"batch {args.batch}, 257 tokens, width {args.dim}, {regions} boxes, {torch.get_num_threads()} threads, "
          f"median of {args.repeats}")
    loop = statistics.median(times["loop (per image)"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:24s} {median * 1e3:9.2f} ms   speed-up vs loop {loop / median:6.2f}x")


if __name__ == "__main__":
    main()
