#!/usr/bin/env python
"""Train from a config on mmengine's Runner (same as ``regionkit train``).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CHECKPOINT]] [--cfg-options k=v ...]
    torchrun --nproc-per-node N tools/train.py CONFIG --launcher pytorch
"""
import sys

from regionkit.cli.main import main

if __name__ == "__main__":
    main(["train", *sys.argv[1:]])
