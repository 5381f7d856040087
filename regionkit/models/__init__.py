"""Native torch/torchvision re-implementations of third-party models.

Each model here loads the original project's checkpoints directly (same state_dict key names)
and reproduces its inference numerically without the original framework (mmdet, mmcv, LAVIS,
...).  Sub-packages group the parts by job: ``backbones``, ``necks``, ``ops`` (detection
operators), ``text`` (text encoders and tokenizers), ``detectors`` (whole detection models)
and the other model families kept next to them.  Nothing is imported here: importing
:mod:`regionkit.models` has no side effects and does not import torch.
"""
