#!/usr/bin/env python
"""Summarise a box file: images, boxes per image, box areas (same as ``regionkit stats``).

    python tools/box_stats.py BOXES.json [--images DIR] [--histogram PNG] [--json]
"""
import sys

from regionkit.cli.main import main

if __name__ == "__main__":
    main(["stats", *sys.argv[1:]])
