"""Data subject requests: pseudonymous rows (kept as proof after an erasure), and the
corrections waiting for a request's approval (encrypted with the customer's key)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.domain.requests import DataRequest, Delivery, RequestKind, RequestState
from core.errors import NotFound
from core.storage.repositories.keys import DataKeys
from core.storage.tables import DataRequestRow, PendingChangeRow, RequestAnswerRow

__all__ = ["RequestFacts", "RequestRepository"]

RequestFacts = tuple[str, datetime, datetime | None]  # state, due at, closed at

_OPEN = [RequestState.RECEIVED, RequestState.VERIFYING, RequestState.IN_PROGRESS]


class RequestRepository:
    def __init__(self, session: AsyncSession, keys: DataKeys) -> None:
        self._session = session
        self._keys = keys

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

    async def received_since(
        self,
        customer_ref: str,
        kind: str,
        since: datetime,
        *,
        skip_uncertain: bool = False,
        details: tuple[str, ...] | None = None,
    ) -> list[datetime]:
        """When each request of ``kind`` since ``since`` came, oldest first; with
        ``skip_uncertain``, not those whose answer may never have arrived; with
        ``details``, only those about these fields."""
        stmt = (
            select(DataRequestRow.received_at)
            .order_by(DataRequestRow.received_at)
            .where(
                DataRequestRow.customer_ref == customer_ref,
                DataRequestRow.kind == kind,
                DataRequestRow.received_at >= since,
            )
        )
        if details is not None:
            stmt = stmt.where(DataRequestRow.detail.in_(details))
        if skip_uncertain:
            stmt = stmt.where(
                or_(
                    DataRequestRow.delivery.is_(None),
                    DataRequestRow.delivery != Delivery.UNCERTAIN.value,
                )
            )
        return list(await self._session.scalars(stmt))

    async def open_of(self, customer_ref: str, kind: str) -> str | None:
        return await self._session.scalar(
            select(DataRequestRow.ref)
            .where(
                DataRequestRow.customer_ref == customer_ref,
                DataRequestRow.kind == kind,
                DataRequestRow.state.in_(["received", "verifying", "in_progress"]),
            )
            .limit(1)
        )

    async def acknowledge(self, request_ref: str, at: datetime) -> None:
        await self._session.execute(
            update(DataRequestRow)
            .where(DataRequestRow.ref == request_ref, DataRequestRow.acknowledged_at.is_(None))
            .values(acknowledged_at=at)
        )

    async def reassign(self, source: str, target: str) -> None:
        """A merge: the source customer's requests become the target's."""
        await self._session.execute(
            update(DataRequestRow)
            .where(DataRequestRow.customer_ref == source)
            .values(customer_ref=target)
        )

    # --- corrections waiting for approval -----------------------------------------

    async def put_pending(
        self, request_ref: str, customer_ref: str, field: str, value: str, at: datetime
    ) -> None:
        cipher = await self._keys.cipher(customer_ref)
        blob = cipher.encrypt(f"pending.{field}", value)
        assert blob is not None
        self._session.add(
            PendingChangeRow(
                request_ref=request_ref,
                customer_ref=customer_ref,
                field=field,
                value_enc=blob,
                created_at=at,
            )
        )
        await self._session.flush()

    async def peek_pending(self, request_ref: str) -> tuple[str, str] | None:
        """The (field, value) waiting under this request, left in place."""
        row = await self._session.get(PendingChangeRow, request_ref)
        if row is None:
            return None
        cipher = await self._keys.cipher(row.customer_ref)
        return row.field, cipher.decrypt(f"pending.{row.field}", row.value_enc) or ""

    async def take_pending(self, request_ref: str) -> tuple[str, str] | None:
        """The (field, value) waiting under this request, removed from storage."""
        row = await self._session.get(PendingChangeRow, request_ref, with_for_update=True)
        if row is None:
            return None
        cipher = await self._keys.cipher(row.customer_ref)
        value = cipher.decrypt(f"pending.{row.field}", row.value_enc) or ""
        field = row.field
        await self._session.delete(row)
        await self._session.flush()
        return field, value

    # --- the customer's answers to the shop's questions ------------------------------

    async def add_answer(
        self, request_ref: str, customer_ref: str, text: str, at: datetime
    ) -> None:
        cipher = await self._keys.cipher(customer_ref)
        blob = cipher.encrypt("request.answer", text)
        assert blob is not None
        self._session.add(
            RequestAnswerRow(
                request_ref=request_ref, customer_ref=customer_ref, text_enc=blob, created_at=at
            )
        )
        await self._session.flush()

    async def answers(self, request_ref: str) -> list[tuple[datetime, str]]:
        """What the customer answered about this request, oldest first (gone once erased)."""
        rows = (
            await self._session.scalars(
                select(RequestAnswerRow)
                .where(RequestAnswerRow.request_ref == request_ref)
                .order_by(RequestAnswerRow.id)
            )
        ).all()
        found = []
        for row in rows:
            cipher = await self._keys.cipher(row.customer_ref)
            found.append((row.created_at, cipher.decrypt("request.answer", row.text_enc) or ""))
        return found

    async def facts(self) -> list[RequestFacts]:
        """Every request's state, due date and closing date (for the desk's statistics)."""
        rows = await self._session.execute(
            select(DataRequestRow.state, DataRequestRow.due_at, DataRequestRow.closed_at)
        )
        return [(r[0], r[1], r[2]) for r in rows]

    @staticmethod
    def _write(row: DataRequestRow, r: DataRequest) -> None:
        row.customer_ref = r.customer_ref
        row.kind = r.kind.value
        row.jurisdiction = r.jurisdiction
        row.state = r.state.value
        row.received_at = r.received_at
        row.due_at = r.due_at
        row.extended = r.extended
        row.detail = r.detail
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
            detail=row.detail,
        )
