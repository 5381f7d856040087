#!/usr/bin/env python
"""Run a box-generation config over a folder of images (same as ``regionkit infer``).

    python tools/infer.py configs/saliency_four_box.py --images DIR [--out-dir DIR] [--cfg-options k=v ...]
"""
import sys

from regionkit.cli.main import main

if __name__ == "__main__":
    main(["infer", *sys.argv[1:]])
