"""Use cases: erasure ("right to be forgotten") by crypto-shredding plus deletion.

``request_erasure`` opens the request and its ``erasure`` job; kinds the policy
marks for approval wait until staff move the request to ``in_progress``.
``erase_customer`` then carries the erasure out, in this order, whoever runs it
(the chat turn when no approval is needed, else the job):

1. ``erasure_target``: may it run, and the Telegram chat to confirm to. The
   confirmation is sent *before* step 2, with no transaction open: afterwards
   the chat id can no longer be decrypted, and it is never stored in clear (not
   even in the job). A crash between sending and step 2 re-sends it; it is
   never lost.
2. ``shred_customer``: suppression entries (keyed blind indexes of every
   identity, phone and email, computed while still readable), then the data
   key is destroyed, committed at once: from this commit on, every copy of the
   customer's ciphertext, backups included, is noise, and a crash resumes at 3.
3. ``finish_erasure``: the customer's rows are deleted (identities, consents,
   answers, conversation, pending corrections cascade), purchases keep only the
   invoice facts under their pseudonym for the transaction category's legal
   hold, the request is completed and the shop's other systems are told. The
   entry point commits this with its own bookkeeping (the job's completion, the
   turn's state), then calls ``fold_erased_pages``.

``reapply_erasure``: a database restored from a backup still holds a customer the
erasure journal (kept with the keys) says was erased: erase them again.

Kept: the audit trail and the request (pseudonymous refs only, as proof), the
suppression hashes, pseudonymised purchases (order id, date, total, currency).

``is_suppressed``: is a contact one an erased customer asked never to hear from again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from core.crypto import normalise_email, normalise_phone
from core.domain.customer import IdentityKind
from core.domain.job import ERASURE
from core.domain.reach import Chat, reach
from core.domain.requests import DataRequest, RequestKind, RequestState
from core.errors import DataShredded, InvalidInput, NotFound
from core.services._common import SYSTEM
from core.services.customers import contact_blinds
from core.services.jobs import enqueue_request_job
from core.services.rights.downstream import notify_downstream
from core.services.rights.requests import OpenRight, complete_request, open_right
from core.storage import UnitOfWork

__all__ = [
    "ERASURE",
    "ConfirmErasure",
    "EraseCustomer",
    "ErasureStep",
    "ErasureTarget",
    "FinishErasure",
    "RequestErasure",
    "erase_customer",
    "erasure_target",
    "finish_erasure",
    "fold_erased_pages",
    "is_suppressed",
    "reapply_erasure",
    "request_erasure",
    "shred_customer",
]


@dataclass(frozen=True)
class RequestErasure:
    customer_ref: str
    channel: str = "telegram"
    received_at: datetime | None = None  # an agent's request: when the agent sent it


async def request_erasure(cmd: RequestErasure, uow: UnitOfWork) -> tuple[DataRequest, bool]:
    """The open erasure request and whether it is new (a second /delete finds the first)."""
    customer = await uow.customers.get(cmd.customer_ref, lock=True)
    running = await uow.requests.open_of(customer.ref, RequestKind.ERASURE.value)
    if running is not None:
        return await uow.requests.get(running), False
    opened = OpenRight(customer.ref, RequestKind.ERASURE, cmd.channel, received_at=cmd.received_at)
    request = await open_right(opened, uow)
    await enqueue_request_job(ERASURE, request.ref, uow)
    return request, True


class ErasureStep(StrEnum):
    WAIT = "wait"  # staff have not approved yet
    STOP = "stop"  # rejected, or completed already
    SHRED = "shred"  # the data key still exists
    FINISH = "finish"  # key gone, rows may remain


@dataclass(frozen=True)
class ErasureTarget:
    request: DataRequest
    step: ErasureStep
    chat: Chat | None = None  # in memory only, for the last message
    language: str = "en"  # of the last message


async def erasure_target(request_ref: str, uow: UnitOfWork) -> ErasureTarget:
    # Locked: a decision made meanwhile waits for this step, then wakes the job.
    request = await uow.requests.get(request_ref, lock=True)
    if request.state.closed:
        return ErasureTarget(request, ErasureStep.STOP)
    if request.state is not RequestState.IN_PROGRESS:
        return ErasureTarget(request, ErasureStep.WAIT)
    if not await uow.keys.exists(request.customer_ref):
        return ErasureTarget(request, ErasureStep.FINISH)
    try:
        customer = await uow.customers.get(request.customer_ref)
    except (NotFound, DataShredded):
        return ErasureTarget(request, ErasureStep.FINISH)
    chat = reach(customer, "notice", uow.policy.whatsapp, uow.now())
    return ErasureTarget(request, ErasureStep.SHRED, chat, customer.language)


# Sends the customer's last message (their chat, language); it must not raise for a
# message that could not be delivered: the erasure goes on regardless.
ConfirmErasure = Callable[[Chat, str], Awaitable[None]]


@dataclass(frozen=True)
class EraseCustomer:
    request_ref: str
    downstream: tuple[str, ...] = ()
    confirm: ConfirmErasure | None = None  # None: the caller answers in the chat itself


async def erase_customer(cmd: EraseCustomer, uow: UnitOfWork) -> ErasureStep:
    """Carry the erasure out as far as it may go now; the step it found.

    WAIT and STOP change nothing. Otherwise the key is shredded and committed here
    (the one commit of this use case: the deletion must never come first), then
    the rows are deleted in the caller's transaction, which the entry point
    commits before calling :func:`fold_erased_pages`.
    """
    target = await erasure_target(cmd.request_ref, uow)
    if target.step in (ErasureStep.WAIT, ErasureStep.STOP):
        return target.step
    if target.step is ErasureStep.SHRED:
        if cmd.confirm is not None and target.chat is not None:
            await uow.commit()  # ends the reading transaction: none stays open during a send
            await cmd.confirm(target.chat, target.language)
        await shred_customer(cmd.request_ref, uow)
        await uow.commit()
    await finish_erasure(FinishErasure(cmd.request_ref, cmd.downstream), uow)
    return target.step


async def shred_customer(request_ref: str, uow: UnitOfWork) -> bool:
    """Suppress every contact, then destroy the data key; False if done before."""
    request = await uow.requests.get(request_ref, lock=True)
    ref = request.customer_ref
    if not await uow.keys.exists(ref):
        return False
    now = uow.now()
    blinds = set(await uow.customers.identity_blinds(ref))
    blinds |= await contact_blinds(ref, uow)
    for kind, blind in sorted(blinds):
        await uow.suppressions.add(kind, blind, now)
    await uow.pages.scrub_deleted()
    uow.keys.shred(ref)
    await uow.record(
        SYSTEM,
        "erasure.key_shredded",
        subject_ref=ref,
        details={"request": request.ref, "suppressed": len(blinds)},
    )
    return True


@dataclass(frozen=True)
class FinishErasure:
    request_ref: str
    downstream: tuple[str, ...] = ()


async def finish_erasure(cmd: FinishErasure, uow: UnitOfWork) -> DataRequest:
    """Delete what the shredded key protected, keep the legal minimum.

    After the entry point commits, :func:`fold_erased_pages` removes the copies the
    database's own log still holds."""
    request = await uow.requests.get(cmd.request_ref, lock=True)
    if request.state.closed:
        return request
    await _delete_protected(request.customer_ref, request.ref, uow)
    # The customer can no longer be reached through the notice queue: the chat
    # confirmation went out before the key was shredded.
    done = await complete_request(request, uow, note="erased", notify=False)
    await notify_downstream(done, "erasure", cmd.downstream, uow)
    return done


