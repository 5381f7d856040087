"""regionkit-plugin-example: an edge-density region detector, packaged as a regionkit plugin.

regionkit finds the detector through the entry point in ``setup.py``
(``regionkit.detectors: edge_density``); nothing here is imported until a config uses it.
"""

#: the regionkit plugin API this package is written for (read by regionkit without importing us)
REGIONKIT_PLUGIN_API = "1.2"

__version__ = "0.1.0"
