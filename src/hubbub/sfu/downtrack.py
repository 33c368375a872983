"""DownTrack: one subscriber's copy of an up-track.

The logic is :class:`DownTrackBase`, generic in its up-track: it reads only what
:class:`Source` names, so this module imports nothing of :mod:`hubbub.sfu.track`, whose
``DownTrack`` is this class bound to ``UpTrack`` (each holds the other).

Per packet (:meth:`DownTrack.write_rtp`, the inner loop of the forwarder): drop while muted,
paused or waiting for a keyframe; map the payload type; munge seq/ts; write a fresh header
(RFC 3550 §5.1) with the subscriber's SSRC in front of the unchanged rest of the packet; hand
the ``bytes`` to the subscriber's sink.

The header is built with one ``struct.pack`` and one concatenation rather than
``hubbub.proto.rtp.rewrite``: that returns a ``bytearray`` and SRTP (pylibsrtp) takes
``bytes`` only, so it would cost a second copy. When the subscriber numbers header extensions
differently from the publisher (RFC 8285 §5), the slower ``rewrite`` path with an ID table runs
instead; when the numbering agrees (the common case) no remapping is done at all.

Native fan-out
--------------
With :class:`~hubbub.sfu.forwarder.NativeForwarder` a down-track whose sink can take one (a
:class:`~hubbub.sfu.fanout.FanoutSink`) is *attached* to a fan-out entry of that sink's sender
when it starts receiving; the entry then runs the steady state of :meth:`write_rtp` (the next
packet of the munger's open epoch) without Python. Python still makes every decision: whatever
changes the entry's state here (a new epoch, mute, keyframe wait, a source switch) is *pushed*
to the entry (:meth:`_push_native`), and before Python reads or changes the state the C side
moves on (the munger's position, see ``Munger.snapshot``/``restore``, and the counters) it is
*pulled* back (:meth:`_pull_native`). The counters, ``munger``, ``waiting_keyframe`` and
``sink`` are properties for that reason; the Python hot path uses the underlying slots directly.
Every packet, native or not, RTP or RTX or RTCP, leaves through the sink's one sender, so one
SRTP context protects each SSRC whichever path sent it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Hashable, Mapping
from typing import Self

from hubbub.proto import rtp_ext
from hubbub.proto.rtcp import ReportBlock, Sdes, SenderReport, ntp_from_unix, ntp_middle32
from hubbub.proto.rtp import header_fields, rewrite, rtx_wrap
from hubbub.sfu import red, vp8
from hubbub.sfu.fanout import FanoutEntry
from hubbub.sfu.layers import MAX_TEMPORAL, LayerSelector
from hubbub.sfu.munger import Munger
from hubbub.sfu.simulcast import LayerSource, SimulcastDownTrack, Source, U
from hubbub.sfu.types import PacketSink

__all__ = ["RESEND_GAP", "DownTrackBase", "LayerSource", "Source", "ext_id_table"]

# RFC 3550 §5.1 fixed header: V|P|X|CC and M|PT as one 16-bit word, seq, ts, SSRC.
_HDR = struct.Struct("!HHII").pack
_M32 = 0xFFFFFFFF
_SR_MEMORY = 8  # SRs remembered for RTT (RFC 3550 §6.4.1 LSR/DLSR)
RESEND_GAP = 0.05  # seconds: a packet is resent at most this often, and at most once a round trip


def ext_id_table(publisher: Mapping[str, int], subscriber: Mapping[str, int]) -> bytes | None:
    """An ID table for ``rtp_ext.remap_ext_ids``, or None when no remapping is needed.

    None when every extension the publisher uses either has the same ID for the subscriber or
    is unknown to it under an ID it does not use (RFC 8285 §4: unknown IDs are ignored).
    Otherwise each publisher ID maps to the subscriber's ID for the same URI, or is dropped.
    """
    used = set(subscriber.values())
    if all(subscriber.get(uri, -1) == i or (uri not in subscriber and i not in used) for uri, i in publisher.items()):
        return None
    return rtp_ext.make_id_map({i: subscriber.get(uri, 0) for uri, i in publisher.items()})


class DownTrackBase(SimulcastDownTrack[U]):
    """A subscription: the up-track's packets rewritten into the subscriber's SSRC/seq/ts space."""

    __slots__ = (
        "_dropping",
        "_ext_table",
        "_munger",
        "_native",
        "_pt_map",
        "_reattach",
        "_red_unwrap",
        "_resent",
        "_rtx_pts",
        "_rtx_seq",
        "_sink",
        "_sr_sent",
        "_sub_ext_ids",
        "cname",
        "fraction_lost",
        "jitter",
        "muted",
        "nacks_received",
        "nacks_unrecoverable",
        "next_report",
        "packets_lost",
        "paused",
        "plis_received",
        "receiving",
        "red_dropped",
        "red_optional",
        "report_time",
        "resends_held",
        "retransmits",
        "rtt",
        "rtx_ssrc",
        "ssrc",
        "subscriber_key",
        "up",
    )

    def __init__(
        self,
        up: U,
        subscriber_key: Hashable,
        sink: PacketSink,
        *,
        ssrc: int,
        rtx_ssrc: int | None,
        pt_map: Mapping[int, int],
        rtx_pt: int | Mapping[int, int] | None,
        ext_ids: Mapping[str, int],
        seq_base: int,
        ts_base: int,
        rtx_seq_base: int,
        cname: str,
    ) -> None:
        self.up = up
        self.subscriber_key = subscriber_key
        self._native: FanoutEntry | None = None  # the fan-out entry while attached (module docstring)
        self._reattach: Callable[[Self], None] | None = None  # the forwarder's, on a sink change
        self._sink = sink
        self.ssrc = ssrc
        self.rtx_ssrc = rtx_ssrc
        self.cname = cname
        self._pt_map = dict(pt_map)
        if isinstance(rtx_pt, int):
            self._rtx_pts = dict.fromkeys(self._pt_map.values(), rtx_pt)
        else:
            self._rtx_pts = dict(rtx_pt or {})
        self._rtx_seq = rtx_seq_base & 0xFFFF
        self._sub_ext_ids = dict(ext_ids)
        self._ext_table = ext_id_table(up.ext_ids, ext_ids)
        self._red_unwrap: dict[int, int] = {}  # RED payload type -> the primary block's (RFC 2198)
        self.red_dropped = 0
        # (RED PT, primary PT) when the subscriber takes both and either may be sent (sfu.red)
        self.red_optional: tuple[int, int] | None = None
        # Temporal-layer drops open an epoch each: keep more of them for NACKs of a layered track.
        self._munger = Munger(up.clock_rate, seq_base, ts_base, max_epochs=64 if up.simulcast else 16)
        self._waiting_keyframe = up.kind == "video"
        self._src: LayerSource = up  # the layer forwarded (its cache answers NACKs, its SR lip sync)
        self._selector: LayerSelector | None = None
        self._vp8: vp8.Vp8Munger | None = None
        self._layered(up, len(up.layers) - 1, MAX_TEMPORAL)
        self.muted = False
        self.paused = False
        self.receiving = True  # the subscriber can decode it (Router.start_receiving)
        self._dropping = False
        self._packets_sent = 0
        self._bytes_sent = 0
        self._octets_sent = 0  # payload octets, for the SR (RFC 3550 §6.4.1)
        self._packets_dropped = 0
        self.nacks_received = 0
        self.nacks_unrecoverable = 0
        self.retransmits = 0
        self.resends_held = 0  # NACKs of a packet resent less than a round trip ago
        self._resent: dict[int, float] = {}  # out seq -> when it was last resent
        self.plis_received = 0
        self.next_report = 0.0
        self._sr_sent: dict[int, float] = {}
        # From the subscriber's Receiver Reports.
        self.fraction_lost = 0
        self.packets_lost = 0
        self.jitter = 0
        self.rtt: float | None = None
        self.report_time: float | None = None  # when the last one arrived

    # --- state that the native fan-out may hold ----------------------------------------------

    @property
    def sink(self) -> PacketSink:
        """The subscriber's transport: everything this down-track sends goes through it."""
        return self._sink

    @sink.setter
    def sink(self: Self, sink: PacketSink) -> None:
        """A new subscriber connection: an attached down-track moves to its sender at once."""
        reattach = self._reattach
        self.detach_native()
        self._sink = sink
        if reattach is not None:
            reattach(self)

    @property
    def munger(self) -> Munger:
        self._pull_native()
        return self._munger

    @property
    def waiting_keyframe(self) -> bool:
        return self._waiting_keyframe

    @waiting_keyframe.setter
    def waiting_keyframe(self, value: bool) -> None:
        self._waiting_keyframe = value
        if self._native is not None:
            self._native.waiting_keyframe = value

    @property
    def packets_sent(self) -> int:
        self._pull_native()
        return self._packets_sent

    @packets_sent.setter
    def packets_sent(self, value: int) -> None:
        self._pull_native()
        self._packets_sent = value
        self._push_native()

    @property
    def bytes_sent(self) -> int:
        self._pull_native()
        return self._bytes_sent

    @bytes_sent.setter
    def bytes_sent(self, value: int) -> None:
        self._pull_native()
        self._bytes_sent = value
        self._push_native()

    @property
    def octets_sent(self) -> int:
        self._pull_native()
        return self._octets_sent

    @octets_sent.setter
    def octets_sent(self, value: int) -> None:
        self._pull_native()
        self._octets_sent = value
        self._push_native()

    @property
    def packets_dropped(self) -> int:
        self._pull_native()
        return self._packets_dropped

    @packets_dropped.setter
    def packets_dropped(self, value: int) -> None:
        self._pull_native()
        self._packets_dropped = value
        self._push_native()

    @property
    def native(self) -> bool:
        """True while the native fan-out runs this down-track's steady state."""
        return self._native is not None

    @property
    def native_entry(self) -> FanoutEntry | None:
        """The fan-out entry while attached, else None."""
        return self._native

    def attach_native(self, entry: FanoutEntry, reattach: Callable[[Self], None]) -> None:
        """Hand the steady state to ``entry``; ``reattach(self)`` runs when the sink changes."""
        if self._native is not None:
            self.detach_native()
        self._native = entry
        self._reattach = reattach
        self._push_native()

    def detach_native(self) -> None:
        """Take the state back from the fan-out entry; Python runs every packet again."""
        entry = self._native
        if entry is None:
            return
        self._pull_native()
        entry.dropping = True  # a group that still holds it skips it
        self._native = None
        self._reattach = None

    def _pull_native(self) -> None:
        """Bring what the fan-out entry moved on (munger position, counters) into Python."""
        e = self._native
        if e is None:
            return
        self._munger.restore(e.munger)
        self._packets_sent, self._bytes_sent, self._octets_sent, self._packets_dropped = e.counters

    def _push_native(self) -> None:
        """Give the fan-out entry the whole state after Python changed any of it."""
        e = self._native
        if e is None:
            return
        e.munger = self._munger.snapshot()
        e.dropping = self._dropping
        e.waiting_keyframe = self._waiting_keyframe
        e.slow = self._ext_table is not None or bool(self._red_unwrap)
        e.counters = (self._packets_sent, self._bytes_sent, self._octets_sent, self._packets_dropped)

    def native_pt_map(self) -> bytes:
        """The payload type map as a fan-out entry takes it: 128 bytes, 0xFF = not forwarded."""
        table = bytearray(b"\xff" * 128)
        for pt, opt in self._pt_map.items():
            if 0 <= pt < 128 and 0 <= opt < 128:
                table[pt] = opt
        if self.red_optional is not None:  # the fan-out forwards RED only when it is sent whole
            table[self.red_optional[0]] = self.red_optional[0]
        return bytes(table)

    def write_rtp_native(
        self, packet: bytes, head: int, tail: bytes, pt: int, seq: int, ts: int, keyframe: bool, size: int, now: float
    ) -> None:
        """:meth:`write_rtp` for a packet the fan-out entry handed back (the slow path)."""
        self._pull_native()
        self.write_rtp(packet, head, tail, pt, seq, ts, keyframe, size, now)
        self._push_native()

    # --- hot path -------------------------------------------------------------------------------

    def write_rtp(
        self,
        packet: bytes,
        head: int,
        tail: bytes,
        pt: int,
        seq: int,
        ts: int,
        keyframe: bool,
        payload_size: int,
        now: float,
    ) -> None:
        """Forward one packet of the up-track (validated by the router) to the subscriber.

        ``head`` is ``packet[0] << 8 | marker bit`` and ``tail`` is ``packet[12:]``, computed
        once per packet by the forwarder rather than once per down-track.
        """
        if self._dropping:
            return
        if self._waiting_keyframe:
            if not keyframe:
                self._packets_dropped += 1
                return
            self._waiting_keyframe = False
        opt = self._pt_map.get(pt, -1)
        if self._red_unwrap and pt in self._red_unwrap:
            self._write_unwrapped(packet, pt, opt, seq, ts, payload_size, now)
            return
        mapped = self._munger.munge(seq, ts, now) if opt >= 0 else None
        if mapped is None:
            self._packets_dropped += 1
            return
        table = self._ext_table
        if table is None:
            out = _HDR(head | opt, mapped[0], mapped[1], self.ssrc) + tail
        else:
            try:
                out = bytes(rewrite(packet, self.ssrc, mapped[0], mapped[1], opt, table))
            except ValueError:  # malformed extension element (RFC 8285 §4)
                self._packets_dropped += 1
                return
        self._send(out, payload_size)

    # --- RED (RFC 2198) for a subscriber that did not negotiate it ------------------------------

    def set_red_unwrap(self, red_pt: int, primary_pt: int, out_pt: int) -> None:
        """Send only the primary block of ``red_pt`` packets whose primary is ``primary_pt``, as
        ``out_pt`` (the subscriber's plain codec). Such packets take the Python path."""
        self._pull_native()
        self._red_unwrap[red_pt] = primary_pt
        self._pt_map[red_pt] = out_pt
        self._push_native()

    def send_red(self, on: bool) -> None:
        """For a subscriber that takes RED and its primary codec alike (``red_optional``): send
        the RED packets whole (``on``) or their primary blocks only."""
        if self.red_optional is None or on != self.unwraps_red:
            return
        red_pt, primary_pt = self.red_optional
        if not on:
            self.set_red_unwrap(red_pt, primary_pt, primary_pt)
            return
        self._pull_native()
        del self._red_unwrap[red_pt]
        self._pt_map[red_pt] = red_pt
        self._push_native()

    @property
    def unwraps_red(self) -> bool:
        """Whether this down-track sends RED packets' primary blocks only."""
        return bool(self._red_unwrap)

    def _primary(self, packet: bytes, red_pt: int) -> tuple[int, bytes]:
        """The header length and the primary block of a RED packet (ValueError if unusable)."""
        _pt, _seq, _ts, _ssrc, hlen, _marker, pad = header_fields(packet)
        return hlen, red.unwrap(packet[hlen : len(packet) - pad], self._red_unwrap[red_pt])

    def _unwrapped(self, packet: bytes, hlen: int, data: bytes, opt: int, seq: int, ts: int) -> bytearray:
        out = rewrite(packet[:hlen], self.ssrc, seq, ts, opt, self._ext_table)
        out[0] &= 0xDF  # the RED payload's padding is not carried over
        out += data
        return out

    def _write_unwrapped(
        self, packet: bytes, pt: int, opt: int, seq: int, ts: int, payload_size: int, now: float
    ) -> None:
        try:
            hlen, data = self._primary(packet, pt)
        except ValueError:  # malformed, empty or foreign primary: dropped, the seq gap closed
            self._munger.drop(seq, ts, now)
            self.red_dropped += 1
            self._packets_dropped += 1
            return
        mapped = self._munger.munge(seq, ts, now)
        if mapped is None:
            self._packets_dropped += 1
            return
        try:
            out = bytes(self._unwrapped(packet, hlen, data, opt, mapped[0], mapped[1]))
        except ValueError:  # malformed extension element (RFC 8285 §4)
            self._packets_dropped += 1
            return
        self._send(out, len(data))

    # --- NACK (RFC 4585 §6.2.1) and RTX (RFC 4588 §4) -------------------------------------------

    def retransmit(self, out_seq: int, now: float | None = None) -> bool:
        """Resend the packet the subscriber knows as ``out_seq`` (the munger maps it back to the
        cache's publisher seq); on the RTX SSRC with its own seq and the OSN when RTX was
        negotiated, else as the plain packet again. False if it cannot be found, or (given
        ``now``) was resent less than a round trip (at least :data:`RESEND_GAP`) ago: asked again
        each round trip, resending it every time would only deepen a congested path's queue."""
        self.nacks_received += 1
        if now is not None:
            resent = self._resent
            last = resent.get(out_seq)
            if last is not None and now - last < max(self.rtt or 0.0, RESEND_GAP):
                self.resends_held += 1
                return False
            if len(resent) >= 2048:
                self._resent = resent = {s: t for s, t in resent.items() if now - t < 1.0}
            resent[out_seq] = now
        self._pull_native()
        mapped = self._munger.reverse(out_seq)
        packet = self._src.cache.get(mapped[0]) if mapped is not None else None
        if packet is None or mapped is None:
            self.nacks_unrecoverable += 1
            return False
        pt, _seq, ts, _ssrc, hlen, _marker, pad = header_fields(packet)
        opt = self._pt_map.get(pt, -1)
        if opt < 0:
            self.nacks_unrecoverable += 1
            return False
        try:
            if self._vp8 is not None and pt in self.up.vp8_pts:  # the picture as it was forwarded
                desc = vp8.parse(memoryview(packet)[hlen : len(packet) - pad])
                counters = self._vp8.lookup(desc) if desc is not None else None
                if desc is None or counters is None:
                    self.nacks_unrecoverable += 1
                    return False
                head = rewrite(packet[:hlen], self.ssrc, out_seq, ts + mapped[1], opt, self._ext_table)
                out = head + vp8.descriptor_bytes(desc, *counters) + packet[hlen + desc.size :]
            elif pt in self._red_unwrap:
                hlen, data = self._primary(packet, pt)
                out = self._unwrapped(packet, hlen, data, opt, out_seq, ts + mapped[1])
            else:
                out = rewrite(packet, self.ssrc, out_seq, ts + mapped[1], opt, self._ext_table)
        except ValueError:
            self.nacks_unrecoverable += 1
            return False
        rtx_pt = self._rtx_pts.get(opt)
        if self.rtx_ssrc is not None and rtx_pt is not None:
            data = rtx_wrap(out, self.rtx_ssrc, self._rtx_seq, rtx_pt)
            self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
            self._sink.send_rtp(data)
        else:
            self._sink.send_rtp(bytes(out))
        self.retransmits += 1
        return True

    def padding_packet(self, size: int) -> bytes | None:
        """A padding-only packet of about ``size`` bytes on the RTX stream (RFC 4588; RFC 3550
        §5.1: the P bit, the last octet counts the padding, at most 255), for a bandwidth probe
        (``hubbub.transport.congestion``); None without RTX or before the first packet. A paused
        video pads too (that is how its path is shown to carry its lowest layer again). The
        subscriber discards it; its transport-wide sequence number is what counts."""
        rtx_pt = next(iter(self._rtx_pts.values()), None)
        if self.rtx_ssrc is None or rtx_pt is None or not self.packets_sent:
            return None
        pad = max(1, min(255, size - 12))
        seq = self._rtx_seq
        self._rtx_seq = (seq + 1) & 0xFFFF
        return _HDR(0xA000 | rtx_pt, seq, 0, self.rtx_ssrc) + bytes(pad - 1) + bytes((pad,))

    # --- source switch -------------------------------------------------------------------------

    def switch_up_track(self, up: U, now: float) -> None:
        """Feed this subscription from another up-track (a replaced publisher, later a layer).

        The subscriber keeps its SSRC and sees seq continue at +1 and ts advance by the
        elapsed time (see :meth:`Munger.switch_source`); video resumes on a keyframe.
        """
        self._pull_native()
        self.up = up
        self._ext_table = ext_id_table(up.ext_ids, self._sub_ext_ids)
        self._munger.switch_source(now)
        if up.kind == "video":
            self._waiting_keyframe = True
        sel = self._selector
        self._src = up
        self._layered(up, sel.requested if sel else len(up.layers) - 1, sel.max_temporal if sel else MAX_TEMPORAL)
        self._push_native()

    @property
    def dropping(self) -> bool:
        """Muted or paused: nothing is forwarded."""
        return self._dropping

    def restart(self) -> bool:
        """Video only: resume on the next keyframe, in a new munger epoch; False for audio.

        For a subscriber that has just become able to decode (see ``Router.start_receiving``):
        nothing forwarded before reached its decoder, so the stream starts over from a keyframe.
        """
        if self.up.kind != "video":
            return False
        self._pull_native()
        if self._munger.started:
            self._munger.mute()
        self._waiting_keyframe = True
        if self._selector is not None:
            self._selector.restart()
        self._push_native()
        return True

    # --- mute / pause ----------------------------------------------------------------------------

    def set_muted(self, muted: bool) -> None:
        """Subscriber-side mute (the subscriber or the room turned this copy off)."""
        self.muted = muted
        self._update_dropping()

    def set_paused(self, paused: bool) -> None:
        """Paused by bandwidth allocation (congestion control, later)."""
        self.paused = paused
        self._update_dropping()

    def _update_dropping(self) -> None:
        self._pull_native()
        dropping = self.muted or self.paused
        if dropping and not self._dropping:
            self._munger.mute()
        elif not dropping and self._dropping and self.up.kind == "video" and self._munger.started:
            # The decoder missed frames: resume on a keyframe and ask for one.
            self._waiting_keyframe = True
            if self._selector is not None:
                self._selector.restart()
            self.up.layers[self.keyframe_layer].keyframe_pending = True
        self._dropping = dropping
        self._push_native()

    # --- RTCP ------------------------------------------------------------------------------------

    def sender_report(self, now: float, wall_clock_offset: float) -> bytes | None:
        """SR + SDES CNAME for the subscriber (RFC 3550 §6.4.1, §6.5.1), None before any packet.

        The NTP/RTP pair is the publisher's last SR extrapolated to ``now`` on the publisher's
        own NTP timeline, with the RTP time moved into this down-track's timestamp space (the
        munger's offset). Audio and video of one publisher thus keep the publisher's relation
        between NTP and RTP time, which is what receivers use for lip sync. Before the first
        publisher SR, the local clock and the last packet's timestamp stand in.
        """
        munger = self.munger  # pulls the native state
        if not munger.started:
            return None
        up = self.up
        src = self._src  # the layer forwarded: its SR relates its timestamps to NTP time
        if src.sr_time is not None:
            elapsed = now - src.sr_time
            ntp = src.sr_ntp + round(elapsed * 4294967296.0)
            ntp_sec, ntp_frac = (ntp >> 32) & _M32, ntp & _M32
            rtp_ts = (src.sr_rtp + round(elapsed * up.clock_rate) + munger.ts_offset) & _M32
        else:
            ntp_sec, ntp_frac = ntp_from_unix(now + wall_clock_offset)
            rtp_ts = (munger.last_ts + round((now - munger.last_time) * up.clock_rate)) & _M32
        sr = SenderReport(self.ssrc, ntp_sec, ntp_frac, rtp_ts, self._packets_sent & _M32, self._octets_sent & _M32)
        sent = self._sr_sent
        sent[ntp_middle32(ntp_sec, ntp_frac)] = now
        if len(sent) > _SR_MEMORY:
            del sent[next(iter(sent))]
        return bytes(sr) + bytes(Sdes.with_cname(self.ssrc, self.cname))

    def on_receiver_report(self, block: ReportBlock, now: float) -> None:
        """Record the subscriber's view: loss, jitter and RTT (RFC 3550 §6.4.1 LSR/DLSR)."""
        self.report_time = now
        self.fraction_lost = block.fraction_lost
        self.packets_lost = block.packets_lost
        self.jitter = block.jitter
        if block.lsr:
            sent = self._sr_sent.get(block.lsr)
            if sent is not None:
                self.rtt = max(0.0, now - sent - block.dlsr / 65536.0)
