"""Master key rotation: rewrap every data key, never touch a ciphertext.

The data keys live in the key store, which rewraps them a batch at a time; the
blind-index key lives in the database. A batch driver, the documented exception to
"the entry point commits once": it takes the core, not a unit of work, and owns its
transactions, one per batch of data keys (a rotation of every key is too big for
one). Safe to interrupt: each batch commits on its own, and a re-run first finishes
rewrapping under the newest key before it would make yet another one.

The previous key stays in the key file until the next rotation: another process
may have wrapped a new customer's key with it just before it noticed the new
file. The next rotation retires every key that nothing references any more (so
rotating twice removes a compromised key at once).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from core.app import PrivacyCore
from core.crypto import generate_master_key
from core.crypto.keys import KEY_FILE_NAME, write_key_file
from core.errors import ConfigurationError
from core.services._common import SYSTEM
from core.storage.tables import MetaRow

__all__ = ["RotationReport", "rotate_master_key"]

Progress = Callable[[int, int], None]
_BATCH = 500


@dataclass(frozen=True)
class RotationReport:
    new_kid: str
    rewrapped: int
    total: int
    generated: bool


async def rotate_master_key(core: PrivacyCore, progress: Progress | None = None) -> RotationReport:
    """Rewrap every data key under a new master key: a batch driver, one transaction
    per batch of keys, then one for the ``keys.rotated`` audit entry."""
    generated = False
    if not await _pending(core):  # else: finish an interrupted run first
        await _retire_unused_keys(core)
        _add_new_key(core)
        generated = True
    total = await _pending(core)
    done = await _rewrap_blind_key(core)
    while batch := await core.keystore.rewrap(_BATCH):
        done += batch
        if progress:
            progress(done, total)
    async with core.uow() as uow:
        await uow.record(
            SYSTEM,
            "keys.rotated",
            subject_ref=None,
            details={"kid": core.keyring.primary.kid_hex, "rewrapped": done},
        )
        await uow.commit()
    return RotationReport(core.keyring.primary.kid_hex, done, total, generated)


async def _pending(core: PrivacyCore) -> int:
    async with core.uow() as uow:
        blind = await uow.session.get(MetaRow, "blind_index_key")
        stale_blind = (
            blind is not None and core.keyring.wrapped_by(blind.value) != core.keyring.primary.kid
        )
    return await core.keystore.pending_rewrap() + int(stale_blind)


async def _rewrap_blind_key(core: PrivacyCore) -> int:
    """The blind-index key lives in the database, wrapped like the data keys."""
    async with core.uow() as uow:
        blind = await uow.session.get(MetaRow, "blind_index_key", with_for_update=True)
        if blind is None or core.keyring.wrapped_by(blind.value) == core.keyring.primary.kid:
            return 0
        blind.value = core.keyring.wrap(core.keyring.unwrap(blind.value))
        await uow.commit()
    return 1


def _key_file(core: PrivacyCore) -> Path:
    if core.settings.master_key:
        raise ConfigurationError(
            "the master key comes from PRIVACY_MASTER_KEY: to rotate, put a new key first "
            "('NEW,OLD'), run `privacy-bot keys rotate`, then drop OLD from the variable"
        )
    return core.settings.data_dir / KEY_FILE_NAME


def _add_new_key(core: PrivacyCore) -> None:
    # The file is written before any rewrap, so no data key ever depends on a key
    # that exists only in memory.
    write_key_file(_key_file(core), [generate_master_key(), *core.keyring.keys])
    core.keyring.reload()


async def _retire_unused_keys(core: PrivacyCore) -> None:
    if len(core.keyring.keys) == 1 or core.settings.master_key:
        return
    used = await core.keystore.master_kids()
    async with core.uow() as uow:
        blind = await uow.session.scalar(
            select(MetaRow.value).where(MetaRow.key == "blind_index_key")
        )
    if blind is not None:
        used.add(core.keyring.wrapped_by(blind).hex())
    keep = [k for i, k in enumerate(core.keyring.keys) if i == 0 or k.kid_hex in used]
    write_key_file(_key_file(core), keep)
    core.keyring.reload()
