__version__ = "0.1.0"
#: version of the plugin API that third-party plugins target (major.minor)
PLUGIN_API_VERSION = "1.0"
