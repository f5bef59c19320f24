"""Backups a shop can make while the bot runs and restore without bringing anyone erased back."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from core.app import PrivacyCore, open_core
from core.backups import (
    CreatedBackup,
    Manifest,
    create_backup,
    find_backup,
    finish_restore,
    restore_files,
)
from core.clock import FixedClock
from core.errors import ConfigurationError
from core.settings import Settings
from core.storage.tables import AuditEntryRow
from tests.keystore_support import assert_nothing_readable, erase, file_bytes
from tests.rights_helpers import telegram_customer
from tests.test_cli import one_sentence, run

ALICE = 4242
NAME, EMAIL = "Alice Wong", "alice.wong@example.com"
START = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def shop(tmp_path: Path) -> Settings:
    """The shop as `privacy-bot` sees it with PRIVACY_DATA_DIR set (SQLite: backups
    of PostgreSQL are pg_dump's, see the README)."""
    return Settings.from_env({"PRIVACY_DATA_DIR": str(tmp_path / "data")})


async def backed_up_customer(shop: Settings, into: Path) -> tuple[str, CreatedBackup]:
    """Alice, then a backup with her in it."""
    core = await open_core(shop)
    try:
        ref = await telegram_customer(core, ALICE, name=NAME, email=EMAIL)
        return ref, await create_backup(core, into)
    finally:
        await core.close()


def both(created: CreatedBackup) -> tuple[Manifest, Manifest]:
    """The database and key-store parts of a SQLite shop's backup."""
    assert created.database is not None
    assert created.keys is not None
    return created.database, created.keys


def made_in(created: CreatedBackup) -> Path:
    """The folder of one backup (both parts in it)."""
    return both(created)[0].folder.parent


async def erased(shop: Settings, ref: str) -> None:
    core = await open_core(shop)
    try:
        await erase(core, ref)
    finally:
        await core.close()


async def actions(core: PrivacyCore) -> list[str]:
    async with core.uow() as uow:
        return list(await uow.session.scalars(select(AuditEntryRow.action)))


def live_bytes(shop: Settings) -> bytes:
    return b"".join(p.read_bytes() for p in sorted((shop.data_dir).rglob("*")) if p.is_file())


async def test_a_backup_copies_the_database_and_the_key_store_each_with_a_manifest(
    shop: Settings, tmp_path: Path
) -> None:
    _, created = await backed_up_customer(shop, tmp_path / "backups")
    database, keys = both(created)
    for manifest in (database, keys):
        written = json.loads((manifest.folder / "manifest.json").read_text())
        assert written["part"] == manifest.part.value
        assert written["database_id"] == database.database_id
        manifest.check()  # the copy is what its manifest says
    assert database.path.name == "privacy.db"
    assert keys.path.name == "keys.db"


async def test_the_key_store_copy_must_be_deleted_after_the_policys_35_days(
    shop: Settings, tmp_path: Path
) -> None:
    _, created = await backed_up_customer(shop, tmp_path / "backups")
    database, keys = both(created)
    assert keys.keep_until is not None
    assert keys.keep_until - keys.created_at == timedelta(days=35)
    assert database.keep_until is None


async def test_the_key_store_copy_can_go_to_a_place_of_its_own(
    shop: Settings, tmp_path: Path
) -> None:
    core = await open_core(shop)
    try:
        created = await create_backup(core, tmp_path / "db-backups", tmp_path / "key-backups")
    finally:
        await core.close()
    database, keys = both(created)
    assert (tmp_path / "db-backups") in database.folder.parents
    assert (tmp_path / "key-backups") in keys.folder.parents


async def test_backup_files_are_readable_by_the_shop_only(shop: Settings, tmp_path: Path) -> None:
    _, created = await backed_up_customer(shop, tmp_path / "backups")
    for manifest in both(created):
        assert stat.S_IMODE(manifest.folder.stat().st_mode) == 0o700
        assert stat.S_IMODE(manifest.folder.parent.stat().st_mode) == 0o700
        for name in (manifest.file, "manifest.json"):
            assert stat.S_IMODE((manifest.folder / name).stat().st_mode) == 0o600


async def test_a_backup_never_holds_the_master_key(shop: Settings, tmp_path: Path) -> None:
    await backed_up_customer(shop, tmp_path / "backups")
    master = (shop.data_dir / "master.key").read_bytes().strip()
    copied = b"".join(p.read_bytes() for p in (tmp_path / "backups").rglob("*") if p.is_file())
    assert master
    assert master not in copied


async def test_restoring_a_backup_from_before_an_erasure_leaves_nothing_of_the_customer(
    shop: Settings, tmp_path: Path
) -> None:
    ref, created = await backed_up_customer(shop, tmp_path / "backups")
    await erased(shop, ref)

    result = run(shop.data_dir, "backup", "restore", str(made_in(created)), "--yes")

    assert result.returncode == 0, result.stderr
    assert "erasures re-applied: 1" in result.stdout
    core = await open_core(shop)
    try:
        await assert_nothing_readable(core, ref, EMAIL)
        assert {"erasure.reapplied", "backup.restored"} <= set(await actions(core))
        raw = file_bytes(core)
    finally:
        await core.close()
    for secret in (NAME.encode(), EMAIL.encode()):
        assert secret not in raw


async def test_restore_asks_for_yes_and_changes_nothing_without_it(
    shop: Settings, tmp_path: Path
) -> None:
    ref, created = await backed_up_customer(shop, tmp_path / "backups")
    await erased(shop, ref)
    before = live_bytes(shop)

    result = run(
        shop.data_dir,
        "backup",
        "restore",
        str(made_in(created)),
    )

    one_sentence(result, "--yes", "stop the bot")
    assert live_bytes(shop) == before


async def test_a_key_store_restored_alone_forgets_the_keys_the_audit_log_saw_erased(
    shop: Settings, tmp_path: Path
) -> None:
    ref, created = await backed_up_customer(shop, tmp_path / "backups")
    await erased(shop, ref)
    (shop.data_dir / "keys" / "keys.db").unlink()  # the live key store is lost
    _, keys = both(created)

    restore = await restore_files(
        find_backup(keys.folder), shop, with_keys=True, now=datetime.now(UTC)
    )
    core = await open_core(shop)
    try:
        report = await finish_restore(core, restore)
        assert report.keys_destroyed == 1
        assert await core.keystore.fetch([ref]) == {}
        assert ref in await core.keystore.erased_among([ref])
    finally:
        await core.close()


async def test_an_older_key_store_restored_forgets_the_keys_of_customers_erased_since(
    shop: Settings, tmp_path: Path
) -> None:
    ref, created = await backed_up_customer(shop, tmp_path / "backups")
    await erased(shop, ref)
    backup = find_backup(made_in(created))

    restored = await restore_files(backup, shop, with_keys=True, now=datetime.now(UTC))
    core = await open_core(shop)
    try:
        report = await finish_restore(core, restored)
        assert report.keys_destroyed == 1
        assert await core.keystore.fetch([ref]) == {}
        assert ref in await core.keystore.erased_among([ref])  # journalled again
        async with core.uow() as uow:
            assert not await uow.customers.exists(ref)
    finally:
        await core.close()


async def test_a_key_store_backup_past_its_retention_is_refused_and_changes_nothing(
    shop: Settings, tmp_path: Path
) -> None:
    _, created = await backed_up_customer(shop, tmp_path / "backups")
    backup = find_backup(made_in(created))
    before = live_bytes(shop)
    later = datetime.now(UTC) + timedelta(days=36)

    with pytest.raises(ConfigurationError, match=r"expired on .* key_backup_retention"):
        await restore_files(backup, shop, with_keys=True, now=later)
    assert live_bytes(shop) == before


async def test_a_new_backup_deletes_key_store_copies_past_their_retention(
    shop: Settings, tmp_path: Path
) -> None:
    clock = FixedClock(START)
    core = await open_core(shop, clock=clock)
    try:
        first = await create_backup(core, tmp_path / "backups")
        clock.advance(timedelta(days=36))
        second = await create_backup(core, tmp_path / "backups")
    finally:
        await core.close()
    database, keys = both(first)
    assert [m.folder for m in second.expired_removed] == [keys.folder]
    assert not keys.folder.exists()
    assert database.path.exists()  # the database copy holds nothing readable of the erased


async def test_a_damaged_backup_is_refused_and_changes_nothing(
    shop: Settings, tmp_path: Path
) -> None:
    _, created = await backed_up_customer(shop, tmp_path / "backups")
    database, _ = both(created)
    data = bytearray(database.path.read_bytes())
    data[-100] ^= 0xFF
    database.path.write_bytes(bytes(data))
    before = live_bytes(shop)

    result = run(shop.data_dir, "backup", "restore", str(database.folder), "--yes")

    one_sentence(result, "damaged", "checksum")
    assert live_bytes(shop) == before


async def test_a_backup_of_another_shops_database_is_refused(
    shop: Settings, tmp_path: Path
) -> None:
    other = Settings.from_env({"PRIVACY_DATA_DIR": str(tmp_path / "other")})
    _, theirs = await backed_up_customer(other, tmp_path / "their-backups")
    await backed_up_customer(shop, tmp_path / "backups")
    before = live_bytes(shop)

    result = run(shop.data_dir, "backup", "restore", str(made_in(theirs)), "--yes")

    one_sentence(result, "another database")
    assert live_bytes(shop) == before


def test_restore_of_a_folder_without_a_backup_says_so(tmp_path: Path) -> None:
    result = run(tmp_path / "data", "backup", "restore", str(tmp_path), "--yes")
    one_sentence(result, "holds no privacy-bot backup")


async def test_backup_list_shows_each_backup_and_when_its_keys_expire(
    shop: Settings, tmp_path: Path
) -> None:
    _, created = await backed_up_customer(shop, tmp_path / "backups")
    result = run(shop.data_dir, "backup", "list", str(tmp_path / "backups"))
    assert result.returncode == 0, result.stderr
    _, keys = both(created)
    assert keys.keep_until is not None
    assert f"database, keys (until {keys.keep_until:%Y-%m-%d})" in result.stdout


async def test_with_postgresql_backup_create_points_to_pg_dump(
    core: PrivacyCore, tmp_path: Path
) -> None:
    if core.settings.is_sqlite:
        pytest.skip("the PostgreSQL answer")
    with pytest.raises(ConfigurationError, match="pg_dump"):
        await create_backup(core, tmp_path / "backups")
    assert not (tmp_path / "backups").exists()