async def reapply_erasure(customer_ref: str, seq: int, uow: UnitOfWork) -> None:
    """Erase again a customer whom a restored database still holds although the
    erasure journal's entry ``seq`` says they were erased. Their key is gone, so
    only what needs no key is done: suppress their identities' blind indexes, then
    what :func:`finish_erasure` does (through their open erasure request, if the
    restored database has one)."""
    now = uow.now()
    for kind, blind in sorted(await uow.customers.identity_blinds(customer_ref)):
        await uow.suppressions.add(kind, blind, now)
    await uow.record(
        SYSTEM, "erasure.reapplied", subject_ref=customer_ref, details={"journal": seq}
    )
    running = await uow.requests.open_of(customer_ref, RequestKind.ERASURE.value)
    if running is not None:
        await finish_erasure(FinishErasure(running), uow)
        return
    await _delete_protected(customer_ref, None, uow)


async def _delete_protected(customer_ref: str, request_ref: str | None, uow: UnitOfWork) -> None:
    """The customer's rows go (cascading); purchases keep only the invoice facts."""
    await uow.pages.scrub_deleted()
    pseudonymised = await uow.purchases.pseudonymise(customer_ref)
    await uow.export_links.drop_customer(customer_ref)
    await uow.customers.delete(customer_ref)
    await uow.record(
        SYSTEM,
        "erasure.completed",
        subject_ref=customer_ref,
        details={"request": request_ref, "purchases_kept_pseudonymised": pseudonymised},
    )


async def fold_erased_pages(uow: UnitOfWork) -> None:
    """After a committed erasure: fold SQLite's write-ahead log, which still holds
    pages written before it (best effort; outside any transaction of the caller's)."""
    await uow.pages.compact()


async def is_suppressed(kind: IdentityKind, value: str, uow: UnitOfWork) -> bool:
    """True when an erased customer's contact matches: never contact it unprompted.

    ``value`` may be raw ("+852 9123 4567"); an unreadable one is not suppressed.
    """
    try:
        if kind is IdentityKind.PHONE:
            value = normalise_phone(value, uow.policy.default_phone_region)
        elif kind is IdentityKind.EMAIL:
            value = normalise_email(value)
        else:
            value = value.strip()
    except InvalidInput:
        return False
    return await uow.suppressions.is_suppressed(kind.value, value)
