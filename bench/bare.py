"""The bare bots' screen: the same consent keyboard, kept in a dict, no core.

Payloads look like ours (``<token>|cs|<purpose>:<0|1>``) so the bytes on the wire
are alike; the bare bot trusts them, as a bot without our checks would.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from bench.inbound import PURPOSES

__all__ = ["BareScreen"]


class BareScreen:
    def __init__(self) -> None:
        self.consents: dict[tuple[int, str], bool] = {}

    def keyboard(self, user_id: int) -> tuple[str, list[list[tuple[str, str]]]]:
        token = secrets.token_urlsafe(6)
        lines, rows = ["Your privacy choices", ""], []
        for purpose in PURPOSES:
            on = self.consents.get((user_id, purpose), False)
            tick = "✅" if on else "⬜"
            lines.append(f"{tick} {purpose}: what it is for, in plain words\n    never decided")
            rows.append([(f"{tick} {purpose}", f"{token}|cs|{purpose}:{int(not on)}")])
        lines += ["", "Tap a purpose to give or withdraw consent."]
        return "\n".join(lines), rows

    def press(self, user_id: int, data: str) -> tuple[str, str]:
        """Apply a press; (short notice, receipt text)."""
        _token, _, arg = data.partition("|cs|")
        purpose, _, want = arg.partition(":")
        give = want == "1"
        self.consents[(user_id, purpose)] = give
        notice = "Given" if give else "Withdrawn"
        when = datetime.now(UTC).isoformat(timespec="seconds")
        return notice, f"Receipt: {purpose} {notice.lower()} at {when}, notice 2026-11."
