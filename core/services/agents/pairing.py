"""Use cases: an agent pairs with the shop (a bearer token) and checks its token.

The token comes from ``secrets`` and is returned once; only its keyed hash is
stored (``uow.agents``), so a copy of the database cannot act as any agent.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from core.errors import PermissionDenied
from core.services._common import refuse
from core.services.agents.envelope import Directory, OpenEnvelope, agent_actor, open_envelope
from core.storage import UnitOfWork

__all__ = ["CheckToken", "PairAgent", "check_token", "pair_agent", "token_agent"]


@dataclass(frozen=True)
class PairAgent:
    directory: Directory
    agent_id: str  # from the path
    body: bytes


async def pair_agent(cmd: PairAgent, uow: UnitOfWork) -> str:
    """The agent's new token (any earlier one stops working)."""
    envelope = OpenEnvelope(
        cmd.directory, cmd.body, "agent.paired", agent_id=cmd.agent_id, version_required=True
    )
    agent, _ = await open_envelope(envelope, uow)
    token = secrets.token_urlsafe(32)
    await uow.agents.pair(agent, token, uow.now())
    await uow.record(agent_actor(agent), "agent.paired", subject_ref=None, details={"agent": agent})
    return token


@dataclass(frozen=True)
class CheckToken:
    directory: Directory
    agent_id: str  # from the path
    token: str | None


async def check_token(cmd: CheckToken, uow: UnitOfWork) -> None:
    """Passes when the token is this agent's; an audited refusal otherwise."""
    owner = await token_agent(cmd.token, cmd.directory, "agent.token_checked", uow)
    if owner != cmd.agent_id:
        error = PermissionDenied("the token is not this agent's", code="unknown_token")
        await refuse(uow, agent_actor(owner), "agent.token_checked", error, subject_ref=None)
    await uow.record(
        agent_actor(owner), "agent.token_checked", subject_ref=None, details={"agent": owner}
    )


async def token_agent(token: str | None, directory: Directory, action: str, uow: UnitOfWork) -> str:
    """The agent a bearer token was issued to, while the directory still lists it; an
    audited refusal for any other token (or an agent taken off the directory)."""
    owner = await uow.agents.agent_of(token) if token else None
    if owner is None or owner not in directory.keys:
        error = PermissionDenied("unknown bearer token", code="unknown_token")
        await refuse(uow, agent_actor(owner), action, error, subject_ref=None)
    return owner
