"""/mydata, /export, /delete, /correct, /requests, /rights: the customer's data rights.

/mydata   -> per category: why, from where, since when, how long kept, how many
             records (never the values); buttons to every right below
/export   -> a ZIP (data.json + index.html) as a file here; a "preparing" note and
             the file later for long histories; at most N per hour
/delete   -> what goes, what the law keeps, [Yes, erase] [No]; a request, checked
             by staff when the policy says so; confirmed here before the key is gone
/correct  -> [Name] [Email] [Address] [Phone]; type the new value, or for a phone
             share your own contact with the button (typed numbers are refused)
/rights   -> restrict processing, object to marketing, do not sell/share (tap to
             set or lift); which law applies; claim in-store purchases by number
(/requests: bot/conversation/requests.py)
"""

from __future__ import annotations

from bot.conversation.events import WHATSAPP, Button, Reply
from bot.conversation.formatting import local_time, regime_name, tick
from bot.conversation.turn import Press, Turn
from bot.render.export import build_export, duration_text
from bot.render.links import export_url
from core.domain.requests import DataRequest, RequestKind, RequestState
from core.domain.rights import max_length, may_ask_to_share_again
from core.domain.rules import purpose_in_use
from core.errors import InvalidInput, RateLimited
from core.services import current_consents, customer_requests
from core.services.rights.erasure import (
    EraseCustomer,
    RequestErasure,
    erase_customer,
    request_erasure,
)
from core.services.rights.export import RequestExport, complete_export, holdings, request_export
from core.services.rights.links import IssueExportLink, issue_export_link
from core.services.rights.processing import (
    ChooseJurisdiction,
    Flag,
    SetFlag,
    choose_jurisdiction,
    set_processing_flag,
)
from core.services.rights.rectification import CorrectField, correct_field
from core.services.rights.verification import ClaimPhone, claim_phone

__all__ = [
    "ACTIONS",
    "COMMANDS",
    "correct",
    "delete",
    "erasure_opened",
    "export",
    "my_data",
    "on_contact",
    "on_rights_text",
    "rights_menu",
    "send_copy",
]

# Identity and contact go with the customer (retention counts from last activity);
# the other categories age record by record (core/services/retention.py).
_WHILE_ACTIVE = frozenset({"identity", "contact"})
_KEPT = {True: "rights.kept.after_activity", False: "rights.kept.from_record"}

_TYPED = ("name", "email", "address")
_FIELDS = (*_TYPED, "phone")


def _downstream(turn: Turn) -> tuple[str, ...]:
    return tuple(name for name, _ in turn.core.settings.downstream)


def _due(turn: Turn, request: DataRequest) -> str:
    return local_time(turn, request.due_at)


# --- /mydata ------------------------------------------------------------------------


async def my_data(turn: Turn) -> None:
    t, policy = turn.t, turn.core.policy
    found = await holdings(turn.customer.ref, turn.uow)
    consents = await current_consents(turn.customer.ref, turn.uow)
    lines = [t("rights.mydata.title")]
    for h in found:
        used = [p for p in h.purposes if purpose_in_use(policy, turn.customer, p, consents)]
        declined = [p for p in h.purposes if p not in used]
        purposes = t.join(t(policy.purpose(p).title_key) for p in used)
        counts = t.join(t(f"rights.count.{k}", n=n) for k, n in h.counts.items() if n)
        lines.append(
            t(
                "rights.mydata.category",
                title=t(f"rights.category.{h.category}"),
                purposes=purposes or "—",
                source=t(f"rights.source.{h.source}"),
                since=local_time(turn, h.since) if h.since else "—",
                retention=t(_KEPT[h.category in _WHILE_ACTIVE], d=duration_text(t, h.retention)),
                counts=counts or t("rights.count.none"),
            )
        )
        if declined:
            titles = t.join(t(policy.purpose(p).title_key) for p in declined)
            lines[-1] += "\n" + t("rights.mydata.declined", purposes=titles)
        if h.legal_hold is not None:
            lines.append(t("rights.mydata.legal_hold", duration=duration_text(t, h.legal_hold)))
    lines.append(t("rights.mydata.protection", duration=_key_backups(turn)))
    lines.append(t("rights.mydata.footer"))
    turn.say("\n\n".join(lines), *_menu_rows(turn))


