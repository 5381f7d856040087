#!/usr/bin/env python
"""Evaluate a checkpoint on a config's test split (same as ``regionkit test``).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out metrics.json] [--cfg-options k=v ...]
"""
import sys

from regionkit.cli.main import main

if __name__ == "__main__":
    main(["test", *sys.argv[1:]])
