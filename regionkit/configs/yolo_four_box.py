# Moved to configs/box_generation/yolo_four_box.py (configs are grouped by purpose); this path keeps working.
_base_ = ['./box_generation/yolo_four_box.py']
