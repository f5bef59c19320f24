"""Customers' data keys as one unit of work sees them: read once, written at its commit.

The keys live in the key store, apart from the database. New keys and erasures
are held here and written to the key store just before the database commits
(:meth:`DataKeys.write`): so no committed row ever lacks its key, and an erasure
is final in the key store even if the database's commit then fails (the job
resumes it, and every start re-applies the erasure journal). Keys of a merged
record, whose data moved to another customer, are discarded only after the
database's commit (:meth:`DataKeys.tidy`): until then the data is theirs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from core.crypto import DataKey, FieldCipher, new_data_key
from core.errors import DataShredded
from core.storage.keystore import KeyStore

__all__ = ["DataKeys", "recrypt"]


@dataclass
class _Pending:
    new: dict[str, bytes] = field(default_factory=dict)
    erased: set[str] = field(default_factory=set)
    discarded: set[str] = field(default_factory=set)

    def copy(self) -> _Pending:
        return _Pending(dict(self.new), set(self.erased), set(self.discarded))


class DataKeys:
    def __init__(self, store: KeyStore) -> None:
        self._store = store
        self._ciphers: dict[str, FieldCipher] = {}
        self._pending = _Pending()

    async def create(self, customer_ref: str) -> FieldCipher:
        key = new_data_key(customer_ref)
        self._pending.new[customer_ref] = key.secret
        self._ciphers[customer_ref] = FieldCipher(key)
        return self._ciphers[customer_ref]

    async def find(self, customer_ref: str) -> FieldCipher | None:
        """The customer's cipher, or None when their key no longer exists."""
        if customer_ref in self._pending.erased:
            return None
        known = self._ciphers.get(customer_ref)
        if known is None:
            secret = (await self._store.fetch([customer_ref])).get(customer_ref)
            if secret is None:
                return None
            known = self._ciphers[customer_ref] = FieldCipher(DataKey(customer_ref, secret))
        return known

    async def cipher(self, customer_ref: str) -> FieldCipher:
        found = await self.find(customer_ref)
        if found is None:
            raise DataShredded("this customer's data key no longer exists")
        return found

    async def exists(self, customer_ref: str) -> bool:
        return await self.find(customer_ref) is not None

    def shred(self, customer_ref: str) -> None:
        """Erase: destroy the key and journal it; every ciphertext of theirs, in the
        database and in every copy of it, becomes noise."""
        self._ciphers.pop(customer_ref, None)
        self._pending.new.pop(customer_ref, None)
        self._pending.erased.add(customer_ref)

    def discard(self, customer_ref: str) -> None:
        """Destroy the key of a record whose data moved to another customer (a merge)."""
        self._ciphers.pop(customer_ref, None)
        self._pending.discarded.add(customer_ref)

    async def write(self, at: datetime) -> None:
        """Before the database commits: new keys first, then erasures."""
        pending = self._pending
        await self._store.store(pending.new)
        pending.new = {}
        await self._store.erase(pending.erased, at)
        pending.erased = set()

    async def tidy(self) -> None:
        """After the database committed."""
        discarded, self._pending.discarded = self._pending.discarded, set()
        await self._store.discard(discarded)

    def drop(self) -> None:
        """The transaction rolled back: nothing it meant to write is written."""
        for ref in self._pending.new:
            self._ciphers.pop(ref, None)
        self._pending = _Pending()

    def mark(self) -> _Pending:
        return self._pending.copy()

    def rewind(self, mark: _Pending) -> None:
        """A savepoint rolled back: forget what was asked after ``mark``."""
        for ref in self._pending.new.keys() - mark.new.keys():
            self._ciphers.pop(ref, None)
        self._pending = mark


def recrypt(old: FieldCipher, new: FieldCipher, field: str, blob: bytes | None) -> bytes | None:
    """A field's ciphertext under ``old`` re-encrypted under ``new`` (a merge)."""
    return new.encrypt(field, old.decrypt(field, blob))
