__version__ = "0.2.0"
#: version of the plugin API (the names the ``regionkit`` façade exports) that third-party plugins target (major.minor)
PLUGIN_API_VERSION = "1.2"
