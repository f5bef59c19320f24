"""Backups: a consistent copy of the main database and, apart from it, of the key store.

``backup create`` writes ``<DIR>/<time>/database/`` (the database copy and its
manifest) and ``<KEYS_DIR>/<time>/keys/`` (the key store copy and its manifest),
so the two can be sent to different places. The database is copied first, then
the key store: a key made between the two copies is only extra, while the other
order could miss the key of a customer the database copy holds. The key-store
copy is kept no longer than the policy's ``key_backup_retention`` (older ones
found beside it are deleted): it holds the keys of customers erased after it was
made, so that period bounds how long an erased customer stays readable anywhere.

``backup restore`` puts a database copy (and, with ``keys``, a key-store copy)
in place, then the usual start re-applies the erasure journal before anyone is
served. A restored key store is older than the database's erasures: every key
whose customer the audit log records as erased is destroyed again.

Copies are made by SQLite's online backup; a PostgreSQL part is backed up with
``pg_dump`` (see the README) and is named in :attr:`CreatedBackup.not_copied`.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from importlib import metadata
from pathlib import Path
from typing import Any

from sqlalchemy import make_url, select

from core.app import PrivacyCore
from core.errors import ConfigurationError
from core.services._common import SYSTEM
from core.settings import Settings
from core.startup import reapply_erasures
from core.storage.keystore import open_keystore
from core.storage.snapshot import checksum, copy_sqlite, restore_sqlite
from core.storage.tables import AuditEntryRow

__all__ = [
    "Backup",
    "CreatedBackup",
    "Manifest",
    "Part",
    "Restore",
    "RestoredBackup",
    "create_backup",
    "find_backup",
    "finish_restore",
    "list_backups",
    "restore_files",
]

_FORMAT = "privacy-bot-backup/1"
_MANIFEST = "manifest.json"
_ERASED = ("erasure.key_shredded", "erasure.completed", "erasure.reapplied")


class Part(StrEnum):
    DATABASE = "database"
    KEYS = "keys"


@dataclass(frozen=True)
class Manifest:
    """What one part of a backup is: which file, of which database, made when."""

    part: Part
    created_at: datetime
    file: str
    sha256: str
    size: int
    database_id: str
    version: str
    keep_until: datetime | None = None  # key-store copies only
    journal_seq: int = 0  # key-store copies: the last erasure journal entry held
    folder: Path = field(default=Path(), compare=False)

    @property
    def path(self) -> Path:
        return self.folder / self.file

    def expired(self, now: datetime) -> bool:
        return self.keep_until is not None and now >= self.keep_until

    def write(self) -> None:
        data = asdict(self)
        del data["folder"]
        for name in ("created_at", "keep_until"):
            data[name] = data[name] and data[name].isoformat()
        data["format"] = _FORMAT
        path = self.folder / _MANIFEST
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        path.chmod(0o600)

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        path = folder / _MANIFEST
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            if data.pop("format") != _FORMAT:
                raise ValueError("an unknown format")
            keep = data.pop("keep_until")
            return cls(
                part=Part(data.pop("part")),
                created_at=_utc(data.pop("created_at")),
                keep_until=None if keep is None else _utc(keep),
                folder=folder,
                **data,
            )
        except OSError as error:
            raise ConfigurationError(f"cannot read {path}: {error.strerror}") from None
        except (ValueError, KeyError, TypeError) as error:
            raise ConfigurationError(f"{path} is not a privacy-bot manifest ({error})") from None

    def check(self) -> None:
        """The copy is there and is what the manifest says it is."""
        if not self.path.is_file():
            raise ConfigurationError(f"the backup file {self.path} is missing")
        if checksum(self.path) != self.sha256:
            raise ConfigurationError(
                f"the backup file {self.path} is damaged: its checksum does not match "
                f"{self.folder / _MANIFEST}"
            )


@dataclass(frozen=True)
class Backup:
    """One backup as found on disk: either part may be absent (kept elsewhere)."""

    folder: Path
    database: Manifest | None
    keys: Manifest | None


@dataclass(frozen=True)
class CreatedBackup:
    database: Manifest | None
    keys: Manifest | None
    not_copied: tuple[Part, ...]  # PostgreSQL parts: pg_dump's job
    expired_removed: tuple[Manifest, ...]


@dataclass(frozen=True)
class Restore:
    """Backup parts put in place, and who the stores they replaced knew as erased."""

    parts: Backup
    erased: frozenset[str]


@dataclass(frozen=True)
class RestoredBackup:
    backup: Backup
    reapplied: int  # customers the restored database held and the journal says erased
    keys_destroyed: int  # keys a restored key store held of customers erased since


async def create_backup(
    core: PrivacyCore, into: Path, keys_into: Path | None = None
) -> CreatedBackup:
    """Copy the database into ``into`` and the key store into ``keys_into`` (default
    ``into``), then delete key-store copies there whose time is up; audited."""
    now = core.clock.now()
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    keys_into = keys_into or into
    database = _sqlite_path(core.settings.database_url)
    keystore = _sqlite_path(core.settings.key_store_url())
    made: dict[Part, Manifest] = {}
    if database is not None:
        made[Part.DATABASE] = await asyncio.to_thread(
            _copy, Part.DATABASE, database, into / stamp, now, None
        )
    if keystore is not None:
        keep_until = core.policy.calendar.later(now, core.policy.key_backup_retention, UTC)
        made[Part.KEYS] = await asyncio.to_thread(
            _copy, Part.KEYS, keystore, keys_into / stamp, now, keep_until
        )
    if not made:
        raise ConfigurationError(
            "the database and the key store are both PostgreSQL: back them up with pg_dump "
            "(see the README, Backups)"
        )
    removed = tuple(_remove_expired(keys_into, now))
    created = CreatedBackup(
        made.get(Part.DATABASE),
        made.get(Part.KEYS),
        tuple(p for p in Part if p not in made),
        removed,
    )
    await _audit(core, "backup.created", _created_details(created, stamp))
    return created


def find_backup(folder: Path) -> Backup:
    """The backup in ``folder`` (one made by :func:`create_backup`, or one part of it)."""
    parts: dict[Part, Manifest] = {}
    for candidate in (folder, folder / Part.DATABASE, folder / Part.KEYS):
        if (candidate / _MANIFEST).is_file():
            manifest = Manifest.read(candidate)
            parts.setdefault(manifest.part, manifest)
    if not parts:
        raise ConfigurationError(
            f"{folder} holds no privacy-bot backup (no {_MANIFEST} in it, "
            f"in {Part.DATABASE}/ or in {Part.KEYS}/)"
        )
    return Backup(folder, parts.get(Part.DATABASE), parts.get(Part.KEYS))


def list_backups(where: Path) -> list[Backup]:
    """Every backup directly under ``where``, oldest first."""
    if not where.is_dir():
        raise ConfigurationError(f"{where} is not a folder")
    found = []
    for folder in sorted(p for p in where.iterdir() if p.is_dir()):
        try:
            found.append(find_backup(folder))
        except ConfigurationError:
            continue  # not a backup: something else kept beside them
    return found


async def restore_files(
    backup: Backup, settings: Settings, *, with_keys: bool, now: datetime
) -> Restore:
    """Check the backup, then put its database (and, ``with_keys``, its key store)
    in place of the live ones. Nothing is changed when a check fails. Run before
    the core opens: opening it then re-applies the journal."""
    wanted = _wanted_parts(backup, with_keys)
    for manifest in wanted:
        manifest.check()
        if manifest.expired(now):
            raise ConfigurationError(
                f"the key-store backup {manifest.folder} expired on {manifest.keep_until:%Y-%m-%d} "
                "(the policy's key_backup_retention): it must not be restored; delete it"
            )
    await _check_belongs(wanted, settings)
    erased = await _erased_in_live(settings) if with_keys else frozenset()
    for manifest in wanted:
        live = _sqlite_path(_url_of(manifest.part, settings))
        assert live is not None  # _check_belongs refused PostgreSQL
        restore_sqlite(manifest.path, live)
    by_part = {m.part: m for m in wanted}
    parts = Backup(backup.folder, by_part.get(Part.DATABASE), by_part.get(Part.KEYS))
    return Restore(parts, erased)


async def finish_restore(core: PrivacyCore, restore: Restore) -> RestoredBackup:
    """After the core opened over a restore. A restored key store is older than
    the erasures since its copy: everyone the replaced stores or the database's
    audit log knew as erased loses their key again and is journalled again; then
    the whole journal is re-applied. Audited."""
    parts = restore.parts
    destroyed = reapplied = 0
    if parts.keys is not None:
        erased = restore.erased | await _erased_in_audit(core)
        destroyed = await _erase_again(core, erased)
        # The restored journal is shorter than what the database saw: read it all again.
        reapplied = await reapply_erasures(core.keystore, core.uow, rescan=True)
    made = min(m.created_at for m in (parts.database, parts.keys) if m)
    details = {
        "parts": [m.part.value for m in (parts.database, parts.keys) if m],
        "made": made.isoformat(),
        "keys_destroyed": destroyed,
    }
    await _audit(core, "backup.restored", details)
    return RestoredBackup(parts, reapplied + core.reapplied, destroyed)


def _wanted_parts(backup: Backup, with_keys: bool) -> list[Manifest]:
    if with_keys and backup.keys is None:
        raise ConfigurationError(f"{backup.folder} holds no key-store backup to restore")
    wanted = [m for m in (backup.database, backup.keys if with_keys else None) if m]
    if not wanted:
        raise ConfigurationError(
            f"{backup.folder} holds only a key-store backup: add --keys to restore it"
        )
    if len(wanted) == 2 and wanted[0].database_id != wanted[1].database_id:
        raise ConfigurationError(
            f"the database and key-store backups in {backup.folder} belong to different databases"
        )
    return wanted


async def _check_belongs(wanted: list[Manifest], settings: Settings) -> None:
    """The parts are SQLite here, and a database copy belongs with the live key store."""
    for manifest in wanted:
        if _sqlite_path(_url_of(manifest.part, settings)) is None:
            raise ConfigurationError(
                f"the {manifest.part.value} here is PostgreSQL: restore it with pg_restore, "
                "then run privacy-bot db upgrade (see the README, Backups)"
            )
    if any(m.part is Part.KEYS for m in wanted):
        return  # the key store comes back with it (its id was checked against the copy)
    store = await open_keystore(settings.key_store_url())
    try:
        bound = await store.bound_to()
    finally:
        await store.close()
    if bound is not None and bound != wanted[0].database_id:
        raise ConfigurationError(
            f"the backup in {wanted[0].folder} is of another database than the key store "
            f"{store.where} belongs to: check PRIVACY_DATA_DIR and PRIVACY_KEYSTORE_URL"
        )


async def _erased_in_live(settings: Settings) -> frozenset[str]:
    """Who the live stores know as erased, read before a restore replaces them (a
    store that is lost or unreadable, the usual reason to restore, adds nothing)."""
    found: set[str] = set()
    database = _sqlite_path(settings.database_url)
    if database is not None and database.exists():
        found |= _erased_in_sqlite_audit(database)
    try:
        store = await open_keystore(settings.key_store_url())
    except ConfigurationError:
        return frozenset(found)
    try:
        seq = 0
        while entries := await store.erased_after(seq, 1000):
            found |= {e.customer_ref for e in entries}
            seq = entries[-1].seq
    finally:
        await store.close()
    return frozenset(found)


def _erased_in_sqlite_audit(path: Path) -> set[str]:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            rows = conn.execute(
                "SELECT DISTINCT subject_ref FROM audit_entries "
                "WHERE subject_ref IS NOT NULL AND action IN (?, ?, ?)",
                _ERASED,
            )
            return {str(ref) for (ref,) in rows}
        finally:
            conn.close()
    except sqlite3.Error:
        return set()  # damaged: the backup replaces it


async def _erased_in_audit(core: PrivacyCore) -> set[str]:
    async with core.uow() as uow:
        rows = await uow.session.scalars(
            select(AuditEntryRow.subject_ref)
            .where(AuditEntryRow.action.in_(_ERASED), AuditEntryRow.subject_ref.is_not(None))
            .distinct()
        )
        return {str(ref) for ref in rows}


async def _erase_again(core: PrivacyCore, erased: Collection[str]) -> int:
    """Destroy the keys of ``erased`` and journal whoever the journal misses; how
    many keys there were."""
    held = set(await core.keystore.fetch(erased))
    missing = set(erased) - await core.keystore.erased_among(erased)
    await core.keystore.erase(missing | held, core.clock.now())
    return len(held)


def _copy(
    part: Part, source: Path, folder: Path, now: datetime, keep_until: datetime | None
) -> Manifest:
    """Copy one part and write its manifest (in a thread: a large database takes a while)."""
    target = folder / part.value / source.name
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    copy_sqlite(source, target)
    database_id, journal_seq = _identify(part, target)
    manifest = Manifest(
        part=part,
        created_at=now,
        file=target.name,
        sha256=checksum(target),
        size=target.stat().st_size,
        database_id=database_id,
        version=metadata.version("privacy-bot"),
        keep_until=keep_until,
        journal_seq=journal_seq,
        folder=target.parent,
    )
    manifest.write()
    return manifest


def _identify(part: Part, copy: Path) -> tuple[str, int]:
    """The database id a copy carries (and, of a key store, its last journal entry)."""
    conn = sqlite3.connect(copy)
    try:
        if part is Part.DATABASE:
            row = conn.execute("SELECT value FROM meta WHERE key = 'database_id'").fetchone()
            return bytes(row[0]).decode("ascii"), 0
        row = conn.execute("SELECT value FROM facts WHERE key = 'database'").fetchone()
        seq = conn.execute("SELECT coalesce(max(seq), 0) FROM erasures").fetchone()[0]
        return str(row[0]), int(seq)
    finally:
        conn.close()


def _remove_expired(where: Path, now: datetime) -> list[Manifest]:
    removed = []
    for backup in list_backups(where):
        if backup.keys is not None and backup.keys.expired(now):
            shutil.rmtree(backup.keys.folder)
            removed.append(backup.keys)
            if backup.database is None and not any(backup.folder.iterdir()):
                backup.folder.rmdir()
    return removed


def _created_details(created: CreatedBackup, stamp: str) -> dict[str, Any]:
    keys = created.keys
    return {
        "backup": stamp,
        "parts": [m.part.value for m in (created.database, created.keys) if m],
        "keys_keep_until": keys.keep_until.isoformat() if keys and keys.keep_until else None,
        "expired_removed": len(created.expired_removed),
    }


async def _audit(core: PrivacyCore, action: str, details: dict[str, Any]) -> None:
    async with core.uow() as uow:
        await uow.record(SYSTEM, action, subject_ref=None, details=details)
        await uow.commit()


def _url_of(part: Part, settings: Settings) -> str:
    return settings.database_url if part is Part.DATABASE else settings.key_store_url()


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    return Path(str(parsed.database))


def _utc(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"a time without its zone: {text}")
    return value.astimezone(UTC)
