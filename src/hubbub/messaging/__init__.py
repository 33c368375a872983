"""Real-time messaging (RTM): channel and peer messages, presence, typing, history, attachments.

See docs/messaging.md for the protocol, the guarantees and the limits.
"""

from hubbub.messaging.attachments import AttachmentService
from hubbub.messaging.config import MessagingSettings
from hubbub.messaging.service import MessagingService
from hubbub.messaging.session import MessagingSession
from hubbub.messaging.types import (
    EventSink,
    Grant,
    HookVerdict,
    MessagingError,
    NewMessage,
    PreDeliveryHook,
    RtmAdmission,
)

__all__ = [
    "AttachmentService",
    "EventSink",
    "Grant",
    "HookVerdict",
    "MessagingError",
    "MessagingService",
    "MessagingSession",
    "MessagingSettings",
    "NewMessage",
    "PreDeliveryHook",
    "RtmAdmission",
]
