"""Detection building blocks that follow mmdet/mmcv numerics: anchor generation, delta box
coding, mmcv-style batched and multi-class NMS, and multi-level RoIAlign feature extraction.
They use torch and torchvision only.  No imports here.
"""
