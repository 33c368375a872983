"""``hubbub bench sfu``'s simulated peers without a server: plain RTP between two of them on loopback."""

from __future__ import annotations

import asyncio
import struct

from hubbub.bench.sfu.loadgen import LoadGen, SimParticipant
from hubbub.bench.sfu.peer import STAMP, STAMP_LEN


async def test_a_plain_peer_counts_stamped_packets_into_the_run_meter() -> None:
    gen = LoadGen(secure=False)
    who = SimParticipant("pub0", ("audio",), subscribes=False)
    stream = gen.new_stream("audio", who)
    sender, receiver = await gen.new_peer(), await gen.new_peer()
    try:
        assert sender.meter is receiver.meter is gen.meter and sender.streams is gen.streams
        sender.set_remote(("127.0.0.1", receiver.port), "", "", [], "active")
        assert sender.dtls is None  # plain RTP: no DTLS, nothing to connect
        await sender.connect()
        stream.peer = sender
        meter = gen.meter
        meter.start, meter.end, meter.arrival_end = 0.0, float("inf"), float("inf")
        gen.start_media()
        for _ in range(200):
            if receiver.counts.get(stream.stream_id, 0) >= 3:
                break
            await asyncio.sleep(0.01)
        assert receiver.counts[stream.stream_id] >= 3
        assert meter.received_in_window >= 3 and meter.arrived_in_window >= 3
        assert meter.sent_in_window[stream.stream_id] >= 3
        assert len(meter.delays) == meter.received_in_window and min(meter.delays) >= 0
        # RTP whose stamp names no stream of this run, and RTP too short for a stamp, are foreign.
        header = struct.pack("!BBHII", 0x80, 96, 1, 2, 3)
        foreign = meter.foreign
        receiver.datagram_received(header + STAMP.pack(0.0, 999, 1), ("127.0.0.1", sender.port))
        receiver.datagram_received(header + bytes(STAMP_LEN - 1), ("127.0.0.1", sender.port))
        assert meter.foreign == foreign + 2 and 999 not in receiver.counts
    finally:
        await gen.stop()
