"""Conversation state, encrypted (it may hold a half-typed answer)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Table, Update, bindparam, delete, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from core.storage.repositories.keys import DataKeys
from core.storage.tables import ConversationRow

__all__ = ["ConversationRepository"]


class ConversationRepository:
    """A row loaded in this transaction is kept for its save (no second read)."""

    def __init__(self, session: AsyncSession, keys: DataKeys) -> None:
        self._session = session
        self._keys = keys
        self._rows: dict[str, ConversationRow | None] = {}

    def forget(self) -> None:
        self._rows.clear()

    def adopt(self, customer_ref: str, row: ConversationRow | None) -> None:
        """The row (or its absence) as read with the customer, unless already known."""
        self._rows.setdefault(customer_ref, row)

    async def load(self, customer_ref: str) -> dict[str, Any]:
        row = await self._row(customer_ref)
        if row is None:
            return {}
        cipher = await self._keys.cipher(customer_ref)
        state = json.loads(cipher.decrypt("conversation", row.state_enc) or "{}")
        return state if isinstance(state, dict) else {}

    async def save(self, customer_ref: str, state: dict[str, Any], at: datetime) -> None:
        cipher = await self._keys.cipher(customer_ref)
        blob = cipher.encrypt("conversation", json.dumps(state, ensure_ascii=False))
        assert blob is not None
        row = await self._row(customer_ref)
        if row is None:
            row = ConversationRow(customer_ref=customer_ref, state_enc=blob, updated_at=at)
            self._session.add(row)
            self._rows[customer_ref] = row
            await self._session.flush()
            return
        # One Core UPDATE (the ORM's flush costs more than the statement); the kept row
        # takes the values as if loaded, so it stays what the database holds.
        await self._session.execute(_UPDATE, {"ref": customer_ref, "state": blob, "at": at})
        set_committed_value(row, "state_enc", blob)
        set_committed_value(row, "updated_at", at)

    async def clear(self, customer_ref: str) -> None:
        self._rows[customer_ref] = None
        await self._session.execute(
            delete(ConversationRow).where(ConversationRow.customer_ref == customer_ref)
        )

    async def _row(self, customer_ref: str) -> ConversationRow | None:
        if customer_ref not in self._rows:
            self._rows[customer_ref] = await self._session.get(ConversationRow, customer_ref)
        return self._rows[customer_ref]


def _update() -> Update:
    table = ConversationRow.__table__
    assert isinstance(table, Table)
    return (
        update(table)
        .where(table.c.customer_ref == bindparam("ref"))
        .values(state_enc=bindparam("state"), updated_at=bindparam("at"))
    )


_UPDATE = _update()
