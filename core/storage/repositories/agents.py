"""Storage for authorized agents: their tokens (keyed hashes) and their requests.

Nothing here commits; the unit of work's transaction does.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.crypto import keyed_hash
from core.domain.agent_request import AgentAction, AgentReason, AgentRequest, AgentStatus
from core.errors import NotFound
from core.storage.tables import AgentRequestRow, AgentTokenRow

__all__ = ["AgentRepository"]


class AgentRepository:
    def __init__(self, session: AsyncSession, token_key: bytes) -> None:
        self._session = session
        self._key = token_key

    def _hash(self, token: str) -> str:
        return keyed_hash(self._key, token)

    # --- tokens ---------------------------------------------------------------

    async def pair(self, agent_id: str, token: str, now: datetime) -> None:
        """The agent's one token from now on (a new pairing ends the old token)."""
        row = await self._session.get(AgentTokenRow, agent_id, with_for_update=True)
        if row is None:
            row = AgentTokenRow(agent_id=agent_id)
            self._session.add(row)
        row.token_hash, row.paired_at = self._hash(token), now
        await self._session.flush()

    async def agent_of(self, token: str) -> str | None:
        return await self._session.scalar(
            select(AgentTokenRow.agent_id).where(AgentTokenRow.token_hash == self._hash(token))
        )

    # --- requests ---------------------------------------------------------------

    async def add(self, request: AgentRequest) -> None:
        self._session.add(_filled(AgentRequestRow(request_id=request.request_id), request))
        await self._session.flush()

    async def get(self, request_id: str, *, lock: bool = False) -> AgentRequest:
        row = await self._session.get(AgentRequestRow, request_id, with_for_update=lock)
        if row is None:
            raise NotFound("no such agent request", code="unknown_request")
        return _request(row)

    async def find(self, request_id: str, *, lock: bool = False) -> AgentRequest | None:
        row = await self._session.get(AgentRequestRow, request_id, with_for_update=lock)
        return _request(row) if row is not None else None

    async def by_agent_request_id(
        self, agent_id: str, agent_request_id: str
    ) -> AgentRequest | None:
        row = await self._session.scalar(
            select(AgentRequestRow).where(
                AgentRequestRow.agent_id == agent_id,
                AgentRequestRow.agent_request_id == agent_request_id,
            )
        )
        return _request(row) if row is not None else None

    async def of_data_request(self, data_request_ref: str) -> list[AgentRequest]:
        """Every agent request that follows this data request (several may: two agents,
        or an agent's and the customer's own erasure), locked."""
        rows = await self._session.scalars(
            select(AgentRequestRow)
            .where(AgentRequestRow.data_request_ref == data_request_ref)
            .with_for_update()
        )
        return [_request(row) for row in rows]

    async def save(self, request: AgentRequest) -> None:
        row = await self._session.get(AgentRequestRow, request.request_id)
        assert row is not None
        row.agent_id, row.agent_request_id = request.agent_id, request.agent_request_id
        row.action, row.regime = request.action.value, request.regime
        row.status = request.status.value
        row.reason = request.reason.value if request.reason else None
        row.detail, row.customer_ref = request.detail, request.customer_ref
        row.data_request_ref, row.status_callback = (
            request.data_request_ref,
            request.status_callback,
        )
        row.received_at, row.expected_by = request.received_at, request.expected_by
        row.closed_at, row.changes = request.closed_at, request.changes
        await self._session.flush()


def _filled(row: AgentRequestRow, request: AgentRequest) -> AgentRequestRow:
    row.agent_id, row.agent_request_id = request.agent_id, request.agent_request_id
    row.action, row.regime = request.action.value, request.regime
    row.status = request.status.value
    row.reason = request.reason.value if request.reason else None
    row.detail, row.customer_ref = request.detail, request.customer_ref
    row.data_request_ref, row.status_callback = request.data_request_ref, request.status_callback
    row.received_at, row.expected_by = request.received_at, request.expected_by
    row.closed_at, row.changes = request.closed_at, request.changes
    row.opened_it = request.opened_it
    return row


def _request(row: AgentRequestRow) -> AgentRequest:
    return AgentRequest(
        request_id=row.request_id,
        agent_id=row.agent_id,
        action=AgentAction(row.action),
        received_at=row.received_at,
        status=AgentStatus(row.status),
        reason=AgentReason(row.reason) if row.reason else None,
        detail=row.detail,
        customer_ref=row.customer_ref,
        data_request_ref=row.data_request_ref,
        regime=row.regime,
        agent_request_id=row.agent_request_id,
        status_callback=row.status_callback,
        expected_by=row.expected_by,
        closed_at=row.closed_at,
        changes=row.changes,
        opened_it=row.opened_it,
    )
