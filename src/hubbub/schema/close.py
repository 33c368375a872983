"""The WebSocket close codes the server sends on ``/rtc/v1`` and ``/rtm/v1`` (RFC 6455 §7.4).

Codes from 4000 up are the application's own (RFC 6455 §7.4.2); the reason beside each code is a
short word the protocol documents (``slow_consumer``, ``join_timeout``, ``login_refused``...).
"""

from __future__ import annotations

CLOSE_NORMAL = 1000  # RFC 6455 §7.4.1: the session is over (leave, logout, kicked, shutdown)
CLOSE_POLICY = 1008  # RFC 6455 §7.4.1: policy violation (no first frame in time, a refused join or login)
CLOSE_SLOW = 4008  # the client did not read its frames fast enough (its outbox overflowed)
CLOSE_FLOOD = 4029  # the client sent frames far beyond its rate limit

SLOW_CONSUMER = "slow_consumer"
"""The close reason that goes with :data:`CLOSE_SLOW`."""
