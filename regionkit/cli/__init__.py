"""Command line interface (``regionkit``); see :mod:`regionkit.cli.main`."""
