"""Shop staff and their roles; what a role may do comes from the policy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

__all__ = ["Role", "Staff"]


class Role(StrEnum):
    ADMIN = "admin"
    AGENT = "agent"
    AUDITOR = "auditor"


@dataclass(frozen=True)
class Staff:
    telegram_id: int
    role: Role
    added_at: datetime
