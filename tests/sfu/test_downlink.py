"""A subscriber's estimate shared out by the router (hubbub.sfu.downlink): the layer a capped
subscriber gets, pauses and resumes reported through on_stream_state, probes asked for, padding
made on the RTX stream, and the wishes that cap it all."""

from __future__ import annotations

from test_simulcast import Call, Sink, assert_continuous, widths

from hubbub.proto.rtp import RtpPacket
from hubbub.sfu.allocator import Priority
from hubbub.sfu.downlink import Downlink
from hubbub.sfu.layers import MAX_TEMPORAL


class RateSink(Sink):
    """A subscriber transport with a send-side estimate, as PeerTransport's."""

    def __init__(self, estimate: float | None) -> None:
        super().__init__()
        self.send_estimate = estimate
        self.probes: list[float] = []
        self.padding: object = None

    def request_probe(self, need_bps: float) -> None:
        self.probes.append(need_bps)

    def set_padding_rate(self, bps: float) -> None:
        self.padding_rate = bps

    def set_padding(self, padding: object) -> None:
        self.padding = padding


def call_with(estimates: list[float | None]) -> tuple[Call, list[RateSink]]:
    call = Call(0)
    sinks = []
    for i, estimate in enumerate(estimates):
        sink = RateSink(estimate)
        call.router.subscribe(
            "cam", f"s{i}", sink, ssrc=call.router.allocate_ssrc(), rtx_ssrc=call.router.allocate_ssrc(), rtx_pt=97
        )
        sinks.append(sink)
    return call, sinks


def serve_keyframes(call: Call, seconds: float) -> None:
    """Run the call, answering every PLI with a key frame of that layer on the next picture."""
    for _ in range(int(seconds * 30)):
        call.step(keys=call.answer_plis())


def test_each_subscriber_gets_the_layer_its_estimate_allows() -> None:
    call, (poor, rich, unknown) = call_with([250_000, 5_000_000, None])
    states: list[tuple[object, str, bool, str]] = []
    call.router.on_stream_state = lambda *change: states.append(change)
    serve_keyframes(call, 4)
    # the measured rates of the test's layers are tiny: the estimate decides only against the cap
    assert widths(rich)[-1] == 640 and widths(unknown)[-1] == 640
    assert_continuous(poor)
    assert not states
    # an estimate under even the lowest layer pauses the video, and says so
    poor.send_estimate = 1_000.0
    serve_keyframes(call, 1)
    dt = call.router.down_track("cam", "s0")
    assert dt is not None and dt.paused
    assert states == [("s0", "cam", False, "bandwidth")]
    sent = len(poor.rtp)
    serve_keyframes(call, 1)
    assert len(poor.rtp) == sent  # nothing while paused
    # it resumes only after the hold, with headroom, on a key frame, and says so
    poor.send_estimate = 5_000_000.0
    serve_keyframes(call, 4)
    assert not dt.paused and states[-1] == ("s0", "cam", True, "")
    assert len(poor.rtp) > sent
    assert_continuous(poor)


def test_a_hidden_video_is_paused_as_not_wanted_and_the_wish_caps_the_allocation() -> None:
    call, (sink,) = call_with([5_000_000])
    states: list[tuple[object, str, bool, str]] = []
    call.router.on_stream_state = lambda *change: states.append(change)
    serve_keyframes(call, 2)
    assert widths(sink)[-1] == 640
    assert call.router.set_target_layer("cam", "s0", -1, now=call.now)
    assert states == [("s0", "cam", False, "not_wanted")]
    assert call.router.set_target_layer("cam", "s0", 0, now=call.now)
    serve_keyframes(call, 2)
    assert states[-1] == ("s0", "cam", True, "") and widths(sink)[-1] == 160
    dt = call.router.down_track("cam", "s0")
    assert dt is not None and dt.target_layer == (0, MAX_TEMPORAL)
    assert not call.router.set_target_layer("cam", "nobody", 0, now=call.now)


def test_a_subscriber_below_its_wish_is_probed_for_and_padding_is_made_on_rtx() -> None:
    call, (sink,) = call_with([300_000])
    serve_keyframes(call, 2)
    budget = call.router.downlink_budget("s0")
    assert budget is not None and budget[0] == 300_000 and budget[1] > 0  # what its wishes cost, as measured
    # the nominal rate of the top layer does not fit 300 kbit/s: the next step is probed for
    assert sink.probes and min(sink.probes) > 300_000
    assert callable(sink.padding)
    padding = sink.padding(200)
    assert isinstance(padding, bytes)
    packet = RtpPacket.parse(padding)
    dt = call.router.down_track("cam", "s0")
    assert dt is not None and packet.ssrc == dt.rtx_ssrc and packet.pt == 97
    assert packet.payload == b"" and packet.padding_size == 188


def test_a_screen_share_and_the_active_speakers_video_come_first() -> None:
    call, _sinks = call_with([1_000_000])
    dt = call.router.down_track("cam", "s0")
    assert dt is not None
    downlink = Downlink("s0")
    assert downlink._demand("cam", dt, call.now, speaking=()).priority == Priority.NORMAL
    assert downlink._demand("cam", dt, call.now, speaking=("alice",)).priority == Priority.SPEAKER
    call.up.source = "screen"
    assert downlink._demand("cam", dt, call.now, speaking=()).priority == Priority.SCREEN
