"""Opening the core: policy, database (migrated), key store, keys (unlocked and checked)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from sqlalchemy import exc, func, select

from core.clock import Clock, SystemClock
from core.crypto import BlindIndexer, Keyring, load_keyring
from core.domain.policy import Policy, load_policy
from core.settings import Settings
from core.startup import Progress, bind_key_store, move_data_keys, reapply_erasures
from core.storage import Database, UnitOfWork
from core.storage.keystore import SqlKeyStore, open_keystore
from core.storage.tables import DataKeyRow, MetaRow

__all__ = ["PrivacyCore", "open_core"]

_BLIND_KEY = "blind_index_key"


@dataclass
class PrivacyCore:
    """Everything a use case needs, opened once per process."""

    settings: Settings
    policy: Policy
    db: Database
    keystore: SqlKeyStore
    keyring: Keyring
    indexer: BlindIndexer
    clock: Clock = field(default_factory=SystemClock)
    reapplied: int = 0  # erasures the start re-applied (a database restored from a backup)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.db, self.keystore, self.indexer, self.policy, self.clock)

    async def close(self) -> None:
        await self.keystore.close()
        await self.db.dispose()


async def open_core(
    settings: Settings,
    *,
    clock: Clock | None = None,
    policy: Policy | None = None,
    progress: Progress | None = None,
) -> PrivacyCore:
    """Load the policy, migrate the database, open the key store, unlock the keys,
    then move old keys out and re-apply the erasure journal before anyone is
    served; any failure is loud. ``progress`` follows the key move, if any."""
    policy = policy or load_policy(settings.policy_file)
    keystore_url = settings.key_store_url()
    db = Database(settings.database_url)
    keystore: SqlKeyStore | None = None
    try:
        await db.upgrade()
        keystore = await open_keystore(keystore_url)
        keyring, indexer = await _unlock(db, keystore, settings)
        await bind_key_store(db, keystore)
        core = PrivacyCore(settings, policy, db, keystore, keyring, indexer, clock or SystemClock())
        await move_data_keys(db, keystore, keyring, core.uow, progress)
        core.reapplied = await reapply_erasures(keystore, core.uow)
    except BaseException:
        if keystore is not None:
            await keystore.close()
        await db.dispose()
        raise
    return core


async def _unlock(
    db: Database, keystore: SqlKeyStore, settings: Settings
) -> tuple[Keyring, BlindIndexer]:
    try:
        return await _unlock_once(db, keystore, settings)
    except exc.IntegrityError:
        # Another process initialised this database at the same moment: use its key.
        return await _unlock_once(db, keystore, settings)


async def _unlock_once(
    db: Database, keystore: SqlKeyStore, settings: Settings
) -> tuple[Keyring, BlindIndexer]:
    async with db.session() as session, session.begin():
        wrapped = await session.get(MetaRow, _BLIND_KEY)
        old_keys = await session.scalar(select(func.count()).select_from(DataKeyRow))
        fresh = wrapped is None and not old_keys and not await keystore.count()
        keyring = load_keyring(settings.master_key, settings.data_dir, may_create=fresh)
        keystore.use(keyring)
        if wrapped is not None:
            # Unwrapping proves the configured master key is this database's.
            return keyring, BlindIndexer(keyring.unwrap(wrapped.value))
        blind_key = secrets.token_bytes(32)
        session.add(MetaRow(key=_BLIND_KEY, value=keyring.wrap(blind_key)))
    return keyring, BlindIndexer(blind_key)
