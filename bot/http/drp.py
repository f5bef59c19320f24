"""The Data Rights Protocol 1.0, Covered Business side, under ``/drp`` (``api_base``).

- ``POST /drp/v1/agent/{agent-id}``: pair-wise key set-up; ``{"agent-id", "token"}``,
  or 403 with an empty body
- ``GET /drp/v1/agent/{agent-id}``: ``{}`` when the bearer token is that agent's, else 403
- ``POST /drp/v1/data-rights-request``: exercise; the Exercise Status object
- ``GET /drp/v1/data-rights-request/{request_id}``: the status; 403 for another agent's
- ``DELETE /drp/v1/data-rights-request/{request_id}``: revoke; the status, ``revoked``

Signed bodies are base64 of an Ed25519 signature followed by the JSON (libsodium's
combined mode), sent as ``text/plain``. Errors are ``{"code", "message", "fatal"}``
with ``code`` the HTTP status as a string; ``fatal`` means re-sending the same message
can never succeed. Off (404 everywhere under ``/drp``) until PRIVACY_DRP_BUSINESS_ID
and PRIVACY_DRP_AGENTS are set. Each call is one transaction, audited by the core;
nothing of a body or token is logged.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from bot.http.metrics import Metrics
from bot.http.purchase import MAX_BODY, read_limited
from core.app import PrivacyCore
from core.domain.agent_request import AgentRequest
from core.errors import PrivacyError
from core.services.agents.envelope import Directory, OpenEnvelope, open_envelope
from core.services.agents.exercise import ExerciseRight, exercise_right
from core.services.agents.pairing import (
    CheckToken,
    PairAgent,
    check_token,
    pair_agent,
    token_agent,
)
from core.services.agents.status import ReadStatus, RevokeRequest, read_status, revoke_request
from core.storage import UnitOfWork

__all__ = ["DRP_PREFIX", "DrpHook"]

DRP_PREFIX = "/drp/v1"
T = TypeVar("T")

# Refusal code -> (HTTP status, fatal). Unlisted codes answer 400, fatal.
_ANSWERS: dict[str, tuple[int, bool]] = {
    "unknown_token": (403, True),
    "unknown_agent": (403, True),
    "bad_signature": (403, True),
    "agent_mismatch": (403, True),
    "foreign_business": (403, True),
    "not_yours": (403, True),
    "unknown_request": (404, True),
    "not_yet_issued": (400, False),  # the agent's clock runs fast: later, it passes
    "under_way": (409, True),
    "final": (409, True),
}


@dataclass
class DrpHook:
    core: PrivacyCore
    directory: Directory
    metrics: Metrics
    on_work: Callable[[], None] | None = None  # wake the worker: a callback or question is due

    def __post_init__(self) -> None:
        self._gate = asyncio.Semaphore(1 if self.core.db.is_sqlite else 20)

    def register(self, app: web.Application) -> None:
        app.router.add_post(DRP_PREFIX + "/agent/{agent_id}", self.pair)
        app.router.add_get(DRP_PREFIX + "/agent/{agent_id}", self.check)
        app.router.add_post(DRP_PREFIX + "/data-rights-request", self.exercise)
        app.router.add_get(DRP_PREFIX + "/data-rights-request/{request_id}", self.status)
        app.router.add_delete(DRP_PREFIX + "/data-rights-request/{request_id}", self.revoke)

    # --- the calls ----------------------------------------------------------------

    async def pair(self, request: web.Request) -> web.Response:
        body = await read_limited(request)
        if body is None:
            return self._counted("pair", web.Response(status=403))
        cmd = PairAgent(self.directory, request.match_info["agent_id"], body)
        try:
            token = await self._run(lambda uow: pair_agent(cmd, uow))
        except PrivacyError:
            return self._counted("pair", web.Response(status=403))  # the protocol: no body
        answer = {"agent-id": cmd.agent_id, "token": token}
        return self._counted("pair", web.json_response(answer))

    async def check(self, request: web.Request) -> web.Response:
        cmd = CheckToken(self.directory, request.match_info["agent_id"], _bearer(request))
        return await self._answer("check", lambda uow: check_token(cmd, uow), lambda _: {})

    async def exercise(self, request: web.Request) -> web.Response:
        # Remembered by the exercise itself: a retry of a known agent-request-id (even
        # the same body) finds the first request instead of being called a replay.
        envelope = await self._envelope(
            request, "exercise", "agent.exercise", version_required=True, remember=False
        )
        if isinstance(envelope, web.Response):
            return envelope

        async def run(uow: UnitOfWork) -> AgentRequest:
            agent, message = await open_envelope(envelope, uow)
            downstream = tuple(name for name, _ in self.core.settings.downstream)
            local = self.core.settings.drp_local_callbacks
            cmd = ExerciseRight(agent, message, envelope.body, downstream, local)
            return await exercise_right(cmd, uow)

        return await self._answer("exercise", run, AgentRequest.status_object)

    async def status(self, request: web.Request) -> web.Response:
        request_id = request.match_info["request_id"]

        async def run(uow: UnitOfWork) -> AgentRequest:
            agent = await token_agent(_bearer(request), self.directory, "agent.status", uow)
            return await read_status(ReadStatus(agent, request_id), uow)

        return await self._answer("status", run, AgentRequest.status_object)

    async def revoke(self, request: web.Request) -> web.Response:
        envelope = await self._envelope(
            request,
            "revoke",
            "agent.revoked",
            remember=False,  # revoking twice changes nothing
            envelope_optional=True,
        )
        if isinstance(envelope, web.Response):
            return envelope
        request_id = request.match_info["request_id"]

        async def run(uow: UnitOfWork) -> AgentRequest:
            agent, message = await open_envelope(envelope, uow)
            reason = message.get("reason")
            cmd = RevokeRequest(
                agent, request_id, has_reason=isinstance(reason, str) and bool(reason)
            )
            return await revoke_request(cmd, uow)

        return await self._answer("revoke", run, AgentRequest.status_object)

    # --- plumbing ---------------------------------------------------------------------

    async def _envelope(
        self,
        request: web.Request,
        call: str,
        action: str,
        *,
        version_required: bool = False,
        remember: bool = True,
        envelope_optional: bool = False,
    ) -> OpenEnvelope | web.Response:
        """The signed body with the call's bearer token, or the 413 answer."""
        body = await read_limited(request)
        if body is None:
            return self._counted(call, _error(413, f"body over {MAX_BODY} bytes", True))
        return OpenEnvelope(
            self.directory,
            body,
            action,
            token=_bearer(request),
            version_required=version_required,
            remember=remember,
            envelope_optional=envelope_optional,
        )

    async def _run(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """The call's one transaction, committed here; a refusal rolls it back (its
        audit entry lands as the unit of work closes)."""
        async with self._gate, self.core.uow() as uow:
            result = await work(uow)
            await uow.commit()
        if self.on_work is not None:
            self.on_work()
        return result

    async def _answer(
        self,
        call: str,
        work: Callable[[UnitOfWork], Awaitable[T]],
        render: Callable[[T], dict[str, Any]],
    ) -> web.Response:
        try:
            result = await self._run(work)
        except PrivacyError as error:
            status, fatal = _ANSWERS.get(error.code, (400, True))
            return self._counted(call, _error(status, str(error), fatal))
        return self._counted(call, web.json_response(render(result)))

    def _counted(self, call: str, answer: web.Response) -> web.Response:
        self.metrics.inc(
            "privacy_drp_calls_total",
            "Data Rights Protocol calls by call and HTTP status",
            call=call,
            status=str(answer.status),
        )
        return answer


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and 0 < len(token) <= 256 else None


def _error(status: int, message: str, fatal: bool) -> web.Response:
    body = {"code": str(status), "message": message, "fatal": fatal}
    return web.Response(
        text=json.dumps(body), status=status, content_type="application/json", charset="utf-8"
    )
