"""The desk's tools: /lookup with a reason, /audit verify|tail, /stats, /retention.

/lookup <phone|email|member no.> <reason>
            -> masked values; an admin also gets "reveal" (audited with the reason)
/audit verify        -> the chain checks out, or the first broken entry
/audit tail [n]      -> the last n entries (pseudonymous references only)
/stats      -> a PNG chart plus a short text; counts under 5 shown as "<5"
/retention  -> what the periodic clean-up would remove, then a confirm button
"""

from __future__ import annotations

import json
import re

from bot.conversation.events import Reply
from bot.conversation.staff_turn import Desk, short_time
from bot.conversation.turn import Press
from bot.render.stats import stats_text
from core.services.desk.lookup import Lookup, LookupResult, Reveal, lookup_customer
from core.services.desk.lookup import reveal_customer as reveal
from core.services.desk.queue import desk_audit_tail, desk_retention, desk_verify_audit
from core.services.desk.stats import ViewStats, desk_stats

__all__ = ["ACTIONS", "audit", "lookup", "retention", "stats"]

REVEAL, RETAIN = "sv", "sr"
MAX_TAIL = 20
_PHONEISH = re.compile(r"^[+()0-9-]+$")
_CUSTOMER_REF = re.compile(r"^c[0-9a-f]{24}$")
_KEEP_REVEALS = 3


def split_lookup(args: str) -> tuple[str, str]:
    """(query, reason): a phone number may be typed with spaces (+852 9123 4567)."""
    tokens = args.split()
    taken = 1
    if tokens and _PHONEISH.match(tokens[0]):
        while taken < len(tokens) and _PHONEISH.match(tokens[taken]):
            taken += 1
    return "".join(tokens[:taken]) if taken > 1 else " ".join(tokens[:1]), " ".join(tokens[taken:])


async def lookup(desk: Desk) -> None:
    query, reason = split_lookup(desk.event.args)
    if not query or not reason:
        desk.say(desk.t("staff.lookup.usage"))
        return
    result = await lookup_customer(Lookup(desk.by, query, reason), desk.uow)
    if result.customer_ref is None:
        desk.say(desk.t("staff.lookup.none"))
        return
    rows = []
    if result.may_reveal:
        reveals: dict[str, str] = desk.state.setdefault("reveal", {})
        reveals[result.customer_ref] = result.sealed_reason  # never the typed text
        for old in list(reveals)[:-_KEEP_REVEALS]:
            del reveals[old]
        rows.append((desk.button(desk.t("staff.button.reveal"), REVEAL, result.customer_ref),))
    desk.say(_card(desk, result, "staff.lookup.masked"), *rows)


async def on_reveal(desk: Desk, press: Press) -> None:
    reason = (desk.state.get("reveal") or {}).get(press.arg)
    if not _CUSTOMER_REF.match(press.arg) or not reason:
        desk.notify(desk.t("button.expired"))
        return
    result = await reveal(Reveal(desk.by, press.arg, reason, sealed=True), desk.uow)
    desk.state["reveal"].pop(press.arg, None)
    desk.say(_card(desk, result, "staff.lookup.revealed"))


def _card(desk: Desk, result: LookupResult, title: str) -> str:
    lines = [desk.t(title, ref=result.customer_ref, reason=result.reason)]
    lines += [f"{desk.t(f'staff.field.{name}')}: {value}" for name, value in result.fields.items()]
    return "\n".join(lines)


async def audit(desk: Desk) -> None:
    action, _, rest = desk.event.args.strip().partition(" ")
    if action == "verify" and not rest.strip():
        result = await desk_verify_audit(desk.by, desk.uow)
        key = "staff.audit.ok" if result.ok else "staff.audit.broken"
        desk.say(desk.t(key, count=result.count, detail=result.describe()))
        return
    n = rest.strip() or "10"
    if action != "tail" or not n.isdigit() or not 1 <= int(n) <= MAX_TAIL:
        desk.say(desk.t("staff.audit.usage", most=MAX_TAIL))
        return
    entries = await desk_audit_tail(desk.by, int(n), desk.uow)
    lines = [desk.t("staff.audit.tail", count=len(entries))]
    for e in entries:
        details = json.dumps(e.details, ensure_ascii=False, sort_keys=True)[:160]
        lines.append(
            f"#{e.seq} {short_time(e.at)} {e.actor_kind}:{e.actor_ref[:10]} {e.action} "
            f"{e.subject_ref or '-'} {e.outcome} {details}"
        )
    desk.say("\n".join(lines)[:4000])


async def stats(desk: Desk) -> None:
    figures = await desk_stats(ViewStats(desk.by), desk.uow)
    from bot.render.charts import stats_png  # matplotlib loads only here

    purposes = {p.key: p.title_key for p in desk.core.policy.consent_purposes()}
    png = stats_png(figures, purposes, desk.t)
    titles = {key: desk.t(title) for key, title in purposes.items()}
    desk.reply(Reply(text=desk.t("staff.stats.caption"), photo=png))
    desk.say(stats_text(desk.t, figures, titles))


async def retention(desk: Desk) -> None:
    """Dry run first; the clean-up itself only after the confirm button."""
    totals = await desk_retention(desk.by, desk.uow, dry_run=True)
    lines = [desk.t("staff.retention.preview"), *_totals(desk, totals)]
    if not totals:
        desk.say("\n".join([*lines, desk.t("staff.retention.nothing")]))
        return
    desk.say("\n".join(lines), (desk.button(desk.t("staff.button.retain"), RETAIN, "run"),))


async def on_retain(desk: Desk, press: Press) -> None:
    if press.arg != "run":
        desk.notify(desk.t("button.expired"))
        return
    totals = await desk_retention(desk.by, desk.uow, dry_run=False)
    desk.say("\n".join([desk.t("staff.retention.done"), *_totals(desk, totals)]), edit=True)


def _totals(desk: Desk, totals: dict[str, int]) -> list[str]:
    return [f"· {desk.t(f'staff.retention.kind.{k}')}: {n}" for k, n in totals.items()]


ACTIONS = {REVEAL: on_reveal, RETAIN: on_retain}
