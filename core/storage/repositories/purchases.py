"""Purchases; items are encrypted, the invoice facts stay for the legal period."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.domain.purchase import Purchase, PurchaseItem
from core.storage.repositories.keys import DataKeys, recrypt
from core.storage.tables import PurchaseRow

__all__ = ["PurchaseRepository"]


class PurchaseRepository:
    def __init__(self, session: AsyncSession, keys: DataKeys) -> None:
        self._session = session
        self._keys = keys

    async def exists(self, order_id: str) -> bool:
        found = await self._session.scalar(
            select(PurchaseRow.id).where(PurchaseRow.order_id == order_id)
        )
        return found is not None

    async def purchased_at(self, order_id: str) -> datetime | None:
        return await self._session.scalar(
            select(PurchaseRow.purchased_at).where(PurchaseRow.order_id == order_id)
        )

    async def add(self, purchase: Purchase, *, pseudonym: str, received_at: datetime) -> None:
        cipher = await self._keys.cipher(purchase.customer_ref)
        items = [
            {"sku": i.sku, "name": i.name, "quantity": i.quantity, "price": str(i.price)}
            for i in purchase.items
        ]
        self._session.add(
            PurchaseRow(
                order_id=purchase.order_id,
                customer_ref=purchase.customer_ref,
                pseudonym=pseudonym,
                purchased_at=purchase.purchased_at,
                total=str(purchase.total),
                currency=purchase.currency,
                items_enc=cipher.encrypt("items", json.dumps(items, ensure_ascii=False)),
                received_at=received_at,
            )
        )
        await self._session.flush()

    async def for_customer(self, customer_ref: str, batch: int = 1000) -> AsyncIterator[Purchase]:
        """Stream a customer's purchases in batches, oldest first."""
        cipher = await self._keys.cipher(customer_ref)
        last_id = 0
        while True:
            rows = list(
                await self._session.scalars(
                    select(PurchaseRow)
                    .where(PurchaseRow.customer_ref == customer_ref, PurchaseRow.id > last_id)
                    .order_by(PurchaseRow.id)
                    .limit(batch)
                )
            )
            for row in rows:
                items = json.loads(cipher.decrypt("items", row.items_enc) or "[]")
                yield Purchase(
                    order_id=row.order_id,
                    customer_ref=customer_ref,
                    purchased_at=row.purchased_at,
                    total=Decimal(row.total),
                    currency=row.currency,
                    items=tuple(
                        PurchaseItem(i["sku"], i["name"], int(i["quantity"]), Decimal(i["price"]))
                        for i in items
                    ),
                )
            if len(rows) < batch:
                return
            last_id = rows[-1].id

    async def pseudonymise(self, customer_ref: str) -> int:
        """Keep the invoice facts (order, date, total) for the legal hold; drop the rest."""
        result = await self._session.execute(
            update(PurchaseRow)
            .where(PurchaseRow.customer_ref == customer_ref)
            .values(customer_ref=None, items_enc=None)
        )
        return int(getattr(result, "rowcount", 0))

    async def reassign(self, source: str, target: str, batch: int = 500) -> int:
        """A merge: re-encrypt the source's purchases under the target's key, a batch at
        a time."""
        old, new = await self._keys.cipher(source), await self._keys.cipher(target)
        moved = 0
        while True:
            rows = list(
                await self._session.scalars(
                    select(PurchaseRow).where(PurchaseRow.customer_ref == source).limit(batch)
                )
            )
            for row in rows:
                row.items_enc = recrypt(old, new, "items", row.items_enc)
                row.customer_ref = target
            await self._session.flush()
            moved += len(rows)
            if len(rows) < batch:
                return moved
