"""The five kinds of customer data the shop holds (the seed's four, contact split out)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["DataCategory"]


class DataCategory(StrEnum):
    IDENTITY = "identity"
    CONTACT = "contact"
    BEHAVIOUR = "behaviour"
    TRANSACTION = "transaction"
    PREFERENCE = "preference"
