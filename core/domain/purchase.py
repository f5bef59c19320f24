"""Purchases reported by the shop's order system (transaction category)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

__all__ = ["Purchase", "PurchaseItem"]


@dataclass(frozen=True)
class PurchaseItem:
    sku: str
    name: str
    quantity: int
    price: Decimal


@dataclass(frozen=True)
class Purchase:
    order_id: str
    customer_ref: str
    purchased_at: datetime
    total: Decimal
    currency: str
    items: tuple[PurchaseItem, ...]
