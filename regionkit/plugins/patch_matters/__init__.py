"""Patch Matters' "divide" stage: score filter, neighbour merge, four/two parts, main box, and their JSON files.

:mod:`~regionkit.plugins.patch_matters.geometry` holds the pure algorithms (bit for bit
with the original), :mod:`~regionkit.plugins.patch_matters.whole_image` the whole-image
fallback, the other modules the selectors and writers built from them.
"""
