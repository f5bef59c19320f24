"""/start and /privacy: the notice, then one tap per purpose to give or withdraw.

/start  -> greeting, plain-words notice, consent keyboard (nothing pre-ticked)
/privacy -> each purpose with its state and date, one tap toggles it; a marketing
            purpose names the data it uses and what it offers (PDPO s.35C)
tap      -> ledger entry, keyboard redrawn in place, receipt sent
a PIPL separate consent (provision, sensitive, cross-border) is never given here:
  [📄 read and decide] -> its own screen: recipient, country, purpose, method,
  data, rights with the recipient (or why sensitive data is needed)
  -> [agree to this alone] / [no, thank you] -> its own ledger entry, receipt;
  saying no blocks nothing (PIPL Art. 16)
"stop messaging me" (and its Chinese) -> what would stop -> [stop all of these] (each
  withdrawn, a receipt each) or [choose myself] -> /privacy
"""

from __future__ import annotations

import json

from bot.conversation.events import Button, Reply
from bot.conversation.formatting import local_time, purpose_title, tick
from bot.conversation.turn import Press, Turn
from bot.render.consent_records import consent_record
from core.domain.consent import ConsentEntry, ConsentStanding, consent_in_force, consent_standing
from core.domain.policy import PurposeSpec, SeparateConsent
from core.services import (
    DecideConsent,
    MarkNoticeSeen,
    current_consents,
    decide_consent,
    lifts_suppression,
    mark_notice_seen,
)
from core.services.consent import StopMessages, messaging_purposes, own_record, stop_messages

__all__ = [
    "ACTIONS",
    "on_consent_press",
    "on_decide_alone_press",
    "on_separate_press",
    "send_receipt",
    "show_privacy",
    "start",
    "stop_messages_screen",
]

ACTION, SEPARATE, DECIDE_ALONE, STOP_ALL, RECORD = "cs", "cp", "cg", "cz", "cr"


async def start(turn: Turn) -> None:
    t = turn.t
    turn.customer = await mark_notice_seen(
        MarkNoticeSeen(turn.customer.ref, turn.event.channel), turn.uow
    )
    turn.say(t("start.greeting"))
    turn.say(t("notice.body", version=turn.core.policy.notice_version))
    await _consent_screen(turn, t("consent.ask"))


async def show_privacy(turn: Turn) -> None:
    """The consent screen, with the shop's privacy policy on it (Telegram asks every
    bot to answer /privacy with it): the policy file's link, else the notice itself."""
    t, url = turn.t, turn.core.policy.privacy_policy_url
    if url:
        turn.say(t("privacy.policy_link", url=url))
    else:
        turn.say(t("notice.body", version=turn.core.policy.notice_version))
    await _consent_screen(turn, t("privacy.title"))


async def renotice(turn: Turn) -> None:
    """The notice changed since the customer last saw it: show it and ask again."""
    turn.say(turn.t("notice.changed"))
    await start(turn)


async def on_consent_press(turn: Turn, press: Press) -> None:
    purpose, _, want = press.arg.partition(":")
    if want not in ("0", "1") or purpose not in {
        p.key for p in turn.core.policy.consent_purposes(turn.event.channel)
    }:
        turn.notify(turn.t("button.expired"))
        return
    give = want == "1"
    if give and turn.core.policy.purpose(purpose).separate is not None:
        await _separate_screen(turn, purpose)  # a stale or forged keyboard: ask alone
        return
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


async def on_separate_press(turn: Turn, press: Press) -> None:
    """[📄 read and decide]: the purpose's own screen."""
    spec = _separate_purpose(turn, press.arg)
    if spec is None:
        turn.notify(turn.t("button.expired"))
        return
    await _separate_screen(turn, spec.key)


async def on_decide_alone_press(turn: Turn, press: Press) -> None:
    """[agree to this alone] / [no, thank you] on a separate consent's own screen."""
    purpose, _, want = press.arg.partition(":")
    spec = _separate_purpose(turn, purpose)
    if spec is None or want not in ("0", "1"):
        turn.notify(turn.t("button.expired"))
        return
    give = want == "1"
    current = await current_consents(turn.customer.ref, turn.uow)
    entry = current.get(purpose)
    if _is_on(turn, entry) == give and (give or entry is not None):
        turn.notify(turn.t("consent.unchanged"))
        return
    cmd = DecideConsent(turn.customer.ref, purpose, give, turn.event.channel, separately=True)
    decided = await decide_consent(cmd, turn.uow)
    lifted = give and await lifts_suppression(turn.customer.ref, purpose, turn.uow)
    send_receipt(turn, decided, lifted=lifted)


def _separate_purpose(turn: Turn, key: str) -> PurposeSpec | None:
    found = [p for p in turn.core.policy.consent_purposes(turn.event.channel) if p.key == key]
    return found[0] if found and found[0].separate is not None else None


async def _separate_screen(turn: Turn, purpose: str) -> None:
    t, spec = turn.t, turn.core.policy.purpose(purpose)
    assert spec.separate is not None
    lines = [t(spec.title_key), t(f"consent.separate.heading.{spec.separate.value}"), ""]
    lines.append(t("consent.separate.purpose", description=t(spec.description_key)))
    data = t.join(t(f"rights.category.{c}") for c in spec.categories)
    lines.append(t("consent.separate.categories", categories=data))
    if (r := spec.recipient) is not None:
        lines.append(t("consent.separate.recipient", name=r.name, contact=r.contact))
        if r.country:
            lines.append(t("consent.separate.country", country=r.country))
        lines.append(t("consent.separate.method", method=t(r.method_key)))
        lines.append(t("consent.separate.rights", rights=t(r.rights_key)))
    if spec.separate is SeparateConsent.SENSITIVE:
        lines.append(t("consent.separate.necessity", necessity=t(spec.necessity_key)))
    current = await current_consents(turn.customer.ref, turn.uow)
    standing = consent_standing(current.get(purpose), turn.core.policy.notice_version)
    lines += ["", t(_STATUS_KEYS[standing], time=_decided(turn, current.get(purpose)))]
    lines += ["", t("consent.separate.free")]
    turn.say(
        "\n".join(lines),
        (
            turn.button(t("consent.separate.agree"), DECIDE_ALONE, f"{purpose}:1"),
            turn.button(t("consent.separate.decline"), DECIDE_ALONE, f"{purpose}:0"),
        ),
    )


