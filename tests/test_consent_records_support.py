"""Ledger entries for the consent-record tests that need no database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from core.domain.consent import ConsentDecision, ConsentEntry

__all__ = ["entries"]


def entries() -> Iterator[ConsentEntry]:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    for n, (who, decision) in enumerate(
        [("c-a", "withdrawn"), ("c-a2", "given"), ("c-b", "given"), ("c-b", "withdrawn")]
    ):
        yield ConsentEntry(
            f"e{n}", who, "marketing", ConsentDecision(decision), "2026-11", "telegram", at
        )
