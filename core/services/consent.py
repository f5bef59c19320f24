"""Use cases: give or withdraw consent per purpose, see current consent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.domain.actor import Actor
from core.domain.consent import (
    ConsentDecision,
    ConsentEntry,
    ConsentStates,
    RecordStatus,
    record_statuses,
)
from core.domain.customer import Customer
from core.domain.policy import Policy
from core.domain.rules import check_consent_change
from core.errors import PrivacyError
from core.ids import new_ref
from core.services._common import customer_actor, refuse
from core.storage import UnitOfWork

__all__ = [
    "DecideConsent",
    "ExportConsents",
    "MarkNoticeSeen",
    "OptOutOfMarketing",
    "StopMessages",
    "consent_ledger",
    "current_consents",
    "decide_consent",
    "lifts_suppression",
    "mark_notice_seen",
    "messaging_purposes",
    "opt_out_of_marketing",
    "own_record",
    "record_consent_export",
    "stop_messages",
]


@dataclass(frozen=True)
class DecideConsent:
    customer_ref: str
    purpose: str
    give: bool
    channel: str = "telegram"
    actor: Actor | None = None
    separately: bool = False  # on the purpose's own screen (PIPL separate consent)


async def decide_consent(cmd: DecideConsent, uow: UnitOfWork) -> ConsentEntry:
    """Append a decision to the ledger; the entry doubles as the customer's receipt."""
    actor = cmd.actor or customer_actor(cmd.customer_ref)
    decision = ConsentDecision.GIVEN if cmd.give else ConsentDecision.WITHDRAWN
    action = f"consent.{decision.value}"
    customer = await uow.customers.get(cmd.customer_ref, lock=True)
    try:
        check_consent_change(
            uow.policy,
            customer,
            cmd.purpose,
            give=cmd.give,
            now=uow.now(),
            separately=cmd.separately,
        )
    except PrivacyError as error:
        await refuse(uow, actor, action, error, subject_ref=customer.ref, purpose=cmd.purpose)
    kind = uow.policy.purpose(cmd.purpose).separate
    alone = kind.value if kind is not None and cmd.separately else None
    entry = ConsentEntry(
        ref=new_ref("r"),
        customer_ref=customer.ref,
        purpose=cmd.purpose,
        decision=decision,
        notice_version=uow.policy.notice_version,
        channel=cmd.channel,
        decided_at=await _after_last_decision(customer.ref, uow),
        separately=alone,
    )
    await uow.consents.append(entry)
    await _touch(customer, uow)
    await uow.record(
        actor,
        action,
        subject_ref=customer.ref,
        purpose=cmd.purpose,
        details={
            "notice_version": entry.notice_version,
            "channel": cmd.channel,
            "receipt": entry.ref,
            **({"separately": alone} if alone else {}),
        },
    )
    if cmd.give and await lifts_suppression(customer.ref, cmd.purpose, uow):
        await uow.record(
            actor,
            "suppression.lifted",
            subject_ref=customer.ref,
            purpose=cmd.purpose,
            details={"receipt": entry.ref},
        )
    return entry


@dataclass(frozen=True)
class OptOutOfMarketing:
    customer_ref: str
    channel: str = "telegram"


async def opt_out_of_marketing(cmd: OptOutOfMarketing, uow: UnitOfWork) -> list[ConsentEntry]:
    """The one-tap opt-out every marketing message carries (PDPO s.35G: cease at once):
    withdraws each direct-marketing consent still given, one ledger entry (and
    receipt) each. Sending re-checks consent just before a message leaves, so nothing
    queued for them goes out after this."""
    marketing = [p.key for p in uow.policy.consent_purposes() if p.marketing]
    return await _withdraw_given(cmd.customer_ref, marketing, cmd.channel, uow)


def messaging_purposes(policy: Policy) -> list[str]:
    """Purposes whose consent lets the shop message a customer unprompted: the
    follow-up's and direct marketing's (a notice about their own request needs none)."""
    keys = [policy.followup_purpose] + [p.key for p in policy.consent_purposes() if p.marketing]
    return list(dict.fromkeys(keys))


@dataclass(frozen=True)
class StopMessages:
    customer_ref: str
    channel: str = "telegram"


async def stop_messages(cmd: StopMessages, uow: UnitOfWork) -> list[ConsentEntry]:
    """ "Stop messaging me": every consent that lets the shop message them, withdrawn."""
    return await _withdraw_given(cmd.customer_ref, messaging_purposes(uow.policy), cmd.channel, uow)


