"""The error every sub-command raises for a user-facing failure."""

from __future__ import annotations


class CliError(Exception):
    """A user-facing error: printed as ``hubbub: <message>`` with exit status 2."""
