"""The outbound path across ``privacy-bot run`` processes: kill -9 while sends wait."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from core.app import open_core
from core.settings import Settings
from core.storage.tables import FollowupRow
from tests.fake_telegram import FakeTelegram
from tests.followup_support import customer
from tests.process_support import (
    BotProcess,
    bot_env,
    let_time_pass,
    post_purchases,
    until_all_jobs_finish,
)


async def followup_states(settings: Settings) -> dict[str, str]:
    core = await open_core(settings)
    try:
        async with core.uow() as uow:
            rows = await uow.session.execute(select(FollowupRow.order_id, FollowupRow.state))
            return {order: state for order, state in rows}
    finally:
        await core.close()


@pytest.mark.slow
async def test_kill_9_while_sends_wait_for_a_permit_sends_them_later_and_resends_none_in_flight(
    shop_settings: Settings, fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    core = await open_core(shop_settings)
    buyers = [(f"W-{n}", 300_000 + n) for n in range(20)]
    for _, user in buyers:
        await customer(core, user)
    env = {**bot_env(fake_telegram, shop_settings), "PRIVACY_OUTBOUND_PER_SECOND": "2"}
    bot = BotProcess(env, tmp_path)
    # Each message is held a second before Telegram takes it: the kill lands mid-send.
    fake_telegram.delay_next("sendMessage", 1.0, times=100)
    try:
        await bot.start()
        await post_purchases(bot.base, buyers)
        await fake_telegram.wait_for("sendMessage", count=3, timeout=30)
        await bot.kill()
        at_kill = await followup_states(shop_settings)
        fake_telegram.clear_faults()
        await let_time_pass(core, leases=True)  # the dead process's leases run out
        await bot.start()
        await until_all_jobs_finish(core, timeout=60)
        await bot.stop()
    finally:
        await bot.stop()
        await core.close()
    after = await followup_states(shop_settings)
    waiting = [order for order, state in at_kill.items() if state == "scheduled"]
    in_flight = [order for order, state in at_kill.items() if state == "sending"]
    chat = dict(buyers)
    print(f"at kill: {Counter(at_kill.values())}; after: {Counter(after.values())}")
    assert len(waiting) >= 10  # most were still queued for a permit
    for order in waiting:  # nothing had left: sent now, once, and not called "uncertain"
        assert after[order] == "sent", order
        assert len(fake_telegram.messages(chat[order])) == 1, order
    for order in in_flight:  # marked (at most the lead before leaving): never asked again
        assert after[order] == "uncertain", order
        asked = [c for c in fake_telegram.calls_to("sendMessage") if c.chat_id == chat[order]]
        assert len(asked) <= 1, order
