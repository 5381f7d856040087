# Spectral-residual saliency boxes -> Patch Matters four boxes. Runs on any machine (no weights).
#   regionkit infer configs/saliency_four_box.py --images DIR
_base_ = ['../_base_/patch_matters_divide.py']

detector = dict(type='saliency', resize_width=64, threshold=0.5, max_regions=5, min_area_frac=0.001)
