# Edge-density boxes (the `edge_density` detector of regionkit-plugin-example) -> Patch Matters four boxes.
#   pip install ./examples/regionkit-plugin-example
#   regionkit infer examples/regionkit-plugin-example/configs/example_four_box.py --images DIR
#
# _base_ paths are relative to this file: this one is regionkit's configs/_base_ in this repository.
# Outside the repository, copy regionkit's configs/_base_/patch_matters_divide.py next to your
# config and write _base_ = ['./patch_matters_divide.py'] (or give its absolute path).
_base_ = ['../../../configs/_base_/patch_matters_divide.py']

detector = dict(type='edge_density', threshold=0.5, max_boxes=6)
