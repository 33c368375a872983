"""Congestion control, sans-I/O: what the SFU measures and decides about the rate a connection can
carry. Time comes in as ``now`` (seconds); rates are bit/s; nothing here sends or sleeps.

- :mod:`.feedback`: the receive side of transport-wide CC, the feedback a publisher's own
  estimator needs (which of its numbered packets arrived, and when);
- :mod:`.delay`: delay-based congestion detection (packet groups, the trendline of the queueing
  delay and its adaptive threshold): overusing, normal or underusing;
- :mod:`.aimd`: the AIMD rate control that turns that signal and the incoming rate into a target;
- :mod:`.publisher`: which feedback a publisher connection gets, behind one interface.
"""
