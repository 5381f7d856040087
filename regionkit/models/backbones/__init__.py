"""Image backbones with the original projects' parameter names (for example ``resnet.ResNet50``,
whose state_dict matches mmdet's ``ResNet(depth=50)`` under the ``backbone.`` prefix).  No imports here.
"""
