"""The SFU core: routing of RTP/RTCP between published tracks and their subscribers.

Sans-I/O and deterministic: bytes in with an injected ``now``, bytes out through
:class:`PacketSink` objects. See :class:`Router` for the entry points.
"""

from hubbub.sfu.downtrack import ext_id_table
from hubbub.sfu.forwarder import Forwarder, PythonForwarder
from hubbub.sfu.munger import Munger
from hubbub.sfu.packet_cache import PacketCache
from hubbub.sfu.router import Router, RouterConfig
from hubbub.sfu.speakers import ActiveSpeakerDetector, AudioLevelMeter, dbov_to_level
from hubbub.sfu.stats import ReceiveStats
from hubbub.sfu.track import Codec, DownTrack, TrackKind, UpTrack
from hubbub.sfu.types import PacketSink

__all__ = [
    "ActiveSpeakerDetector",
    "AudioLevelMeter",
    "Codec",
    "DownTrack",
    "Forwarder",
    "Munger",
    "PacketCache",
    "PacketSink",
    "PythonForwarder",
    "ReceiveStats",
    "Router",
    "RouterConfig",
    "TrackKind",
    "UpTrack",
    "dbov_to_level",
    "ext_id_table",
]
