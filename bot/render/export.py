"""The customer's copy of their data: a ZIP with ``data.json``, ``index.html`` and
``consent-records.jsonld`` (their consent ledger as ISO/IEC TS 27560 records in JSON-LD
with DPV terms, one record per decision: bot/render/consent_records.py).

Built into a spooled temporary file (memory up to 4 MiB, disk beyond), with the
purchases streamed from the database a batch at a time, so memory stays flat
for a customer with tens of thousands of purchases.

``data.json`` (format ``privacy-export/1``; keys are stable, new keys may be
added, none removed or renamed within a format version)::

    format          "privacy-export/1"
    generated_at    ISO 8601 UTC
    customer        ref, language, jurisdiction, timezone, created_at,
                    last_active_at, name, phone, email, address, member_no,
                    flags {restricted, objected_marketing, opted_out_sharing_at}
    identities      [{kind: telegram|phone|email|member, value, verified}]
    holdings        [{category, purposes[], source: chat|you|shop, since,
                      retention, legal_hold, counts{}}]
    consents        [{ref, purpose, decision: given|withdrawn, notice_version,
                      channel, decided_at}]        the whole ledger, oldest first
    survey_answers  [{survey, question, value (text or list), answered_at}]
    requests        [{ref, kind, state, jurisdiction, received_at, due_at,
                      extended, history[{at, state, note}], confirmations{system: at}}]
    audit           [{seq, at, actor, action, outcome, purpose, details}]
                    the audit entries about this customer
    purchases       [{order_id, purchased_at, total, currency,
                      items[{sku, name, quantity, price}]}]   oldest first, last key

Times are ISO 8601 in UTC; amounts are decimal strings.
"""

from __future__ import annotations

import html
import json
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from bot.render.consent_records import consent_record, jsonld_lines
from bot.render.i18n import Translator
from bot.render.notices import request_what
from core.app import PrivacyCore
from core.domain.calendar import Duration
from core.domain.consent import record_statuses
from core.domain.purchase import Purchase
from core.domain.survey import Answer, Question, QuestionKind, Survey, load_survey
from core.services.desk.reasons import shown_reason
from core.services.outreach.followups import followup_survey
from core.services.rights.export import ExportSnapshot, export_purchases, export_snapshot
from core.storage import UnitOfWork

__all__ = ["CONSENT_RECORDS", "FORMAT", "ExportFile", "build_export", "duration_text"]

FORMAT = "privacy-export/1"
CONSENT_RECORDS = "consent-records.jsonld"  # the ledger as ISO/IEC TS 27560 records
_SPOOL = 4 * 1024 * 1024


@dataclass(frozen=True)
class ExportFile:
    name: str
    content: bytes
    purchases: int


async def build_export(
    core: PrivacyCore, customer_ref: str, uow: UnitOfWork | None = None
) -> ExportFile:
    """The ZIP for one customer, in their language, read in ``uow`` (the caller's turn
    or job step, so the copy shows what it is about to commit) or in a unit of work of
    its own. Only reads: nothing is written while it builds."""
    if uow is not None:
        return await _build(core, customer_ref, uow)
    async with core.uow() as own:
        return await _build(core, customer_ref, own)


async def _build(core: PrivacyCore, customer_ref: str, uow: UnitOfWork) -> ExportFile:
    snapshot = await export_snapshot(customer_ref, uow)
    generated = uow.now()
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL) as spool:
        with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            with archive.open("data.json", "w") as out:
                count = await _write_json(
                    out, snapshot, generated, export_purchases(customer_ref, uow)
                )
            with archive.open("index.html", "w") as out:
                await _write_html(
                    out, core, snapshot, generated, export_purchases(customer_ref, uow)
                )
            with archive.open(CONSENT_RECORDS, "w") as out:
                for piece in jsonld_lines(_records(snapshot, core)):
                    out.write(piece.encode())
        spool.seek(0)
        content = spool.read()
    # The customer's own clock, to the second: two copies of one day never share a name.
    local = generated.astimezone(snapshot.customer.zone(core.policy.zone))
    return ExportFile(f"my-data-{local:%Y-%m-%d-%H%M%S}.zip", content, count)


def _records(snapshot: ExportSnapshot, core: PrivacyCore) -> Iterator[dict[str, Any]]:
    """The customer's whole ledger as ISO/IEC TS 27560 records (bot/render/consent_records.py)."""
    customer = snapshot.customer
    ordered = sorted(snapshot.consents, key=lambda e: (e.purpose, e.decided_at, e.ref))
    for entry, status in record_statuses(ordered):
        yield consent_record(
            entry,
            status,
            core.policy,
            language=customer.language,
            jurisdiction=customer.jurisdiction,
        )


