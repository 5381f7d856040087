"""regionkit: region boxes and region-level losses as plugins.

Importing the package does nothing but define the version; components live in
:mod:`regionkit.registry` (registries) and :mod:`regionkit.core` (boxes, runner, IO).
"""
from regionkit._version import PLUGIN_API_VERSION, __version__

__all__ = ["__version__", "PLUGIN_API_VERSION"]
