"""A notice the bot sends later (approved, rejected, completed ...), written at send
time in the customer's language from the codes the core queued: what the request is
about ("Correction: email") and the day it was asked, in the customer's time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.render.i18n import Translator
from core.domain.rights import CORRECTABLE

__all__ = ["notice_text", "request_what"]


def request_what(t: Translator, kind: str, detail: str | None) -> str:
    """The request's kind, and its field for a correction: "Correction: email"."""
    what = t(f"rights.kind.{kind}")
    if detail in CORRECTABLE:
        return t("rights.requests.of_field", kind=what, field=t(f"rights.field.{detail}").lower())
    return what


def reason_text(t: Translator, category: str, note: str) -> str:
    """A staff reason as the customer reads it: its category in words, then the text."""
    if category == "other" and note:
        return note
    title = t(f"reason.{category}")
    return t("reason.with_note", category=title, note=note) if note else title


def notice_text(t: Translator, key: str, params: dict[str, str], zone: str) -> str:
    expanded = dict(params)
    if "kind" in params:
        expanded["what"] = request_what(t, params["kind"], params.get("field"))
    if category := params.get("reason_category"):
        expanded["reason"] = reason_text(t, category, params.get("reason", ""))
    if asked := params.get("asked_at"):
        expanded["asked"] = (
            datetime.fromisoformat(asked).astimezone(ZoneInfo(zone)).date().isoformat()
        )
    return t(key, **expanded)
