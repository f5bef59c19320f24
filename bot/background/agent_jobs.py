"""Background work for authorized agents: the question in the customer's chat, its
deadline, the status callbacks, and the staff alert when a customer disowns a request.

Registered with the worker at import (bot/background/worker.py ``register_handler``).
Each handler runs one step of one claimed job in the step's unit of work; nothing
waits on the network with a transaction open.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import replace

from bot.background.staff_tasks import staff_language
from bot.background.webhooks import SignedPoster, Unreachable
from bot.background.worker import JobContext, register_handler
from bot.conversation import agent
from bot.conversation.events import Reply
from bot.outbound import SendKind
from bot.render.i18n import Translator
from bot.settings import BotSettings
from core.domain.job import Job
from core.services.agents.confirmation import (
    AGENT_ASK,
    AGENT_TIMEOUT,
    FinishQuestion,
    StartQuestion,
    expire_question,
    finish_question,
    start_question,
)
from core.services.agents.following import AGENT_STATUS
from core.services.desk.alerts import STAFF_ALERT, queue_watchers
from core.services.jobs import complete_job, retry_job
from core.services.outreach.followups import Delivery

__all__ = ["ask_customer", "callback_key", "end_question", "post_status", "send_staff_alert"]

log = logging.getLogger("bot.agents")


async def ask_customer(job: Job, ctx: JobContext) -> None:
    """Send the question, at least once: its buttons are accepted before it leaves."""
    token = secrets.token_urlsafe(6)
    cmd = StartQuestion(job, ctx.worker, lambda state: agent.mark_state(state, token))
    start = await start_question(cmd, ctx.uow)
    if not start.send:
        return  # settled in the step's transaction, committed by the worker
    assert start.customer is not None
    assert start.request is not None
    assert start.chat is not None
    reply = agent.compose_question(ctx.core, start.customer, start.request, token)
    reply = replace(reply, template=start.chat.template)
    await ctx.uow.commit()  # the buttons' token is saved: a press finds it
    delivery = await ctx.via(start.chat.channel).send(start.chat.id, reply, SendKind.NOTICE)
    await finish_question(FinishQuestion(job, ctx.worker, delivery), ctx.uow)


async def end_question(job: Job, ctx: JobContext) -> None:
    await expire_question(job, ctx.worker, ctx.uow)


async def post_status(job: Job, ctx: JobContext) -> None:
    """POST the request's status, as it is now, to the agent; again later until 2xx."""
    request = await ctx.uow.agents.find(str(job.payload["request"]))
    if request is None or not request.status_callback:
        await complete_job(job, ctx.worker, ctx.uow)  # dropped after its keeping time
        return
    body = json.dumps(request.status_object(), sort_keys=True).encode()
    await ctx.uow.commit()  # only read so far: no transaction waits on the agent
    poster = SignedPoster(callback_key(BotSettings.from_env().webhook_secret))
    try:
        status = await poster.post(request.status_callback, body)
    except Unreachable as exc:
        await retry_job(job, ctx.worker, f"callback: {exc}", ctx.uow)
        return
    finally:
        await poster.close()
    if not 200 <= status < 300:
        await retry_job(job, ctx.worker, f"callback: HTTP {status}", ctx.uow)
        return
    await complete_job(job, ctx.worker, ctx.uow)


def callback_key(webhook_secret: str | None) -> str | None:
    """The key status callbacks are signed with: derived from PRIVACY_WEBHOOK_SECRET for
    this use only (HMAC-SHA256 of "drp-status-callback", hex), so what an agent receives
    never signs anything the shop's own systems would accept."""
    if not webhook_secret:
        return None
    return hmac.new(webhook_secret.encode(), b"drp-status-callback", hashlib.sha256).hexdigest()


async def send_staff_alert(job: Job, ctx: JobContext) -> None:
    """To every member who watches the queue, in their language; at least once."""
    recipients = await queue_watchers(ctx.uow)
    key = str(job.payload["message"])
    params = {str(k): str(v) for k, v in dict(job.payload.get("params") or {}).items()}
    await ctx.uow.commit()  # only read so far
    for chat_id in recipients:
        text = Translator(await staff_language(ctx.core, chat_id))(key, **params)
        delivery = await ctx.outbound.send(chat_id, Reply(text=text), SendKind.STAFF)
        if delivery is not Delivery.SENT:
            log.warning("staff alert not delivered: %s", delivery)
    await complete_job(job, ctx.worker, ctx.uow)


register_handler(AGENT_ASK, ask_customer)
register_handler(AGENT_TIMEOUT, end_question)
register_handler(AGENT_STATUS, post_status)
register_handler(STAFF_ALERT, send_staff_alert)
