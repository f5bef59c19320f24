"""Opening the core: policy, database (migrated), keys (unlocked and checked)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from sqlalchemy import exc, func, select

from core.clock import Clock, SystemClock
from core.crypto import BlindIndexer, Keyring, load_keyring
from core.domain.policy import Policy, load_policy
from core.settings import Settings
from core.storage import Database, UnitOfWork
from core.storage.tables import DataKeyRow, MetaRow

__all__ = ["PrivacyCore", "open_core"]

_BLIND_KEY = "blind_index_key"


@dataclass
class PrivacyCore:
    """Everything a use case needs, opened once per process."""

    settings: Settings
    policy: Policy
    db: Database
    keyring: Keyring
    indexer: BlindIndexer
    clock: Clock = field(default_factory=SystemClock)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.db, self.keyring, self.indexer, self.policy, self.clock)

    async def close(self) -> None:
        await self.db.dispose()


async def open_core(
    settings: Settings, *, clock: Clock | None = None, policy: Policy | None = None
) -> PrivacyCore:
    """Load the policy, migrate the database, unlock the keys; any failure is loud."""
    policy = policy or load_policy(settings.policy_file)
    db = Database(settings.database_url)
    try:
        await db.upgrade()
        keyring, indexer = await _unlock(db, settings)
    except BaseException:
        await db.dispose()
        raise
    return PrivacyCore(settings, policy, db, keyring, indexer, clock or SystemClock())


async def _unlock(db: Database, settings: Settings) -> tuple[Keyring, BlindIndexer]:
    try:
        return await _unlock_once(db, settings)
    except exc.IntegrityError:
        # Another process initialised this database at the same moment: use its key.
        return await _unlock_once(db, settings)


async def _unlock_once(db: Database, settings: Settings) -> tuple[Keyring, BlindIndexer]:
    async with db.session() as session, session.begin():
        wrapped = await session.get(MetaRow, _BLIND_KEY)
        keys_stored = await session.scalar(select(func.count()).select_from(DataKeyRow))
        fresh = wrapped is None and not keys_stored
        keyring = load_keyring(settings.master_key, settings.data_dir, may_create=fresh)
        if wrapped is not None:
            # Unwrapping proves the configured master key is this database's.
            return keyring, BlindIndexer(keyring.unwrap(wrapped.value))
        blind_key = secrets.token_bytes(32)
        session.add(MetaRow(key=_BLIND_KEY, value=keyring.wrap(blind_key)))
    return keyring, BlindIndexer(blind_key)
