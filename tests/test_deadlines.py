from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.domain.deadlines import Duration, TimeUnit, add_duration, due_at

BERLIN = ZoneInfo("Europe/Berlin")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
SHANGHAI = ZoneInfo("Asia/Shanghai")
HONG_KONG = ZoneInfo("Asia/Hong_Kong")

ONE_MONTH = Duration(1, TimeUnit.MONTHS)
# China's National Day "golden week" 2026, for the PIPL working-day clock.
GOLDEN_WEEK = frozenset(date(2026, 10, day) for day in range(1, 8))


def days(n: int) -> Duration:
    return Duration(n, TimeUnit.DAYS)


def months(n: int) -> Duration:
    return Duration(n, TimeUnit.MONTHS)


def working_days(n: int) -> Duration:
    return Duration(n, TimeUnit.WORKING_DAYS)


# --- Duration.parse ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 month", months(1)),
        ("2 months", months(2)),
        ("45 days", days(45)),
        ("40 days", days(40)),
        ("15 working days", working_days(15)),
        ("1 working day", working_days(1)),
        ("10 business days", working_days(10)),
        ("15 working_days", working_days(15)),
        ("  36  Months ", months(36)),
    ],
)
def test_parse_reads_amount_and_unit(text: str, expected: Duration) -> None:
    assert Duration.parse(text) == expected


def test_parse_reads_years_as_twelve_months_each() -> None:
    assert Duration.parse("7 years") == months(84)


@pytest.mark.parametrize("text", ["soon", "1 fortnight", "month", "-1 days", "1.5 months", ""])
def test_parse_rejects_text_that_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match="expected a duration like '1 month'"):
        Duration.parse(text)


def test_parse_error_quotes_the_bad_text() -> None:
    with pytest.raises(ValueError, match="got 'soon'"):
        Duration.parse("soon")


@pytest.mark.parametrize("text", ["1 month", "45 days", "15 working days", "1 working day"])
def test_str_round_trips_through_parse(text: str) -> None:
    assert str(Duration.parse(text)) == text


def test_duration_rejects_negative_amount() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        Duration(-1, TimeUnit.DAYS)


def test_duration_rejects_bool_amount() -> None:
    with pytest.raises(TypeError, match="must be an int"):
        Duration(True, TimeUnit.DAYS)


def test_duration_accepts_unit_as_plain_string() -> None:
    assert Duration(3, "working_days").unit is TimeUnit.WORKING_DAYS  # type: ignore[arg-type]


# --- months -----------------------------------------------------------------------


def test_gdpr_month_from_31_january_ends_28_february_in_common_year() -> None:
    assert add_duration(date(2026, 1, 31), ONE_MONTH) == date(2026, 2, 28)


def test_gdpr_month_from_31_january_ends_29_february_in_leap_year() -> None:
    assert add_duration(date(2028, 1, 31), ONE_MONTH) == date(2028, 2, 29)


def test_gdpr_month_from_30_november_ends_30_december() -> None:
    assert add_duration(date(2026, 11, 30), ONE_MONTH) == date(2026, 12, 30)


def test_month_from_31_december_crosses_into_next_year() -> None:
    assert add_duration(date(2026, 12, 31), ONE_MONTH) == date(2027, 1, 31)


def test_month_from_31_march_clamps_to_30_april() -> None:
    assert add_duration(date(2026, 3, 31), ONE_MONTH) == date(2026, 4, 30)


def test_two_months_from_31_january_is_31_march_not_chained_through_february() -> None:
    assert add_duration(date(2026, 1, 31), months(2)) == date(2026, 3, 31)


def test_gdpr_extended_three_months_from_31_january_is_30_april() -> None:
    assert add_duration(date(2026, 1, 31), months(3)) == date(2026, 4, 30)


def test_years_from_29_february_clamp_to_28_february() -> None:
    assert add_duration(date(2028, 2, 29), Duration.parse("1 year")) == date(2029, 2, 28)


# --- calendar days ----------------------------------------------------------------


def test_ccpa_45_days_counts_calendar_days() -> None:
    assert add_duration(date(2026, 3, 1), days(45)) == date(2026, 4, 15)


def test_pdpo_40_days_counts_calendar_days() -> None:
    assert add_duration(date(2026, 1, 10), days(40)) == date(2026, 2, 19)


