# Edge-density boxes (the `edge_density` detector of regionkit-plugin-example) -> Patch Matters four boxes.
#   pip install ./examples/regionkit-plugin-example
#   regionkit infer examples/regionkit-plugin-example/configs/example_four_box.py --images DIR
#
# The Patch Matters stages come from the base config regionkit ships inside its package, so this
# file works wherever it lies (`regionkit config list` shows the packaged recipes).
_base_ = ['regionkit::_base_/patch_matters_divide.py']

detector = dict(type='edge_density', threshold=0.5, max_boxes=6)
