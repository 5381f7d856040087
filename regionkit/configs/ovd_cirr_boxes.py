# In configs/box_generation/ovd_cirr_boxes.py (configs are grouped by purpose); this path works too.
_base_ = ['./box_generation/ovd_cirr_boxes.py']
