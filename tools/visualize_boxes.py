#!/usr/bin/env python
"""Draw the boxes of a box file on its images as PNGs (same as ``regionkit visualize``).

    python tools/visualize_boxes.py BOXES.json --images DIR --out DIR [--max-images N]
"""
import sys

from regionkit.cli.main import main

if __name__ == "__main__":
    main(["visualize", *sys.argv[1:]])
