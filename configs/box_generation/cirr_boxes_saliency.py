# Saliency boxes for CIRR: the fork's recipe takes the 3 largest salient regions (no model).
_base_ = ['../_base_/cirr_boxes.py']

detector = dict(type='saliency', threshold=0.5, max_regions=3)
