"""Engine set-up for SQLite (embedded) and PostgreSQL (scale), and migrations."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, event, exc, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from core.errors import ConfigurationError

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["Database", "ensure_sqlite_file", "unreachable"]

_MIGRATIONS = Path(__file__).parent / "migrations"


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        if self.is_sqlite:
            ensure_sqlite_file(url, what="database")
        self.engine: AsyncEngine = create_async_engine(url, **_engine_options(url, self.is_sqlite))
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> AsyncSession:
        return self.sessions()

    async def upgrade(self) -> None:
        """Apply every Alembic migration not yet applied (idempotent)."""
        try:
            async with self.engine.begin() as conn:
                if await conn.run_sync(_at_head):
                    return  # the common case, without loading Alembic (slow to import)
                await conn.run_sync(_upgrade)
        except (exc.DBAPIError, OSError) as error:
            where = make_url(self.url).render_as_string(hide_password=True)
            raise unreachable("database", where, "PRIVACY_DATABASE_URL", error) from None

    async def dispose(self) -> None:
        await self.engine.dispose()


def _engine_options(url: str, is_sqlite: bool) -> dict[str, Any]:
    if not is_sqlite:
        return {"pool_size": 10, "max_overflow": 20, "pool_pre_ping": True}
    options: dict[str, Any] = {"connect_args": {"timeout": 30}}
    if make_url(url).database not in (None, "", ":memory:"):  # memory: one static connection
        # Every SQLite transaction takes the write lock (BEGIN IMMEDIATE), so two
        # connections of one process never work at once anyway; with one, waiters
        # queue in the pool (asyncio, in order) instead of sleeping in SQLite's busy
        # handler, which backs off in steps of up to 100 ms.
        options.update(pool_size=1, max_overflow=0)
    return options


def ensure_sqlite_file(url: str, *, what: str, folder: str = "data folder") -> None:
    """The file's folder (0700) and the file (0600: it holds ciphertext or keys), or
    one clear sentence saying why they cannot be made."""
    database = make_url(url).database
    if not database or database == ":memory:":
        return
    path = Path(database)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ConfigurationError(
            f"{path.parent} is a file, not a folder: PRIVACY_DATA_DIR must name a folder"
        ) from None
    except OSError as error:
        reason = error.strerror
        raise ConfigurationError(f"cannot create the {folder} {path.parent}: {reason}") from None
    if path.exists():
        return
    try:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError as error:
        raise ConfigurationError(
            f"cannot create the {what} {path}: {error.strerror} (is the folder writable?)"
        ) from None


def unreachable(what: str, where: str, setting: str, error: BaseException) -> ConfigurationError:
    """One sentence for a database (or key store) that cannot be opened: which, where,
    and what to check; the driver's own words, never a traceback."""
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    if where.startswith("sqlite"):
        path = make_url(where).database
        if "locked" in reason:
            hint = "another program holds it locked; stop it, or wait and try again"
        elif "not a database" in reason or "malformed" in reason:
            hint = "the file is damaged or not a database; restore it from a backup"
        else:
            hint = "is the data folder writable?"
        return ConfigurationError(f"cannot open the {what} {path}: {reason} ({hint})")
    return ConfigurationError(
        f"cannot reach the {what} at {where}: {reason} (is it running, and is {setting} right?)"
    )


def _configure_sqlite(engine: AsyncEngine) -> None:
    """WAL, foreign keys, and write transactions that take the lock up front.

    A deferred SQLite transaction that reads and later writes fails at once with
    "database is locked" when another writer got there first; BEGIN IMMEDIATE
    makes it wait its turn (busy timeout) instead.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _alembic_config(connection: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _latest_revision() -> str:
    """Migrations are named NNNN_what.py with revision "NNNN"; the newest is the head."""
    return max(p.name[:4] for p in (_MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))


def _at_head(connection: Connection) -> bool:
    if not inspect(connection).has_table("alembic_version"):
        return False
    current = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return current == [_latest_revision()]


def _upgrade(connection: Connection) -> None:
    # Alembic loads slowly; only upgrades need it.
    from alembic import command

    command.upgrade(_alembic_config(connection), "head")
