"""The signed envelope every agent call carries, checked in the protocol's order.

DRP 1.0 section 3.07: the body decodes from base64; its Ed25519 signature verifies
with the key of the agent the bearer token belongs to (for pairing: of the agent the
path names); the signed ``agent-id`` is that agent; ``business-id`` is this shop;
now is after ``issued-at`` and before ``expires-at``, a window of at most 10 minutes.
The first failing check refuses the call (audited, with its code, never the body).

Refusal codes: ``bad_base64``, ``unknown_token``, ``unknown_agent``, ``bad_signature``,
``bad_json``, ``agent_mismatch``, ``foreign_business``, ``bad_version``, ``bad_time``,
``not_yet_issued``, ``expired``, ``window_too_long``, ``replayed``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from core.crypto.signing import open_signed, verify_key
from core.domain.actor import Actor
from core.errors import InvalidInput, PermissionDenied, PrivacyError
from core.services._common import refuse
from core.services.outreach.purchases import RememberSignature, remember_signature
from core.settings import Settings
from core.storage import UnitOfWork

__all__ = [
    "DRP_VERSION",
    "MAX_WINDOW",
    "Directory",
    "OpenEnvelope",
    "agent_actor",
    "open_envelope",
    "remember_once",
]

DRP_VERSION = "1.0"
MAX_WINDOW = timedelta(minutes=10)
_UNKNOWN = "unknown"


def agent_actor(agent_id: str | None) -> Actor:
    return Actor("agent", agent_id or _UNKNOWN)


@dataclass(frozen=True)
class Directory:
    """What the DRP Service Directory would say: this shop's id and the agents' keys."""

    business_id: str
    keys: Mapping[str, Ed25519PublicKey] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> Directory | None:
        if not settings.drp_enabled:
            return None
        assert settings.drp_business_id is not None
        keys = {agent: verify_key(key) for agent, key in settings.drp_agents}
        return cls(settings.drp_business_id, keys)


@dataclass(frozen=True)
class OpenEnvelope:
    directory: Directory
    body: bytes  # as received: base64 text
    action: str  # the audit action of the call, e.g. "agent.exercise"
    agent_id: str | None = None  # pairing: the agent the path names
    token: str | None = None  # every other call: the bearer token (checked if no agent_id)
    version_required: bool = False  # pairing and exercise carry ``drp.version``
    remember: bool = True  # a signed message acts once (else the caller: see remember_once)
    # Revoke's body may be only ``{"reason"}``: its envelope is checked where present.
    envelope_optional: bool = False


async def open_envelope(cmd: OpenEnvelope, uow: UnitOfWork) -> tuple[str, dict[str, Any]]:
    """The calling agent and the verified message, or an audited refusal."""
    agent = cmd.agent_id
    try:
        signed = _decoded(cmd.body)
        if cmd.agent_id is None:
            agent = await uow.agents.agent_of(cmd.token) if cmd.token else None
            if agent is None:
                raise PermissionDenied("unknown bearer token", code="unknown_token")
        key = cmd.directory.keys.get(agent or "")
        if key is None:
            raise PermissionDenied("no such agent in the directory", code="unknown_agent")
        message = _message(open_signed(signed, key))
        _check(message, agent or "", cmd, uow.now())
    except PrivacyError as error:
        await refuse(uow, agent_actor(agent), cmd.action, error, subject_ref=None)
    assert agent is not None
    if cmd.remember:
        await remember_once(agent, cmd.body, cmd.action, uow)
    return agent, message


async def remember_once(agent: str, body: bytes, action: str, uow: UnitOfWork) -> None:
    """A signed message (``body`` as received, already opened) acts once: a second use
    of it is a refused (audited) replay, however its base64 is spaced."""
    digest = hashlib.sha256(_decoded(body)).hexdigest()
    await remember_signature(RememberSignature(digest, agent_actor(agent), action), uow)


def _decoded(body: bytes) -> bytes:
    try:
        return base64.b64decode(body.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("the body is not base64", code="bad_base64") from None


def _message(opened: bytes | None) -> dict[str, Any]:
    if opened is None:
        raise PermissionDenied("the signature does not verify", code="bad_signature")
    try:
        message = json.loads(opened)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("the signed message is not JSON", code="bad_json") from None
    if not isinstance(message, dict):
        raise InvalidInput("the signed message is not a JSON object", code="bad_json")
    return message


def _check(message: dict[str, Any], agent: str, cmd: OpenEnvelope, now: datetime) -> None:
    if cmd.envelope_optional and "agent-id" not in message:
        return
    if message.get("agent-id") != agent:
        raise PermissionDenied("agent-id is not the calling agent", code="agent_mismatch")
    if message.get("business-id") != cmd.directory.business_id:
        raise PermissionDenied("business-id is not this business", code="foreign_business")
    if cmd.version_required and message.get("drp.version") != DRP_VERSION:
        raise InvalidInput(f'drp.version must be "{DRP_VERSION}"', code="bad_version")
    issued, expires = _time(message, "issued-at"), _time(message, "expires-at")
    if now < issued:
        raise InvalidInput("issued-at is in the future", code="not_yet_issued")
    if now >= expires:
        raise InvalidInput("expires-at has passed", code="expired")
    if expires - issued > MAX_WINDOW:
        raise InvalidInput("expires-at is over 10 minutes after issued-at", code="window_too_long")


def _time(message: dict[str, Any], key: str) -> datetime:
    raw = message.get(key)
    try:
        at = datetime.fromisoformat(raw) if isinstance(raw, str) and len(raw) <= 40 else None
    except ValueError:
        at = None
    if at is None or at.utcoffset() is None:
        raise InvalidInput(f"{key}: expected ISO 8601 with a UTC offset", code="bad_time")
    return at
