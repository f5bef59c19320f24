"""Each regime's clock counts as its law counts, on the region's official calendar,
and says how: `privacy-bot deadline` and the staff's /request."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot.cli.commands import main
from core.app import PrivacyCore
from core.clock import FixedClock
from core.domain.policy import LegalClock, PolicyError, load_policy
from tests.chat_drivers import ConsoleDriver
from tests.test_policy import DEFAULT_TEXT, variant, write
from tests.test_staff_desk import AGENT, request, staff


def deadline(capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    assert main(["deadline", *args]) == 0
    return capsys.readouterr().out.splitlines()


def test_pipl_15_working_days_skip_national_day_and_count_the_make_up_saturday(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = deadline(capsys, "pipl", "2026-09-28")
    assert out[0] == "2026-10-23"
    assert "  2026-10-01 Thu: National Day, not counted" in out
    assert "  2026-10-10 Sat: make-up working day, counted" in out


def test_ccpa_receipt_confirmation_counts_the_day_of_receipt_and_skips_california_holidays(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = deadline(capsys, "ccpa", "2026-12-18", "--clock", "confirm")
    assert out[0] == "2027-01-04"
    assert "the day of receipt, 2026-12-18 Fri, is day one" in out[1]
    assert "  2026-12-25 Fri: Christmas Day, not counted" in out
    assert "  2027-01-01 Fri: New Year's Day, not counted" in out


def test_ccpa_45_days_begin_on_the_day_of_receipt(capsys: pytest.CaptureFixture[str]) -> None:
    assert deadline(capsys, "ccpa", "2026-12-20")[0] == "2027-02-02"


def test_gdpr_one_month_from_31_january_ends_28_february_with_monday_as_the_legal_last_day(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = deadline(capsys, "gdpr", "2026-01-31")
    assert out[0] == "2026-02-28"
    assert "The law's last day is 2026-03-02 Mon" in out[-1]
    assert "Aim at 2026-02-28 Sat" in out[-1]


def test_gdpr_one_month_from_31_january_in_a_leap_year_ends_29_february(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = deadline(capsys, "gdpr", "2028-01-31")
    assert out[0] == "2028-02-29"
    assert not any("legal last day" in line for line in out)


def test_pdpo_40_days_ending_on_a_sunday_show_monday_as_the_legal_last_day(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = deadline(capsys, "pdpo", "2026-12-01")
    assert out[0] == "2027-01-10"
    assert "The law's last day is 2027-01-11 Mon" in out[-1]


def test_pdpo_counts_a_saturday_last_day_as_it_is(capsys: pytest.CaptureFixture[str]) -> None:
    # Cap. 1 s.71 moves only Sundays and general holidays; 40 days from 2026-11-30.
    out = deadline(capsys, "pdpo", "2026-11-30")
    assert out[0] == "2027-01-09"
    assert not any("legal last day" in line.lower() for line in out)


def test_the_due_date_is_never_later_than_the_laws_last_day() -> None:
    policy = load_policy()
    for regime in policy.jurisdictions:
        for day in range(1, 29):
            at = datetime(2026, 12, day, 4, tzinfo=UTC)
            counted = regime.deadline(at, LegalClock.RESPOND)
            assert counted.due <= counted.legal_last


def test_a_regime_without_an_extension_says_so_in_one_sentence(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["deadline", "pdpo", "2026-12-01", "--clock", "extend"]) == 2
    assert capsys.readouterr().err.strip() == (
        "privacy-bot: error: PDPO (Hong Kong) allows no extension of the response period"
    )


def test_an_unknown_regime_names_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deadline", "lgpd", "2026-12-01"]) == 2
    assert "gdpr, ccpa, pipl, pdpo" in capsys.readouterr().err


def test_a_date_that_is_not_one_is_one_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deadline", "gdpr", "31/01/2026"]) == 2
    assert "write it as 2026-09-28" in capsys.readouterr().err


def test_the_policy_can_take_a_holiday_of_the_official_calendar_out(tmp_path: Path) -> None:
    path = variant(tmp_path, 'calendar = "CN"\n', 'calendar = "CN"\nnot_holidays = [2026-10-01]\n')
    pipl = load_policy(path).jurisdiction("pipl")
    counted = pipl.deadline(datetime(2026, 9, 28, 4, tzinfo=UTC))
    assert counted.due == date(2026, 10, 22)  # 1 October counts: one day earlier


def test_the_policy_can_add_a_holiday_the_shop_observes(tmp_path: Path) -> None:
    path = variant(
        tmp_path, 'calendar = "US-CA"\n', 'calendar = "US-CA"\nholidays = [2026-12-24]\n'
    )
    ccpa = load_policy(path).jurisdiction("ccpa")
    counted = ccpa.deadline(datetime(2026, 12, 18, 20, tzinfo=UTC), LegalClock.CONFIRM)
    assert counted.due == date(2027, 1, 5)


def test_an_unknown_official_calendar_is_named(tmp_path: Path) -> None:
    path = variant(tmp_path, 'calendar = "HK"\n', 'calendar = "XX"\n')
    with pytest.raises(PolicyError, match=r"jurisdictions\.pdpo\.calendar.*no official calendar"):
        load_policy(path)


def test_a_last_day_rule_of_an_unknown_kind_is_named(tmp_path: Path) -> None:
    path = variant(
        tmp_path,
        'last_day_moves_past = ["sunday", "holiday"]',
        'last_day_moves_past = ["sunday", "monsoon"]',
    )
    with pytest.raises(PolicyError, match=r"last_day_moves_past\[1\].*monsoon"):
        load_policy(path)


def test_the_shops_own_calendar_is_its_default_regimes_for_retention_and_follow_ups() -> None:
    policy = load_policy()
    assert policy.calendar.holiday(date(2026, 12, 25)) == "Christmas Day"  # Hong Kong's


def test_a_policy_without_calendars_still_counts_weekdays(tmp_path: Path) -> None:
    text = DEFAULT_TEXT
    for line in (
        'calendar = "DE"\n',
        'calendar = "US-CA"\n',
        'calendar = "CN"\n',
        'calendar = "HK"\n',
    ):
        text = text.replace(line, "")
    pipl = load_policy(write(tmp_path, text)).jurisdiction("pipl")
    assert pipl.deadline(datetime(2026, 9, 28, 4, tzinfo=UTC)).due == date(2026, 10, 19)


async def test_staff_see_how_a_requests_due_date_was_counted(core: PrivacyCore) -> None:
    core.clock = FixedClock(datetime(2026, 9, 28, 4, tzinfo=UTC))
    await staff(core, AGENT)
    opened = await request(core, jurisdiction="pipl")
    chat = ConsoleDriver(core, AGENT)
    await chat.send(f"/request {opened.ref}")
    text = chat.messages[-1].text
    assert "2026-10-23" in text
    assert "How the due date was counted:" in text
    assert "2026-10-10 Sat: make-up working day, counted" in text
