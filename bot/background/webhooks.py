"""POSTing JSON events to other systems, signed like the purchase callback.

``X-Privacy-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` keyed
with PRIVACY_WEBHOOK_SECRET (core/services/rights/downstream.py ``sign``), so a
receiver checks it exactly as the bot checks the shop's purchase callback.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.services.rights.downstream import sign

if TYPE_CHECKING:
    from aiohttp import ClientSession

__all__ = ["SignedPoster", "Unreachable"]


class Unreachable(Exception):
    """The system did not answer (the message names the error type)."""


@dataclass
class SignedPoster:
    secret: str | None  # None: sent unsigned (where the receiver accepts that)
    timeout: float = 10.0
    _http: ClientSession | None = field(default=None, repr=False)

    async def post(self, url: str, body: bytes) -> int:
        """The HTTP status the system answered; Unreachable when it did not answer."""
        # aiohttp loads slowly (it builds SSL contexts on import): only shops that send
        # events pay for it, and not at start.
        import aiohttp

        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        headers = {"Content-Type": "application/json"}
        if self.secret:
            headers["X-Privacy-Signature"] = sign(self.secret, body, int(time.time()))
        try:
            async with self._http.post(url, data=body, headers=headers) as response:
                return response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Unreachable(type(exc).__name__) from exc

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
