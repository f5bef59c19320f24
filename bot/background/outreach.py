"""Job handlers for what the bot does on its own: follow-ups, notices, the daily sweep.

Registered with the worker at import (bot/background/worker.py ``register_handler``);
``start_background`` starts the worker and the daily retention trigger for
``privacy-bot run``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, replace

from bot.background.worker import JobContext, Worker, register_handler
from bot.conversation import followup, incident
from bot.conversation.events import Reply
from bot.http.metrics import Metrics
from bot.outbound import Outbound, SendKind
from bot.render.i18n import Translator
from bot.render.notices import notice_text
from core.app import PrivacyCore
from core.domain.job import Job
from core.services.incidents import (
    INCIDENT_NOTICE,
    FinishIncidentNotice,
    StartIncidentNotice,
    finish_incident_notice,
    incident_notice_not_sent,
    start_incident_notice,
)
from core.services.jobs import complete_job
from core.services.outreach.followups import (
    FOLLOWUP,
    Delivery,
    FinishFollowup,
    StartFollowup,
    finish_followup,
    followup_not_sent,
    start_followup,
)
from core.services.outreach.notices import NOTIFY, FinishNotice, finish_notice, start_notice
from core.services.retention import RETENTION, run_retention, schedule_retention
from core.storage import UnitOfWork

__all__ = [
    "Background",
    "run_daily_retention",
    "send_followup",
    "send_incident_notice",
    "send_notice",
    "start_background",
]

log = logging.getLogger("bot.background.outreach")


async def send_followup(job: Job, ctx: JobContext) -> None:
    order_id = str(job.payload["order"])
    token = secrets.token_urlsafe(6)
    cmd = StartFollowup(
        order_id,
        job,
        ctx.worker,
        lambda state: followup.mark_state(state, token, order_id),
        mark=False,
    )
    start = await start_followup(cmd, ctx.uow)
    if not start.send:
        return  # closed or put back in the step's transaction, committed by the worker
    assert start.customer is not None
    assert start.chat is not None
    reply = followup.compose(ctx.core, start.customer, start.chat.id, token, start.purchased_at)
    reply = replace(reply, template=start.chat.template)
    await ctx.uow.commit()  # only read so far: no transaction waits with the message
    marker = _FollowupMarker(replace(cmd, mark=True), ctx.uow)
    outbound = ctx.via(start.chat.channel)
    delivery = await outbound.send(start.chat.id, reply, SendKind.FOLLOWUP, marker=marker)
    log.info("followup customer=%s delivery=%s", start.customer.ref, delivery)
    if delivery is not Delivery.CALLED_OFF:  # else closed by the marker, in ctx.uow
        await finish_followup(FinishFollowup(order_id, job, ctx.worker, delivery), ctx.uow)


@dataclass
class _FollowupMarker:
    """At most once: "sending" is committed when the permit is granted, right before the
    message leaves; a follow-up found "sending" later is never sent again."""

    start: StartFollowup
    uow: UnitOfWork

    async def sending(self) -> bool:
        # Checked again: consent may have been withdrawn while the message waited.
        going = (await start_followup(self.start, self.uow)).send
        if going:
            await self.uow.commit()
        return going

    async def not_sent(self) -> None:
        await followup_not_sent(self.start.order_id, self.uow)
        await self.uow.commit()


async def send_notice(job: Job, ctx: JobContext) -> None:
    start = await start_notice(job, ctx.worker, ctx.uow)
    if not start.send:
        return
    assert start.chat is not None
    t = Translator(start.language)
    text = notice_text(t, start.message_key, start.params or {}, start.zone)
    # Only read so far; ended so that no transaction stays open during the send.
    await ctx.uow.commit()
    # At least once: a notice about the customer's rights must arrive.
    reply = Reply(text=text, template=start.chat.template)
    delivery = await ctx.via(start.chat.channel).send(start.chat.id, reply, SendKind.NOTICE)
    await finish_notice(FinishNotice(job, ctx.worker, delivery), ctx.uow)


async def send_incident_notice(job: Job, ctx: JobContext) -> None:
    """A breach notice: at most once, like a follow-up (see core/services/incidents)."""
    token = secrets.token_urlsafe(6)
    cmd = StartIncidentNotice(
        job, ctx.worker, lambda state: incident.mark_state(state, token), mark=False
    )
    start = await start_incident_notice(cmd, ctx.uow)
    if not start.send:
        return  # settled in the step's transaction, committed by the worker
    assert start.customer is not None
    assert start.incident is not None
    assert start.chat is not None
    reply = incident.compose_notice(
        ctx.core, start.customer, start.incident, start.categories, token
    )
    reply = replace(reply, template=start.chat.template)
    await ctx.uow.commit()  # only read so far
    marker = _IncidentMarker(replace(cmd, mark=True), ctx.uow)
    outbound = ctx.via(start.chat.channel)
    delivery = await outbound.send(start.chat.id, reply, SendKind.INCIDENT, marker=marker)
    if delivery is not Delivery.CALLED_OFF:
        await finish_incident_notice(FinishIncidentNotice(job, ctx.worker, delivery), ctx.uow)


@dataclass
class _IncidentMarker:
    """ "sending" committed when the permit is granted, right before the notice leaves."""

    start: StartIncidentNotice
    uow: UnitOfWork

    async def sending(self) -> bool:
        going = (await start_incident_notice(self.start, self.uow)).send
        if going:
            await self.uow.commit()  # else settled (erased, blocked): the worker commits
        return going

    async def not_sent(self) -> None:
        await incident_notice_not_sent(self.start.job, self.uow)
        await self.uow.commit()


register_handler(FOLLOWUP, send_followup)
register_handler(NOTIFY, send_notice)
register_handler(INCIDENT_NOTICE, send_incident_notice)


async def run_daily_retention(job: Job, ctx: JobContext) -> None:
    # The sweep is a batch driver: it commits each batch itself (core/services/retention.py),
    # and its last batch lands with the job's completion. Re-running it removes nothing twice.
    plan = await run_retention(ctx.uow)
    log.info("retention removed %s", plan.totals())
    await complete_job(job, ctx.worker, ctx.uow)


register_handler(RETENTION, run_daily_retention)


@dataclass
class Background:
    """The worker plus the daily retention trigger, started and stopped with the bot."""

    worker: Worker
    _daily: asyncio.Task[None] | None = None

    async def stop(self) -> None:
        if self._daily is not None:
            self._daily.cancel()
            await asyncio.gather(self._daily, return_exceptions=True)
        await self.worker.stop()


def start_background(
    core: PrivacyCore,
    outbound: Outbound,
    metrics: Metrics,
    *,
    daily: bool = True,
    channels: dict[str, Outbound] | None = None,
) -> Background:
    """``outbound``: Telegram's path; ``channels``: the other apps' (WhatsApp)."""
    worker = Worker(core, outbound, metrics=metrics, channels=channels or {})
    worker.start()
    background = Background(worker)
    if daily:
        background._daily = asyncio.create_task(_enqueue_daily(core, worker))
    return background


async def _enqueue_daily(core: PrivacyCore, worker: Worker) -> None:
    while True:
        try:
            async with core.uow() as uow:
                added = await schedule_retention(uow)
                await uow.commit()
            if added:
                worker.wake()
        except Exception as error:
            log.error("could not schedule retention: %s", type(error).__name__)
        await asyncio.sleep(3600)  # hourly look; the job key makes it once a day
