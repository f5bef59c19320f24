"""``privacy-bot requests list|show|approve|reject|extend|wait|resume`` and ``privacy-bot stats``.

The headless twin of the chat desk: the same use cases, with the CLI as the actor
(audited as ``cli``), and plain English for the server's operator like the rest
of the CLI.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from bot.render.i18n import DEFAULT_LOCALE, Translator
from bot.render.stats import stats_text
from core.app import PrivacyCore
from core.domain.requests import DataRequest, Waiting
from core.services.desk.queue import (
    DecideRequest,
    ViewQueue,
    ViewRequest,
    approve_request,
    extend_with_notice,
    local_due_date,
    reject_request,
    urgency,
    view_queue,
    view_request,
)
from core.services.desk.reasons import shown_reason
from core.services.desk.stats import ViewStats, desk_stats
from core.services.desk.waiting import AskCustomer, ask_customer, end_wait

__all__ = ["requests_command", "stats_command"]

_DECIDE = {
    "approve": approve_request,
    "reject": reject_request,
    "extend": extend_with_notice,
    "resume": end_wait,
}
_NEEDS = ", ".join(w.value for w in Waiting)


async def requests_command(action: str, ref: str | None, reason: str, core: PrivacyCore) -> int:
    if action == "list":
        return await _list(core)
    if not ref:
        return _fail(f"a request id is required for {action}")
    if action == "show":
        return await _show(ref, core)
    if action in ("reject", "extend", "resume") and not reason.strip():
        return _fail(f"a reason is required for {action}: requests {action} <id> <reason...>")
    if action == "wait":
        return await _wait(ref, reason.strip(), core)
    async with core.uow() as uow:
        request = await _DECIDE[action](DecideRequest(None, ref, reason), uow)
        await uow.commit()
        due = local_due_date(request, uow)
    if request.first_approver:
        print(f"{request.ref}: first approval recorded; a staff member must give the second")
    elif action == "resume":
        print(f"{request.ref}: the wait for the customer is over (due {due})")
    else:
        print(f"{request.ref}: {request.state} (due {due}); the customer will be told")
    return 0


async def _wait(ref: str, need: str, core: PrivacyCore) -> int:
    if need not in {w.value for w in Waiting}:
        return _fail(f"say what the customer is asked for: requests wait <id> <{_NEEDS}>")
    async with core.uow() as uow:
        request = await ask_customer(AskCustomer(None, ref, Waiting(need)), uow)
        await uow.commit()
        regime = uow.policy.jurisdiction(request.jurisdiction)
    clock = "stands still" if regime.pauses_for_customer else "keeps running"
    print(f"{request.ref}: waiting for the customer ({need}); {regime.name}'s clock {clock}")
    return 0


async def _list(core: PrivacyCore) -> int:
    async with core.uow() as uow:
        page = await view_queue(ViewQueue(None, size=1000), uow)
        rows = [(item, local_due_date(item.request, uow)) for item in page.items]
    if not rows:
        print("no open requests")
    for item, due in rows:
        r = item.request
        stuck = "\tSTUCK: no job will carry it out" if item.stuck else ""
        print(f"{r.ref}\t{r.kind}\t{r.state}\t{r.jurisdiction}\tdue {due}\t{item.urgency}{stuck}")
    return 0


async def _show(ref: str, core: PrivacyCore) -> int:
    async with core.uow() as uow:
        request = await view_request(ViewRequest(None, ref), uow)
        due = local_due_date(request, uow)
        now = uow.now()
    print(_describe(request, due, urgency(request, now).value))
    return 0


def _describe(r: DataRequest, due: str, mark: str) -> str:
    lines = [
        f"request   {r.ref}",
        f"kind      {r.kind}",
        f"state     {r.state}{' (extended)' if r.extended else ''}",
        f"regime    {r.jurisdiction}",
        f"received  {r.received_at:%Y-%m-%d %H:%M}Z",
        f"due       {due} ({mark})",
        "history",
    ]
    lines += [
        f"  {at:%Y-%m-%d %H:%M}Z {state} {shown_reason(note)}".rstrip()
        for at, state, note in r.history
    ]
    return "\n".join(lines)


async def stats_command(png: str | None, core: PrivacyCore) -> int:
    async with core.uow() as uow:
        figures = await desk_stats(ViewStats(None), uow)
    t = Translator(DEFAULT_LOCALE)
    purposes = {p.key: p.title_key for p in core.policy.consent_purposes()}
    print(stats_text(t, figures, {key: t(title) for key, title in purposes.items()}))
    if png:
        from bot.render.charts import stats_png

        await asyncio.to_thread(Path(png).write_bytes, stats_png(figures, purposes, t))
        print(f"chart written to {png}")
    return 0


def _fail(message: str) -> int:
    print(f"privacy-bot: error: {message}", file=sys.stderr)
    return 2
