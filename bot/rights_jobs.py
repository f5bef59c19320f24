"""Background work of the data rights: exports, erasures, corrections, downstream notices.

Each handler takes one claimed job and either finishes it or puts it back for
later; the job queue's lease makes a crashed run resume in another process (or
after a restart). ``RightsJobs.handlers()`` maps job kinds to handlers for the
worker's registry; ``run_due`` drains them on its own (tests, one-off runs).

Kinds waiting for staff approval are polled: the job comes back every few
minutes until staff move the request on, so no hook into the staff desk is needed.

An export is delivered at most once (core/services/rights_export.py): a "sending"
marker is committed before the document leaves. A later attempt that finds it (the
process died mid-send), or a send whose answer never came, does not send again: the
request is completed as uncertain and the customer is told to ask again if nothing
arrived. Telegram's definite refusals (400, 403, 429, 5xx) clear the marker and the
job is retried as before.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, cast

from bot.adapters.telegram import Blocked, DeliveryUnknown, Sender, SendError
from bot.export import build_export
from bot.flows.events import Reply
from bot.i18n import Translator
from bot.outbound import Outbound
from bot.settings import BotSettings
from bot.worker import JobContext, register_handler
from core.app import PrivacyCore
from core.domain.requests import Delivery
from core.errors import DataShredded, NotFound
from core.services.customers import mark_unreachable
from core.services.jobs import ClaimJobs, claim_jobs, complete_job, retry_job
from core.services.rights_downstream import (
    DOWNSTREAM,
    ConfirmDelivery,
    body_of,
    confirm_delivery,
    sign,
)
from core.services.rights_erasure import (
    ERASURE,
    ErasureStep,
    FinishErasure,
    erasure_target,
    finish_erasure,
    shred_customer,
)
from core.services.rights_export import (
    EXPORT,
    DeliveryStart,
    ExportUncertain,
    complete_export,
    export_not_delivered,
    export_uncertain,
    start_export_delivery,
)
from core.services.rights_rectification import RECTIFY, apply_correction
from core.storage.repositories import Job

__all__ = ["KINDS", "RightsJobs"]

log = logging.getLogger("bot.rights")

if TYPE_CHECKING:
    from aiohttp import ClientSession


class _Unreachable(Exception):
    """A downstream system did not answer (the message names the error type)."""


KINDS = (ERASURE, EXPORT, RECTIFY, DOWNSTREAM)
# How often a request waiting for staff approval is looked at again.
APPROVAL_POLL = timedelta(minutes=2)

Handler = Callable[[Job], Awaitable[None]]


@dataclass
class RightsJobs:
    core: PrivacyCore
    sender: Sender | None
    webhook_secret: str | None
    worker: str = "rights"
    timeout: float = 10.0
    _http: ClientSession | None = field(default=None, repr=False)

    def handlers(self) -> dict[str, Handler]:
        return {
            ERASURE: self.erasure,
            EXPORT: self.export,
            RECTIFY: self.rectify,
            DOWNSTREAM: self.downstream,
        }

    async def run_due(self, kinds: tuple[str, ...] = KINDS, limit: int = 20) -> int:
        """Claim and run what is due now; how many jobs were run."""
        async with self.core.uow() as uow:
            jobs = await claim_jobs(ClaimJobs(self.worker, kinds, limit=limit), uow)
        table = self.handlers()
        for job in jobs:
            await table[job.kind](job)
        return len(jobs)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    # --- outcomes -------------------------------------------------------------------

    async def _done(self, job: Job) -> None:
        async with self.core.uow() as uow:
            await complete_job(job, self.worker, uow)
            await uow.commit()

    async def _later(self, job: Job, error: str, delay: timedelta | None = None) -> None:
        async with self.core.uow() as uow:
            await retry_job(job, self.worker, error, uow, delay=delay)

    # --- erasure --------------------------------------------------------------------

    async def erasure(self, job: Job) -> None:
        ref = str(job.payload["request"])
        async with self.core.uow() as uow:
            target = await erasure_target(ref, uow)
        if target.step is ErasureStep.WAIT:
            await self._later(job, "awaiting approval", APPROVAL_POLL)
            return
        if target.step is ErasureStep.SHRED:
            if target.chat_id is not None:
                await self._last_message(target.chat_id, target.request.customer_ref)
            async with self.core.uow() as uow:
                await shred_customer(ref, uow)
        if target.step is not ErasureStep.STOP:
            systems = tuple(name for name, _ in self.core.settings.downstream)
            async with self.core.uow() as uow:
                await finish_erasure(FinishErasure(ref, systems), uow)
        await self._done(job)

    async def _last_message(self, chat_id: int, customer_ref: str) -> None:
        """Sent before the key goes: afterwards the chat id cannot be read any more."""
        if self.sender is None:
            return
        async with self.core.uow() as uow:
            customer = await uow.customers.get(customer_ref)
        t = Translator(customer.language)
        try:
            await self.sender.send_text(chat_id, Reply(text=t("rights.erase.done")))
        except Exception as exc:  # blocked bot, network: the erasure must go on
            log.warning("erasure confirmation not sent error=%s", type(exc).__name__)

    # --- export ---------------------------------------------------------------------

    async def export(self, job: Job) -> None:
        ref = str(job.payload["request"])
        async with self.core.uow() as uow:
            request = await uow.requests.get(ref)
            delivery = await uow.requests.delivery(ref)
        if request.state.closed:
            await self._done(job)
            return
        if delivery == Delivery.SENDING:  # an earlier attempt died mid-send
            await self._export_uncertain(job, ref, "interrupted")
            return
        if request.state.value in ("received", "verifying"):
            await self._later(job, "awaiting approval", APPROVAL_POLL)
            return
        try:
            built = await build_export(self.core, request.customer_ref)
            async with self.core.uow() as uow:
                customer = await uow.customers.get(request.customer_ref)
        except (NotFound, DataShredded):
            await self._done(job)  # erased meanwhile: nothing left to send
            return
        chat = next((i.value for i in customer.identities if i.kind.value == "telegram"), None)
        if chat is None or self.sender is None:
            await self._later(job, "no way to deliver")
            return
        caption = Translator(customer.language)("rights.export.caption", request=ref)
        async with self.core.uow() as uow:
            start = await start_export_delivery(ref, uow)
        if start is DeliveryStart.CLOSED:
            await self._done(job)
            return
        if start is DeliveryStart.INTERRUPTED:
            await self._export_uncertain(job, ref, "interrupted")
            return
        try:
            await self.sender.send_document(int(chat), built.name, built.content, caption)
        except DeliveryUnknown as error:
            log.warning("export delivery unknown, not resending error=%s", type(error).__name__)
            await self._export_uncertain(job, ref, "delivery_unknown")
            return
        except Blocked:
            # They blocked the bot: nothing unprompted goes to them any more, and the
            # copy goes out if they unblock (write again) before the retries run out.
            async with self.core.uow() as uow:
                await mark_unreachable(request.customer_ref, uow)
                await export_not_delivered(ref, uow)
                await uow.commit()
            raise
        except SendError:
            # Certainly not delivered: a later attempt may send; retried as before.
            async with self.core.uow() as uow:
                await export_not_delivered(ref, uow)
            raise
        async with self.core.uow() as uow:
            await complete_export(ref, len(built.content), uow)
        await self._done(job)

    async def _export_uncertain(self, job: Job, ref: str, reason: str) -> None:
        async with self.core.uow() as uow:
            await export_uncertain(ExportUncertain(ref, reason), uow)
        await self._done(job)

    # --- rectification after approval ---------------------------------------------

    async def rectify(self, job: Job) -> None:
        systems = tuple(name for name, _ in self.core.settings.downstream)
        async with self.core.uow() as uow:
            applied = await apply_correction(str(job.payload["request"]), systems, uow)
        if applied is None:
            await self._later(job, "awaiting approval", APPROVAL_POLL)
            return
        await self._done(job)

    # --- downstream notices ----------------------------------------------------------

    async def downstream(self, job: Job) -> None:
        system = str(job.payload["system"])
        url = dict(self.core.settings.downstream).get(system)
        if url is None or not self.webhook_secret:
            await self._later(job, "system not configured")
            return
        body = body_of(job.payload["event"])
        try:
            status = await self._post(url, body)
        except _Unreachable as exc:
            await self._later(job, f"{system}: {exc}")
            return
        if not 200 <= status < 300:
            await self._later(job, f"{system}: HTTP {status}")
            return
        async with self.core.uow() as uow:
            await confirm_delivery(ConfirmDelivery(str(job.payload["request"]), system), uow)
            await complete_job(job, self.worker, uow)
            await uow.commit()

    async def _post(self, url: str, body: bytes) -> int:
        # aiohttp loads slowly (it builds SSL contexts on import): only shops with
        # downstream systems pay for it, and not at start.
        import aiohttp

        assert self.webhook_secret is not None
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        headers = {
            "Content-Type": "application/json",
            "X-Privacy-Signature": sign(self.webhook_secret, body, int(time.time())),
        }
        try:
            async with self._http.post(url, data=body, headers=headers) as response:
                return response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _Unreachable(type(exc).__name__) from exc


# --- registration with the worker (bot/worker.py) -------------------------------------


@dataclass
class _ViaOutbound:
    """The worker's rate-limited outbound as the Sender the rights handlers use."""

    outbound: Outbound

    async def send_text(self, chat_id: int, reply: Reply) -> None:
        await self.outbound.send(chat_id, reply, on_unknown="retry")

    async def edit_text(self, chat_id: int, message_id: int, reply: Reply) -> bool:
        return False

    async def send_document(self, chat_id: int, name: str, content: bytes, caption: str) -> None:
        async with self.outbound.limiter.slot(chat_id):
            await cast(Sender, self.outbound.sender).send_document(chat_id, name, content, caption)

    async def send_photo(self, chat_id: int, content: bytes, caption: str) -> None:
        return None

    async def answer_callback(self, callback_id: str, text: str | None, alert: bool) -> None:
        return None


def _registered(kind: str) -> Callable[[Job, JobContext], Awaitable[None]]:
    async def handle(job: Job, ctx: JobContext) -> None:
        secret = BotSettings.from_env().webhook_secret
        jobs = RightsJobs(ctx.core, _ViaOutbound(ctx.outbound), secret, worker=ctx.worker)
        try:
            await jobs.handlers()[kind](job)
        finally:
            await jobs.close()

    return handle


for _kind in KINDS:
    register_handler(_kind, _registered(_kind))
