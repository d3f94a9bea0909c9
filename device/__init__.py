"""The station software that runs on the Pi."""

__version__ = "0.1.0"
