"""BlueTrack: real-time music listening with live genre charts."""

__version__ = "0.1.0"