# --- data.json ---------------------------------------------------------------------


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _document(s: ExportSnapshot, generated: datetime) -> dict[str, Any]:
    c = s.customer
    return {
        "format": FORMAT,
        "generated_at": _iso(generated),
        "customer": {
            "ref": c.ref,
            "language": c.language,
            "jurisdiction": c.jurisdiction,
            "timezone": c.timezone,
            "created_at": _iso(c.created_at),
            "last_active_at": _iso(c.last_active_at),
            "name": c.name,
            "phone": c.phone,
            "email": c.email,
            "address": c.address,
            "member_no": c.member_no,
            "flags": {
                "restricted": c.flags.restricted,
                "objected_marketing": c.flags.objected_marketing,
                "opted_out_sharing_at": _iso(c.flags.opted_out_sharing_at),
            },
        },
        "identities": [
            {"kind": i.kind.value, "value": i.value, "verified": i.verified} for i in c.identities
        ],
        "holdings": [
            {
                "category": h.category,
                "purposes": list(h.purposes),
                "source": h.source,
                "since": _iso(h.since),
                "retention": str(h.retention),
                "legal_hold": None if h.legal_hold is None else str(h.legal_hold),
                "counts": h.counts,
            }
            for h in s.holdings
        ],
        "consents": [
            {
                "ref": e.ref,
                "purpose": e.purpose,
                "decision": e.decision.value,
                "notice_version": e.notice_version,
                "channel": e.channel,
                "decided_at": _iso(e.decided_at),
            }
            for e in s.consents
        ],
        "survey_answers": [
            {
                "survey": a.survey_id,
                "question": a.question_id,
                "value": a.value if isinstance(a.value, str) else list(a.value),
                "answered_at": _iso(a.answered_at),
            }
            for a in s.answers
        ],
        "requests": [
            {
                "ref": r.ref,
                "kind": r.kind.value,
                "state": r.state.value,
                "jurisdiction": r.jurisdiction,
                "received_at": _iso(r.received_at),
                "due_at": _iso(r.due_at),
                "extended": r.extended,
                "history": [
                    {"at": _iso(at), "state": st.value, "note": n} for at, st, n in r.history
                ],
                "confirmations": confirmations,
            }
            for r, confirmations in s.requests
        ],
        "audit": [
            {
                "seq": e.seq,
                "at": _iso(e.at),
                "actor": f"{e.actor_kind}:{e.actor_ref}",
                "action": e.action,
                "outcome": e.outcome,
                "purpose": e.purpose,
                # A staff reason's text is for the shop's audit: its category is shown.
                "details": {
                    k: shown_reason(v) if k == "reason" and isinstance(v, str) else v
                    for k, v in e.details.items()
                },
            }
            for e in s.audit
        ],
    }


def _purchase(p: Purchase) -> dict[str, Any]:
    return {
        "order_id": p.order_id,
        "purchased_at": _iso(p.purchased_at),
        "total": str(p.total),
        "currency": p.currency,
        "items": [
            {"sku": i.sku, "name": i.name, "quantity": i.quantity, "price": str(i.price)}
            for i in p.items
        ],
    }


async def _write_json(
    out: IO[bytes], s: ExportSnapshot, generated: datetime, purchases: Any
) -> int:
    head = json.dumps(_document(s, generated), ensure_ascii=False, indent=1)
    # Purchases go last, streamed, so the document never sits in memory whole.
    out.write(head[: head.rstrip().rfind("}")].rstrip().encode() + b',\n "purchases": [')
    count = 0
    async for purchase in purchases:
        out.write(
            (b",\n  " if count else b"\n  ")
            + json.dumps(_purchase(purchase), ensure_ascii=False).encode()
        )
        count += 1
    out.write(b"\n ]\n}\n")
    return count


# --- index.html --------------------------------------------------------------------


def duration_text(t: Translator, d: Duration) -> str:
    unit, n = d.unit.value, d.amount
    if unit == "months" and n % 12 == 0:
        unit, n = "years", n // 12  # the policy wrote years
    return t(f"rights.unit.{unit}" + ("_one" if n == 1 else ""), n=n)


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _table(headings: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headings)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>\n"