def _key_backups(turn: Turn) -> str:
    """How long the shop keeps backups of its keys: the longest an erased customer
    stays readable in any backup."""
    return duration_text(turn.t, turn.core.policy.key_backup_retention)


def _menu_rows(turn: Turn) -> list[tuple[Button, ...]]:
    t = turn.t
    return [
        (
            turn.button(t("rights.button.export"), "rm", "export"),
            turn.button(t("rights.button.correct"), "rm", "correct"),
        ),
        (
            turn.button(t("rights.button.rights"), "rm", "rights"),
            turn.button(t("rights.button.requests"), "rm", "requests"),
        ),
        (
            turn.button(t("rights.button.claim"), "rm", "claim"),
            turn.button(t("rights.button.delete"), "rm", "delete"),
        ),
    ]


async def on_menu_press(turn: Turn, press: Press) -> None:
    target = {
        "export": export,
        "correct": correct,
        "rights": rights_menu,
        "claim": _ask_claim,
        "delete": delete,
        "law": _choose_law,
    }.get(press.arg)
    if target is None:
        turn.notify(turn.t("button.expired"))
        return
    await target(turn)


# --- /export ------------------------------------------------------------------------


async def export(turn: Turn) -> None:
    t = turn.t
    try:
        async with turn.uow.attempt():  # a refusal is answered here, and the turn goes on
            request, background = await request_export(
                RequestExport(turn.customer.ref, turn.event.channel), turn.uow
            )
    except RateLimited as limited:
        limit = turn.core.policy.export_rate_limit
        if limited.retry_at is None:
            turn.say(t("rights.export.rate_limited", limit=limit))
        else:
            turn.say(t("rights.export.try_at", limit=limit, at=local_time(turn, limited.retry_at)))
        return
    await send_copy(turn, request, background)


async def send_copy(turn: Turn, request: DataRequest, background: bool) -> None:
    """The copy in this turn, or word that a job prepares it (a long history, or one
    that staff approve first)."""
    t, whatsapp = turn.t, turn.event.channel == WHATSAPP
    if whatsapp and turn.core.settings.public_url is None:  # no link could ever be sent
        officer = turn.core.policy.privacy_officer or "/help"
        turn.say(t("rights.export.no_link", request=request.ref, officer=officer))
        return
    if background:
        key = "rights.export.preparing_link" if whatsapp else "rights.export.preparing"
        turn.say(t(key, request=request.ref, due=_due(turn, request)))
        return
    if whatsapp:  # WhatsApp carries no ZIP: a single-use link instead
        await _send_link(turn, request)
        return
    # Small histories only (larger ones go to the job): quick enough for the turn.
    built = await build_export(turn.core, turn.customer.ref, turn.uow)
    await complete_export(request.ref, len(built.content), turn.uow)
    caption = t("rights.export.caption", request=request.ref)
    turn.reply(Reply(text=caption, document=(built.name, built.content)))


async def _send_link(turn: Turn, request: DataRequest) -> None:
    base = turn.core.settings.public_url
    assert base is not None  # checked by send_copy
    token = await issue_export_link(IssueExportLink(request), turn.uow)
    await complete_export(request.ref, 0, turn.uow)
    turn.say(turn.t("rights.export.link", request=request.ref, url=export_url(base, token)))


# --- /delete ------------------------------------------------------------------------


async def delete(turn: Turn) -> None:
    t = turn.t
    running = await _open_erasure(turn)
    if running is not None:
        turn.say(t("rights.erase.already", request=running.ref, due=_due(turn, running)))
        return
    hold = turn.core.policy.category("transaction").legal_hold
    kept = (
        t("rights.erase.kept", duration=duration_text(t, hold))
        if hold is not None
        else t("rights.erase.kept_nothing")
    )
    lines = [
        t("rights.erase.explain"),
        t("rights.erase.backups", duration=_key_backups(turn)),
        kept,
        t("rights.erase.suppression"),
    ]
    if turn.core.policy.needs_approval(RequestKind.ERASURE.value):
        lines.append(t("rights.erase.checked_by_staff"))
    turn.say(
        "\n\n".join(lines),
        (turn.button(t("rights.erase.confirm"), "rd", "yes"),),
        (turn.button(t("rights.erase.cancel"), "rd", "no"),),
    )


async def _open_erasure(turn: Turn) -> DataRequest | None:
    mine = await customer_requests(turn.customer.ref, turn.uow)
    return next((r for r in mine if r.kind is RequestKind.ERASURE and not r.state.closed), None)


