"""The unit of work: one transaction, rolled back unless explicitly committed."""

from __future__ import annotations

from datetime import datetime
from types import TracebackType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.crypto import BlindIndexer, Keyring
from core.domain.policy import Policy
from core.storage.database import Database
from core.storage.repositories import (
    Actor,
    AuditRepository,
    ConsentRepository,
    ConversationRepository,
    CustomerRepository,
    JobRepository,
    KeyStore,
    PurchaseRepository,
    RequestRepository,
    StaffRepository,
    SurveyRepository,
)
from core.storage.repositories.followups import FollowupRepository
from core.storage.repositories.retention import RetentionRepository
from core.storage.repositories.rights import RightsRepository
from core.storage.repositories.staffdesk import StaffDeskRepository

__all__ = ["UnitOfWork"]


class UnitOfWork:
    """Repositories sharing one session; ``async with`` it, then ``await uow.commit()``."""

    session: AsyncSession

    def __init__(
        self,
        db: Database,
        keyring: Keyring,
        indexer: BlindIndexer,
        policy: Policy,
        clock: Clock,
    ) -> None:
        self._db = db
        self.keyring = keyring
        self.indexer = indexer
        self.policy = policy
        self.clock = clock

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._db.session()
        self.keys = KeyStore(self.session, self.keyring)
        self.customers = CustomerRepository(self.session, self.keys, self.indexer)
        self.consents = ConsentRepository(self.session)
        self.surveys = SurveyRepository(self.session, self.keys)
        self.purchases = PurchaseRepository(self.session, self.keys)
        self.conversations = ConversationRepository(self.session, self.keys)
        self.staff = StaffRepository(self.session)
        self.audit = AuditRepository(self.session, self.indexer.derive("audit-chain"))
        self.jobs = JobRepository(self.session)
        self.requests = RequestRepository(self.session)
        self.desk = StaffDeskRepository(self.session)
        self.rights = RightsRepository(self.session, self.keys, self.indexer)
        self.followups = FollowupRepository(self.session)
        self.retention = RetentionRepository(self.session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.session.rollback()
        finally:
            await self.session.close()

    def now(self) -> datetime:
        return self.clock.now()

    async def commit(self) -> None:
        await self.session.commit()

    async def rollback(self) -> None:
        await self.session.rollback()

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