async def _write_html(
    out: IO[bytes], core: PrivacyCore, s: ExportSnapshot, generated: datetime, purchases: Any
) -> None:
    """The page a person reads: every value as the chat showed it, in their language,
    times in their zone (named), a line per section saying what it means."""
    t = Translator(s.customer.language)
    zone = s.customer.zone(core.policy.zone)
    read = _Reader(t, core)

    def when(at: datetime | None) -> str:
        return "" if at is None else t.time(at, zone)

    def w(text: str) -> None:
        out.write(text.encode())

    def section(key: str, headings: Iterable[str], rows: Iterable[Iterable[object]]) -> None:
        w(f"<h2>{_e(t('rights.export.html.' + key))}</h2>")
        w(f"<p class=means>{_e(t('export.means.' + key))}</p>")
        w(_table(headings, rows))

    c = s.customer
    lang = _e(c.language.replace("_", "-"))
    w(f'<!doctype html>\n<html lang="{lang}"><head><meta charset="utf-8">')
    w(f"<title>{_e(t('rights.export.html.title'))}</title>")
    w(
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px;text-align:left}.means{color:#555}"
        "</style></head><body>\n"
    )
    w(f"<h1>{_e(t('rights.export.html.title'))}</h1>")
    w(f"<p>{_e(t('rights.export.html.intro', time=when(generated)))}</p>\n")
    field, value = t("rights.export.html.field"), t("rights.export.html.value")
    profile = [
        (t("rights.field.name"), c.name),
        (t("rights.field.phone"), c.phone),
        (t("rights.field.email"), c.email),
        (t("rights.field.address"), c.address),
    ] + [(t(f"export.identity.{i.kind.value}"), i.value) for i in c.identities]
    section("profile", (field, value), profile)
    section(
        "consents",
        (
            t("rights.export.html.purpose"),
            t("rights.export.html.decision"),
            t("rights.export.html.notice"),
            t("rights.export.html.when"),
        ),
        (
            (
                t(core.policy.purpose(e.purpose).title_key),
                t(f"consent.decision.{e.decision.value}"),
                e.notice_version,
                when(e.decided_at),
            )
            for e in s.consents
        ),
    )
    section(
        "answers",
        (t("rights.export.html.question"), value, t("rights.export.html.when")),
        ((read.question(a), read.answer(a), when(a.answered_at)) for a in s.answers),
    )
    section(
        "requests",
        (
            t("rights.export.html.kind"),
            t("rights.export.html.state"),
            t("rights.export.html.when"),
            t("rights.export.html.due"),
        ),
        (
            (
                request_what(t, r.kind.value, r.detail),
                t(f"rights.state.{r.state.value}"),
                when(r.received_at),
                when(r.due_at),
            )
            for r, _ in s.requests
        ),
    )
    if s.pending:
        section(
            "pending",
            (t("rights.export.html.kind"), value),
            ((t("rights.field." + name).lower(), new) for name, new in s.pending.values()),
        )
    section(
        "audit",
        (
            t("rights.export.html.when"),
            t("rights.export.html.action"),
            t("rights.export.html.outcome"),
        ),
        ((when(e.at), read.action(e.action), t(f"export.outcome.{e.outcome}")) for e in s.audit),
    )
    w(f"<h2>{_e(t('rights.export.html.purchases'))}</h2>")
    w(f"<p class=means>{_e(t('export.means.purchases'))}</p><table><thead><tr>")
    for heading in ("order", "when", "total", "items"):
        w(f"<th>{_e(t('rights.export.html.' + heading))}</th>")
    w("</tr></thead><tbody>\n")
    async for p in purchases:
        items = t.join(f"{i.quantity} × {i.name}" for i in p.items)
        w(
            f"<tr><td>{_e(p.order_id)}</td><td>{_e(when(p.purchased_at))}</td>"
            f"<td>{_e(p.total)} {_e(p.currency)}</td><td>{_e(items)}</td></tr>\n"
        )
    w("</tbody></table></body></html>\n")


class _Reader:
    """Codes in the ledger as the customer read them in the chat."""

    def __init__(self, t: Translator, core: PrivacyCore) -> None:
        self.t = t
        main = load_survey(core.settings.survey_file)
        follow = followup_survey()
        self._surveys: dict[str, tuple[Survey, str]] = {
            main.id: (main, "survey.opt"),
            follow.id: (follow, "followup.opt"),
        }

    def question(self, a: Answer) -> str:
        found = self._find(a)
        return self.t(found[0].text_key) if found else a.question_id

    def answer(self, a: Answer) -> str:
        found = self._find(a)
        if found is None or found[0].kind is QuestionKind.TEXT:
            return a.value if isinstance(a.value, str) else self.t.join(a.value)
        values = (a.value,) if isinstance(a.value, str) else a.value
        return self.t.join(self.t(f"{found[1]}.{a.question_id}.{v}") for v in values)

    def action(self, code: str) -> str:
        label = self.t(f"export.action.{code}")
        return label if label != f"export.action.{code}" else code

    def _find(self, a: Answer) -> tuple[Question, str] | None:
        survey, prefix = self._surveys.get(a.survey_id, (None, ""))
        if survey is None:
            return None
        question = next((q for q in survey.questions if q.id == a.question_id), None)
        return None if question is None else (question, prefix)
