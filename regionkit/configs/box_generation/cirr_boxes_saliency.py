# CIRR box file from saliency, as the fork's --method saliency (no weights needed).
# OpenCV-contrib's spectral-residual
# saliency (reproduced step for step in numpy/scipy, no OpenCV needed), the 3 largest regions by
# contour area whose normalised box area is > 0.01, normalised with Python float division.
_base_ = ['../_base_/cirr_boxes.py']

detector = dict(type='saliency', variant='opencv_contrib', max_regions=3, min_area_frac=0.01)

selectors = [
    dict(type='cirr_box_filter', input='detections', output='cirr', min_score=None, min_area_norm=0.01, max_boxes=5,
         arithmetic='float64_div'),
]
