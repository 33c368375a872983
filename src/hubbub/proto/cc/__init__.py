"""Congestion control, sans-I/O: what the SFU measures and decides about the rate a connection can
carry. Time comes in as ``now`` (seconds); nothing here sends or sleeps.

- :mod:`.feedback`: the receive side of transport-wide CC, the feedback a publisher's own
  estimator needs (which of its numbered packets arrived, and when);
- :mod:`.publisher`: which feedback a publisher connection gets, behind one interface.
"""
