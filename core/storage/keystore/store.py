"""The key store's interface: small, so a KMS or Vault can take the SQL store's place."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = ["Erased", "KeyStore"]


@dataclass(frozen=True)
class Erased:
    """An erasure journal entry: pseudonymous (a customer ref and a time, nothing else)."""

    seq: int
    customer_ref: str
    at: datetime


class KeyStore(Protocol):
    """Customers' data keys (as plain secrets at this boundary: how they are kept,
    wrapped by a master key or held by a KMS, is the store's business).

    Each call is its own transaction in the store. Writes are idempotent, so the
    unit of work can write them before it commits the main database and a retry
    after a failure between the two changes nothing twice.
    """

    where: str  # for messages: a path or a URL without its password

    async def fetch(self, refs: Collection[str]) -> dict[str, bytes]:
        """The keys held for ``refs`` (absent: never made, or destroyed)."""
        ...

    async def store(self, keys: Mapping[str, bytes]) -> None:
        """Keep new keys; a ref already held keeps the key it has."""
        ...

    async def erase(self, refs: Collection[str], at: datetime) -> None:
        """Destroy the keys and journal the erasures, in one transaction."""
        ...

    async def discard(self, refs: Collection[str]) -> None:
        """Destroy keys whose data moved elsewhere (a merge): not an erasure."""
        ...

    async def erased_after(self, seq: int, limit: int) -> list[Erased]:
        """Journal entries after ``seq``, oldest first."""
        ...

    async def erased_among(self, refs: Collection[str]) -> set[str]:
        """Which of ``refs`` the journal holds as erased."""
        ...

    async def count(self) -> int:
        """How many keys the store holds."""
        ...

    async def bound_to(self) -> str | None:
        """The id of the main database these keys belong to (None: not bound yet)."""
        ...

    async def bind(self, database_id: str) -> None: ...

    async def pending_rewrap(self) -> int:
        """Keys not yet wrapped by the newest master key (a KMS answers 0)."""
        ...

    async def rewrap(self, limit: int) -> int:
        """Rewrap up to ``limit`` of them under the newest master key; how many."""
        ...

    async def master_kids(self) -> set[str]:
        """The master keys any stored key is wrapped by (hex ids)."""
        ...

    async def close(self) -> None: ...