def test_calendar_days_may_end_on_a_weekend() -> None:
    # 2026-03-02 is a Monday; +5 days is Saturday, and PDPO/CCPA days do not skip it.
    assert add_duration(date(2026, 3, 2), days(5)).weekday() == 5


# --- working days -----------------------------------------------------------------


def test_pipl_15_working_days_skip_three_weekends() -> None:
    # Monday 2 March 2026 + 15 working days: three full weeks later.
    assert add_duration(date(2026, 3, 2), working_days(15)) == date(2026, 3, 23)


def test_pipl_15_working_days_skip_golden_week_holidays() -> None:
    start = date(2026, 9, 30)  # Wednesday before National Day
    assert add_duration(start, working_days(15), holidays=GOLDEN_WEEK) == date(2026, 10, 28)


def test_working_days_without_holidays_come_earlier_than_with_them() -> None:
    start = date(2026, 9, 30)
    without = add_duration(start, working_days(15))
    assert without < add_duration(start, working_days(15), holidays=GOLDEN_WEEK)


def test_friday_receipt_plus_one_working_day_is_monday() -> None:
    assert add_duration(date(2026, 1, 30), working_days(1)) == date(2026, 2, 2)


def test_saturday_receipt_plus_one_working_day_is_monday() -> None:
    assert add_duration(date(2026, 1, 31), working_days(1)) == date(2026, 2, 2)


def test_sunday_receipt_plus_one_working_day_is_monday() -> None:
    assert add_duration(date(2026, 2, 1), working_days(1)) == date(2026, 2, 2)


def test_receipt_day_never_counts_even_when_a_working_day() -> None:
    assert add_duration(date(2026, 3, 2), working_days(1)) == date(2026, 3, 3)


def test_make_up_saturday_counts_as_a_working_day() -> None:
    saturday = date(2026, 1, 31)
    result = add_duration(
        date(2026, 1, 30), working_days(1), extra_working_days=frozenset({saturday})
    )
    assert result == saturday


def test_ccpa_10_business_days_to_acknowledge() -> None:
    assert add_duration(date(2026, 3, 6), working_days(10)) == date(2026, 3, 20)


def test_zero_working_days_is_the_start_date() -> None:
    assert add_duration(date(2026, 1, 31), working_days(0)) == date(2026, 1, 31)


def test_add_duration_rejects_a_datetime() -> None:
    with pytest.raises(TypeError, match="takes a date"):
        add_duration(datetime(2026, 1, 1, tzinfo=UTC), days(1))


# --- due_at -----------------------------------------------------------------------


def test_due_at_is_end_of_local_day_in_utc() -> None:
    received = datetime(2026, 1, 10, 3, 0, tzinfo=UTC)  # 11:00 in Hong Kong
    assert due_at(received, days(40), HONG_KONG) == datetime(
        2026, 2, 19, 15, 59, 59, 999999, tzinfo=UTC
    )


def test_due_at_returns_a_utc_datetime() -> None:
    result = due_at(datetime(2026, 1, 10, tzinfo=UTC), days(40), HONG_KONG)
    assert result.utcoffset() == timedelta(0)


def test_due_at_local_time_is_last_microsecond_of_the_day() -> None:
    result = due_at(datetime(2026, 1, 10, tzinfo=UTC), ONE_MONTH, BERLIN)
    assert result.astimezone(BERLIN).time() == time.max


def test_due_at_counts_from_local_date_when_utc_date_is_earlier() -> None:
    # 23:30 UTC on 31 Jan is already 1 Feb in Berlin: one month is 1 March, not 28 Feb.
    received = datetime(2026, 1, 31, 23, 30, tzinfo=UTC)
    assert due_at(received, ONE_MONTH, BERLIN) == datetime(
        2026, 3, 1, 22, 59, 59, 999999, tzinfo=UTC
    )


def test_due_at_counts_from_local_date_when_utc_date_is_later() -> None:
    # 05:00 UTC on 1 March is still 28 Feb in Los Angeles.
    received = datetime(2026, 3, 1, 5, 0, tzinfo=UTC)
    assert due_at(received, days(45), LOS_ANGELES).astimezone(LOS_ANGELES).date() == date(
        2026, 4, 14
    )


def test_due_at_uses_the_offset_in_force_on_the_due_day_not_on_receipt() -> None:
    # Received in winter (PST, -8); due after the March DST change (PDT, -7).
    received = datetime(2026, 3, 1, 5, 0, tzinfo=UTC)
    assert due_at(received, days(45), LOS_ANGELES) == datetime(
        2026, 4, 15, 6, 59, 59, 999999, tzinfo=UTC
    )


