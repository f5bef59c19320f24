"""The tamper-evident audit log: entries, their hash chain and its verification."""

from __future__ import annotations

from core.audit.chain import (
    GENESIS_HASH,
    AuditEntry,
    ChainVerifier,
    Outcome,
    VerifyResult,
    entry_hash,
    verify_chain,
)

__all__ = [
    "GENESIS_HASH",
    "AuditEntry",
    "ChainVerifier",
    "Outcome",
    "VerifyResult",
    "entry_hash",
    "verify_chain",
]
