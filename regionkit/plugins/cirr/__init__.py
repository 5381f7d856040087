"""The CIRR region-box recipe (SPRC RoI-Align fork): the CIRR split dataset, the box filter, the box-file writer.

:mod:`~regionkit.plugins.cirr.arithmetic` is the one place the recipe's normalisation is defined.
"""