async def _withdraw_given(
    customer_ref: str, purposes: list[str], channel: str, uow: UnitOfWork
) -> list[ConsentEntry]:
    current = await uow.consents.current(customer_ref)
    given = [k for k in purposes if (entry := current.get(k)) is not None and entry.given]
    return [
        await decide_consent(DecideConsent(customer_ref, key, False, channel), uow) for key in given
    ]


async def lifts_suppression(customer_ref: str, purpose: str, uow: UnitOfWork) -> bool:
    """Does consent to ``purpose`` lift a suppression: the customer was erased before,
    came back, and this purpose is the one the suppression list holds back
    (follow-ups)? Without that fresh consent, the suppression holds."""
    if purpose != uow.policy.followup_purpose:
        return False
    blinds = [blind for _, blind in await uow.customers.identity_blinds(customer_ref)]
    return await uow.suppressions.listed_at(blinds) is not None


async def _after_last_decision(customer_ref: str, uow: UnitOfWork) -> datetime:
    """Now, or just after the previous decision: the ledger's order must be total.

    Two taps within one clock tick would otherwise tie, and "current" would pick
    one of them at random. The customer's row is locked, so this cannot race.
    """
    now = uow.now()
    last = await uow.consents.latest(customer_ref)
    if last is not None and last.decided_at >= now:
        return last.decided_at + timedelta(microseconds=1)
    return now


async def current_consents(customer_ref: str, uow: UnitOfWork) -> dict[str, ConsentEntry]:
    return await uow.consents.current(customer_ref)


@dataclass(frozen=True)
class MarkNoticeSeen:
    customer_ref: str
    channel: str = "telegram"


async def mark_notice_seen(cmd: MarkNoticeSeen, uow: UnitOfWork) -> Customer:
    """Record that the current privacy notice was shown (consent must be informed)."""
    customer = await uow.customers.get(cmd.customer_ref, lock=True)
    customer.notice_version_seen = uow.policy.notice_version
    await _touch(customer, uow)
    await uow.record(
        customer_actor(customer.ref),
        "notice.shown",
        subject_ref=customer.ref,
        details={"notice_version": uow.policy.notice_version, "channel": cmd.channel},
    )
    return customer


async def _touch(customer: Customer, uow: UnitOfWork) -> None:
    customer.touch(uow.now())
    await uow.customers.save(customer)


@dataclass(frozen=True)
class ExportConsents:
    by: Actor  # who asked for the export (the server's CLI)
    purpose: str | None = None  # one purpose, or all
    since: datetime | None = None  # decisions from then on (their states still count the earlier)


async def consent_ledger(
    cmd: ExportConsents, uow: UnitOfWork
) -> AsyncIterator[tuple[ConsentEntry, RecordStatus, str, str | None]]:
    """Every decision with its DPV state and the customer's language and jurisdiction,
    streamed. A decision's state depends on the earlier ones, so those are read too,
    then left out before ``since``."""
    states = ConsentStates()
    async for entry, language, jurisdiction in uow.consents.stream(purpose=cmd.purpose):
        status = states.of(entry)
        if cmd.since is None or entry.decided_at >= cmd.since:
            yield entry, status, language, jurisdiction


async def record_consent_export(
    cmd: ExportConsents, fmt: str, records: int, uow: UnitOfWork
) -> None:
    """The export is audited: what was asked for and how many records, never their content."""
    details = {"format": fmt, "records": records, "purpose": cmd.purpose or "all"}
    if cmd.since is not None:
        details["since"] = cmd.since.date().isoformat()
    await uow.record(cmd.by, "consent.exported", subject_ref=None, details=details)


async def own_record(
    customer_ref: str, entry_ref: str, uow: UnitOfWork
) -> tuple[ConsentEntry, RecordStatus] | None:
    """One of the customer's own decisions with its DPV state; None for any other ref
    (someone else's, or made up): nobody reads another's record this way."""
    mine = await uow.consents.history(customer_ref)
    found = next((e for e in mine if e.ref == entry_ref), None)
    if found is None:
        return None
    same = sorted((e for e in mine if e.purpose == found.purpose), key=lambda e: e.decided_at)
    return next((e, s) for e, s in record_statuses(same) if e.ref == entry_ref)
