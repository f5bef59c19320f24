"""The unit of work: one transaction, rolled back unless explicitly committed.

The entry point (a turn, a job step, a CLI command, an HTTP call) opens it and
commits it once; use cases take it and never commit. Two exceptions, both named
where they happen: a job step commits an at-most-once "sending" marker before
its network send, and a refusal's audit entry survives the rollback of the work
it refused (:meth:`UnitOfWork.deny`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.crypto import BlindIndexer
from core.domain.actor import Actor
from core.domain.policy import Policy
from core.errors import PrivacyError
from core.storage.database import Database
from core.storage.keystore import KeyStore
from core.storage.repositories import (
    AgentRepository,
    AuditRepository,
    ConsentRepository,
    ConversationRepository,
    CustomerRepository,
    DataKeys,
    ExportLinkRepository,
    FollowupRepository,
    HoldingsRepository,
    IncidentRepository,
    JobRepository,
    PageStore,
    PurchaseRepository,
    RequestRepository,
    RetentionRepository,
    SeenMessageRepository,
    SendBudgetRepository,
    SignatureRepository,
    StaffRepository,
    SuppressionRepository,
    SurveyRepository,
)

__all__ = ["UnitOfWork"]


@dataclass(frozen=True)
class _Denial:
    actor: Actor
    action: str
    subject_ref: str | None
    purpose: str | None
    reason: str


class UnitOfWork:
    """Repositories sharing one session; ``async with`` it, then ``await uow.commit()``."""

    session: AsyncSession

    def __init__(
        self,
        db: Database,
        keystore: KeyStore,
        indexer: BlindIndexer,
        policy: Policy,
        clock: Clock,
    ) -> None:
        self._db = db
        self._keystore = keystore
        self.indexer = indexer
        self.policy = policy
        self.clock = clock

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._db.session()
        self.keys = DataKeys(self._keystore)
        self.conversations = ConversationRepository(self.session, self.keys)
        self.customers = CustomerRepository(
            self.session, self.keys, self.indexer, self.conversations
        )
        self.consents = ConsentRepository(self.session)
        self.surveys = SurveyRepository(self.session, self.keys)
        self.purchases = PurchaseRepository(self.session, self.keys)
        self.staff = StaffRepository(self.session)
        self.audit = AuditRepository(self.session, self.indexer.derive("audit-chain"))
        self.jobs = JobRepository(self.session)
        self.requests = RequestRepository(self.session, self.keys)
        self.holdings = HoldingsRepository(self.session)
        self.suppressions = SuppressionRepository(self.session, self.indexer)
        self.signatures = SignatureRepository(self.session)
        self.seen_messages = SeenMessageRepository(self.session)
        self.export_links = ExportLinkRepository(self.session, self.indexer.derive("export-link"))
        self.agents = AgentRepository(self.session, self.indexer.derive("agent-token"))
        self.pages = PageStore(self.session)
        self.followups = FollowupRepository(self.session)
        self.retention = RetentionRepository(self.session)
        self.sending = SendBudgetRepository(self.session, self.indexer)
        self.incidents = IncidentRepository(
            self.session, self.keys, self.policy.default_jurisdiction
        )
        # Denials not yet committed, and how many of them this transaction has written.
        self._denials: list[_Denial] = []
        self._written = 0
        # What repositories kept of this transaction ends with it (commit or rollback,
        # of the transaction or of a savepoint).
        sync = self.session.sync_session
        event.listen(sync, "after_commit", self._forget)
        event.listen(sync, "after_soft_rollback", self._forget)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.rollback()
            if self._denials:
                # A refusal must be provable although the work it refused is dropped.
                await self._write_denials()
                await self.session.commit()
        finally:
            await self.session.close()

    def now(self) -> datetime:
        return self.clock.now()

    def _forget(self, *_: object) -> None:
        self.customers.forget()
        self.conversations.forget()
        self.consents.forget()

    async def commit(self) -> None:
        await self._write_denials()
        await self.session.flush()  # a failing statement fails before the key store is written
        await self.keys.write(self.now())
        await self.session.commit()
        self._denials.clear()
        self._written = 0
        await self.keys.tidy()

    def deny(
        self,
        actor: Actor,
        action: str,
        error: PrivacyError,
        *,
        subject_ref: str | None,
        purpose: str | None = None,
    ) -> None:
        """Note a refusal: its audit entry is written after whatever rolls back the
        refused work (an :meth:`attempt`, or the whole unit of work), and lands even if
        the entry point never commits."""
        self._denials.append(_Denial(actor, action, subject_ref, purpose, error.code))

    @asynccontextmanager
    async def attempt(self) -> AsyncIterator[None]:
        """A part of the transaction that a refusal undoes alone (a savepoint).

        A turn that answers a refusal politely goes on and commits the rest of the
        turn (its conversation state, the refusal's audit entry), but none of what
        the refused action had begun.
        """
        written, keys = self._written, self.keys.mark()
        try:
            async with self.session.begin_nested():
                yield
        except PrivacyError:
            self._written = min(self._written, written)
            self.keys.rewind(keys)
            await self._write_denials()
            raise

    async def rollback(self) -> None:
        await self.session.rollback()
        self.keys.drop()
        self._written = 0  # the denials it held are to be written again

    async def _write_denials(self) -> None:
        """Write the denials this transaction does not hold yet; they stay noted
        until a commit lands them, so a later rollback or failed commit keeps them."""
        unwritten, self._written = self._denials[self._written :], len(self._denials)
        for denial in unwritten:
            await self.record(
                denial.actor,
                denial.action,
                subject_ref=denial.subject_ref,
                outcome="denied",
                purpose=denial.purpose,
                details={"reason": denial.reason},
            )

    async def record(
        self,
        actor: Actor,
        action: str,
        *,
        subject_ref: str | None,
        outcome: str = "ok",
        purpose: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Append an audit entry to this transaction (it lands only if we commit)."""
        await self.audit.append(
            at=self.now(),
            actor=actor,
            action=action,
            subject_ref=subject_ref,
            outcome=outcome,
            purpose=purpose,
            details=details,
        )
