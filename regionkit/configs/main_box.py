# Moved to configs/box_generation/main_box.py (configs are grouped by purpose); this path keeps working.
_base_ = ['./box_generation/main_box.py']
