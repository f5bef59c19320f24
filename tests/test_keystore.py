"""Keys apart from the data they open: a copy of the database made at any time holds
nothing readable of anyone erased since, and a restored copy is erased again."""

from __future__ import annotations

import dataclasses
import sqlite3
import stat
from pathlib import Path

import pytest
from sqlalchemy import func, make_url, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from core import startup
from core.app import PrivacyCore, open_core
from core.errors import ConfigurationError
from core.services import verify_audit
from core.settings import Settings
from core.storage.keystore import SqlKeyStore
from core.storage.tables import AuditEntryRow, DataKeyRow
from tests.keystore_support import assert_nothing_readable, erase, sqlite_files, wrapped_key
from tests.rights_helpers import telegram_customer

ALICE = 4242
NAME, EMAIL = "Alice Wong", "alice.wong@example.com"


async def copy_database(url: str, tmp_path: Path) -> str:
    """A copy of the main database as a backup would hold it (nothing may be open on it)."""
    if url.startswith("sqlite"):
        source = sqlite3.connect(str(make_url(url).database))
        target_path = tmp_path / "copy.db"
        target = sqlite3.connect(target_path)
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()
        return f"sqlite+aiosqlite:///{target_path}"
    base = make_url(url)
    copy = base.set(database=f"{base.database}_copy")
    admin = create_async_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{copy.database}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{copy.database}" TEMPLATE "{base.database}"'))
    await admin.dispose()
    return copy.render_as_string(hide_password=False)


async def copy_then_erase(settings: Settings, tmp_path: Path) -> tuple[str, str]:
    """A customer, a copy of the database with them in it, then their erasure: the
    customer's ref and the copy's URL."""
    core = await open_core(settings)
    ref = await telegram_customer(core, ALICE, name=NAME, email=EMAIL)
    await core.close()
    copy_url = await copy_database(settings.database_url, tmp_path)
    core = await open_core(settings)
    try:
        await erase(core, ref)
        assert await wrapped_key(core, ref) is None  # the key itself is gone
    finally:
        await core.close()
    return ref, copy_url


async def actions(core: PrivacyCore) -> list[str]:
    async with core.uow() as uow:
        return list(
            await uow.session.scalars(select(AuditEntryRow.action).order_by(AuditEntryRow.seq))
        )


async def test_a_database_copy_from_before_an_erasure_is_erased_again_when_started(
    settings: Settings, tmp_path: Path
) -> None:
    ref, copy_url = await copy_then_erase(settings, tmp_path)

    restored = await open_core(dataclasses.replace(settings, database_url=copy_url))
    try:
        await assert_nothing_readable(restored, ref, EMAIL)
        assert "erasure.reapplied" in await actions(restored)
    finally:
        await restored.close()
    if settings.is_sqlite:
        files = sqlite_files(copy_url) + sqlite_files(settings.key_store_url())
        raw = b"".join(p.read_bytes() for p in files)
        for secret in (NAME.encode(), EMAIL.encode()):
            assert secret not in raw


async def test_the_copy_holds_the_customer_but_not_their_key_before_any_start(
    settings: Settings, tmp_path: Path
) -> None:
    ref, copy_url = await copy_then_erase(settings, tmp_path)
    engine = create_async_engine(copy_url)
    async with engine.connect() as conn:
        rows = await conn.scalar(text("SELECT count(*) FROM customers WHERE ref = :r"), {"r": ref})
    await engine.dispose()
    assert rows == 1  # the copy still has the ciphertext ...
    assert await _fetch(settings, ref) == {}  # ... and the key store no key to open it


async def _fetch(settings: Settings, ref: str) -> dict[str, bytes]:
    core = await open_core(settings)
    try:
        return await core.keystore.fetch([ref])
    finally:
        await core.close()


async def _back_to_the_database(core: PrivacyCore) -> list[str]:
    """Put the keys where an older version kept them: in the database itself."""
    engine = create_async_engine(core.settings.key_store_url())
    async with engine.begin() as conn:
        rows = (
            await conn.execute(text("SELECT customer_ref, wrapped, master_kid FROM data_keys"))
        ).all()
        await conn.execute(text("DELETE FROM data_keys"))
    await engine.dispose()
    async with core.db.session() as session, session.begin():
        for ref, wrapped, kid in rows:
            session.add(DataKeyRow(customer_ref=ref, wrapped=wrapped, master_kid=kid))
    return [ref for ref, _, _ in rows]


