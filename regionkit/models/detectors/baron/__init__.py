"""BARON open-vocabulary detector (wusize/ovdet, OV-COCO Faster R-CNN R50-FPN), natively.

Public entry: :class:`regionkit.models.detectors.baron.model.BaronDetectorModel`
(``from_checkpoint(...)`` then ``predict(images)``).  It loads ovdet/mmengine checkpoints as
they are and reproduces mmdet's test-time pipeline (resize, normalise, RPN, RoI head, CLIP
text encoder over pseudo words, multi-class NMS).  No imports here.
"""
