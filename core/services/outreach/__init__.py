"""Messages the shop sends unprompted: follow-ups after a purchase, and notices.

``purchases`` records a purchase the shop reports and decides its follow-up;
``followups`` decides when a follow-up may go out and records what happened;
``notices`` tells a customer something in the chat, later and reliably.
"""

from __future__ import annotations

__all__: list[str] = []
