"""Use cases: verify the audit chain, show its tail."""

from __future__ import annotations

from core.audit import AuditEntry, ChainVerifier, VerifyResult
from core.storage import UnitOfWork

__all__ = ["audit_tail", "verify_audit"]


async def verify_audit(uow: UnitOfWork) -> VerifyResult:
    """Stream the whole log through the verifier (memory stays flat)."""
    verifier = ChainVerifier(uow.audit.chain_key)
    async for entry in uow.audit.stream():
        problem = verifier.check(entry)
        if problem is None:
            continue
        if verifier.is_link_break(problem):
            return verifier.explain_link(entry, await uow.audit.seq_of_hash(entry.prev_hash))
        return problem
    return verifier.result(await uow.audit.head())


async def audit_tail(n: int, uow: UnitOfWork) -> list[AuditEntry]:
    return await uow.audit.tail(max(1, n))
