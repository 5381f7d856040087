"""Errors raised by :mod:`regionkit.models`."""
from __future__ import annotations

from regionkit.errors import ConfigError

__all__ = ["WeightsError"]


class WeightsError(ConfigError):
    """A checkpoint / weights file is missing, unreadable or does not fit the model.

    The message names the file and, for missing files, where the weights come from.  It is a
    :class:`~regionkit.errors.ConfigError` (a user mistake: the CLI shows it as one line).
    """
