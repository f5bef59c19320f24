"""/stats for a small shop and in Chinese (issue 16): what is withheld is said plainly,
what can be drawn is drawn, and a 繁體中文 chart draws its labels with real glyphs."""

from __future__ import annotations

import io
import warnings

import pytest
from matplotlib import pyplot as plt

from bot.render.charts import cjk_font, stats_chart, stats_png
from bot.render.i18n import Translator
from bot.render.stats import stats_text
from core.app import PrivacyCore
from core.services.desk.stats import DeskStats, RatePoint
from tests.chat_drivers import ConsoleDriver, TelegramDriver, hook_deliver
from tests.fake_telegram import FakeTelegram
from tests.test_staff_desk import ADMIN, customer, request, staff

en = Translator("en")
hk = Translator("zh_Hant")
PURPOSES = {"marketing": "purpose.marketing.title"}


def figures(given: int, customers: int, by_state: dict[str, int] | None = None) -> DeskStats:
    points = [RatePoint("2026-11", given, customers), RatePoint("2026-12", given, customers)]
    return DeskStats(
        months=["2026-11", "2026-12"],
        consent={"marketing": points},
        by_state=by_state or {"received": 1, "completed": 0},
        closed=0,
        on_time=0,
        overdue_open=0,
    )


def consent_line(t: Translator, stats: DeskStats) -> str:
    return stats_text(t, stats, {"marketing": t("purpose.marketing.title")}).splitlines()[1]


def test_a_share_with_enough_customers_behind_it_is_shown_with_its_counts() -> None:
    line = consent_line(en, figures(given=6, customers=12))
    assert line == "· " + en(
        "staff.stats.consent.shown",
        title=en("purpose.marketing.title"),
        rate="50%",
        given=6,
        customers=12,
    )


@pytest.mark.parametrize(
    ("given", "customers", "why"),
    [(1, 3, "few_in_all"), (2, 40, "few_part"), (38, 40, "few_rest")],
)
def test_a_withheld_share_says_which_count_is_too_small(
    given: int, customers: int, why: str
) -> None:
    line = consent_line(en, figures(given, customers))
    assert line == "· " + en(
        f"staff.stats.consent.{why}", title=en("purpose.marketing.title"), customers=customers
    )
    assert "<5/<5" not in line


def test_the_on_time_share_of_few_closed_requests_says_why_it_is_withheld() -> None:
    text = stats_text(en, figures(1, 3), {})
    assert en("staff.stats.on_time.few_in_all", closed=0, overdue="<5") in text


def test_a_small_shops_request_bars_stand_on_a_count_axis_from_zero() -> None:
    fig = stats_chart(figures(1, 3), PURPOSES, en)
    try:
        bottom, top = fig.axes[1].get_ylim()
        labels = [t.get_text() for t in fig.axes[1].texts]
    finally:
        plt.close(fig)
    assert bottom == 0
    assert top >= 5
    assert en("staff.chart.small_band") in labels


def test_a_chart_with_every_share_withheld_says_so_instead_of_empty_lines() -> None:
    fig = stats_chart(figures(1, 3), PURPOSES, en)
    try:
        drawn = [t.get_text() for t in fig.axes[0].texts]
        lines = fig.axes[0].get_lines()
    finally:
        plt.close(fig)
    assert drawn == [en("staff.chart.withheld")]
    assert not lines


def test_a_cjk_font_comes_with_the_install() -> None:
    assert cjk_font() is not None


def test_a_zh_hant_chart_draws_its_labels_with_glyphs() -> None:
    fig = stats_chart(figures(6, 12, {"received": 7, "completed": 1}), PURPOSES, hk)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(io.BytesIO(), format="png")
    titles = [ax.get_title() for ax in fig.axes]
    plt.close(fig)
    assert titles == [hk("staff.chart.consent"), hk("staff.chart.requests")]
    assert [str(w.message) for w in caught if "missing from font" in str(w.message)] == []


async def test_a_small_shop_reads_what_is_withheld_in_the_terminal(core: PrivacyCore) -> None:
    await staff(core, ADMIN)
    await customer(core)
    chat = ConsoleDriver(core, ADMIN)
    await chat.send("/stats")
    text = chat.messages[-1].text
    title = en("purpose.marketing.title")
    assert en("staff.stats.consent.few_in_all", title=title, customers=1) in text
    assert "(<5/<5)" not in text


async def test_stats_on_telegram_speak_the_staff_members_traditional_chinese(
    framework: str, core: PrivacyCore, fake_telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    await staff(core, ADMIN)
    await request(core)
    processed = hook_deliver(monkeypatch, framework)
    chat = TelegramDriver(core, fake_telegram, framework, processed, ADMIN, "zh-hk")
    await chat.start()
    try:
        await chat.send("/stats")
    finally:
        await chat.close()
    assert fake_telegram.calls_to("sendPhoto")[-1].params["caption"] == hk("staff.stats.caption")
    title = hk("purpose.marketing.title")
    assert hk("staff.stats.consent.few_in_all", title=title, customers=1) in chat.messages[-1].text


def test_the_png_is_an_image() -> None:
    assert stats_png(figures(1, 3), PURPOSES, hk)[:8] == b"\x89PNG\r\n\x1a\n"
