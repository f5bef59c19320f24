"""The consent ledger: appended to, never updated."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from sqlalchemy import BindParameter, Select, Table, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.domain.consent import ConsentDecision, ConsentEntry, current_consents
from core.storage.tables import ConsentRow, CustomerRow

__all__ = ["ConsentRepository", "LedgerRow"]

LedgerRow = tuple[str, str, str, datetime]  # customer ref, purpose, decision, decided at


class ConsentRepository:
    """Current consent read in this transaction is kept, and kept up to date by
    :meth:`append`, so a tap reads it once."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._current: dict[str, dict[str, ConsentEntry]] = {}

    def forget(self) -> None:
        self._current.clear()

    async def append(self, entry: ConsentEntry) -> None:
        known = self._current.get(entry.customer_ref)
        if known is not None:
            known[entry.purpose] = entry  # the ledger's order is total: this is the newest
        # Core, not the ORM: a ledger entry is never read back as an object here.
        await self._session.execute(
            _INSERT,
            {
                "ref": entry.ref,
                "customer_ref": entry.customer_ref,
                "purpose": entry.purpose,
                "decision": entry.decision.value,
                "notice_version": entry.notice_version,
                "channel": entry.channel,
                "decided_at": entry.decided_at,
                "separately": entry.separately,
            },
        )

    async def reassign(self, source: str, target: str) -> None:
        """A merge: the source customer's consent ledger becomes the target's."""
        self._current.pop(source, None)
        self._current.pop(target, None)  # the newest per purpose may now be the source's
        await self._session.execute(
            update(ConsentRow).where(ConsentRow.customer_ref == source).values(customer_ref=target)
        )

    async def ledger(self, purposes: list[str]) -> list[LedgerRow]:
        """Every decision on ``purposes``, oldest first, without the notice or the channel
        (the desk's statistics count them: no personal field, no data key)."""
        rows = await self._session.execute(
            select(
                ConsentRow.customer_ref,
                ConsentRow.purpose,
                ConsentRow.decision,
                ConsentRow.decided_at,
            )
            .where(ConsentRow.purpose.in_(purposes))
            .order_by(ConsentRow.decided_at, ConsentRow.ref)
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    async def history(self, customer_ref: str) -> list[ConsentEntry]:
        rows = await self._session.scalars(
            select(ConsentRow)
            .where(ConsentRow.customer_ref == customer_ref)
            .order_by(ConsentRow.decided_at, ConsentRow.ref)
        )
        return [_entry(r) for r in rows]

    async def stream(
        self, *, purpose: str | None = None, batch: int = 2000
    ) -> AsyncIterator[tuple[ConsentEntry, str, str | None]]:
        """The whole ledger (or one purpose's) with each customer's language and
        jurisdiction, grouped by customer and purpose, oldest first within each; read in
        batches, never all at once."""
        stmt = (
            select(ConsentRow, CustomerRow.language, CustomerRow.jurisdiction)
            .outerjoin(CustomerRow, CustomerRow.ref == ConsentRow.customer_ref)
            .order_by(
                ConsentRow.customer_ref, ConsentRow.purpose, ConsentRow.decided_at, ConsentRow.ref
            )
        )
        if purpose is not None:
            stmt = stmt.where(ConsentRow.purpose == purpose)
        result = await self._session.stream(stmt.execution_options(yield_per=batch))
        async for row, language, jurisdiction in result:
            yield _entry(row), language or "en", jurisdiction

    async def count(self, purpose: str | None = None) -> int:
        stmt = select(func.count()).select_from(ConsentRow)
        if purpose is not None:
            stmt = stmt.where(ConsentRow.purpose == purpose)
        return int(await self._session.scalar(stmt) or 0)

    async def latest(self, customer_ref: str) -> ConsentEntry | None:
        known = self._current.get(customer_ref)
        if known is not None:  # the newest entry is the newest of its purpose
            return max(known.values(), key=lambda e: e.decided_at, default=None)
        row = await self._session.scalar(
            select(ConsentRow)
            .where(ConsentRow.customer_ref == customer_ref)
            .order_by(ConsentRow.decided_at.desc())
            .limit(1)
        )
        return None if row is None else _entry(row)

    async def current(self, customer_ref: str) -> dict[str, ConsentEntry]:
        """The latest decision per purpose, without reading the whole ledger."""
        if customer_ref not in self._current:
            self._current[customer_ref] = await self._read_current(customer_ref)
        return dict(self._current[customer_ref])

    async def _read_current(self, customer_ref: str) -> dict[str, ConsentEntry]:
        rows = await self._session.execute(_CURRENT, {"customer": customer_ref})
        return current_consents(
            ConsentEntry(
                ref, customer, purpose, ConsentDecision(decision), notice, channel, at, alone
            )
            for ref, customer, purpose, decision, notice, channel, at, alone in rows
        )


def _current_statement() -> Select[str, str, str, str, str, str, datetime, str | None]:
    """The newest entry per purpose, as plain columns (no ORM rows on the hot path).
    Built once: building a statement costs more than running it."""
    customer: BindParameter[str] = bindparam("customer")
    newest = (
        select(ConsentRow.purpose, func.max(ConsentRow.decided_at).label("at"))
        .where(ConsentRow.customer_ref == customer)
        .group_by(ConsentRow.purpose)
        .subquery()
    )
    c = _TABLE.c
    return (
        select(
            c.ref,
            c.customer_ref,
            c.purpose,
            c.decision,
            c.notice_version,
            c.channel,
            c.decided_at,
            c.separately,
        )
        .join(newest, (c.purpose == newest.c.purpose) & (c.decided_at == newest.c.at))
        .where(c.customer_ref == customer)
    )


def _entry(r: ConsentRow) -> ConsentEntry:
    return ConsentEntry(
        ref=r.ref,
        customer_ref=r.customer_ref,
        purpose=r.purpose,
        decision=ConsentDecision(r.decision),
        notice_version=r.notice_version,
        channel=r.channel,
        decided_at=r.decided_at,
        separately=r.separately,
    )


def _table() -> Table:
    table = ConsentRow.__table__
    assert isinstance(table, Table)
    return table


_TABLE = _table()
_CURRENT = _current_statement()
_INSERT = insert(_TABLE)
