"""An incident as staff read it: state, window, counts per regime and language, and
each regulator's clock; the same words in the chat (``/incident``) and on the
command line (``privacy-bot incident``), in the staff member's language. Also
reads what staff type for a window (local days on the shop's calendar).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.render.i18n import Translator
from core.domain.incident import Audience, BreachClock
from core.errors import InvalidInput
from core.services.incidents import IncidentView

__all__ = ["describe_incident", "parse_moment", "parse_window", "short"]


def short(at: datetime | None) -> str:
    return "—" if at is None else at.strftime("%Y-%m-%d %H:%M UTC")


def parse_window(
    start: str | None, end: str | None, zone: ZoneInfo
) -> tuple[datetime | None, datetime | None]:
    """``2026-11-01`` ``2026-11-30``: from the start of the first local day to the end
    of the last (an open end runs to now); neither: every customer."""
    first = _day(start) if start else None
    last = _day(end) if end else None
    since = None if first is None else datetime.combine(first, time.min, zone)
    until = None if last is None else datetime.combine(last + timedelta(days=1), time.min, zone)
    if since is not None and until is None:
        until = datetime.now(zone)
    return since, until


def parse_moment(text: str, zone: ZoneInfo) -> datetime:
    """``2026-12-01T09:30`` (shop time) or ``2026-12-01T01:30Z``."""
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"expected a time like 2026-12-01T09:30, got {text!r}", code="bad_moment"
        ) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=zone)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"expected a date like 2026-11-30, got {text!r}", code="bad_moment"
        ) from None


def describe_incident(t: Translator, view: IncidentView, now: datetime) -> list[str]:
    i = view.incident
    lines = [
        t(
            "incident.staff.detail",
            ref=i.ref,
            state=t(f"incident.state.{i.state.value}"),
            aware=short(i.aware_at),
            categories=", ".join(i.categories),
            risk=t(f"incident.risk.{i.risk.value}") if i.risk else "—",
        ),
        t("incident.staff.window_all")
        if i.all_customers
        else t("incident.staff.window", start=short(i.held_from), end=short(i.held_until)),
        t(
            "incident.staff.counts",
            customers=sum(view.affected.values()),
            erased=sum(view.erased.values()),
            languages=_counted(view.by_language),
            regimes=_counted(view.by_regime),
        ),
    ]
    if view.notices:
        lines.append(
            t(
                "incident.staff.notices",
                sent=view.told("sent"),
                waiting=view.told("queued") + view.told("sending"),
                uncertain=view.told("uncertain"),
                undeliverable=view.told("undeliverable"),
                erased=view.told("erased"),
            )
        )
    lines += ["", t("incident.staff.clocks")]
    lines += [_clock_line(t, clock, now) for clock in view.clocks] or [
        t("incident.staff.no_clocks")
    ]
    return lines


def _counted(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {n}" for key, n in sorted(counts.items())) or "—"


def _clock_line(t: Translator, clock: BreachClock, now: datetime) -> str:
    if not clock.applies:
        standing = t(
            "incident.clock.not_applicable_threshold"
            if clock.audience is Audience.AUTHORITY
            else "incident.clock.not_applicable_risk",
            threshold=clock.threshold or 0,
        )
    elif clock.met is True:
        standing = t("incident.clock.met", at=short(clock.done_at))
    elif clock.met is False:
        standing = t("incident.clock.missed", at=short(clock.done_at))
    elif clock.overdue(now):
        standing = t("incident.clock.overdue")
    else:
        standing = t("incident.clock.running")
    return t(
        f"incident.clock.{clock.audience.value}",
        regime=clock.regime,
        hours=clock.hours,
        due=short(clock.due_at),
        customers=clock.customers,
        standing=standing,
    )
