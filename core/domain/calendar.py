"""The calendar the policy's periods are counted on: days, months, working days.

One module for every clock: the legal deadlines (core/domain/deadlines.py), the
retention sweep's cut-offs (core/services/retention.py) and the follow-ups'
spacing all count a :class:`Duration` here, on a :class:`WorkingCalendar` that
knows the region's public holidays and its weekend days declared working days.
Periods are counted on the local calendar, not in UTC hours; months are counted
from the start date and clamp to the month's end (31 Jan + 1 month = 28 Feb).
"""

from __future__ import annotations

import calendar
import functools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from enum import StrEnum

import holidays

__all__ = [
    "DayKind",
    "Duration",
    "NotableDay",
    "TimeUnit",
    "WorkingCalendar",
    "known_region",
    "official_calendar",
]


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


class DayKind(StrEnum):
    """Why a day counted or not, as an explanation names it."""

    WEEKEND = "weekend"  # skipped
    HOLIDAY = "holiday"  # skipped
    MAKE_UP = "make_up"  # a weekend day declared a working day: counted


@dataclass(frozen=True)
class NotableDay:
    """A day a working-day count skipped, or a weekend day it counted."""

    day: date
    kind: DayKind
    name: str = ""  # the holiday's name


@dataclass(frozen=True)
class WorkingCalendar:
    """Monday to Friday, less public holidays, plus weekend days declared working
    days (China's 调休 make-up days).

    ``region`` names an official calendar from python-holidays ("CN", "HK",
    "US-CA", "DE-BE"): its holidays and make-up days, for any year. The policy adds
    ``holidays`` and ``extra_working_days`` of its own and can take dates out with
    ``removed``. With no region, only the policy's own dates count.
    """

    holidays: frozenset[date] = frozenset()
    extra_working_days: frozenset[date] = frozenset()
    region: str | None = None
    removed: frozenset[date] = frozenset()

    def holiday(self, day: date) -> str | None:
        """The holiday's name, if ``day`` is one on this calendar."""
        if day in self.removed:
            return None
        if day in self.holidays:
            return "holiday (shop policy)"
        if self.region is None:
            return None
        name = official_calendar(self.region).get(day)
        return None if name is None else str(name)

    def is_make_up_day(self, day: date) -> bool:
        """A weekend day worked in exchange for a holiday."""
        if day.weekday() < 5 or day in self.removed:
            return False
        if day in self.extra_working_days:
            return True
        if self.region is None:
            return False
        official = official_calendar(self.region)
        official.get(day)  # makes sure the day's year is loaded
        return day in getattr(official, "weekend_workdays", ())

    def is_working_day(self, day: date) -> bool:
        if self.is_make_up_day(day):
            return True
        return day.weekday() < 5 and self.holiday(day) is None

    def add(self, start: date, d: Duration, *, start_counts: bool = False) -> date:
        """The date ``d`` after ``start``. The start day itself counts only with
        ``start_counts`` (CCPA: the period "will begin on the day that the business
        receives the request"); otherwise the period runs from the next day."""
        anchor = start - timedelta(days=1) if start_counts else start
        return self._shift(anchor, d, 1)

    def subtract(self, start: date, d: Duration) -> date:
        """The date ``d`` before ``start``: the inverse count, on the same calendar."""
        return self._shift(start, d, -1)

    def later(self, at: datetime, d: Duration, zone: tzinfo) -> datetime:
        """``at`` plus ``d`` on the local calendar of ``zone``, at the same wall time, in UTC."""
        return self._shift_local(at, d, zone, 1)

    def earlier(self, at: datetime, d: Duration, zone: tzinfo) -> datetime:
        """``at`` minus ``d`` on the local calendar of ``zone``, at the same wall time, in UTC."""
        return self._shift_local(at, d, zone, -1)

    def roll_forward(self, day: date, past: frozenset[str]) -> date:
        """The first day from ``day`` that is none of ``past`` ("saturday", "sunday",
        "holiday"): where a law moves a last day to the next working day."""
        while (
            ("saturday" in past and day.weekday() == 5)
            or ("sunday" in past and day.weekday() == 6)
            or ("holiday" in past and self.holiday(day) is not None)
        ):
            day += timedelta(days=1)
        return day

    def notable_days(self, first: date, last: date) -> list[NotableDay]:
        """From ``first`` to ``last``: each weekend day and holiday a working-day count
        skips, and each make-up day it counts."""
        found = []
        day = first
        while day <= last:
            if self.is_make_up_day(day):
                found.append(NotableDay(day, DayKind.MAKE_UP))
            elif (name := self.holiday(day)) is not None:
                found.append(NotableDay(day, DayKind.HOLIDAY, name))
            elif day.weekday() >= 5:
                found.append(NotableDay(day, DayKind.WEEKEND))
            day += timedelta(days=1)
        return found

    def _shift_local(self, at: datetime, d: Duration, zone: tzinfo, sign: int) -> datetime:
        local = at.astimezone(zone)
        day = self._shift(local.date(), d, sign)
        return datetime.combine(day, local.time(), tzinfo=zone).astimezone(UTC)

    def _shift(self, start: date, d: Duration, sign: int) -> date:
        if isinstance(start, datetime):
            # A datetime is a date subclass; its time would be silently dropped.
            raise TypeError("calendar arithmetic takes a date; convert datetimes first")
        if d.unit is TimeUnit.DAYS:
            return start + timedelta(days=sign * d.amount)
        if d.unit is TimeUnit.MONTHS:
            return _add_months(start, sign * d.amount)
        return self._add_working_days(start, d.amount, sign)

    def _add_working_days(self, start: date, amount: int, sign: int) -> date:
        day, remaining = start, amount
        while remaining > 0:
            day += timedelta(days=sign)
            if self.is_working_day(day):
                remaining -= 1
        return day


@functools.cache
def official_calendar(region: str) -> holidays.HolidayBase:
    """The official public holidays of ``region`` ("CN", "US-CA"), every year on demand."""
    country, _, subdivision = region.partition("-")
    return holidays.country_holidays(country, subdiv=subdivision or None)


def known_region(region: str) -> bool:
    country, _, subdivision = region.partition("-")
    supported = holidays.list_supported_countries()
    return country in supported and (not subdivision or subdivision in supported[country])


def _add_months(start: date, months: int) -> date:
    # Counted from the start date, not month by month, so 31 Jan + 2 months is
    # 31 Mar and not the 28/29 Mar that chaining through February would give.
    years, month_index = divmod(start.month - 1 + months, 12)
    year, month = start.year + years, month_index + 1
    last_day = calendar.monthrange(year, month)[1]
    return date(year, month, min(start.day, last_day))
