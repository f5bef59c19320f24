"""One calendar for every clock: deadlines, retention and follow-ups count alike."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from core.app import PrivacyCore
from core.domain.calendar import Duration, TimeUnit, WorkingCalendar
from core.domain.deadlines import add_duration
from core.domain.policy import Policy
from core.services.retention import plan_retention
from tests.followup_support import customer, freeze

HONG_KONG = ZoneInfo("Asia/Hong_Kong")
THREE_WORKING_DAYS = Duration(3, TimeUnit.WORKING_DAYS)
# Tuesday and Wednesday, 8-9 December 2026, declared holidays for these tests.
HOLIDAYS = frozenset({date(2026, 12, 8), date(2026, 12, 9)})
THURSDAY = datetime(2026, 12, 10, 3, 0, tzinfo=UTC)  # 11:00 in Hong Kong


def test_working_days_back_skip_the_calendars_holidays() -> None:
    with_holidays = WorkingCalendar(HOLIDAYS)
    assert WorkingCalendar().subtract(date(2026, 12, 10), THREE_WORKING_DAYS) == date(2026, 12, 7)
    assert with_holidays.subtract(date(2026, 12, 10), THREE_WORKING_DAYS) == date(2026, 12, 3)


def test_a_make_up_working_day_counts_back_as_it_counts_forward() -> None:
    saturday = date(2026, 12, 5)
    cal = WorkingCalendar(extra_working_days=frozenset({saturday}))
    assert cal.subtract(date(2026, 12, 7), Duration(1, TimeUnit.WORKING_DAYS)) == saturday
    assert cal.add(date(2026, 12, 4), Duration(1, TimeUnit.WORKING_DAYS)) == saturday


def test_deadlines_count_on_the_same_calendar() -> None:
    start = date(2026, 12, 7)
    assert add_duration(start, THREE_WORKING_DAYS, holidays=HOLIDAYS) == WorkingCalendar(
        HOLIDAYS
    ).add(start, THREE_WORKING_DAYS)


def test_earlier_keeps_the_local_wall_time_and_clamps_months() -> None:
    at = datetime(2026, 3, 31, 3, 0, tzinfo=UTC)  # 11:00 in Hong Kong
    back = WorkingCalendar().earlier(at, Duration(1, TimeUnit.MONTHS), HONG_KONG)
    assert back.astimezone(HONG_KONG) == datetime(2026, 2, 28, 11, 0, tzinfo=HONG_KONG)


def _with_holidays(policy: Policy, holidays: frozenset[date]) -> Policy:
    """Inactive after 3 working days; the shop's own jurisdiction has ``holidays``."""
    shop = policy.jurisdiction()
    regimes = tuple(
        replace(j, holidays=holidays) if j.key == shop.key else j for j in policy.jurisdictions
    )
    return replace(policy, inactive_after=THREE_WORKING_DAYS, jurisdictions=regimes)


async def test_retention_counts_working_days_back_past_the_policys_holidays(
    core: PrivacyCore,
) -> None:
    freeze(core, datetime(2026, 12, 5, 3, 0, tzinfo=UTC))  # Saturday
    saturday = await customer(core, 7301)
    policy = core.policy
    core.policy = _with_holidays(policy, HOLIDAYS)
    freeze(core, THURSDAY)
    async with core.uow() as uow:
        plan = await plan_retention(uow)
    # Three working days before Thursday, skipping Tue-Wed, is Thursday the 3rd: a
    # customer last seen on Saturday the 5th is not yet inactive. (Ignoring the
    # holidays it would be Monday the 7th, and they would be swept.)
    assert saturday not in {s.subject for s in plan.subjects if s.delete_customer}
    core.policy = _with_holidays(policy, frozenset())
    async with core.uow() as uow:
        plan = await plan_retention(uow)
    assert saturday in {s.subject for s in plan.subjects if s.delete_customer}
