"""Hubbub: an open-source real-time engagement platform."""

__version__ = "0.1.0"