async def on_delete_press(turn: Turn, press: Press) -> None:
    t = turn.t
    if press.arg == "no":
        turn.say(t("rights.erase.cancelled"), edit=True)
        return
    if press.arg != "yes":
        turn.notify(t("button.expired"))
        return
    request, new = await request_erasure(
        RequestErasure(turn.customer.ref, turn.event.channel), turn.uow
    )
    if not new:
        turn.notify(t("rights.erase.already_short"))
        turn.say(t("rights.erase.already", request=request.ref, due=_due(turn, request)))
        return
    await erasure_opened(turn, request)


async def erasure_opened(turn: Turn, request: DataRequest, *, edit: bool = True) -> None:
    """A new erasure: carried out now, or word of the staff's check (``edit``: in place
    of the screen that asked)."""
    if request.state is not RequestState.IN_PROGRESS:
        received = turn.t("rights.erase.received", request=request.ref, due=_due(turn, request))
        turn.say(received, edit=edit)
        return
    await _erase_now(turn, request, edit=edit)


async def _erase_now(turn: Turn, request: DataRequest, *, edit: bool = True) -> None:
    """No approval needed: carry it out while the customer waits (the job finds it done).

    This turn's answer is the confirmation: the chat is known from the event, so
    nothing needs the shredded key to reach them. The erasure job that follows
    folds the database's log (core/services/rights/erasure.py)."""
    await erase_customer(EraseCustomer(request.ref, _downstream(turn)), turn.uow)
    turn.state.clear()  # nothing of theirs may be written back
    turn.say(turn.t("rights.erase.done"), edit=edit)


# --- /correct -----------------------------------------------------------------------


async def correct(turn: Turn) -> None:
    t = turn.t
    rows = [(turn.button(t(f"rights.field.{f}"), "rc", f),) for f in _FIELDS]
    rows.append((turn.button(t("rights.button.cancel"), "rc", "cancel"),))
    turn.say(t("rights.correct.choose"), *rows)


async def on_correct_press(turn: Turn, press: Press) -> None:
    t = turn.t
    if press.arg == "cancel":
        turn.state.pop("rights", None)
        turn.say(t("rights.correct.cancelled"), edit=True)
        return
    if press.arg not in _FIELDS:
        turn.notify(t("button.expired"))
        return
    turn.state["rights"] = {"await": press.arg}
    if press.arg == "phone":
        turn.reply(
            Reply(text=t("rights.correct.phone"), ask_contact=t("rights.button.share_contact"))
        )
        return
    label = t(f"rights.field.{press.arg}").lower()
    turn.say(t("rights.correct.type", field=label, max=max_length(press.arg)))


async def on_rights_text(turn: Turn) -> bool:
    """Typed text answering an open correction; False when none is open."""
    waiting = (turn.state.get("rights") or {}).get("await")
    if waiting not in (*_FIELDS, "claim"):
        return False
    if waiting in ("phone", "claim"):
        turn.reply(
            Reply(
                text=turn.t("rights.correct.use_button"),
                ask_contact=turn.t("rights.button.share_contact"),
            )
        )
        return True
    turn.state.pop("rights", None)
    try:
        await _correct(turn, waiting, turn.event.text)
    except InvalidInput as error:  # audited by the core; ask again, with a way out
        turn.state["rights"] = {"await": waiting}
        label = turn.t(f"rights.field.{waiting}").lower()
        turn.say(
            turn.t(f"error.{error.code}")
            + "\n"
            + turn.t("rights.correct.retry", field=label, max=max_length(waiting))
        )
    return True


async def _correct(turn: Turn, field_name: str, value: str, contact: int | None = None) -> None:
    t = turn.t
    cmd = CorrectField(
        turn.customer.ref,
        field_name,
        value,
        channel=turn.event.channel,
        downstream=_downstream(turn),
        sender_id=turn.event.user_id,
        contact_user_id=contact,
    )
    request, applied = await correct_field(cmd, turn.uow)
    label = t(f"rights.field.{field_name}")
    if applied:
        turn.say(t("rights.correct.applied", field=label, request=request.ref))
    elif request.state.closed:
        turn.say(t("rights.correct.not_made_here", field=label, request=request.ref))
    else:
        turn.say(
            t("rights.correct.pending", field=label, request=request.ref, due=_due(turn, request))
        )


