"""Every kind of send, and the one rule each follows: its priority, how it is retried.

One retry policy for all: a 429 waits ``retry_after`` (and pauses the whole bot),
5xx answers and connections never made back off (capped, jittered) and try again,
a definite refusal (400, 403) is final, and an unknown outcome (the request went
out, no answer came) is resent only for kinds that must arrive and may arrive
twice. The kinds differ only in how long they may keep trying.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

__all__ = ["RULES", "Priority", "Rule", "SendKind"]


class Priority(IntEnum):
    """Lower goes first: a customer waiting in the chat before anything in the background."""

    CONVERSATION = 0  # replies in a turn
    NOTICE = 1  # rights notices, exports, staff messages
    BULK = 2  # follow-ups: they fill what the others leave


class SendKind(StrEnum):
    REPLY = "reply"  # a reply in someone's turn
    CALLBACK = "callback"  # answering a button press (stops its spinner; not a message)
    FOLLOWUP = "followup"  # after a purchase: at most once
    EXPORT = "export"  # a customer's data as a document: at most once
    NOTICE = "notice"  # about a customer's rights: at least once
    INCIDENT = "incident"  # a breach notice: at most once per customer and incident
    STAFF = "staff"  # to staff (the daily digest): at least once


@dataclass(frozen=True)
class Rule:
    priority: Priority
    unprompted: bool  # one per chat per chat interval (the customer did not just write)
    resend_unknown: bool  # at least once: a lost answer is sent again
    max_wait: float  # retry_after seconds honoured in all before handing back
    attempts: int  # tries in all when the answer proves it was not delivered
    counted: bool = True  # a message: it takes a permit of the bot's budget


RULES: dict[SendKind, Rule] = {
    SendKind.REPLY: Rule(Priority.CONVERSATION, False, False, max_wait=30.0, attempts=4),
    # A button's spinner stops on its own; the replies must not wait long behind it.
    SendKind.CALLBACK: Rule(Priority.CONVERSATION, False, False, 2.0, 2, counted=False),
    SendKind.FOLLOWUP: Rule(Priority.BULK, True, False, max_wait=60.0, attempts=5),
    SendKind.EXPORT: Rule(Priority.NOTICE, True, False, max_wait=60.0, attempts=5),
    SendKind.NOTICE: Rule(Priority.NOTICE, True, True, max_wait=60.0, attempts=5),
    SendKind.INCIDENT: Rule(Priority.NOTICE, True, False, max_wait=60.0, attempts=5),
    SendKind.STAFF: Rule(Priority.NOTICE, True, True, max_wait=60.0, attempts=5),
}
