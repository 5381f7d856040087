# Lives in configs/box_generation/seggpt_four_box.py (configs are grouped by purpose); this path works as well.
_base_ = ['./box_generation/seggpt_four_box.py']
