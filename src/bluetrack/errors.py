"""The root of every BlueTrack exception; subpackages add their own in ``exceptions.py``."""

from __future__ import annotations


class BlueTrackError(Exception):
    """Base class for all errors raised by BlueTrack code."""


class ConfigError(BlueTrackError):
    """The settings are missing or inconsistent."""