async def test_keys_an_older_version_kept_in_the_database_move_to_the_key_store(
    settings: Settings,
) -> None:
    core = await open_core(settings)
    refs = [await telegram_customer(core, 100 + n, name=f"Customer {n}") for n in range(5)]
    assert sorted(await _back_to_the_database(core)) == sorted(refs)
    await core.close()
    seen: list[tuple[int, int]] = []
    core = await open_core(settings, progress=lambda done, total: seen.append((done, total)))
    try:
        async with core.uow() as uow:
            names = [(await uow.customers.get(ref)).name for ref in refs]
            left = await uow.session.scalar(select(func.count()).select_from(DataKeyRow))
            assert (await verify_audit(uow)).ok
        assert names == [f"Customer {n}" for n in range(5)]
        assert left == 0
        assert seen[-1] == (5, 5)
        assert "keys.moved" in await actions(core)
    finally:
        await core.close()


async def test_an_interrupted_key_move_goes_on_where_it_stopped(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    core = await open_core(settings)
    refs = [await telegram_customer(core, 200 + n, name=f"Customer {n}") for n in range(5)]
    await _back_to_the_database(core)
    await core.close()
    monkeypatch.setattr(startup, "_BATCH", 2)
    calls = 0
    real_store = SqlKeyStore.store

    async def store_then_die(self: SqlKeyStore, keys: dict[str, bytes]) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt  # the operator pressed Ctrl-C mid-way
        await real_store(self, keys)

    monkeypatch.setattr(SqlKeyStore, "store", store_then_die)
    with pytest.raises(KeyboardInterrupt):
        await open_core(settings)
    monkeypatch.setattr(SqlKeyStore, "store", real_store)
    core = await open_core(settings)
    try:
        async with core.uow() as uow:
            names = [(await uow.customers.get(ref)).name for ref in refs]
        assert names == [f"Customer {n}" for n in range(5)]
    finally:
        await core.close()


async def test_a_key_store_of_another_database_stops_the_start(
    settings: Settings, tmp_path: Path
) -> None:
    if not settings.is_sqlite:
        pytest.skip("two SQLite shops stand in for any two databases")
    other = Settings(tmp_path / "other", f"sqlite+aiosqlite:///{tmp_path / 'other.db'}", None, None)
    for shop in (settings, other):
        core = await open_core(shop)
        await telegram_customer(core, ALICE, name=NAME)
        await core.close()
    mixed = dataclasses.replace(settings, keystore_url=other.key_store_url())
    with pytest.raises(ConfigurationError, match="belongs to another database"):
        await open_core(mixed)


async def test_an_empty_key_store_beside_a_database_with_customers_stops_the_start(
    settings: Settings,
) -> None:
    if not settings.is_sqlite:
        pytest.skip("the key store file is removed as a lost disk would")
    core = await open_core(settings)
    await telegram_customer(core, ALICE, name=NAME)
    await core.close()
    for path in sqlite_files(settings.key_store_url()):
        path.unlink()
    with pytest.raises(ConfigurationError, match="restore the key store"):
        await open_core(settings)


async def test_the_key_store_file_is_readable_by_the_shop_only(core: PrivacyCore) -> None:
    if not core.settings.is_sqlite:
        pytest.skip("a file on SQLite only")
    _readable_by_the_shop_only(Path(str(make_url(core.settings.key_store_url()).database)))


def _readable_by_the_shop_only(path: Path) -> None:
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_postgresql_needs_a_key_store_database_of_its_own(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://postgres@127.0.0.1:5432/privacy"
    with pytest.raises(ConfigurationError, match="PRIVACY_KEYSTORE_URL"):
        Settings(tmp_path, url, None, None).key_store_url()
    with pytest.raises(ConfigurationError, match="names the database itself"):
        Settings(tmp_path, url, None, None, keystore_url=url).key_store_url()
