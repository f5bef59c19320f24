"""``privacy-bot backup create|list|restore``: what each part is and where to keep it."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from core.app import PrivacyCore, open_core
from core.backups import (
    Backup,
    CreatedBackup,
    Manifest,
    create_backup,
    find_backup,
    finish_restore,
    list_backups,
    restore_files,
)
from core.settings import Settings

__all__ = ["backup_command", "restore_command"]


async def backup_command(args: argparse.Namespace, core: PrivacyCore) -> int:
    """``create`` and ``list`` (``restore`` opens the core itself: see below)."""
    if args.action == "list":
        for backup in list_backups(Path(args.dir)):
            print(_listed(backup, core.clock.now()))
        return 0
    created = await create_backup(core, Path(args.dir), args.keys_dir and Path(args.keys_dir))
    _print_created(created)
    return 0


async def restore_command(args: argparse.Namespace, settings: Settings) -> int:
    backup = find_backup(Path(args.dir))
    if not args.yes:
        print(
            f"privacy-bot: error: this replaces {_what(backup, args.keys)} with the backup of "
            f"{_made(backup)}; stop the bot first, then run again with --yes",
            file=sys.stderr,
        )
        return 2
    restore = await restore_files(backup, settings, with_keys=args.keys, now=datetime.now(UTC))
    core = await open_core(settings)  # re-applies the erasure journal before anything else
    try:
        report = await finish_restore(core, restore)
    finally:
        await core.close()
    print(f"restored {_what(restore.parts, args.keys)} from the backup of {_made(restore.parts)}")
    print(f"erasures re-applied: {report.reapplied}")
    if restore.parts.keys is not None:
        print(f"keys of customers erased since the backup destroyed again: {report.keys_destroyed}")
    return 0


def _print_created(created: CreatedBackup) -> None:
    if created.database is not None:
        print(f"database copied to {created.database.folder}")
    if created.keys is not None:
        keep = created.keys.keep_until
        print(f"key store copied to {created.keys.folder}")
        print(
            f"  delete this key-store copy by {keep:%Y-%m-%d} (key_backup_retention); "
            "keep it apart from the database copy and from the master key"
        )
    for part in created.not_copied:
        print(f"the {part.value} is PostgreSQL: back it up with pg_dump (see the README, Backups)")
    for manifest in created.expired_removed:
        print(f"deleted the expired key-store copy {manifest.folder}")


def _listed(backup: Backup, now: datetime) -> str:
    parts = []
    if backup.database is not None:
        parts.append("database")
    if backup.keys is not None:
        state = "EXPIRED" if backup.keys.expired(now) else "until"
        parts.append(f"keys ({state} {backup.keys.keep_until:%Y-%m-%d})")
    return f"{backup.folder.name}\t{_made(backup)}\t{', '.join(parts)}"


def _what(backup: Backup, with_keys: bool) -> str:
    parts = [m for m in (backup.database, backup.keys if with_keys else None) if m]
    return " and ".join(_names(m) for m in parts) or "nothing"


def _names(manifest: Manifest) -> str:
    return "the database" if manifest.part.value == "database" else "the key store"


def _made(backup: Backup) -> str:
    times = [m.created_at for m in (backup.database, backup.keys) if m]
    return f"{min(times):%Y-%m-%d %H:%M} UTC"
