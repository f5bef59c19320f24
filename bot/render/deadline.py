"""A legal clock explained: the due date, then each day the count skipped or counted.

The same words for staff in the chat (``/request``) and on the command line
(``privacy-bot deadline``), in the staff member's language.
"""

from __future__ import annotations

from datetime import date

from babel.dates import format_date

from bot.render.export import duration_text
from bot.render.i18n import Translator
from core.domain.calendar import DayKind, TimeUnit
from core.domain.deadlines import Deadline
from core.domain.policy import JurisdictionSpec

__all__ = ["explain_deadline"]

_BABEL = {"en": "en", "zh_Hans": "zh_Hans_CN", "zh_Hant": "zh_Hant_HK"}


def explain_deadline(t: Translator, regime: JurisdictionSpec, deadline: Deadline) -> list[str]:
    """The due date (ISO 8601) on its own line, then how it was counted."""
    period = duration_text(t, deadline.period)
    start = _day(t, deadline.received)
    lines = [
        deadline.due.isoformat(),
        t(
            "deadline.from_receipt" if deadline.start_counts else "deadline.from_next_day",
            regime=regime.name,
            period=period,
            day=start,
        ),
    ]
    if deadline.period.unit is TimeUnit.WORKING_DAYS:
        lines.append(
            t("deadline.calendar", region=regime.calendar_region)
            if regime.calendar_region
            else t("deadline.no_calendar")
        )
    for notable in deadline.notable:
        key = {
            DayKind.WEEKEND: "deadline.weekend",
            DayKind.HOLIDAY: "deadline.holiday",
            DayKind.MAKE_UP: "deadline.make_up",
        }[notable.kind]
        lines.append("  " + t(key, day=_day(t, notable.day), name=notable.name))
    if deadline.legal_last != deadline.due:
        lines.append(
            t(
                "deadline.legal_last",
                legal=_day(t, deadline.legal_last),
                due=_day(t, deadline.due),
            )
        )
    return lines


def _day(t: Translator, day: date) -> str:
    return format_date(day, "yyyy-MM-dd EEE", locale=_BABEL.get(t.locale, "en"))
