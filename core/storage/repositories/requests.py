"""Data subject requests: pseudonymous rows (kept as proof after an erasure)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.domain.requests import DataRequest, RequestKind, RequestState
from core.errors import NotFound
from core.storage.tables import DataRequestRow

__all__ = ["RequestRepository"]

_OPEN = [RequestState.RECEIVED, RequestState.VERIFYING, RequestState.IN_PROGRESS]


class RequestRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, request: DataRequest) -> None:
        row = DataRequestRow(ref=request.ref, confirmations={})
        self._write(row, request)
        self._session.add(row)
        await self._session.flush()

    async def get(self, ref: str, *, lock: bool = False) -> DataRequest:
        row = await self._session.get(DataRequestRow, ref, with_for_update=lock)
        if row is None:
            raise NotFound("no such request", code="no_request")
        return self._read(row)

    async def save(self, request: DataRequest) -> None:
        row = await self._session.get(DataRequestRow, request.ref)
        if row is None:
            raise NotFound("no such request", code="no_request")
        self._write(row, request)
        await self._session.flush()

    async def for_customer(self, customer_ref: str) -> list[DataRequest]:
        rows = await self._session.scalars(
            select(DataRequestRow)
            .where(DataRequestRow.customer_ref == customer_ref)
            .order_by(DataRequestRow.received_at)
        )
        return [self._read(r) for r in rows]

    async def open_requests(self, *, limit: int = 1000, offset: int = 0) -> list[DataRequest]:
        rows = await self._session.scalars(
            select(DataRequestRow)
            .where(DataRequestRow.state.in_([s.value for s in _OPEN]))
            .order_by(DataRequestRow.due_at, DataRequestRow.ref)
            .offset(offset)
            .limit(limit)
        )
        return [self._read(r) for r in rows]

    async def all(self) -> list[DataRequest]:
        rows = await self._session.scalars(
            select(DataRequestRow).order_by(DataRequestRow.received_at)
        )
        return [self._read(r) for r in rows]

    async def confirm(self, ref: str, system: str, at: datetime) -> None:
        row = await self._session.get(DataRequestRow, ref, with_for_update=True)
        if row is None:
            raise NotFound("no such request", code="no_request")
        row.confirmations = {**row.confirmations, system: at.isoformat()}
        await self._session.flush()

    async def confirmations(self, ref: str) -> dict[str, str]:
        row = await self._session.get(DataRequestRow, ref)
        return {} if row is None else dict(row.confirmations)

    async def delivery(self, ref: str) -> str | None:
        """Where a background delivery of this request's answer stands: None (not
        tried, or certainly not delivered), "sending" or "uncertain"."""
        return await self._session.scalar(
            select(DataRequestRow.delivery).where(DataRequestRow.ref == ref)
        )

    async def set_delivery(self, ref: str, delivery: str | None) -> None:
        row = await self._session.get(DataRequestRow, ref, with_for_update=True)
        if row is None:
            raise NotFound("no such request", code="no_request")
        row.delivery = delivery
        await self._session.flush()

    @staticmethod
    def _write(row: DataRequestRow, r: DataRequest) -> None:
        row.customer_ref = r.customer_ref
        row.kind = r.kind.value
        row.jurisdiction = r.jurisdiction
        row.state = r.state.value
        row.received_at = r.received_at
        row.due_at = r.due_at
        row.extended = r.extended
        row.history = [[at.isoformat(), state.value, note] for at, state, note in r.history]
        if r.state.closed and row.closed_at is None:
            row.closed_at = r.history[-1][0] if r.history else r.received_at

    @staticmethod
    def _read(row: DataRequestRow) -> DataRequest:
        history = [
            (datetime.fromisoformat(str(at)), RequestState(str(state)), note)
            for at, state, note in row.history
        ]
        return DataRequest(
            ref=row.ref,
            customer_ref=row.customer_ref,
            kind=RequestKind(row.kind),
            jurisdiction=row.jurisdiction,
            received_at=row.received_at,
            due_at=row.due_at,
            state=RequestState(row.state),
            extended=row.extended,
            history=history,
        )
