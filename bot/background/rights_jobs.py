"""Background work of the data rights: exports, erasures, corrections, downstream notices.

Each handler runs one step of one claimed job in the step's unit of work
(``ctx.uow``, bot/background/worker.py): its effect and the job's completion, or its
"later", are committed together by whoever runs the step. The job queue's lease
makes a crashed run resume in another process (or after a restart).
``RightsJobs.handlers()`` maps job kinds to handlers for the worker's registry;
``run_due`` drains them on its own (tests, one-off runs).

A job whose request waits for staff approval is parked (``park_job``): waiting is a
state, not a retry, so no attempt is counted however long the law lets staff take;
the decision wakes it in the decision's own transaction (core/services/requests.py).

An erasure is carried out by ``core.services.rights.erasure.erase_customer``;
this module only sends its confirmation.

An export is delivered at most once (core/services/rights/export.py): a "sending"
marker is committed when the document is granted its permit, right before it
leaves (bot/outbound/). A later attempt that finds it (the
process died mid-send), or a send whose answer never came, does not send again: the
request is completed as uncertain and the customer is told to ask again if nothing
arrived. Telegram's definite refusals (400, 403, and 429 or 5xx past the outbound's
own retries) clear the marker and the job is retried later.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from bot.background.webhooks import SignedPoster, Unreachable
from bot.background.worker import JobContext, JobHandler, register_handler, run_step
from bot.conversation.events import Reply
from bot.http.metrics import Metrics
from bot.outbound import Outbound, SendKind
from bot.render.export import ExportFile, build_export
from bot.render.i18n import Translator
from bot.render.links import export_url
from bot.settings import BotSettings
from core.app import PrivacyCore
from core.domain.job import Job
from core.domain.reach import WHATSAPP, Chat, reach
from core.domain.requests import Delivery
from core.errors import DataShredded, NotFound
from core.services.customers import mark_unreachable
from core.services.jobs import ClaimJobs, claim_jobs, complete_job, park_job, retry_job
from core.services.outreach.followups import Delivery as Sent
from core.services.rights.downstream import (
    DOWNSTREAM,
    ConfirmDelivery,
    body_of,
    confirm_delivery,
)
from core.services.rights.erasure import (
    ERASURE,
    EraseCustomer,
    ErasureStep,
    erase_customer,
    fold_erased_pages,
)
from core.services.rights.export import (
    EXPORT,
    DeliveryStart,
    ExportUncertain,
    complete_export,
    export_not_delivered,
    export_uncertain,
    start_export_delivery,
)
from core.services.rights.links import IssueExportLink, issue_export_link
from core.services.rights.rectification import RECTIFY, apply_correction
from core.storage import UnitOfWork

__all__ = ["KINDS", "RightsJobs"]

log = logging.getLogger("bot.rights")


KINDS = (ERASURE, EXPORT, RECTIFY, DOWNSTREAM)


@dataclass
class RightsJobs:
    core: PrivacyCore
    outbound: Outbound | None  # None: nothing is sent (a one-off run without a bot)
    webhook_secret: str | None
    worker: str = "rights"
    timeout: float = 10.0
    channels: dict[str, Outbound] = field(default_factory=dict)  # the other apps' paths
    _poster: SignedPoster | None = field(default=None, repr=False)

    def handlers(self) -> dict[str, JobHandler]:
        return {
            ERASURE: self.erasure,
            EXPORT: self.export,
            RECTIFY: self.rectify,
            DOWNSTREAM: self.downstream,
        }

    async def run_due(self, kinds: tuple[str, ...] = KINDS, limit: int = 20) -> int:
        """Claim and run what is due now, each step as the worker runs it; how many ran.

        A step that raises was put back for later; the error is not raised here."""
        async with self.core.uow() as uow:
            jobs = await claim_jobs(ClaimJobs(self.worker, kinds, limit=limit), uow)
            await uow.commit()
        table = self.handlers()
        for job in jobs:
            try:
                await run_step(self.core, job, self._context, table[job.kind])
            except Exception as error:
                log.warning("job %s (%s) failed: %s", job.id, job.kind, type(error).__name__)
        return len(jobs)

    def _context(self, uow: UnitOfWork) -> JobContext:
        # These handlers send through self.outbound, the context's is never used.
        outbound = self.outbound or Outbound(_Silent())
        return JobContext(self.core, self.worker, outbound, Metrics(), uow)

    def _via(self, channel: str) -> Outbound | None:
        return self.channels.get(channel, self.outbound)

    async def close(self) -> None:
        if self._poster is not None:
            await self._poster.close()

    def _systems(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.core.settings.downstream)

    # --- erasure --------------------------------------------------------------------

    async def erasure(self, job: Job, ctx: JobContext) -> None:
        cmd = EraseCustomer(str(job.payload["request"]), self._systems(), self._last_message)
        step = await erase_customer(cmd, ctx.uow)
        if step is ErasureStep.WAIT:
            await park_job(job, ctx.worker, "awaiting approval", ctx.uow)
            return
        await complete_job(job, ctx.worker, ctx.uow)
        # Also after STOP: an erasure carried out in the chat leaves folding to this job.
        ctx.after_commit(lambda: fold_erased_pages(ctx.uow))

    async def _last_message(self, chat: Chat, language: str) -> None:
        """Sent before the key goes: afterwards the chat id cannot be read any more."""
        outbound = self._via(chat.channel)
        if outbound is None:
            return
        reply = Reply(text=Translator(language)("rights.erase.done"), template=chat.template)
        delivery = await outbound.send(chat.id, reply, SendKind.NOTICE)
        if delivery is not Sent.SENT:  # blocked bot, network: the erasure goes on
            log.warning("erasure confirmation not sent delivery=%s", delivery)

    # --- export ---------------------------------------------------------------------

    async def export(self, job: Job, ctx: JobContext) -> None:
        uow, ref = ctx.uow, str(job.payload["request"])
        request = await uow.requests.get(ref, lock=True)  # a decision waits for this step
        delivery = await uow.requests.delivery(ref)
        if request.state.closed:
            await complete_job(job, ctx.worker, uow)
        elif delivery == Delivery.SENDING:  # an earlier attempt died mid-send
            await _export_uncertain(job, ctx, ref, "interrupted")
        elif request.state.value in ("received", "verifying"):
            await park_job(job, ctx.worker, "awaiting approval", ctx.uow)
        else:
            await self._deliver(job, ctx, request.customer_ref)

    async def _copy(
        self, chat: Chat | None, language: str, built: ExportFile, ref: str, uow: UnitOfWork
    ) -> Reply | None:
        """The copy as the customer's app takes it: the ZIP itself, or (WhatsApp, which
        takes no ZIP) a single-use link to it; None when neither can go."""
        t = Translator(language)
        if chat is None or chat.channel != WHATSAPP:
            caption = t("rights.export.caption", request=ref)
            return Reply(text=caption, document=(built.name, built.content))
        base = self.core.settings.public_url
        if base is None:
            return None
        request = await uow.requests.get(ref)
        token = await issue_export_link(IssueExportLink(request), uow)
        text = t("rights.export.link", request=ref, url=export_url(base, token))
        return Reply(text=text, template=chat.template)

    async def _deliver(self, job: Job, ctx: JobContext, customer_ref: str) -> None:
        uow, ref = ctx.uow, str(job.payload["request"])
        try:
            # Read only so far: building a large file holds no write transaction open.
            built = await build_export(self.core, customer_ref, uow)
            customer = await uow.customers.get(customer_ref)
        except (NotFound, DataShredded):
            await complete_job(job, ctx.worker, uow)  # erased meanwhile: nothing to send
            return
        chat = reach(customer, "export", uow.policy.whatsapp, uow.now())
        outbound = self._via(chat.channel) if chat is not None else None
        reply = await self._copy(chat, customer.language, built, ref, uow)
        if chat is None or outbound is None or reply is None:
            await _later(job, ctx, "no way to deliver")
            return
        await uow.commit()  # a link is stored; no transaction waits with the send
        marker = _ExportMarker(job, ctx, ref)
        delivery = await outbound.send(chat.id, reply, SendKind.EXPORT, marker=marker)
        if delivery is Sent.SENT:
            await complete_export(ref, len(reply.document[1]) if reply.document else 0, uow)
            await complete_job(job, ctx.worker, uow)
        elif delivery is Sent.UNKNOWN:
            await _export_uncertain(job, ctx, ref, "delivery_unknown")
        elif delivery is not Sent.CALLED_OFF:  # else closed by the marker, in ctx.uow
            await _not_delivered(job, ctx, customer_ref, delivery)

    # --- rectification after approval ---------------------------------------------

    async def rectify(self, job: Job, ctx: JobContext) -> None:
        applied = await apply_correction(str(job.payload["request"]), self._systems(), ctx.uow)
        if applied is None:
            await park_job(job, ctx.worker, "awaiting approval", ctx.uow)
            return
        await complete_job(job, ctx.worker, ctx.uow)

    # --- downstream notices ----------------------------------------------------------

    async def downstream(self, job: Job, ctx: JobContext) -> None:
        system = str(job.payload["system"])
        url = dict(self.core.settings.downstream).get(system)
        if url is None or not self.webhook_secret:
            await _later(job, ctx, "system not configured")
            return
        # Nothing read or written yet: no transaction is open while the shop's system answers.
        body = body_of(job.payload["event"])
        try:
            status = await self._post(url, body)
        except Unreachable as exc:
            await _later(job, ctx, f"{system}: {exc}")
            return
        if not 200 <= status < 300:
            await _later(job, ctx, f"{system}: HTTP {status}")
            return
        await confirm_delivery(ConfirmDelivery(str(job.payload["request"]), system), ctx.uow)
        await complete_job(job, ctx.worker, ctx.uow)

    async def _post(self, url: str, body: bytes) -> int:
        if self._poster is None:
            self._poster = SignedPoster(self.webhook_secret, self.timeout)
        return await self._poster.post(url, body)


# --- outcomes, in the step's transaction ----------------------------------------------


async def _later(job: Job, ctx: JobContext, error: str, delay: timedelta | None = None) -> None:
    await retry_job(job, ctx.worker, error, ctx.uow, delay=delay)


async def _export_uncertain(job: Job, ctx: JobContext, ref: str, reason: str) -> None:
    await export_uncertain(ExportUncertain(ref, reason), ctx.uow)
    await complete_job(job, ctx.worker, ctx.uow)


async def _not_delivered(job: Job, ctx: JobContext, customer_ref: str, delivery: Sent) -> None:
    """Certainly not delivered: clear the marker so a later attempt may send."""
    if delivery is Sent.BLOCKED:
        # They blocked the bot: nothing unprompted goes to them any more, and the
        # copy goes out if they unblock (write again) before the retries run out.
        await mark_unreachable(customer_ref, ctx.uow)
    await export_not_delivered(str(job.payload["request"]), ctx.uow)
    await _later(job, ctx, f"not delivered: {delivery}")


@dataclass
class _ExportMarker:
    """At most once: "sending" is committed with the permit, right before the document
    leaves; an earlier attempt that died mid-send is closed as uncertain instead."""

    job: Job
    ctx: JobContext
    ref: str

    async def sending(self) -> bool:
        start = await start_export_delivery(self.ref, self.ctx.uow)
        if start is DeliveryStart.CLOSED:
            await complete_job(self.job, self.ctx.worker, self.ctx.uow)
            return False
        if start is DeliveryStart.INTERRUPTED:
            await _export_uncertain(self.job, self.ctx, self.ref, "interrupted")
            return False
        await self.ctx.uow.commit()
        return True

    async def not_sent(self) -> None:
        await export_not_delivered(self.ref, self.ctx.uow)
        await self.ctx.uow.commit()


class _Silent:
    """A Sender for runs with no bot: nothing is ever sent through it."""

    async def send_text(self, chat_id: int, reply: Reply) -> None:
        raise AssertionError("no bot to send with")

    async def edit_text(self, chat_id: int, message_id: int, reply: Reply) -> bool:
        raise AssertionError("no bot to send with")

    async def send_document(self, chat_id: int, name: str, content: bytes, caption: str) -> None:
        raise AssertionError("no bot to send with")

    async def send_photo(self, chat_id: int, content: bytes, caption: str) -> None:
        raise AssertionError("no bot to send with")

    async def answer_callback(self, callback_id: str, text: str | None, alert: bool) -> None:
        raise AssertionError("no bot to send with")


# --- registration with the worker (bot/background/worker.py) -------------------------------------


def _registered(kind: str) -> JobHandler:
    async def handle(job: Job, ctx: JobContext) -> None:
        secret = BotSettings.from_env().webhook_secret
        jobs = RightsJobs(ctx.core, ctx.outbound, secret, worker=ctx.worker, channels=ctx.channels)
        try:
            await jobs.handlers()[kind](job, ctx)
        finally:
            await jobs.close()

    return handle


for _kind in KINDS:
    register_handler(_kind, _registered(_kind))
