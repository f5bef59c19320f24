"""Master key rotation: rewrap every data key, never touch a ciphertext.

Safe to interrupt: each batch commits on its own, and a re-run first finishes
rewrapping under the newest key before it would make yet another one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from core.app import PrivacyCore
from core.crypto import Keyring, generate_master_key
from core.crypto.keys import KEY_FILE_NAME, write_key_file
from core.errors import ConfigurationError
from core.services._common import SYSTEM
from core.storage.tables import DataKeyRow, MetaRow

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
    generated = False
    # Several keys with nothing pending: an earlier run finished rewrapping but
    # stopped before retiring the old key; just finish it.
    if not await _pending(core) and len(core.keyring.keys) == 1:
        _add_new_key(core)
        generated = True
    total = await _pending(core)
    done = 0
    while batch := await _rewrap_batch(core):
        done += batch
        if progress:
            progress(done, total)
    _retire_old_keys(core)
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
    primary = core.keyring.primary.kid_hex
    async with core.uow() as uow:
        count = await uow.session.scalar(
            select(func.count()).select_from(DataKeyRow).where(DataKeyRow.master_kid != primary)
        )
        blind = await uow.session.get(MetaRow, "blind_index_key")
        stale_blind = (
            blind is not None and core.keyring.wrapped_by(blind.value) != core.keyring.primary.kid
        )
    return int(count or 0) + int(stale_blind)


async def _rewrap_batch(core: PrivacyCore) -> int:
    async with core.uow() as uow:
        done = 0
        blind = await uow.session.get(MetaRow, "blind_index_key", with_for_update=True)
        if blind is not None and core.keyring.wrapped_by(blind.value) != core.keyring.primary.kid:
            blind.value = core.keyring.wrap(core.keyring.unwrap(blind.value))
            done += 1
        for ref in await uow.keys.refs_not_wrapped_by(core.keyring.primary.kid_hex, _BATCH):
            await uow.keys.rewrap(ref)
            done += 1
        await uow.commit()
    return done


def _key_file(core: PrivacyCore) -> Path:
    if core.settings.master_key:
        raise ConfigurationError(
            "PRIVACY_MASTER_KEY holds a single key: to rotate, set it to 'NEW,OLD' "
            "(a new key first) and run `privacy-bot keys rotate` again"
        )
    return core.settings.data_dir / KEY_FILE_NAME


def _add_new_key(core: PrivacyCore) -> None:
    path = _key_file(core)
    keys = [generate_master_key(), *core.keyring.keys]
    # The file is written before any rewrap, so no data key ever depends on a key
    # that exists only in memory.
    write_key_file(path, keys)
    core.keyring = Keyring(keys, source=str(path))


def _retire_old_keys(core: PrivacyCore) -> None:
    if len(core.keyring.keys) == 1 or core.settings.master_key:
        return
    path = _key_file(core)
    write_key_file(path, [core.keyring.primary])
    core.keyring = Keyring([core.keyring.primary], source=str(path))
