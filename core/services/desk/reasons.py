"""Reasons staff give (look-ups, reveals, rejections, extensions, ended waits).

A reason has a category, kept in clear for the audit ("identity", "legal", ...:
the first word typed, when it names one, else "other"), and free text, sealed
under the subject customer's data key wherever it is stored (audit details, the
request's history, the customer's notice, the desk's state): an erasure shreds
the text with the rest of the customer's data, while the audit chain, which
hashes the sealed form, still verifies. Text with no customer behind it (a
look-up that found nobody) is not kept at all; only its category is.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from core.errors import DataShredded, IntegrityError
from core.storage import UnitOfWork

__all__ = [
    "CATEGORIES",
    "MAX_REASON",
    "StaffReason",
    "open_reason",
    "opened_text",
    "parse_reason",
    "seal_reason",
    "shown_reason",
]

CATEGORIES = (
    "identity",  # checking who someone is
    "order",  # an order, a delivery, a payment
    "request",  # a data-rights request
    "complaint",
    "legal",  # a legal obligation, an authority's demand, an exemption
    "security",  # fraud, abuse, a breach
    "unfounded",  # manifestly unfounded or excessive
    "complex",  # needs more time: many or complex requests
    "other",
)
MAX_REASON = 200
_SEALED = "sealed:"
_FIELD = "staff_note"
_IN_TEXT = re.compile(r"([a-z]+) sealed:([A-Za-z0-9+/=]+)")


@dataclass(frozen=True)
class StaffReason:
    category: str
    note: str = ""  # "" when none was typed, or it was shredded with its customer


def parse_reason(raw: str | None) -> StaffReason | None:
    """One line, capped; None when nothing was typed."""
    text = " ".join((raw or "").split())[:MAX_REASON]
    if not text:
        return None
    first, _, rest = text.partition(" ")
    if first.casefold() in CATEGORIES:
        return StaffReason(first.casefold(), rest)
    return StaffReason("other", text)


async def seal_reason(raw: str | None, subject_ref: str | None, uow: UnitOfWork) -> str:
    """The stored form: "<category>" or "<category> sealed:<base64>"; "" when empty."""
    reason = parse_reason(raw)
    if reason is None:
        return ""
    if not reason.note or subject_ref is None:
        return reason.category
    blob = (await uow.keys.cipher(subject_ref)).encrypt(_FIELD, reason.note)
    assert blob is not None
    return f"{reason.category} {_SEALED}{base64.b64encode(blob).decode()}"


async def open_reason(stored: str, subject_ref: str, uow: UnitOfWork) -> StaffReason:
    """The category and, while the customer's key exists, the text."""
    category, _, rest = stored.partition(" ")
    if not rest.startswith(_SEALED):
        return StaffReason(category or "other", rest)
    try:
        cipher = await uow.keys.cipher(subject_ref)
        note = cipher.decrypt(_FIELD, base64.b64decode(rest.removeprefix(_SEALED)))
    except (DataShredded, IntegrityError, ValueError):
        note = None
    return StaffReason(category, note or "")


def shown_reason(stored: str | None) -> str:
    """For a list that does not decrypt: the category, and that a note is sealed
    (also inside a longer note, such as the history's "extended: <reason>")."""
    return _IN_TEXT.sub(r"\1 (+ sealed note)", stored or "")


async def opened_text(stored: str, subject_ref: str, uow: UnitOfWork) -> str:
    """A stored note with each reason in it opened: "category: text" (or the category
    alone, once the text went with the customer's key)."""
    parts, last = [], 0
    for match in _IN_TEXT.finditer(stored):
        reason = await open_reason(match.group(0), subject_ref, uow)
        parts += [stored[last : match.start()], reason.category]
        parts += [f": {reason.note}"] if reason.note else []
        last = match.end()
    return "".join([*parts, stored[last:]])
