"""Exact deadline arithmetic for the legal clocks (GDPR, CCPA/CPRA, PIPL, PDPO).

Durations are counted on the regime's local calendar, not in UTC hours: "one
month" from a request received late on 31 January in Berlin is a date in
February there, whatever the UTC clock says. A deadline is the *end* of its
local day, so a shop is never late while that day still runs where the law applies.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum

__all__ = ["Duration", "TimeUnit", "add_duration", "due_at"]


class TimeUnit(StrEnum):
    DAYS = "days"
    MONTHS = "months"
    WORKING_DAYS = "working_days"


# Spellings a privacy officer may write, mapped to (unit, multiplier). Years are
# months x 12 so "7 years" from 29 Feb clamps like any month arithmetic would.
_UNIT_WORDS: dict[str, tuple[TimeUnit, int]] = {
    "day": (TimeUnit.DAYS, 1),
    "days": (TimeUnit.DAYS, 1),
    "calendar day": (TimeUnit.DAYS, 1),
    "calendar days": (TimeUnit.DAYS, 1),
    "working day": (TimeUnit.WORKING_DAYS, 1),
    "working days": (TimeUnit.WORKING_DAYS, 1),
    "business day": (TimeUnit.WORKING_DAYS, 1),
    "business days": (TimeUnit.WORKING_DAYS, 1),
    "month": (TimeUnit.MONTHS, 1),
    "months": (TimeUnit.MONTHS, 1),
    "year": (TimeUnit.MONTHS, 12),
    "years": (TimeUnit.MONTHS, 12),
}

_DURATION_RE = re.compile(r"^\s*([0-9]{1,6})\s+([a-z]+(?:[\s_]+[a-z]+)?)\s*$", re.IGNORECASE)

_SINGULAR = {
    TimeUnit.DAYS: "day",
    TimeUnit.MONTHS: "month",
    TimeUnit.WORKING_DAYS: "working day",
}


@dataclass(frozen=True)
class Duration:
    """A legal period: a whole number of calendar days, working days or months."""

    amount: int
    unit: TimeUnit

    def __post_init__(self) -> None:
        # bool is an int subclass; True would read as "1 month" by accident.
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise TypeError(f"duration amount must be an int, got {self.amount!r}")
        if self.amount < 0:
            raise ValueError(f"duration amount must not be negative, got {self.amount}")
        object.__setattr__(self, "unit", TimeUnit(self.unit))

    @classmethod
    def parse(cls, text: str) -> Duration:
        """Read '1 month', '45 days', '15 working days', '7 years' (= 84 months)."""
        if not isinstance(text, str):
            raise ValueError(f"expected a duration like '1 month', got {text!r}")
        match = _DURATION_RE.match(text)
        word = re.sub(r"[\s_]+", " ", match.group(2).lower()) if match else ""
        if match is None or word not in _UNIT_WORDS:
            raise ValueError(
                f"expected a duration like '1 month', '45 days' or '15 working days', got {text!r}"
            )
        unit, factor = _UNIT_WORDS[word]
        return cls(int(match.group(1)) * factor, unit)

    def __str__(self) -> str:
        word = _SINGULAR[self.unit]
        return f"{self.amount} {word}" if self.amount == 1 else f"{self.amount} {word}s"


def add_duration(
    start: date,
    d: Duration,
    *,
    holidays: frozenset[date] = frozenset(),
    extra_working_days: frozenset[date] = frozenset(),
) -> date:
    """The date ``d`` after ``start``.

    ``holidays`` and ``extra_working_days`` only matter for working days; the
    latter are weekend dates declared working days (China's 调休 make-up days).
    """
    if isinstance(start, datetime):
        # A datetime is a date subclass; its time would be silently dropped.
        raise TypeError("add_duration takes a date; convert datetimes with due_at")
    if d.unit is TimeUnit.DAYS:
        return start + timedelta(days=d.amount)
    if d.unit is TimeUnit.MONTHS:
        return _add_months(start, d.amount)
    return _add_working_days(start, d.amount, holidays, extra_working_days)


def _add_months(start: date, months: int) -> date:
    # Counted from the start date, not month by month, so 31 Jan + 2 months is
    # 31 Mar and not the 28/29 Mar that chaining through February would give.
    years, month_index = divmod(start.month - 1 + months, 12)
    year, month = start.year + years, month_index + 1
    last_day = calendar.monthrange(year, month)[1]
    return date(year, month, min(start.day, last_day))


def _add_working_days(
    start: date, amount: int, holidays: frozenset[date], extra: frozenset[date]
) -> date:
    # The day of receipt never counts: the period runs from the next working day.
    day = start
    remaining = amount
    while remaining > 0:
        day += timedelta(days=1)
        if _is_working_day(day, holidays, extra):
            remaining -= 1
    return day


def _is_working_day(day: date, holidays: frozenset[date], extra: frozenset[date]) -> bool:
    if day in extra:
        return True
    return day.weekday() < 5 and day not in holidays


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
