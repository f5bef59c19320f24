"""Use cases: verify the audit chain, show its tail."""

from __future__ import annotations

from core.audit import AuditEntry, ChainVerifier, VerifyResult
from core.storage import UnitOfWork

__all__ = ["audit_tail", "verify_audit"]


async def verify_audit(uow: UnitOfWork) -> VerifyResult:
    """Check the whole log in sequence order, in constant memory.

    Runs of entries go through the verifier's fast path (the database lays out the
    bytes each hash covers); a run it declines (version 1 entries, or something is
    wrong) is checked entry by entry, which names the first problem, if any.
    """
    verifier = ChainVerifier(uow.audit.chain_key)
    after = 0
    while (declined := await uow.audit.check_runs(verifier.check_run, after)) is not None:
        for entry in await uow.audit.stored_between(declined.after, declined.last):
            problem = verifier.check(entry)
            if problem is None:
                continue
            if verifier.is_link_break(problem):
                return verifier.explain_link(entry, await uow.audit.seq_of_hash(entry.prev_hash))
            return problem
        after = declined.last
    return verifier.result(await uow.audit.head())


async def audit_tail(n: int, uow: UnitOfWork) -> list[AuditEntry]:
    return await uow.audit.tail(max(1, n))
