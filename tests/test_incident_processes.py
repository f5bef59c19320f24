"""Breach notices across ``privacy-bot run`` processes: kill -9 while they go out."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from core.app import PrivacyCore, open_core
from core.services.incidents import (
    AssessIncident,
    NotifyIncident,
    OpenIncident,
    assess_incident,
    notify_incident,
    open_incident,
)
from core.settings import Settings
from core.storage.tables import IncidentNoticeRow
from tests.fake_telegram import FakeTelegram
from tests.process_support import BotProcess, bot_env, let_time_pass, until_all_jobs_finish
from tests.rights_helpers import telegram_customer


async def notice_states(settings: Settings) -> dict[str, str]:
    core = await open_core(settings)
    try:
        async with core.uow() as uow:
            rows = await uow.session.execute(
                select(IncidentNoticeRow.customer_ref, IncidentNoticeRow.state)
            )
            return {ref: state for ref, state in rows}
    finally:
        await core.close()


async def breach_told(core: PrivacyCore) -> None:
    async with core.uow() as uow:
        opened = await open_incident(
            OpenIncident(None, uow.now() - timedelta(hours=1), ("contact",), "leak"), uow
        )
        await assess_incident(AssessIncident(None, opened.ref, "high", ("contained",)), uow)
        await notify_incident(NotifyIncident(None, opened.ref), uow)
        await uow.commit()


@pytest.mark.slow
async def test_kill_9_while_notices_go_out_tells_every_customer_at_most_once(
    shop_settings: Settings, fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    core = await open_core(shop_settings)
    chats = {
        await telegram_customer(core, 310_000 + n, email=f"c{n}@example.com"): 310_000 + n
        for n in range(20)
    }
    await breach_told(core)
    env = {**bot_env(fake_telegram, shop_settings), "PRIVACY_OUTBOUND_PER_SECOND": "2"}
    bot = BotProcess(env, tmp_path)
    fake_telegram.delay_next("sendMessage", 1.0, times=100)  # the kill lands mid-send
    try:
        await bot.start()
        await fake_telegram.wait_for("sendMessage", count=3, timeout=30)
        await bot.kill()
        at_kill = await notice_states(shop_settings)
        fake_telegram.clear_faults()
        await let_time_pass(core, leases=True)
        await bot.start()
        await until_all_jobs_finish(core, timeout=60)
        await bot.stop()
    finally:
        await bot.stop()
        await core.close()
    after = await notice_states(shop_settings)
    print(f"at kill: {Counter(at_kill.values())}; after: {Counter(after.values())}")
    told = {ref: len(fake_telegram.messages(chat)) for ref, chat in chats.items()}
    assert max(told.values()) == 1  # nobody twice
    for ref, state in at_kill.items():
        if state == "queued":  # nothing had left: told now, exactly once
            assert (after[ref], told[ref]) == ("sent", 1), ref
        if state == "sending":  # in flight at the kill: never sent again, reported
            assert after[ref] == "uncertain", ref
    assert sum(1 for s in after.values() if s == "sent") >= 15
    assert set(after.values()) <= {"sent", "uncertain"}
