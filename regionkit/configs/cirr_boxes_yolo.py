# Moved to configs/box_generation/cirr_boxes_yolo.py (configs are grouped by purpose); this path keeps working.
_base_ = ['./box_generation/cirr_boxes_yolo.py']
