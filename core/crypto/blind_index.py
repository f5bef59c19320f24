"""Keyed blind indexes: find a customer by phone or email without storing either.

Values are normalised first so that "+852 9123 4567" and "91234567" (region HK)
find the same person; the HMAC key lives wrapped in the database, so an index
leaked without the master key cannot be brute-forced from phone number ranges.
"""

from __future__ import annotations

import hashlib
import hmac

import phonenumbers

from core.errors import InvalidInput

__all__ = ["BlindIndexer", "keyed_hash", "normalise_email", "normalise_phone"]


def normalise_phone(raw: str, default_region: str) -> str:
    """E.164 form, or InvalidInput for something that is not a possible number."""
    try:
        number = phonenumbers.parse(raw.strip(), default_region.upper())
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput("not a phone number", code="bad_phone") from exc
    if not phonenumbers.is_possible_number(number):
        raise InvalidInput("not a possible phone number", code="bad_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(raw: str) -> str:
    email = raw.strip().casefold()
    local, sep, domain = email.rpartition("@")
    if not sep or not local or "." not in domain or domain.startswith(".") or " " in email:
        raise InvalidInput("not an email address", code="bad_email")
    return email


def keyed_hash(key: bytes, secret: str) -> str:
    """What is stored of a bearer secret (an agent's token, a link's): HMAC-SHA256 hex,
    so a copy of the database cannot present it."""
    return hmac.new(key, secret.encode(), hashlib.sha256).hexdigest()


class BlindIndexer:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def index(self, kind: str, normalised: str) -> str:
        msg = f"{kind}:{normalised}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()

    def derive(self, label: str) -> bytes:
        """A separate secret for another purpose (e.g. keying the audit chain)."""
        return hmac.new(self._key, f"derive:{label}".encode(), hashlib.sha256).digest()

    def pseudonym(self, namespace: str, value: str) -> str:
        """A short stable pseudonym, e.g. for a staff member in the audit log."""
        return self.index(namespace, value)[:16]
