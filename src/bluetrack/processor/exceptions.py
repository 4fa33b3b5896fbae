"""Errors of the stream processor."""

from __future__ import annotations

from bluetrack.errors import BlueTrackError


class ProcessorError(BlueTrackError):
    """Root of the processor's errors."""


class SparkSetupError(ProcessorError):
    """Spark cannot start as configured (missing connector jars, bad master, ...)."""


class CheckpointError(ProcessorError):
    """The engine state needed to replay or continue a batch is missing or unreadable."""


class PublishError(ProcessorError):
    """A chart could not be delivered; the batch fails so Spark replays it."""
