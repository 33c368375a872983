"""A network impairment lab: a userspace relay that delays, limits and drops packets per direction.

:mod:`~hubbub.netsim.engine` decides each packet's fate (sans-I/O), :mod:`~hubbub.netsim.profiles`
names realistic networks, :mod:`~hubbub.netsim.timeline` changes them over time, and
:mod:`~hubbub.netsim.relay` moves real UDP and ICE-TCP packets through them.
"""

from __future__ import annotations

from hubbub.netsim.engine import Burst, Fate, Impairment, Link, LinkStats
from hubbub.netsim.profiles import PROFILES, Profile, profile
from hubbub.netsim.relay import Relay
from hubbub.netsim.timeline import Step, Timeline

__all__ = [
    "PROFILES",
    "Burst",
    "Fate",
    "Impairment",
    "Link",
    "LinkStats",
    "Profile",
    "Relay",
    "Step",
    "Timeline",
    "profile",
]
