"""Tools for plugin authors: the conformance kit, ``regionkit plugins validate``, and the pytest plugin.

The public entry points are re-exported by :mod:`regionkit.testing` and the ``regionkit`` façade.
"""
