"""The key store in SQL: its own SQLite file (0600 in a 0700 folder) or PostgreSQL database.

Keys are kept wrapped by the master keyring. On SQLite the store uses a rollback
journal with secure delete, not a write-ahead log: a destroyed key is zeroed in
place and no log file keeps an older copy of its page.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, event, exc, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from core.crypto import Keyring
from core.errors import ConfigurationError
from core.storage.database import ensure_sqlite_file, unreachable
from core.storage.keystore.store import Erased
from core.storage.keystore.tables import SCHEMA, data_keys, erasures, facts, metadata

__all__ = ["SqlKeyStore", "open_keystore"]

_IN_BATCH = 500  # refs per IN (...) list


class SqlKeyStore:
    """:class:`~core.storage.keystore.KeyStore` over SQLAlchemy Core."""

    def __init__(self, engine: AsyncEngine, where: str) -> None:
        self._engine = engine
        # Reads run without a transaction of their own; writes take the lock up front.
        self._reader = engine.execution_options(keystore_read=True)
        self._keys: Keyring | None = None
        self.where = where

    @property
    def engine(self) -> AsyncEngine:
        """For copying the store whole (``db move``), nothing else."""
        return self._engine

    def use(self, keyring: Keyring) -> None:
        """The master keys that wrap the stored keys (known once the store is open:
        whether one may be made depends on what the store holds)."""
        self._keys = keyring

    @property
    def _keyring(self) -> Keyring:
        if self._keys is None:
            raise ConfigurationError("the key store was opened without its master keys")
        return self._keys

    async def fetch(self, refs: Collection[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        async with self._reader.connect() as conn:
            for part in _batches(refs):
                rows = await conn.execute(
                    select(data_keys.c.customer_ref, data_keys.c.wrapped).where(
                        data_keys.c.customer_ref.in_(part)
                    )
                )
                found.update({ref: self._keyring.unwrap(wrapped) for ref, wrapped in rows})
        return found

    async def store(self, keys: Mapping[str, bytes]) -> None:
        if not keys:
            return
        kid = self._keyring.primary.kid_hex
        rows = [
            {"customer_ref": ref, "wrapped": self._keyring.wrap(secret), "master_kid": kid}
            for ref, secret in keys.items()
        ]
        async with self._engine.begin() as conn:
            await conn.execute(_insert_new(conn), rows)

    async def erase(self, refs: Collection[str], at: datetime) -> None:
        if not refs:
            return
        async with self._engine.begin() as conn:
            await _delete_keys(conn, refs)
            await conn.execute(
                insert(erasures), [{"customer_ref": ref, "erased_at": at} for ref in refs]
            )

    async def discard(self, refs: Collection[str]) -> None:
        if refs:
            async with self._engine.begin() as conn:
                await _delete_keys(conn, refs)

    async def erased_after(self, seq: int, limit: int) -> list[Erased]:
        async with self._reader.connect() as conn:
            rows = await conn.execute(
                select(erasures.c.seq, erasures.c.customer_ref, erasures.c.erased_at)
                .where(erasures.c.seq > seq)
                .order_by(erasures.c.seq)
                .limit(limit)
            )
            return [Erased(s, ref, at) for s, ref, at in rows]

    async def erased_among(self, refs: Collection[str]) -> set[str]:
        found: set[str] = set()
        async with self._reader.connect() as conn:
            for part in _batches(refs):
                found |= set(
                    await conn.scalars(
                        select(erasures.c.customer_ref).where(erasures.c.customer_ref.in_(part))
                    )
                )
        return found

    async def count(self) -> int:
        async with self._reader.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(data_keys)) or 0)

    async def bound_to(self) -> str | None:
        async with self._reader.connect() as conn:
            value = await conn.scalar(select(facts.c.value).where(facts.c.key == "database"))
            return None if value is None else str(value)

    async def bind(self, database_id: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(_insert_new(conn, facts), {"key": "database", "value": database_id})

    async def pending_rewrap(self) -> int:
        primary = self._keyring.primary.kid_hex
        async with self._reader.connect() as conn:
            count = await conn.scalar(
                select(func.count()).select_from(data_keys).where(data_keys.c.master_kid != primary)
            )
            return int(count or 0)

    async def rewrap(self, limit: int) -> int:
        primary = self._keyring.primary.kid_hex
        async with self._engine.begin() as conn:
            rows = (
                await conn.execute(
                    select(data_keys.c.customer_ref, data_keys.c.wrapped)
                    .where(data_keys.c.master_kid != primary)
                    .limit(limit)
                    .with_for_update()
                )
            ).all()
            for ref, wrapped in rows:
                again = self._keyring.wrap(self._keyring.unwrap(wrapped))
                await conn.execute(
                    update(data_keys)
                    .where(data_keys.c.customer_ref == ref)
                    .values(wrapped=again, master_kid=primary)
                )
        return len(rows)

    async def master_kids(self) -> set[str]:
        async with self._reader.connect() as conn:
            return set(await conn.scalars(select(data_keys.c.master_kid).distinct()))

    async def close(self) -> None:
        await self._engine.dispose()


async def open_keystore(url: str) -> SqlKeyStore:
    """The key store at ``url``, its tables made on first use; one clear sentence when
    it cannot be reached or written."""
    where = make_url(url).render_as_string(hide_password=True)
    is_sqlite = make_url(url).get_backend_name() == "sqlite"
    if is_sqlite:
        ensure_sqlite_file(url, what="key store", folder="key store folder")
    engine = create_async_engine(url, **_options(is_sqlite))
    if is_sqlite:
        _configure_sqlite(engine)
    try:
        await _create_schema(engine)
    except (exc.DBAPIError, OSError) as error:
        await engine.dispose()
        raise unreachable("key store", where, "PRIVACY_KEYSTORE_URL", error) from None
    except BaseException:
        await engine.dispose()
        raise
    return SqlKeyStore(engine, where)


async def _create_schema(engine: AsyncEngine) -> None:
    for attempt in range(2):
        try:
            async with engine.begin() as conn:
                await conn.run_sync(metadata.create_all)
                await conn.execute(_insert_new(conn, facts), {"key": "schema", "value": SCHEMA})
                schema = await conn.scalar(select(facts.c.value).where(facts.c.key == "schema"))
            break
        except exc.IntegrityError:
            if attempt:  # another process made the tables at the same moment
                raise
        except exc.ProgrammingError:
            if attempt:
                raise
    if schema != SCHEMA:
        raise ConfigurationError(
            f"the key store is of schema {schema}, this version knows {SCHEMA}: upgrade privacy-bot"
        )


def _insert_new(conn: AsyncConnection, table: Any = data_keys) -> Any:
    """INSERT that leaves a row already there as it is."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


async def _delete_keys(conn: AsyncConnection, refs: Collection[str]) -> None:
    for part in _batches(refs):
        await conn.execute(delete(data_keys).where(data_keys.c.customer_ref.in_(part)))


def _batches(refs: Collection[str]) -> list[list[str]]:
    items = sorted(set(refs))
    return [items[i : i + _IN_BATCH] for i in range(0, len(items), _IN_BATCH)]


def _options(is_sqlite: bool) -> dict[str, Any]:
    if is_sqlite:
        return {"connect_args": {"timeout": 30}}
    return {"pool_size": 5, "max_overflow": 10, "pool_pre_ping": True}


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=DELETE")
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A read is one SELECT (SQLite's own implicit transaction): no BEGIN to pay for.
        if not conn.get_execution_options().get("keystore_read", False):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
