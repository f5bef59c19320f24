"""The desk's background duties in ``privacy-bot run``: staff menus and the daily digest.

- Menus: each staff member gets a private command menu (setMyCommands with a chat
  scope) listing the customer commands plus the desk commands their role allows;
  customers never see the desk. Staff are changed from the CLI, possibly by another
  process, so the list is re-read every minute and only changes are sent.
- Digest: one durable ``digest`` job per local day (its key is the date), claimed
  with a lease, so with several bot processes exactly one sends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, time, timedelta
from typing import Protocol

from bot.channels.telegram import command_menu
from bot.conversation.events import Reply
from bot.conversation.routes import menu_for
from bot.outbound import Outbound, SendKind
from bot.render.i18n import Translator
from core.app import PrivacyCore
from core.domain.customer import IdentityKind
from core.domain.job import Job
from core.services import find_customer, list_staff
from core.services.desk.queue import Digest, daily_digest
from core.services.jobs import ClaimJobs, EnqueueJob, claim_jobs, complete_job, enqueue_job
from core.services.outreach.followups import Delivery

__all__ = [
    "DIGEST",
    "DIGEST_AT",
    "MenuTarget",
    "StaffMenus",
    "digest_handler",
    "digest_text",
    "run_desk_duties",
    "schedule_digest",
    "send_digest",
    "staff_language",
]

log = logging.getLogger("bot.staff")

DIGEST = "digest"
DIGEST_AT = time(9, 0)  # local time of the shop (policy default_timezone)
Menu = list[tuple[str, str]]


class MenuTarget(Protocol):
    async def set_chat_commands(self, chat_id: int, commands: Menu) -> None: ...
    async def delete_chat_commands(self, chat_id: int) -> None: ...


class StaffMenus:
    """Keeps each staff member's private menu in step with the staff table."""

    def __init__(self, core: PrivacyCore) -> None:
        self.core = core
        self.sent: dict[int, Menu] = {}

    async def wanted(self) -> dict[int, Menu]:
        async with self.core.uow() as uow:
            staff = await list_staff(uow)
        t = Translator("en")
        customer_menu = command_menu("en")
        return {
            s.telegram_id: customer_menu
            + [(name, t(f"staff.command.{name}")) for name in menu_for(s, self.core.policy.allows)]
            for s in staff
        }

    async def sync(self, target: MenuTarget) -> None:
        wanted = await self.wanted()
        for chat_id, menu in wanted.items():
            if self.sent.get(chat_id) != menu:
                await target.set_chat_commands(chat_id, menu)
        for chat_id in set(self.sent) - set(wanted):
            await target.delete_chat_commands(chat_id)
        self.sent = wanted


async def schedule_digest(core: PrivacyCore) -> None:
    """Today's digest job (at DIGEST_AT local time); the date key makes it once a day."""
    now = core.clock.now()
    local = now.astimezone(core.policy.zone)
    at = datetime.combine(local.date(), DIGEST_AT, tzinfo=core.policy.zone)
    async with core.uow() as uow:
        await enqueue_job(
            EnqueueJob(DIGEST, f"digest:{local.date().isoformat()}", run_after=at), uow
        )
        await uow.commit()


async def send_digest(
    core: PrivacyCore, outbound: Outbound, job: Job | None = None, worker: str = "desk"
) -> int:
    """Send the digest to every staff member with queue.view; how many were sent.

    With ``job``: the digest's audit entry and the job's completion are one
    transaction, committed before any message leaves, so with several processes one
    sends it, once (a crash mid-send leaves the rest unsent rather than doubled)."""
    async with core.uow() as uow:
        digest = await daily_digest(uow)
        if job is not None and not await complete_job(job, worker, uow):
            return 0  # the lease went to another process: it sends
        await uow.commit()
    if not digest.items:
        return 0
    sent = 0
    for chat_id in digest.recipients:
        text = digest_text(digest, Translator(await staff_language(core, chat_id)))
        # Through the bot's budget like every message; one unreachable member
        # does not stop the rest.
        delivery = await outbound.send(chat_id, Reply(text=text), SendKind.STAFF)
        if delivery is Delivery.SENT:
            sent += 1
        else:
            log.warning("digest not delivered: %s", delivery)
    return sent


def digest_text(digest: Digest, t: Translator) -> str:
    lines = [t("staff.digest.title", count=len(digest.items)), ""]
    for item in digest.items:
        r = item.request
        lines.append(
            t(
                "staff.queue.line",
                mark=t(f"staff.mark.{item.urgency.value}"),
                ref=r.ref,
                kind=t(f"staff.kind.{r.kind.value}"),
                state=t(f"staff.state.{r.state.value}"),
                due=digest.due[r.ref],
            )
            + (t("staff.queue.stuck_mark") if item.stuck else "")
        )
    return "\n".join(lines)


def digest_handler(
    core: PrivacyCore, outbound: Outbound, worker: str = "desk"
) -> Callable[[Job], Awaitable[None]]:
    """For a job worker's registry: run one claimed ``digest`` job."""

    async def handle(job: Job) -> None:
        await send_digest(core, outbound, job, worker)

    return handle


async def run_desk_duties(
    core: PrivacyCore,
    target: MenuTarget,
    outbound: Outbound,
    stop: asyncio.Event,
    *,
    every: float = 60,
) -> None:
    """Until ``stop``: keep staff menus current; schedule and send the daily digest."""
    menus, worker = StaffMenus(core), f"desk-{id(stop):x}"
    handle = digest_handler(core, outbound, worker)
    while not stop.is_set():
        try:
            await menus.sync(target)
            await schedule_digest(core)
            async with core.uow() as uow:
                jobs = await claim_jobs(
                    ClaimJobs(worker, (DIGEST,), lease=timedelta(minutes=5)), uow
                )
                await uow.commit()
            for job in jobs:
                await handle(job)
        except Exception as error:
            log.error("desk duties failed: %s", type(error).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)


async def staff_language(core: PrivacyCore, telegram_id: int) -> str:
    async with core.uow() as uow:
        customer = await find_customer(IdentityKind.TELEGRAM, str(telegram_id), uow)
    return customer.language if customer is not None else "en"
