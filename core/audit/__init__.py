"""The tamper-evident audit log: entries, their hash chain and its verification."""

from __future__ import annotations

from core.audit.chain import (
    CHAIN_VERSION,
    GENESIS_HASH,
    RECORD_SEP,
    AuditEntry,
    ChainVerifier,
    Outcome,
    StoredEntry,
    VerifyResult,
    at_text,
    details_text,
    entry_hash,
    entry_message,
    verify_chain,
)

__all__ = [
    "CHAIN_VERSION",
    "GENESIS_HASH",
    "RECORD_SEP",
    "AuditEntry",
    "ChainVerifier",
    "Outcome",
    "StoredEntry",
    "VerifyResult",
    "at_text",
    "details_text",
    "entry_hash",
    "entry_message",
    "verify_chain",
]
