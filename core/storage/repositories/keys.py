"""Customers' data keys: created on first use, unwrapped once per unit of work, shredded."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.crypto import DataKey, FieldCipher, Keyring, new_data_key
from core.errors import DataShredded
from core.storage.tables import DataKeyRow

__all__ = ["KeyStore", "recrypt"]


class KeyStore:
    def __init__(self, session: AsyncSession, keyring: Keyring) -> None:
        self._session = session
        self._keyring = keyring
        self._ciphers: dict[str, FieldCipher] = {}

    async def create(self, customer_ref: str) -> FieldCipher:
        key = new_data_key(customer_ref)
        self._session.add(
            DataKeyRow(
                customer_ref=customer_ref,
                wrapped=self._keyring.wrap(key.secret),
                master_kid=self._keyring.primary.kid_hex,
            )
        )
        self._ciphers[customer_ref] = FieldCipher(key)
        return self._ciphers[customer_ref]

    def adopt(self, customer_ref: str, wrapped: bytes) -> FieldCipher:
        """The cipher of a key read with another row (unwrapped once per unit of work)."""
        if customer_ref not in self._ciphers:
            secret = self._keyring.unwrap(wrapped)
            self._ciphers[customer_ref] = FieldCipher(DataKey(customer_ref, secret))
        return self._ciphers[customer_ref]

    async def cipher(self, customer_ref: str) -> FieldCipher:
        known = self._ciphers.get(customer_ref)
        if known is not None:
            return known
        row = await self._session.get(DataKeyRow, customer_ref)
        if row is None:
            raise DataShredded("this customer's data key no longer exists")
        return self.adopt(customer_ref, row.wrapped)

    async def exists(self, customer_ref: str) -> bool:
        return await self._session.get(DataKeyRow, customer_ref) is not None

    async def shred(self, customer_ref: str) -> bool:
        """Destroy the key; every ciphertext of this customer becomes noise."""
        self._ciphers.pop(customer_ref, None)
        result = await self._session.execute(
            delete(DataKeyRow).where(DataKeyRow.customer_ref == customer_ref)
        )
        return bool(getattr(result, "rowcount", 0))

    async def refs_not_wrapped_by(self, kid: str, limit: int) -> list[str]:
        rows = await self._session.scalars(
            select(DataKeyRow.customer_ref).where(DataKeyRow.master_kid != kid).limit(limit)
        )
        return list(rows)

    async def rewrap(self, customer_ref: str) -> None:
        row = await self._session.get(DataKeyRow, customer_ref, with_for_update=True)
        if row is None or row.master_kid == self._keyring.primary.kid_hex:
            return
        row.wrapped = self._keyring.wrap(self._keyring.unwrap(row.wrapped))
        row.master_kid = self._keyring.primary.kid_hex


def recrypt(old: FieldCipher, new: FieldCipher, field: str, blob: bytes | None) -> bytes | None:
    """A field's ciphertext under ``old`` re-encrypted under ``new`` (a merge)."""
    return new.encrypt(field, old.decrypt(field, blob))
