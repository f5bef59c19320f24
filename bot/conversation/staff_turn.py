"""One turn of a staff member at the desk: their role, saved state and reply helpers.

Staff are known by their Telegram id, not registered as customers. Button tokens
work as in the customers' ``Turn``: a payload is accepted only if its token is in
this staff member's own desk state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.conversation.events import Incoming, Outcome
from bot.conversation.turn import Dialog
from bot.render.i18n import Translator, locale_for
from core.app import PrivacyCore
from core.domain.staff import Staff
from core.errors import PrivacyError
from core.storage import UnitOfWork

__all__ = ["Desk", "short_time"]


@dataclass
class Desk(Dialog):
    """A staff member's turn; ``uow`` is the turn's one unit of work (the engine's)."""

    core: PrivacyCore
    uow: UnitOfWork
    event: Incoming
    staff: Staff
    state: dict[str, Any]
    outcome: Outcome = field(default_factory=Outcome)
    _token: str | None = None

    @property
    def by(self) -> int:
        return self.event.user_id

    @property
    def t(self) -> Translator:
        return Translator(locale_for(self.event.language_code))

    def may(self, permission: str) -> bool:
        """For showing buttons only; every action is checked again by its use case."""
        return self.core.policy.allows(self.staff.role.value, permission)

    def refused(self, error: PrivacyError) -> None:
        key = f"staff.error.{error.code}"
        self.say(self.t(key) if self.t(key) != key else self.t("staff.error.generic"))


def short_time(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")
