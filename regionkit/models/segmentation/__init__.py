"""Segmentation models whose masks regionkit turns into region boxes (``seggpt``: in-context segmentation).

Nothing is imported here: importing this package has no side effects and does not import torch.
"""
