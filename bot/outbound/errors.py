"""What a send can learn, the same for every framework: each Sender raises only these.

Messages name classes, never texts.
"""

from __future__ import annotations

__all__ = ["Blocked", "DeliveryUnknown", "NotDelivered", "Rejected", "RetryAfter", "SendError"]


class SendError(Exception):
    """A message was not (known to be) delivered."""


class RetryAfter(SendError):
    """429: Telegram refused the message (not delivered); wait ``seconds`` and retry."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds}s")
        self.seconds = seconds


class Blocked(SendError):
    """403: the user blocked the bot (or deleted their account); do not send again."""


class Rejected(SendError):
    """400 and the like: the request itself is wrong; retrying will not help."""


class NotDelivered(SendError):
    """5xx, or the connection was never made: certainly not delivered; safe to retry."""


class DeliveryUnknown(SendError):
    """The request went out but no answer came (timeout, dropped connection)."""
