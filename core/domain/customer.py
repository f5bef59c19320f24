"""Customers and the identities they are known by."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["ACTIVITY_RESOLUTION", "Customer", "Identity", "IdentityKind", "ProcessingFlags"]

ACTIVITY_RESOLUTION = timedelta(minutes=1)  # how finely last_active_at is kept


class IdentityKind(StrEnum):
    TELEGRAM = "telegram"
    PHONE = "phone"
    EMAIL = "email"
    MEMBER = "member"
    WHATSAPP = "whatsapp"  # the wa_id WhatsApp gives: the number's digits, verified by it


@dataclass(frozen=True)
class Identity:
    """One way to recognise a customer; ``value`` is already normalised."""

    kind: IdentityKind
    value: str
    verified: bool = False


@dataclass(frozen=True)
class ProcessingFlags:
    """Switches the customer set with their rights; the policy reads them everywhere.

    ``objected_marketing`` is absolute (GDPR 21(3)); ``opted_out_sharing_at`` is
    kept so a CCPA opt-out is not re-asked within the policy's period.
    """

    restricted: bool = False
    objected_marketing: bool = False
    opted_out_sharing_at: datetime | None = None
    unreachable: bool = False

    @property
    def opted_out_sharing(self) -> bool:
        return self.opted_out_sharing_at is not None


@dataclass
class Customer:
    """A person the shop knows. ``ref`` is their pseudonym everywhere outside storage."""

    ref: str
    created_at: datetime
    last_active_at: datetime
    # Their last message on WhatsApp (None: never): WhatsApp's 24-hour window runs from
    # it, and only from it (a purchase or a staff action opens no window).
    last_message_at: datetime | None = None
    language: str = "en"
    jurisdiction: str | None = None
    timezone: str | None = None
    notice_version_seen: str | None = None
    flags: ProcessingFlags = field(default_factory=ProcessingFlags)
    identities: list[Identity] = field(default_factory=list)
    # Personal fields in clear, only ever in memory; storage keeps them encrypted.
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    address: str | None = None
    member_no: str | None = None

    def touch(self, now: datetime) -> None:
        """They did something now. Kept to the minute: retention counts inactivity in
        days, and a burst of taps need not rewrite their row at each one."""
        if now - self.last_active_at >= ACTIVITY_RESOLUTION:
            self.last_active_at = now

    def zone(self, default: ZoneInfo) -> ZoneInfo:
        """The customer's time zone, or ``default`` (the shop's) if none is set or
        the name is not a zone this system knows (a typo, a removed name)."""
        if not self.timezone:
            return default
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            # OSError: a directory of the zone database ("America") is no zone.
            return default

    @property
    def whatsapp_id(self) -> str | None:
        for identity in self.identities:
            if identity.kind is IdentityKind.WHATSAPP:
                return identity.value
        return None

    @property
    def telegram_chat_id(self) -> int | None:
        """A private chat's id is the user's id; customers known only by phone have none."""
        for identity in self.identities:
            if identity.kind is IdentityKind.TELEGRAM and identity.value.lstrip("-").isdigit():
                return int(identity.value)
        return None
