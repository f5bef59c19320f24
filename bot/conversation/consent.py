"""/start and /privacy: the notice, then one tap per purpose to give or withdraw.

/start  -> greeting, plain-words notice, consent keyboard (nothing pre-ticked)
/privacy -> each purpose with its state and date, one tap toggles it
tap      -> ledger entry, keyboard redrawn in place, receipt sent
"""

from __future__ import annotations

from bot.conversation.events import Button
from bot.conversation.formatting import local_time, purpose_title, tick
from bot.conversation.turn import Press, Turn
from core.domain.consent import ConsentEntry, ConsentStanding, consent_in_force, consent_standing
from core.services import (
    DecideConsent,
    MarkNoticeSeen,
    current_consents,
    decide_consent,
    lifts_suppression,
    mark_notice_seen,
)

__all__ = ["on_consent_press", "send_receipt", "show_privacy", "start"]

ACTION = "cs"


async def start(turn: Turn) -> None:
    t = turn.t
    turn.customer = await mark_notice_seen(
        MarkNoticeSeen(turn.customer.ref, turn.event.channel), turn.uow
    )
    turn.say(t("start.greeting"))
    turn.say(t("notice.body", version=turn.core.policy.notice_version))
    await _consent_screen(turn, t("consent.ask"))


async def show_privacy(turn: Turn) -> None:
    await _consent_screen(turn, turn.t("privacy.title"))


async def renotice(turn: Turn) -> None:
    """The notice changed since the customer last saw it: show it and ask again."""
    turn.say(turn.t("notice.changed"))
    await start(turn)


async def on_consent_press(turn: Turn, press: Press) -> None:
    purpose, _, want = press.arg.partition(":")
    if want not in ("0", "1") or purpose not in {
        p.key for p in turn.core.policy.consent_purposes()
    }:
        turn.notify(turn.t("button.expired"))
        return
    give = want == "1"
    # In the turn's one transaction: read, then decide.
    current = await current_consents(turn.customer.ref, turn.uow)
    if _is_on(turn, current.get(purpose)) == give:
        turn.notify(turn.t("consent.unchanged"))  # a stale keyboard: nothing to do
        await _consent_screen(turn, turn.t("privacy.title"), edit=True, current=current)
        return
    entry = await decide_consent(
        DecideConsent(turn.customer.ref, purpose, give, channel=turn.event.channel), turn.uow
    )
    # The new entry is the latest for its purpose. (Another process deciding another
    # purpose of theirs at this very moment would show at the next redraw.)
    current[purpose] = entry
    await _consent_screen(turn, turn.t("privacy.title"), edit=True, current=current)
    lifted = give and await lifts_suppression(turn.customer.ref, purpose, turn.uow)
    send_receipt(turn, entry, lifted=lifted)


def send_receipt(turn: Turn, entry: ConsentEntry, *, lifted: bool = False) -> None:
    """The consent receipt after a change, and the same decision as the press notice;
    ``lifted``: this consent lifts the block an earlier erasure left on the purpose."""
    decision = turn.t(f"consent.decision.{entry.decision.value}")
    receipt = turn.t(
        "consent.receipt",
        purpose=purpose_title(turn, entry.purpose),
        decision=decision,
        version=entry.notice_version,
        time=local_time(turn, entry.decided_at),
        ref=entry.ref,
    )
    if lifted:
        title = purpose_title(turn, entry.purpose)
        receipt += "\n\n" + turn.t("consent.suppression_lifted", purpose=title)
    turn.say(receipt)
    turn.notify(decision)


async def _consent_screen(
    turn: Turn,
    intro: str,
    *,
    edit: bool = False,
    current: dict[str, ConsentEntry] | None = None,
) -> None:
    t, policy = turn.t, turn.core.policy
    if current is None:
        current = await current_consents(turn.customer.ref, turn.uow)
    lines = [intro, "", t("consent.service_line", purpose=purpose_title(turn, "service"))]
    rows: list[tuple[Button, ...]] = []
    for spec in policy.consent_purposes():
        entry = current.get(spec.key)
        standing = consent_standing(entry, policy.notice_version)
        on = standing.in_force
        title = t(spec.title_key)
        at = "" if entry is None else local_time(turn, entry.decided_at)
        status = t(_STATUS_KEYS[standing], time=at)
        lines.append(f"{tick(on)} {title}: {t(spec.description_key)}\n    {status}")
        rows.append((turn.button(f"{tick(on)} {title}", ACTION, f"{spec.key}:{int(not on)}"),))
    lines.append("")
    lines.append(t("consent.tap_hint"))
    turn.say("\n".join(lines), *rows, edit=edit)


def _is_on(turn: Turn, entry: ConsentEntry | None) -> bool:
    """Ticked means in force: consent to an older notice shows unticked, asked again."""
    return consent_in_force(entry, turn.core.policy.notice_version)


_STATUS_KEYS = {
    ConsentStanding.NEVER: "consent.status.never",
    ConsentStanding.WITHDRAWN: "consent.status.withdrawn",
    ConsentStanding.IN_FORCE: "consent.status.given",
    ConsentStanding.STALE: "consent.status.stale",
}
