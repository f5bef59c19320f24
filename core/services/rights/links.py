"""Use cases: a customer's copy as a single-use link, for a chat app that takes no ZIP.

WhatsApp accepts text, PDF and Office documents only, so the export (a ZIP with the
readable page and the JSON) goes as a link to the bot's own HTTP server instead.
The link is for the one customer it was sent to, in their chat: it opens once,
within ``LINK_VALID`` of being sent, and the copy is built when it is opened (no
file waits anywhere). Only a keyed hash of its token is stored; an erasure takes
the customer's links with it. Each refusal (unknown, used, expired) is audited.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import NoReturn

from core.domain.requests import DataRequest
from core.errors import NotFound
from core.services._common import SYSTEM, customer_actor, refuse
from core.storage import UnitOfWork

__all__ = [
    "LINK_VALID",
    "IssueExportLink",
    "OpenedLink",
    "issue_export_link",
    "open_export_link",
    "use_export_link",
]

LINK_VALID = timedelta(hours=12)


@dataclass(frozen=True)
class IssueExportLink:
    request: DataRequest


async def issue_export_link(cmd: IssueExportLink, uow: UnitOfWork) -> str:
    """The link's token. The caller completes the request once the link is sent (it is
    the copy's delivery), as it would for the document."""
    token = secrets.token_urlsafe(24)
    now = uow.now()
    customer = cmd.request.customer_ref
    await uow.export_links.add(token, customer, cmd.request.ref, now, now + LINK_VALID)
    await uow.record(
        customer_actor(customer),
        "export.link_made",
        subject_ref=customer,
        details={"request": cmd.request.ref, "valid_hours": LINK_VALID.total_seconds() / 3600},
    )
    return token


@dataclass(frozen=True)
class OpenedLink:
    customer_ref: str
    request_ref: str


async def open_export_link(token: str, uow: UnitOfWork) -> OpenedLink:
    """The customer whose copy the link opens (not used up yet: see use_export_link);
    an audited refusal if the link is unknown, used or expired."""
    row = await uow.export_links.get(token) if 0 < len(token) <= 64 else None
    now = uow.now()
    problem = (
        "unknown_link"
        if row is None
        else "link_used"
        if row.used_at is not None
        else "link_expired"
        if row.expires_at <= now
        else None
    )
    if problem is not None:
        await _refused(problem, row.customer_ref if row is not None else None, uow)
    assert row is not None
    return OpenedLink(row.customer_ref, row.request_ref)


async def use_export_link(token: str, opened: OpenedLink, uow: UnitOfWork) -> None:
    """Use the link up, once the copy is built: the write comes last, so the build holds
    no write lock; two openings at once get one copy (the other is refused)."""
    if not await uow.export_links.use_once(token, uow.now()):
        await _refused("link_used", opened.customer_ref, uow)
    await uow.record(
        customer_actor(opened.customer_ref),
        "export.link_opened",
        subject_ref=opened.customer_ref,
        details={"request": opened.request_ref},
    )


async def _refused(problem: str, subject: str | None, uow: UnitOfWork) -> NoReturn:
    error = NotFound("this link is not valid (unknown, used or expired)", code=problem)
    await refuse(uow, SYSTEM, "export.link_opened", error, subject_ref=subject)
