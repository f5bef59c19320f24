"""Moving a shop from SQLite to PostgreSQL: the database and the key store, each to
a database of its own, checked before and after.

The targets must be empty; the source is only read (stop the bot first, so
nothing changes while it is copied). Afterwards the target is opened as the bot
would open it (same master key) and its audit chain verified, and the move is
audited there. Pointing ``PRIVACY_DATABASE_URL`` and ``PRIVACY_KEYSTORE_URL`` at
the targets is the operator's step: until then the shop runs on the source.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sqlalchemy import make_url

from core.app import PrivacyCore, open_core
from core.errors import ConfigurationError
from core.services import verify_audit
from core.services._common import SYSTEM
from core.settings import Settings
from core.storage import Database
from core.storage.keystore import open_keystore
from core.storage.keystore.tables import data_keys, erasures
from core.storage.tables import Base
from core.storage.transfer import Progress, copy_rows, rows_in

__all__ = ["MovedStore", "move_to"]

_MAIN_TABLES = tuple(Base.metadata.sorted_tables)
_SEEDED = {"audit_head"}  # rows the migrations write into a new database
_KEY_TABLES = (data_keys, erasures)  # its facts: the schema is made, the binding set


@dataclass(frozen=True)
class MovedStore:
    database: dict[str, int]  # rows copied, per table
    keys: dict[str, int]
    audit: str  # the target's audit verification, in words


async def move_to(
    core: PrivacyCore, database_url: str, keystore_url: str, progress: Progress | None = None
) -> MovedStore:
    """Copy the shop's database and key store into the empty ``database_url`` and
    ``keystore_url``; the source is left as it was."""
    settings = dataclasses.replace(
        core.settings, database_url=database_url, keystore_url=keystore_url
    )
    settings.key_store_url()  # the two targets are apart, as PostgreSQL requires
    _not_the_source(core, database_url, keystore_url)
    target = Database(database_url)
    try:
        await target.upgrade()
        await _empty(target, "PRIVACY_DATABASE_URL", database_url)
        keys = await open_keystore(keystore_url)
        try:
            if await keys.count() or await keys.bound_to() or await keys.erased_after(0, 1):
                raise ConfigurationError(f"the key store at {keys.where} is not empty")
            copied_keys = await copy_rows(core.keystore.engine, keys.engine, _KEY_TABLES, progress)
            bound = await core.keystore.bound_to()
            if bound is not None:
                await keys.bind(bound)
        finally:
            await keys.close()
        copied = await copy_rows(core.db.engine, target.engine, _MAIN_TABLES, progress)
    finally:
        await target.dispose()
    return MovedStore(copied, copied_keys, await _verify_and_audit(settings, core, copied))


def _not_the_source(core: PrivacyCore, database_url: str, keystore_url: str) -> None:
    sources = {_plain(core.settings.database_url), _plain(core.settings.key_store_url())}
    if {_plain(database_url), _plain(keystore_url)} & sources:
        raise ConfigurationError("the target names the shop's own database or key store")


def _plain(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


async def _empty(target: Database, setting: str, url: str) -> None:
    """Nothing of a shop in it (what the migrations themselves write is replaced)."""
    counts = await rows_in(target.engine, _MAIN_TABLES)
    held = {name: n for name, n in counts.items() if n and name not in _SEEDED}
    if held:
        where = _plain(url)
        raise ConfigurationError(
            f"the database at {where} is not empty ({', '.join(sorted(held))}): "
            f"give the move an empty database ({setting} of the new setup)"
        )


async def _verify_and_audit(settings: Settings, core: PrivacyCore, copied: dict[str, int]) -> str:
    moved = await open_core(settings, clock=core.clock, policy=core.policy)
    try:
        async with moved.uow() as uow:
            result = await verify_audit(uow)
            if not result.ok:
                raise ConfigurationError(f"the copied audit log fails: {result.describe()}")
            await uow.record(
                SYSTEM,
                "db.moved",
                subject_ref=None,
                details={"from": "sqlite", "rows": sum(copied.values())},
            )
            await uow.commit()
        return result.describe()
    finally:
        await moved.close()
