"""Feature necks with mmdet-compatible parameter names (for example ``FPN``, matching mmdet's
``FPN`` with a norm layer under the ``neck.`` prefix).  No imports here.
"""
