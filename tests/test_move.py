"""A shop that started on SQLite moves to PostgreSQL with everything readable and
its audit chain intact; a target that is not empty is refused."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.app import PrivacyCore, open_core
from core.errors import ConfigurationError
from core.move import move_to
from core.services import verify_audit
from core.services.desk.lookup import Reveal, reveal_customer
from core.settings import Settings
from tests.conftest import POSTGRES_URL, empty_database_beside, worker_database
from tests.keystore_support import erase
from tests.rights_helpers import telegram_customer

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs PRIVACY_TEST_POSTGRES_URL")


async def empty_database(suffix: str) -> str:
    assert POSTGRES_URL
    return await empty_database_beside(await worker_database(POSTGRES_URL), suffix)


@pytest.fixture
async def sqlite_shop(tmp_path: Path) -> AsyncIterator[PrivacyCore]:
    core = await open_core(Settings.from_env({"PRIVACY_DATA_DIR": str(tmp_path / "data")}))
    yield core
    await core.close()


async def moved(core: PrivacyCore) -> Settings:
    database, keys = await empty_database("move"), await empty_database("move_keys")
    await move_to(core, database, keys)
    return dataclasses.replace(core.settings, database_url=database, keystore_url=keys)


async def test_a_customer_is_readable_after_the_move(sqlite_shop: PrivacyCore) -> None:
    ref = await telegram_customer(sqlite_shop, 9001, name="Mei Lin", email="mei@example.com")
    target = await open_core(await moved(sqlite_shop))
    try:
        async with target.uow() as uow:
            shown = await reveal_customer(Reveal(None, ref, "move check"), uow)
            assert shown.fields["name"] == "Mei Lin"
            assert (await verify_audit(uow)).ok
    finally:
        await target.close()


async def test_new_customers_after_the_move_get_fresh_ids(sqlite_shop: PrivacyCore) -> None:
    await telegram_customer(sqlite_shop, 9001, name="Mei Lin")
    target = await open_core(await moved(sqlite_shop))
    try:
        await telegram_customer(target, 9002, name="Ken Ho")  # identities.id continues
    finally:
        await target.close()


async def test_an_erasure_before_the_move_stays_in_the_journal(sqlite_shop: PrivacyCore) -> None:
    ref = await telegram_customer(sqlite_shop, 9001, name="Mei Lin")
    await erase(sqlite_shop, ref)
    target = await open_core(await moved(sqlite_shop))
    try:
        assert ref in await target.keystore.erased_among([ref])
    finally:
        await target.close()


async def test_a_target_that_holds_a_shop_is_refused(sqlite_shop: PrivacyCore) -> None:
    await telegram_customer(sqlite_shop, 9001, name="Mei Lin")
    settings = await moved(sqlite_shop)
    with pytest.raises(ConfigurationError, match="is not empty"):
        await move_to(sqlite_shop, settings.database_url, str(settings.keystore_url))
