"""What every start does between opening the stores and serving anyone.

1. :func:`bind_key_store`: the key store belongs to one database (an id in each);
   a database and a key store that do not belong together stop the start.
2. :func:`move_data_keys`: data keys that an older version kept in the database
   itself move to the key store, a batch at a time (interrupted, it resumes).
3. :func:`reapply_erasures`: a database restored from a backup (or started over
   an older copy) is erased again of everyone the erasure journal lists.

Batch drivers, like key rotation: each owns its transactions.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.crypto import Keyring
from core.errors import ConfigurationError
from core.services._common import SYSTEM
from core.services.rights.erasure import reapply_erasure
from core.storage import Database, UnitOfWork
from core.storage.keystore import KeyStore
from core.storage.tables import CustomerRow, DataKeyRow, MetaRow

__all__ = ["Progress", "bind_key_store", "move_data_keys", "reapply_erasures"]

Progress = Callable[[int, int], None]
_BATCH = 500
_DATABASE_ID = "database_id"
_JOURNAL_SEEN = "erasure_journal_seq"  # the journal is reflected up to this entry


async def bind_key_store(db: Database, store: KeyStore) -> str:
    """The database's id, bound to the key store on first use; a pair that does not
    belong together is an error (keys for the wrong database would read as erased)."""
    bound = await store.bound_to()
    async with db.session() as session, session.begin():
        row = await session.get(MetaRow, _DATABASE_ID)
        if row is None:  # a new database, or one from before the key store
            ident = bound or secrets.token_hex(16)
            session.add(MetaRow(key=_DATABASE_ID, value=ident.encode("ascii")))
        else:
            ident = row.value.decode("ascii")
            if bound is None and await _customers(session) and not await store.count():
                raise ConfigurationError(
                    f"the key store {store.where} is empty, but the database holds customers: "
                    "restore the key store from its backup, or set PRIVACY_KEYSTORE_URL to it"
                )
    if bound is None:
        await store.bind(ident)
    elif bound != ident:
        raise ConfigurationError(
            f"the key store {store.where} belongs to another database: "
            "check PRIVACY_DATABASE_URL and PRIVACY_KEYSTORE_URL (or PRIVACY_DATA_DIR)"
        )
    return ident


async def _customers(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(CustomerRow)) or 0)


async def move_data_keys(
    db: Database,
    store: KeyStore,
    keyring: Keyring,
    uow: Callable[[], UnitOfWork],
    progress: Progress | None = None,
) -> int:
    """Move the data keys the database still holds to the key store; how many.

    Each batch is stored first (a key already there is kept), then deleted from
    the database, so an interruption at any point loses nothing and a re-run goes
    on. A key whose customer the journal lists as erased is dropped, not moved.
    """
    total = await _legacy_keys(db)
    if not total:
        return 0
    moved = dropped = 0
    while batch := await _legacy_batch(db):
        erased = await store.erased_among(batch)
        await store.store({ref: keyring.unwrap(w) for ref, w in batch.items() if ref not in erased})
        await _delete_legacy(db, list(batch))
        moved += len(batch) - len(erased)
        dropped += len(erased)
        if progress:
            progress(moved + dropped, total)
    async with uow() as work:
        await work.record(
            SYSTEM,
            "keys.moved",
            subject_ref=None,
            details={"moved": moved, "dropped_erased": dropped, "to": "key store"},
        )
        await work.commit()
        await work.pages.compact()  # no copy of a moved key stays in SQLite's log
    return moved


async def _legacy_keys(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(DataKeyRow)) or 0)


async def _legacy_batch(db: Database) -> dict[str, bytes]:
    async with db.session() as session:
        rows = await session.execute(
            select(DataKeyRow.customer_ref, DataKeyRow.wrapped)
            .order_by(DataKeyRow.customer_ref)
            .limit(_BATCH)
        )
        return {ref: wrapped for ref, wrapped in rows}


async def _delete_legacy(db: Database, refs: list[str]) -> None:
    async with db.session() as session, session.begin():
        if db.is_sqlite:
            await session.execute(text("PRAGMA secure_delete=ON"))  # zeroed, not left in free pages
        await session.execute(delete(DataKeyRow).where(DataKeyRow.customer_ref.in_(refs)))


async def reapply_erasures(
    store: KeyStore, uow: Callable[[], UnitOfWork], *, rescan: bool = False
) -> int:
    """Erase again everyone the journal lists whom the database still holds (a
    restored backup); how many. Entries the database has seen are skipped, unless
    ``rescan`` (a restored key store: its journal is shorter than the database saw)."""
    reapplied = 0
    seen = 0 if rescan else await _journal_seen(uow)
    while entries := await store.erased_after(seen, _BATCH):
        async with uow() as work:
            refs = [e.customer_ref for e in entries]
            present = set(
                await work.session.scalars(select(CustomerRow.ref).where(CustomerRow.ref.in_(refs)))
            )
            for entry in entries:
                if entry.customer_ref in present:
                    await reapply_erasure(entry.customer_ref, entry.seq, work)
                    present.discard(entry.customer_ref)
                    reapplied += 1
            seen = entries[-1].seq
            await work.session.merge(MetaRow(key=_JOURNAL_SEEN, value=str(seen).encode("ascii")))
            await work.commit()
    if reapplied:
        async with uow() as work:
            await work.pages.compact()
    return reapplied


async def _journal_seen(uow: Callable[[], UnitOfWork]) -> int:
    async with uow() as work:
        row = await work.session.get(MetaRow, _JOURNAL_SEEN)
        return 0 if row is None else int(row.value.decode("ascii"))
