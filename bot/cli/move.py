"""``privacy-bot db move-to URL --keystore URL``: SQLite to PostgreSQL, with progress."""

from __future__ import annotations

import sys

from core.app import PrivacyCore
from core.move import move_to

__all__ = ["move_command"]


async def move_command(target: str | None, keystore: str | None, core: PrivacyCore) -> int:
    if not target or not keystore:
        print(
            "privacy-bot: error: db move-to needs the new database URL and --keystore URL "
            "(two empty PostgreSQL databases)",
            file=sys.stderr,
        )
        return 2

    def progress(table: str, done: int) -> None:
        print(f"\rcopying {table}: {done} rows", end="\033[K", file=sys.stderr, flush=True)

    moved = await move_to(core, target, keystore, progress)
    print(file=sys.stderr)
    print(f"copied {sum(moved.database.values())} rows and {moved.keys['data_keys']} data keys")
    print(f"audit log at the new place: {moved.audit}")
    print(
        "now stop every process, set PRIVACY_DATABASE_URL and PRIVACY_KEYSTORE_URL to the "
        "new places, and start them; keep the SQLite files until the new setup has run"
    )
    return 0