def test_due_at_working_days_use_local_weekday() -> None:
    # 17:00 UTC Friday is 01:00 Saturday in Shanghai: the clock starts from Saturday.
    received = datetime(2026, 3, 6, 17, 0, tzinfo=UTC)
    result = due_at(received, working_days(1), SHANGHAI)
    assert result.astimezone(SHANGHAI).date() == date(2026, 3, 9)


def test_due_at_skips_holidays_given() -> None:
    received = datetime(2026, 9, 30, 2, 0, tzinfo=UTC)
    result = due_at(received, working_days(15), SHANGHAI, holidays=GOLDEN_WEEK)
    assert result.astimezone(SHANGHAI).date() == date(2026, 10, 28)


def test_due_at_accepts_non_utc_aware_datetime() -> None:
    received = datetime(2026, 1, 10, 11, 0, tzinfo=timezone(timedelta(hours=8)))
    assert due_at(received, days(40), HONG_KONG) == due_at(
        received.astimezone(UTC), days(40), HONG_KONG
    )


def test_due_at_rejects_naive_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        due_at(datetime(2026, 1, 10), days(40), HONG_KONG)  # noqa: DTZ001


# --- properties -------------------------------------------------------------------

starts = st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31))


@st.composite
def start_and_holidays(draw: st.DrawFn) -> tuple[date, frozenset[date]]:
    start = draw(starts)
    offsets = draw(st.sets(st.integers(min_value=0, max_value=120), max_size=40))
    return start, frozenset(start + timedelta(days=o) for o in offsets)


@given(start_and_holidays(), st.integers(min_value=1, max_value=60))
def test_working_days_never_end_on_weekend_or_holiday(
    case: tuple[date, frozenset[date]], amount: int
) -> None:
    start, holidays = case
    result = add_duration(start, working_days(amount), holidays=holidays)
    assert result.weekday() < 5
    assert result not in holidays


@given(start_and_holidays(), st.integers(min_value=0, max_value=60))
def test_working_days_strictly_increase_with_amount(
    case: tuple[date, frozenset[date]], amount: int
) -> None:
    start, holidays = case
    shorter = add_duration(start, working_days(amount), holidays=holidays)
    assert shorter < add_duration(start, working_days(amount + 1), holidays=holidays)


@given(start_and_holidays(), st.integers(min_value=0, max_value=60))
def test_working_days_span_exactly_that_many_working_days(
    case: tuple[date, frozenset[date]], amount: int
) -> None:
    start, holidays = case
    result = add_duration(start, working_days(amount), holidays=holidays)
    span = (start + timedelta(days=i) for i in range(1, (result - start).days + 1))
    assert sum(1 for d in span if d.weekday() < 5 and d not in holidays) == amount


@given(starts, st.integers(min_value=0, max_value=600))
def test_months_land_in_the_right_month(start: date, amount: int) -> None:
    result = add_duration(start, months(amount))
    year, month_index = divmod(start.year * 12 + start.month - 1 + amount, 12)
    assert (result.year, result.month) == (year, month_index + 1)


@given(starts, st.integers(min_value=0, max_value=600))
def test_months_keep_the_day_or_clamp_to_month_end(start: date, amount: int) -> None:
    result = add_duration(start, months(amount))
    next_day = result + timedelta(days=1)
    assert result.day == start.day or (result.day < start.day and next_day.day == 1)


@given(starts, st.integers(min_value=0, max_value=3650))
def test_days_add_exactly_that_many_calendar_days(start: date, amount: int) -> None:
    assert (add_duration(start, days(amount)) - start).days == amount


zones = st.sampled_from([BERLIN, LOS_ANGELES, SHANGHAI, HONG_KONG])
instants = st.datetimes(
    min_value=datetime(1990, 1, 1),  # noqa: DTZ001 - hypothesis bounds must be naive
    max_value=datetime(2100, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)
durations = st.builds(
    Duration, st.integers(min_value=0, max_value=90), st.sampled_from(list(TimeUnit))
)


@given(instants, durations, zones)
def test_due_at_ends_the_local_day_the_duration_reaches(
    received: datetime, d: Duration, tz: ZoneInfo
) -> None:
    result = due_at(received, d, tz)
    local = result.astimezone(tz)
    assert local.date() == add_duration(received.astimezone(tz).date(), d)
    assert local.time() == time.max
