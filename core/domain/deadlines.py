"""Exact deadline arithmetic for the legal clocks (GDPR, CCPA/CPRA, PIPL, PDPO).

Durations are counted on the regime's local calendar, not in UTC hours: "one
month" from a request received late on 31 January in Berlin is a date in
February there, whatever the UTC clock says. A deadline is the *end* of its
local day, so a shop is never late while that day still runs where the law applies.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, tzinfo

from core.domain.calendar import Duration, TimeUnit, WorkingCalendar

__all__ = ["Duration", "TimeUnit", "add_duration", "due_at"]


def add_duration(
    start: date,
    d: Duration,
    *,
    holidays: frozenset[date] = frozenset(),
    extra_working_days: frozenset[date] = frozenset(),
) -> date:
    """The date ``d`` after ``start``, on the calendar the working days are counted on.

    ``holidays`` and ``extra_working_days`` only matter for working days; the
    latter are weekend dates declared working days (China's 调休 make-up days).
    The day of receipt never counts: the period runs from the next day.
    """
    return WorkingCalendar(holidays, extra_working_days).add(start, d)


def due_at(
    received_at: datetime,
    d: Duration,
    tz: tzinfo,
    *,
    holidays: frozenset[date] = frozenset(),
    extra_working_days: frozenset[date] = frozenset(),
) -> datetime:
    """The end of the regime-local day on which ``d`` after ``received_at`` ends, in UTC."""
    if received_at.tzinfo is None or received_at.utcoffset() is None:
        raise ValueError(
            "received_at must be timezone-aware (UTC); got a naive datetime, "
            "which could mean any local time"
        )
    local_day = received_at.astimezone(tz).date()
    last_day = add_duration(local_day, d, holidays=holidays, extra_working_days=extra_working_days)
    # fold=1: if a DST change repeats the last local hour, the later one ends the day.
    end = datetime.combine(last_day, time.max, tzinfo=tz).replace(fold=1)
    return end.astimezone(UTC)
