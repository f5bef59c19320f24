"""An authorized agent written from the DRP 1.0 specification alone, for the tests.

It signs with libsodium's combined mode (a 64-byte Ed25519 signature, then the JSON),
base64-encodes, and sends ``text/plain``, as section 3.07 says; it knows nothing of
the bot's code.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiohttp import ClientSession
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

BUSINESS_ID = "TEA_SHOP"

Answer = tuple[int, Any]


@dataclass
class DrpAgent:
    agent_id: str
    base: str  # the business's api_base, e.g. http://127.0.0.1:8080/drp
    now: Any  # () -> datetime: the clock the business runs on
    business_id: str = BUSINESS_ID
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    token: str | None = None

    @property
    def verify_key(self) -> str:
        raw = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return base64.b64encode(raw).decode()

    def envelope(self, **fields: Any) -> dict[str, Any]:
        issued: datetime = self.now()
        message = {
            "agent-id": self.agent_id,
            "business-id": self.business_id,
            "issued-at": issued.isoformat(),
            "expires-at": (issued + timedelta(minutes=5)).isoformat(),
            "drp.version": "1.0",
        }
        message.update(fields)
        return message

    def sign(self, message: dict[str, Any], key: Ed25519PrivateKey | None = None) -> bytes:
        body = json.dumps(message).encode()
        signature = (key or self.key).sign(body)
        return base64.b64encode(signature + body)

    def _headers(self, token: str | None = None) -> dict[str, str]:
        headers = {"Content-Type": "text/plain"}
        if token or self.token:
            headers["Authorization"] = f"Bearer {token or self.token}"
        return headers

    async def pair(self, http: ClientSession, body: bytes | None = None) -> Answer:
        url = f"{self.base}/v1/agent/{self.agent_id}"
        data = body if body is not None else self.sign(self.envelope())
        async with http.post(url, data=data, headers={"Content-Type": "text/plain"}) as r:
            text = await r.text()
            answer = json.loads(text) if text else None
        if r.status == 200:
            self.token = answer["token"]
        return r.status, answer

    async def check(self, http: ClientSession, token: str | None = None) -> Answer:
        async with http.get(
            f"{self.base}/v1/agent/{self.agent_id}", headers=self._headers(token)
        ) as r:
            return r.status, await r.json()

    async def exercise(self, http: ClientSession, body: bytes) -> Answer:
        url = f"{self.base}/v1/data-rights-request"
        async with http.post(url, data=body, headers=self._headers()) as r:
            return r.status, await r.json()

    async def ask(self, http: ClientSession, exercise: str, **claims: Any) -> Answer:
        return await self.exercise(http, self.sign(self.envelope(exercise=exercise, **claims)))

    async def status(
        self, http: ClientSession, request_id: str, token: str | None = None
    ) -> Answer:
        url = f"{self.base}/v1/data-rights-request/{request_id}"
        async with http.get(url, headers=self._headers(token)) as r:
            return r.status, await r.json()

    async def revoke(self, http: ClientSession, request_id: str, reason: str = "") -> Answer:
        url = f"{self.base}/v1/data-rights-request/{request_id}"
        body = self.sign({"reason": reason})
        async with http.delete(url, data=body, headers=self._headers()) as r:
            return r.status, await r.json()
