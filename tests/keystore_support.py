"""Looking into the stores as an attacker with a copy of their files would."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import make_url, select
from sqlalchemy.ext.asyncio import create_async_engine

from bot.background.rights_jobs import RightsJobs
from bot.outbound import Outbound
from core.app import PrivacyCore
from core.errors import DataShredded, NotFound
from core.services import verify_audit
from core.services.desk.lookup import Lookup, Reveal, lookup_customer, reveal_customer
from core.services.rights.erasure import RequestErasure, request_erasure
from core.services.rights.export import RequestExport, request_export
from core.storage.keystore.tables import data_keys
from tests.outbound_support import RecordingSender
from tests.rights_helpers import approve, make_jobs_due

__all__ = ["assert_nothing_readable", "erase", "file_bytes", "sqlite_files", "wrapped_key"]


async def wrapped_key(core: PrivacyCore, ref: str) -> bytes | None:
    """The customer's data key as the key store holds it (wrapped)."""
    engine = create_async_engine(core.settings.key_store_url())
    try:
        async with engine.connect() as conn:
            return await conn.scalar(
                select(data_keys.c.wrapped).where(data_keys.c.customer_ref == ref)
            )
    finally:
        await engine.dispose()


def sqlite_files(url: str) -> list[Path]:
    """A SQLite database's file and whatever journal or log lies beside it."""
    path = Path(str(make_url(url).database))
    suffixes = ("", "-wal", "-journal", "-shm")
    return [p for s in suffixes if (p := path.with_name(path.name + s)).exists()]


def file_bytes(core: PrivacyCore) -> bytes:
    """Every byte of the main database's and the key store's files (SQLite)."""
    urls = (core.settings.database_url, core.settings.key_store_url())
    return b"".join(p.read_bytes() for url in urls for p in sqlite_files(url))


async def erase(core: PrivacyCore, ref: str) -> None:
    """The customer's erasure, as the shipped policy runs it: asked, approved, carried out."""
    async with core.uow() as uow:
        request, _ = await request_erasure(RequestErasure(ref), uow)
        await uow.commit()
    await approve(core, request.ref)
    await make_jobs_due(core)
    await RightsJobs(core, Outbound(RecordingSender()), None).run_due(("erasure",))


async def assert_nothing_readable(core: PrivacyCore, ref: str, email: str) -> None:
    """Staff look-up, reveal and export find nothing of the customer; the audit log holds."""
    async with core.uow() as uow:
        assert not await uow.customers.exists(ref)
        found = await lookup_customer(Lookup(None, email, "backup check"), uow)
        assert found.customer_ref is None
        with pytest.raises(NotFound):
            await reveal_customer(Reveal(None, ref, "backup check"), uow)
        with pytest.raises((NotFound, DataShredded)):
            await request_export(RequestExport(ref), uow)
        assert (await verify_audit(uow)).ok
