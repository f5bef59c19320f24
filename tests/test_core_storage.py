"""Storage: migrations, time zones and engine settings behave alike on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import exc, func, inspect, select, text

from core.app import PrivacyCore, open_core
from core.clock import FixedClock
from core.crypto import generate_master_key
from core.domain.customer import Customer, IdentityKind
from core.services import (
    SYSTEM,
    DecideConsent,
    RegisterCustomer,
    decide_consent,
    register_customer,
)
from core.settings import Settings
from core.storage.tables import (
    AuditEntryRow,
    Base,
    ConsentRow,
    CustomerRow,
    IdentityRow,
)

HONG_KONG_TIME = timezone(timedelta(hours=8))
# A local time in Hong Kong whose UTC date is the day before, with microseconds.
LOCAL_MOMENT = datetime(2026, 3, 1, 7, 15, 30, 123456, tzinfo=HONG_KONG_TIME)


async def table_names(core: PrivacyCore) -> set[str]:
    async with core.db.engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


async def alembic_versions(core: PrivacyCore) -> list[str]:
    async with core.uow() as uow:
        return list(await uow.session.scalars(text("SELECT version_num FROM alembic_version")))


async def register(core: PrivacyCore) -> str:
    async with core.uow() as uow:
        customer, _ = await register_customer(
            RegisterCustomer(IdentityKind.PHONE, "+852 9123 4567", name="Alice Wong"), uow
        )
        await uow.commit()
    return customer.ref


# --- migrations -----------------------------------------------------------------------


async def test_migrations_create_every_table(core: PrivacyCore) -> None:
    assert await table_names(core) >= set(Base.metadata.tables)


async def test_upgrading_again_changes_nothing(core: PrivacyCore) -> None:
    ref = await register(core)
    versions = await alembic_versions(core)
    await core.db.upgrade()
    assert await alembic_versions(core) == versions
    assert len(versions) == 1
    async with core.uow() as uow:
        assert (await uow.customers.get(ref)).name == "Alice Wong"


async def test_an_in_memory_sqlite_database_opens_and_migrates() -> None:
    from core.storage.database import Database

    db = Database("sqlite+aiosqlite://")
    try:
        await db.upgrade()
        async with db.engine.connect() as conn:
            assert await conn.run_sync(lambda c: inspect(c).has_table("audit_entries"))
    finally:
        await db.dispose()


async def test_opening_an_existing_database_again_keeps_its_data(settings: Settings) -> None:
    settings = replace(settings, master_key=generate_master_key().encoded())
    first = await open_core(settings)
    try:
        ref = await register(first)
        versions = await alembic_versions(first)
    finally:
        await first.close()
    again = await open_core(settings)
    try:
        assert await alembic_versions(again) == versions
        async with again.uow() as uow:
            assert (await uow.customers.get(ref)).name == "Alice Wong"
            assert await uow.audit.count() == 1
    finally:
        await again.close()


# --- time ---------------------------------------------------------------------------------


async def test_timestamps_come_back_aware_utc_and_exact(core: PrivacyCore) -> None:
    core.clock = FixedClock(LOCAL_MOMENT)
    ref = await register(core)
    async with core.uow() as uow:
        customer = await uow.customers.get(ref)
    assert customer.created_at.utcoffset() == timedelta(0)
    assert customer.created_at == LOCAL_MOMENT
    assert customer.created_at.date() == LOCAL_MOMENT.astimezone(UTC).date()
    assert customer.created_at.microsecond == 123456


async def test_ledger_and_audit_times_come_back_aware_utc(core: PrivacyCore) -> None:
    core.clock = FixedClock(LOCAL_MOMENT)
    ref = await register(core)
    async with core.uow() as uow:
        await decide_consent(DecideConsent(ref, "marketing", give=True), uow)
        await uow.commit()
    async with core.uow() as uow:
        decided = await uow.session.scalar(select(ConsentRow.decided_at))
        audited = list(await uow.session.scalars(select(AuditEntryRow.at)))
    assert decided is not None
    for moment in [decided, *audited]:
        assert moment.tzinfo is not None
        assert moment.utcoffset() == timedelta(0)
        assert moment == LOCAL_MOMENT


async def test_a_naive_datetime_is_refused_by_the_database_layer(core: PrivacyCore) -> None:
    ref = await register(core)
    async with core.uow() as uow:
        row = await uow.session.get(CustomerRow, ref)
        assert row is not None
        row.last_active_at = datetime(2026, 3, 1, 7, 15)  # noqa: DTZ001 - the point of the test
        with pytest.raises(exc.StatementError, match="naive datetime"):
            await uow.session.flush()


# --- engine settings --------------------------------------------------------------------


async def test_sqlite_runs_in_wal_mode_with_foreign_keys(core: PrivacyCore) -> None:
    if not core.db.is_sqlite:
        pytest.skip("SQLite pragmas")
    async with core.db.engine.connect() as conn:
        journal = await conn.scalar(text("PRAGMA journal_mode"))
        foreign_keys = await conn.scalar(text("PRAGMA foreign_keys"))
    assert (journal, foreign_keys) == ("wal", 1)


async def test_deleting_a_customer_deletes_their_identities(core: PrivacyCore) -> None:
    ref = await register(core)
    async with core.uow() as uow:
        await uow.customers.delete(ref)
        await uow.commit()
    async with core.uow() as uow:
        identities = await uow.session.scalar(select(func.count()).select_from(IdentityRow))
        keys = await core.keystore.count()
    assert identities == 0
    assert keys == 1  # the data key is shredded separately, on purpose


async def test_repositories_do_not_commit_on_their_own(core: PrivacyCore) -> None:
    ref = "c" + "0" * 24
    async with core.uow() as uow:
        await uow.customers.add(Customer(ref, uow.now(), uow.now(), name="Zed"))
        await uow.record(SYSTEM, "customer.registered", subject_ref=ref)
    async with core.uow() as uow:
        assert not await uow.customers.exists(ref)
        assert await uow.audit.count() == 0
        assert await core.keystore.count() == 0
