"""Exact deadline arithmetic for the legal clocks (GDPR, CCPA/CPRA, PIPL, PDPO).

Durations are counted on the regime's local calendar, not in UTC hours: "one
month" from a request received late on 31 January in Berlin is a date in
February there, whatever the UTC clock says. A deadline is the *end* of its
local day, so a shop is never late while that day still runs where the law applies.

Each law counts in its own way, and :class:`Deadline` records how: whether the
day of receipt is day one (CCPA: 11 CCR §7021(b)) or the count starts the next day
(GDPR: Regulation 1182/71 Art. 3(1); PIPL; PDPO), and where the law moves a last
day that falls on a weekend or holiday to the next working day (1182/71 Art. 3(4);
Hong Kong's Cap. 1 s.71). The shop works to the earlier day; the later one is
shown beside it as the legal last day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from core.domain.calendar import Duration, NotableDay, TimeUnit, WorkingCalendar

__all__ = [
    "Deadline",
    "Duration",
    "TimeUnit",
    "add_duration",
    "count_deadline",
    "due_at",
    "end_of_day",
]


@dataclass(frozen=True)
class Deadline:
    """A period counted, and why it ends when it does."""

    received: date  # the local day the clock started
    period: Duration
    start_counts: bool  # the day of receipt is day one
    due: date  # the day the shop works to
    legal_last: date  # the law's own last day (later when the law moves it)
    notable: tuple[NotableDay, ...]  # working-day counts: days skipped or counted
    zone: tzinfo

    @property
    def due_at(self) -> datetime:
        """The end of the due day where the law applies, in UTC."""
        return end_of_day(self.due, self.zone)

    @property
    def first_day(self) -> date:
        return self.received if self.start_counts else self.received + timedelta(days=1)


def count_deadline(
    received_at: datetime,
    d: Duration,
    zone: tzinfo,
    calendar: WorkingCalendar,
    *,
    start_counts: bool = False,
    moves_past: frozenset[str] = frozenset(),
) -> Deadline:
    """The deadline ``d`` after ``received_at``, counted as the regime counts it."""
    if received_at.tzinfo is None or received_at.utcoffset() is None:
        raise ValueError(
            "received_at must be timezone-aware (UTC); got a naive datetime, "
            "which could mean any local time"
        )
    received = received_at.astimezone(zone).date()
    due = calendar.add(received, d, start_counts=start_counts)
    first = received if start_counts else received + timedelta(days=1)
    notable = calendar.notable_days(first, due) if d.unit is TimeUnit.WORKING_DAYS else []
    return Deadline(
        received=received,
        period=d,
        start_counts=start_counts,
        due=due,
        legal_last=calendar.roll_forward(due, moves_past),
        notable=tuple(notable),
        zone=zone,
    )


def add_duration(
    start: date,
    d: Duration,
    *,
    holidays: frozenset[date] = frozenset(),
    extra_working_days: frozenset[date] = frozenset(),
) -> date:
    """The date ``d`` after ``start`` (the start day not counted) on a calendar of
    the given holidays and make-up days only."""
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
    calendar = WorkingCalendar(holidays, extra_working_days)
    return count_deadline(received_at, d, tz, calendar).due_at


def end_of_day(day: date, zone: tzinfo) -> datetime:
    """The last instant of ``day`` where ``zone`` applies, in UTC."""
    # fold=1: if a DST change repeats the last local hour, the later one ends the day.
    return datetime.combine(day, time.max, tzinfo=zone).replace(fold=1).astimezone(UTC)