def _decided(turn: Turn, entry: ConsentEntry | None) -> str:
    return "" if entry is None else local_time(turn, entry.decided_at)


async def stop_messages_screen(turn: Turn) -> None:
    """What "stop messaging me" would stop, and one tap to stop it all."""
    t, current = turn.t, await current_consents(turn.customer.ref, turn.uow)
    on = [k for k in messaging_purposes(turn.core.policy) if _is_on(turn, current.get(k))]
    if not on:
        turn.say(t("consent.stop.nothing"))
        return
    titles = "\n".join(f"• {purpose_title(turn, k)}" for k in on)
    turn.say(
        t("consent.stop.ask", purposes=titles),
        (turn.button(t("consent.stop.all"), STOP_ALL, "all"),),
        (turn.button(t("consent.stop.choose"), STOP_ALL, "choose"),),
    )


async def on_stop_all_press(turn: Turn, press: Press) -> None:
    if press.arg == "choose":
        await show_privacy(turn)
        return
    withdrawn = await stop_messages(StopMessages(turn.customer.ref, turn.event.channel), turn.uow)
    if not withdrawn:
        turn.notify(turn.t("consent.unchanged"))
        return
    turn.say(turn.t("consent.stop.done"), edit=True)
    for entry in withdrawn:
        send_receipt(turn, entry)


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
    if entry.separately:
        article = SeparateConsent(entry.separately).article
        receipt += "\n" + turn.t("consent.separate.receipt", article=article)
    if lifted:
        title = purpose_title(turn, entry.purpose)
        receipt += "\n\n" + turn.t("consent.suppression_lifted", purpose=title)
    # Not kept as "the last keyboard": a stale press offers the consent screen, not this.
    as_file = turn.button(turn.t("consent.receipt.as_file"), RECORD, entry.ref)
    turn.reply(Reply(text=receipt, buttons=((as_file,),)))
    turn.notify(decision)


async def on_record_press(turn: Turn, press: Press) -> None:
    """The receipt's decision as an ISO/IEC TS 27560 record, a file of its own."""
    found = await own_record(turn.customer.ref, press.arg, turn.uow)
    if found is None:
        turn.notify(turn.t("button.expired"))
        return
    entry, status = found
    record = consent_record(
        entry,
        status,
        turn.core.policy,
        language=turn.customer.language,
        jurisdiction=turn.customer.jurisdiction,
    )
    content = json.dumps(record, ensure_ascii=False, indent=2).encode()
    name = f"consent-record-{entry.purpose}-{entry.decided_at:%Y%m%d-%H%M%S}.jsonld"
    caption = turn.t("consent.record.caption", ref=entry.ref)
    turn.reply(Reply(text=caption, document=(name, content)))


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
    for spec in policy.consent_purposes(turn.event.channel):
        entry = current.get(spec.key)
        standing = consent_standing(entry, policy.notice_version)
        on = standing.in_force
        title = t(spec.title_key)
        status = t(_STATUS_KEYS[standing], time=_decided(turn, entry))
        if on and spec.marketing and turn.customer.flags.objected_marketing:
            status += " " + t("consent.status.objection_overrides")
        lines.append(f"{tick(on)} {title}: {t(spec.description_key)}\n    {status}")
        lines += [f"    {line}" for line in _marketing_lines(turn, spec)]
        if spec.separate is not None and not on:
            lines.append(f"    {t('consent.separate.tag')}")
            label = t("consent.button.read_decide", title=title)
            rows.append((turn.button(label, SEPARATE, spec.key),))
            continue
        rows.append((turn.button(f"{tick(on)} {title}", ACTION, f"{spec.key}:{int(not on)}"),))
    lines.append("")
    lines.append(t("consent.tap_hint"))
    turn.say("\n".join(lines), *rows, edit=edit)


def _marketing_lines(turn: Turn, spec: PurposeSpec) -> list[str]:
    """PDPO s.35C: the kinds of personal data and the classes of marketing subjects."""
    dm = spec.direct_marketing
    if dm is None:
        return []
    t = turn.t
    return [
        t(
            "consent.marketing.data",
            data=t.join(t(f"marketing.data.{k}") for k in dm.data_kinds),
        ),
        t(
            "consent.marketing.subjects",
            subjects=t.join(t(f"marketing.subject.{k}") for k in dm.subjects),
        ),
    ]


def _is_on(turn: Turn, entry: ConsentEntry | None) -> bool:
    """Ticked means in force: consent to an older notice shows unticked, asked again."""
    return consent_in_force(entry, turn.core.policy.notice_version)


_STATUS_KEYS = {
    ConsentStanding.NEVER: "consent.status.never",
    ConsentStanding.WITHDRAWN: "consent.status.withdrawn",
    ConsentStanding.IN_FORCE: "consent.status.given",
    ConsentStanding.STALE: "consent.status.stale",
}


ACTIONS = {
    ACTION: on_consent_press,
    SEPARATE: on_separate_press,
    DECIDE_ALONE: on_decide_alone_press,
    STOP_ALL: on_stop_all_press,
    RECORD: on_record_press,
}
