"""Staff members, their roles, and each one's place in the desk's dialogs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.domain.staff import Role, Staff
from core.storage.tables import StaffConversationRow, StaffRow

__all__ = ["StaffRepository"]


class StaffRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, telegram_id: int) -> Staff | None:
        row = await self._session.get(StaffRow, telegram_id)
        return None if row is None else Staff(row.telegram_id, Role(row.role), row.added_at)

    async def put(self, staff: Staff) -> None:
        row = await self._session.get(StaffRow, staff.telegram_id)
        if row is None:
            self._session.add(
                StaffRow(
                    telegram_id=staff.telegram_id, role=staff.role.value, added_at=staff.added_at
                )
            )
        else:
            row.role = staff.role.value
        await self._session.flush()

    async def remove(self, telegram_id: int) -> bool:
        result = await self._session.execute(
            delete(StaffRow).where(StaffRow.telegram_id == telegram_id)
        )
        return bool(getattr(result, "rowcount", 0))

    async def all(self) -> list[Staff]:
        rows = await self._session.scalars(select(StaffRow).order_by(StaffRow.telegram_id))
        return [Staff(r.telegram_id, Role(r.role), r.added_at) for r in rows]

    # --- the desk's dialog state (references only, never personal data) ----------

    async def load_state(self, telegram_id: int) -> dict[str, Any]:
        row = await self._session.get(StaffConversationRow, telegram_id)
        return dict(row.state) if row is not None and isinstance(row.state, dict) else {}

    async def save_state(self, telegram_id: int, state: dict[str, Any], at: datetime) -> None:
        row = await self._session.get(StaffConversationRow, telegram_id)
        if row is None:
            self._session.add(
                StaffConversationRow(telegram_id=telegram_id, state=state, updated_at=at)
            )
        else:
            row.state, row.updated_at = dict(state), at
        await self._session.flush()

    async def clear_state(self, telegram_id: int) -> None:
        await self._session.execute(
            delete(StaffConversationRow).where(StaffConversationRow.telegram_id == telegram_id)
        )
