"""Storage for the data-rights use cases: inventories, erasure, suppression, merges.

Everything here works on one customer's rows inside the unit of work's
transaction; nothing commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.crypto import BlindIndexer, FieldCipher
from core.domain.requests import Delivery
from core.storage.repositories.keys import KeyStore
from core.storage.tables import (
    ConsentRow,
    ConversationRow,
    DataKeyRow,
    DataRequestRow,
    IdentityRow,
    PurchaseRow,
    SuppressionRow,
    SurveyAnswerRow,
)
from core.storage.tables_rights import PendingChangeRow

__all__ = ["Holdings", "RightsRepository"]


@dataclass(frozen=True)
class Holdings:
    """How much of each kind of record the shop holds, and since when (no values)."""

    identities: int
    purchases: int
    first_purchase: datetime | None
    answers: int
    first_answer: datetime | None
    consents: int
    first_consent: datetime | None
    has_conversation: bool


class RightsRepository:
    def __init__(self, session: AsyncSession, keys: KeyStore, indexer: BlindIndexer) -> None:
        self._session = session
        self._keys = keys
        self._indexer = indexer

    # --- what the shop holds -------------------------------------------------------

    async def holdings(self, customer_ref: str) -> Holdings:
        purchases, first_purchase = await self._count(
            PurchaseRow, PurchaseRow.purchased_at, ref=customer_ref
        )
        answers, first_answer = await self._count(
            SurveyAnswerRow, SurveyAnswerRow.answered_at, ref=customer_ref
        )
        consents, first_consent = await self._count(
            ConsentRow, ConsentRow.decided_at, ref=customer_ref
        )
        identities = await self._session.scalar(
            select(func.count())
            .select_from(IdentityRow)
            .where(IdentityRow.customer_ref == customer_ref)
        )
        conversation = await self._session.get(ConversationRow, customer_ref)
        return Holdings(
            identities=int(identities or 0),
            purchases=purchases,
            first_purchase=first_purchase,
            answers=answers,
            first_answer=first_answer,
            consents=consents,
            first_consent=first_consent,
            has_conversation=conversation is not None,
        )

    async def _count(
        self, table: type[PurchaseRow | SurveyAnswerRow | ConsentRow], at: object, *, ref: str
    ) -> tuple[int, datetime | None]:
        row = (
            await self._session.execute(
                select(func.count(), func.min(at)).where(table.customer_ref == ref)
            )
        ).one()
        first = row[1]
        if isinstance(first, datetime) and first.tzinfo is None:
            # func.min bypasses the column type on SQLite; the value is stored as UTC.
            first = first.replace(tzinfo=UTC)
        return int(row[0] or 0), first if isinstance(first, datetime) else None

    async def requests_since(
        self, customer_ref: str, kind: str, since: datetime, *, skip_uncertain: bool = False
    ) -> int:
        """Requests of ``kind`` received since ``since``; with ``skip_uncertain``, not
        those whose answer may never have arrived (delivery "uncertain")."""
        stmt = (
            select(func.count())
            .select_from(DataRequestRow)
            .where(
                DataRequestRow.customer_ref == customer_ref,
                DataRequestRow.kind == kind,
                DataRequestRow.received_at >= since,
            )
        )
        if skip_uncertain:
            stmt = stmt.where(
                or_(
                    DataRequestRow.delivery.is_(None),
                    DataRequestRow.delivery != Delivery.UNCERTAIN.value,
                )
            )
        found = await self._session.scalar(stmt)
        return int(found or 0)

    async def open_request_of(self, customer_ref: str, kind: str) -> str | None:
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

    # --- suppression --------------------------------------------------------------

    async def identity_blinds(self, customer_ref: str) -> list[tuple[str, str]]:
        rows = await self._session.execute(
            select(IdentityRow.kind, IdentityRow.blind).where(
                IdentityRow.customer_ref == customer_ref
            )
        )
        return [(str(kind), str(blind)) for kind, blind in rows]

    async def suppress(self, kind: str, blind: str, at: datetime) -> None:
        if await self._session.get(SuppressionRow, blind) is None:
            self._session.add(SuppressionRow(blind=blind, kind=kind, created_at=at))
            await self._session.flush()

    async def is_suppressed(self, kind: str, normalised: str) -> bool:
        blind = self._indexer.index(kind, normalised)
        return await self._session.get(SuppressionRow, blind) is not None

    # --- erasure ------------------------------------------------------------------

    async def key_exists(self, customer_ref: str) -> bool:
        return await self._session.get(DataKeyRow, customer_ref) is not None

    async def scrub_deleted(self) -> None:
        """On SQLite, zero deleted content in place instead of leaving it in free pages."""
        if self._is_sqlite():
            await self._session.execute(text("PRAGMA secure_delete=ON"))

    async def compact(self) -> None:
        """On SQLite, fold the write-ahead log back (best effort; readers may hold it).

        Pages written before the erasure (with the wrapped data key) live on in the
        -wal file until a checkpoint; truncating it removes those copies.
        """
        if not self._is_sqlite():
            return
        bind = self._session.bind
        assert isinstance(bind, AsyncEngine)
        async with bind.connect() as conn:
            raw = await conn.get_raw_connection()
            driver = raw.driver_connection
            if driver is not None:
                await driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _is_sqlite(self) -> bool:
        bind = self._session.bind
        return bind is not None and bind.dialect.name == "sqlite"

    async def pseudonymise_purchases(self, customer_ref: str) -> int:
        """Keep the invoice facts (order, date, total) for the legal hold; drop the rest."""
        result = await self._session.execute(
            update(PurchaseRow)
            .where(PurchaseRow.customer_ref == customer_ref)
            .values(customer_ref=None, items_enc=None)
        )
        return int(getattr(result, "rowcount", 0))

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

    # --- merging a phone-only customer into a Telegram one ------------------------

    async def move_purchases(self, source: str, target: str, batch: int = 500) -> int:
        """Re-encrypt the source's purchases under the target's key, a batch at a time."""
        old, new = await self._keys.cipher(source), await self._keys.cipher(target)
        moved = 0
        while True:
            rows = list(
                await self._session.scalars(
                    select(PurchaseRow).where(PurchaseRow.customer_ref == source).limit(batch)
                )
            )
            for row in rows:
                row.items_enc = _recrypt(old, new, "items", row.items_enc)
                row.customer_ref = target
            await self._session.flush()
            moved += len(rows)
            if len(rows) < batch:
                return moved

    async def move_answers(self, source: str, target: str) -> int:
        """Answers the target has not given themselves move over, re-encrypted."""
        old, new = await self._keys.cipher(source), await self._keys.cipher(target)
        mine = {
            (s, q)
            for s, q in await self._session.execute(
                select(SurveyAnswerRow.survey_id, SurveyAnswerRow.question_id).where(
                    SurveyAnswerRow.customer_ref == target
                )
            )
        }
        moved = 0
        for row in list(
            await self._session.scalars(
                select(SurveyAnswerRow).where(SurveyAnswerRow.customer_ref == source)
            )
        ):
            if (row.survey_id, row.question_id) in mine:
                continue
            blob = _recrypt(old, new, "survey_answer", row.value_enc)
            assert blob is not None
            row.value_enc, row.customer_ref = blob, target
            moved += 1
        await self._session.flush()
        return moved

    async def move_consents_and_requests(self, source: str, target: str) -> None:
        await self._session.execute(
            update(ConsentRow).where(ConsentRow.customer_ref == source).values(customer_ref=target)
        )
        await self._session.execute(
            update(DataRequestRow)
            .where(DataRequestRow.customer_ref == source)
            .values(customer_ref=target)
        )

    async def drop_identities(self, customer_ref: str) -> None:
        await self._session.execute(
            delete(IdentityRow).where(IdentityRow.customer_ref == customer_ref)
        )


def _recrypt(old: FieldCipher, new: FieldCipher, field: str, blob: bytes | None) -> bytes | None:
    return new.encrypt(field, old.decrypt(field, blob))
