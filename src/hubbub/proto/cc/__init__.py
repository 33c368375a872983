"""Congestion control, sans-I/O: what the SFU measures and decides about the rate a connection can
carry. Time comes in as ``now`` (seconds); rates are bit/s; nothing here sends or sleeps.

- :mod:`.feedback`: the receive side of transport-wide CC, the feedback a publisher's own
  estimator needs (which of its numbered packets arrived, and when);
- :mod:`.delay`: delay-based congestion detection (packet groups, the trendline of the queueing
  delay and its adaptive threshold): overusing, normal or underusing;
- :mod:`.aimd`: the AIMD rate control that turns that signal and the incoming rate into a target;
- :mod:`.remote`: a receive-side estimate over abs-send-time, sent as REMB to publishers that
  understand only that (aiortc);
- :mod:`.publisher`: which feedback a publisher connection gets, behind one interface;
- :mod:`.sendside`: the send-side estimate of one connection (a subscriber's), from its
  transport-wide feedback: delay-based and loss-based, with probing;
- :mod:`.loss`: the loss-based half of a send-side estimate, from the losses feedback reports;
- :mod:`.acked`: the acknowledged bitrate, what the path delivered by the feedback's arrival times;
- :mod:`.probe`: bandwidth probing, when to send a burst above the estimate and what its feedback says;
- :mod:`.pacer`: the send queue of one connection: priorities, the pacing rate, bounded bursts,
  probe clusters and padding.
"""
