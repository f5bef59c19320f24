"""The customer's time zone and chat id live on the customer, guarded once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from core.app import PrivacyCore
from core.domain.customer import Customer, Identity, IdentityKind
from core.services.outreach.purchases import RecordPurchase, record_purchase
from core.storage.tables import FollowupRow
from tests.chat_fixtures import MakeChat, chat_customer
from tests.followup_support import customer, freeze

HONG_KONG = ZoneInfo("Asia/Hong_Kong")
AT = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def _person(timezone: str | None, *identities: Identity) -> Customer:
    return Customer("c1", AT, AT, timezone=timezone, identities=list(identities))


@pytest.mark.parametrize("broken", [None, "", "Mars/Olympus", "America", "../etc/passwd"])
def test_a_customer_with_a_missing_or_broken_zone_gets_the_shops_zone(broken: str | None) -> None:
    assert _person(broken).zone(HONG_KONG) is HONG_KONG


def test_a_customer_with_a_valid_zone_gets_theirs() -> None:
    assert _person("Europe/Berlin").zone(HONG_KONG) == ZoneInfo("Europe/Berlin")


def test_the_telegram_chat_id_is_the_telegram_users_id() -> None:
    assert _person(None, Identity(IdentityKind.TELEGRAM, "7001")).telegram_chat_id == 7001
    assert _person(None, Identity(IdentityKind.PHONE, "+85291234567")).telegram_chat_id is None
    assert _person(None, Identity(IdentityKind.TELEGRAM, "not-a-number")).telegram_chat_id is None


async def _break_zone(core: PrivacyCore, telegram_id: int) -> None:
    async with core.uow() as uow:
        person = await chat_customer(telegram_id, uow)
        assert person is not None
        person.timezone = "Mars/Olympus"
        await uow.customers.save(person)
        await uow.commit()


async def test_a_customer_with_a_broken_zone_gets_the_shops_quiet_hours(
    core: PrivacyCore,
) -> None:
    late = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 23:00 in Hong Kong: quiet hours
    freeze(core, late)
    ref = await customer(core, 7201)
    await _break_zone(core, 7201)
    cmd = RecordPurchase(
        "Z-1", IdentityKind.TELEGRAM, "7201", late, Decimal("10"), "HKD", (), timedelta(minutes=10)
    )
    async with core.uow() as uow:
        assert (await record_purchase(cmd, uow)).value == "scheduled"
        await uow.commit()
    async with core.uow() as uow:
        row = await uow.session.get(FollowupRow, "Z-1")
        assert row is not None
        assert row.customer_ref == ref
        scheduled = row.scheduled_for
    assert scheduled.astimezone(HONG_KONG) == datetime(2026, 12, 2, 9, 0, tzinfo=HONG_KONG)


async def test_a_customer_with_a_broken_zone_sees_times_in_the_shops_zone(
    make_chat: MakeChat, core: PrivacyCore
) -> None:
    chat = await make_chat(7202)
    await chat.send("/start")
    await chat.press("Offers and news")
    await _break_zone(core, 7202)
    await chat.send("/privacy")
    screen = chat.messages[-1].text
    assert "agreed on" in screen
    assert "HKT" in screen  # the shop's zone, not an error