async def on_contact(turn: Turn) -> None:
    """A shared contact: a new phone number (after /correct) or a claim (any other time)."""
    waiting = (turn.state.get("rights") or {}).get("await")
    turn.state.pop("rights", None)
    phone, owner = turn.event.contact_phone or "", turn.event.contact_user_id
    if waiting == "phone":
        await _correct(turn, "phone", phone, owner)
        return
    cmd = ClaimPhone(turn.customer.ref, phone, turn.event.user_id, owner, turn.event.channel)
    result = await claim_phone(cmd, turn.uow)
    for ref in result.resumed:
        turn.say(turn.t("rights.requests.identity_confirmed", request=ref))
    if not result.linked:
        if not result.resumed:
            turn.say(turn.t("rights.claim.already"))
        return
    turn.say(turn.t("rights.claim.linked", purchases=result.purchases))


async def _ask_claim(turn: Turn) -> None:
    turn.state["rights"] = {"await": "claim"}
    turn.reply(
        Reply(text=turn.t("rights.claim.ask"), ask_contact=turn.t("rights.button.share_contact"))
    )


# --- /rights ------------------------------------------------------------------------


async def rights_menu(turn: Turn, *, edit: bool = False) -> None:
    t, flags = turn.t, turn.customer.flags
    state = {
        Flag.RESTRICT: flags.restricted,
        Flag.OBJECT_MARKETING: flags.objected_marketing,
        Flag.OPT_OUT_SHARING: flags.opted_out_sharing,
    }
    lines = [t("rights.menu.title")]
    rows: list[tuple[Button, ...]] = []
    for flag, on in state.items():
        lines.append(f"{tick(on)} {t(f'rights.flag.{flag.value}')}")
        rows.append(
            (
                turn.button(
                    f"{tick(on)} {t(f'rights.flag.{flag.value}.short')}",
                    "rf",
                    f"{flag.value}:{int(not on)}",
                ),
            )
        )
    opted = flags.opted_out_sharing_at
    if opted is not None and not may_ask_to_share_again(
        turn.core.policy, turn.customer, turn.core.clock.now()
    ):
        # CCPA: the shop does not ask again within the period; the customer may still lift it.
        lines.append(t("rights.flag.optout_kept", date=local_time(turn, opted)))
    law = turn.core.policy.jurisdiction(turn.customer.jurisdiction)
    lines.append(t("rights.law.current", law=regime_name(turn, law.key)))
    lines.append(t("rights.menu.hint"))
    rows.append((turn.button(t("rights.button.law"), "rm", "law"),))
    turn.say("\n".join(lines), *rows, edit=edit)


async def on_flag_press(turn: Turn, press: Press) -> None:
    name, _, want = press.arg.partition(":")
    try:
        flag = Flag(name)
    except ValueError:
        flag = None
    if flag is None or want not in ("0", "1"):
        turn.notify(turn.t("button.expired"))
        return
    on = want == "1"
    cmd = SetFlag(turn.customer.ref, flag, on, turn.event.channel, _downstream(turn))
    turn.customer, request = await set_processing_flag(cmd, turn.uow)
    await rights_menu(turn, edit=True)
    key = "rights.flag.set" if on else "rights.flag.lifted"
    turn.say(turn.t(key, flag=turn.t(f"rights.flag.{flag.value}.short"), request=request.ref))
    turn.notify(turn.t(key + ".short"))


async def _choose_law(turn: Turn) -> None:
    rows = [
        (turn.button(regime_name(turn, j.key), "rj", j.key),)
        for j in turn.core.policy.jurisdictions
    ]
    turn.say(turn.t("rights.law.choose"), *rows)


async def on_law_press(turn: Turn, press: Press) -> None:
    if press.arg not in {j.key for j in turn.core.policy.jurisdictions}:
        turn.notify(turn.t("button.expired"))
        return
    turn.customer = await choose_jurisdiction(
        ChooseJurisdiction(turn.customer.ref, press.arg), turn.uow
    )
    turn.say(turn.t("rights.law.changed", law=regime_name(turn, press.arg)), edit=True)


ACTIONS = {
    "rm": on_menu_press,
    "rd": on_delete_press,
    "rc": on_correct_press,
    "rf": on_flag_press,
    "rj": on_law_press,
}
COMMANDS = {
    "mydata": my_data,
    "export": export,
    "delete": delete,
    "correct": correct,
    "rights": rights_menu,
}
