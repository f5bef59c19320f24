"""Consistent copies of a SQLite file, taken and put back while others may use it.

SQLite's online backup copies a database page by page under its own locks, so a
copy taken while the bot runs is a state the database really was in. A copy is
self-contained (a rollback journal, no write-ahead log beside it) and, like
everything the bot writes, readable by the shop's user only.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

from core.errors import ConfigurationError

__all__ = ["checksum", "copy_sqlite", "restore_sqlite"]

_CHUNK = 1 << 20


def copy_sqlite(source: Path, target: Path) -> None:
    """Copy the database at ``source`` into the new file ``target`` (0600)."""
    if not source.exists():
        raise ConfigurationError(f"there is no database at {source} to back up")
    _new_private_file(target)
    _online_copy(source, target, self_contained=True)


def restore_sqlite(source: Path, target: Path) -> None:
    """Put the copy at ``source`` in place of the database at ``target``, under the
    database's own lock (a process holding it open sees the restored pages)."""
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not target.exists():
        _new_private_file(target)
    _online_copy(source, target, self_contained=False)


def checksum(path: Path) -> str:
    """The file's SHA-256, hex."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _online_copy(source: Path, target: Path, *, self_contained: bool) -> None:
    try:
        src = sqlite3.connect(source, timeout=30)
        try:
            dst = sqlite3.connect(target, timeout=30)
            try:
                src.backup(dst)
                if self_contained:
                    dst.execute("PRAGMA journal_mode=DELETE")
                else:
                    dst.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as error:
        raise ConfigurationError(f"cannot copy {source} to {target}: {error}") from None


def _new_private_file(path: Path) -> None:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        raise ConfigurationError(f"{path} already exists: choose another folder") from None
    except OSError as error:
        raise ConfigurationError(f"cannot create {path}: {error.strerror}") from None
