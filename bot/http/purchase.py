"""``POST /hooks/purchase``: the shop's order system reports a purchase.

Header ``X-Privacy-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``
keyed with ``PRIVACY_WEBHOOK_SECRET``. Answers (interface contract):

- 202 ``{"status": "scheduled" | "no_consent" | "too_old" | "unknown_customer" | "duplicate"}``
  (``too_old``: recorded, but over 14 days old, so no follow-up)
- 400 ``{"problems": [...]}`` for a body that is not the documented JSON: amounts
  are plain decimals (digits, at most 4 places, below 10^12, never negative or
  signed), quantities 1 to 1,000,000, ``telegram_id`` a positive integer (one
  canonical form: "0005401" is 5401)
- 415 for a body that is not ``application/json``
- 401 for a missing, malformed, wrong or stale (over 5 minutes either way)
  signature, and for a signature used before (replay: even the identical
  request, re-sent, must be signed again)
- 413 for a body over 64 KiB; 503 while no secret is configured

Nothing from the body is logged; only status words and counts. Each call is one
transaction (its entry point commits it once): the signature is remembered, and the
purchase with its follow-up recorded, together.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from aiohttp import web

from bot.http.metrics import Metrics
from core.app import PrivacyCore
from core.domain.customer import IdentityKind
from core.domain.purchase import PurchaseItem
from core.errors import InvalidInput
from core.services.customers import normalise_identity
from core.services.outreach.purchases import (
    PurchaseStatus,
    RecordPurchase,
    RememberSignature,
    SignatureReplayed,
    record_purchase,
    remember_signature,
)
from core.services.rights.downstream import sign  # the header an order system sends
from core.storage import UnitOfWork

__all__ = ["MAX_BODY", "PURCHASE_PATH", "TOLERANCE", "PurchaseHook", "read_limited", "sign"]

log = logging.getLogger("bot.http.purchase")

PURCHASE_PATH = "/hooks/purchase"
MAX_BODY = 64 * 1024
TOLERANCE = 300  # seconds a signature stays acceptable, either way (clock skew)
_HEADER = "X-Privacy-Signature"
_HEX = re.compile(r"^[0-9a-f]{64}$")
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")
_MAX_ITEMS = 500
_MAX_QUANTITY = 1_000_000
_AMOUNT = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,4})?$")


@dataclass
class PurchaseHook:
    core: PrivacyCore
    secret: str | None
    followup_delay: timedelta
    metrics: Metrics
    on_scheduled: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        # SQLite has one writer; waiting here is far cheaper than in its busy handler,
        # which sleeps in growing steps. PostgreSQL: stay within the connection pool.
        self._gate = asyncio.Semaphore(1 if self.core.db.is_sqlite else 20)

    def register(self, app: web.Application) -> None:
        app.router.add_post(PURCHASE_PATH, self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        answer = await self._answer(request)
        self.metrics.inc(
            "privacy_purchase_callbacks_total",
            "Purchase callbacks by HTTP status",
            status=str(answer.status),
        )
        return answer

    async def _answer(self, request: web.Request) -> web.Response:
        if not self.secret:
            return _error(503, "purchase callbacks are off: PRIVACY_WEBHOOK_SECRET is not set")
        if request.content_type != "application/json":
            return _error(415, "send the purchase as application/json")
        body = await read_limited(request)
        if body is None:
            return _error(413, f"body over {MAX_BODY} bytes")
        digest = self._verify(request.headers.get(_HEADER), body)
        if isinstance(digest, web.Response):
            return digest
        cmd, problems = self._parse(body)  # authentic, so worth reading (nothing stored yet)
        try:
            async with self._gate, self.core.uow() as uow:
                status = await self._record(digest, cmd, uow)
        except SignatureReplayed:  # its denial is audited as the unit of work closes
            return _error(401, "signature already used (replay); sign each request anew")
        if status is None:
            return web.json_response({"problems": problems}, status=400)
        if status is PurchaseStatus.SCHEDULED and self.on_scheduled is not None:
            self.on_scheduled()
        return web.json_response({"status": status.value}, status=202)

    async def _record(
        self, digest: str, cmd: RecordPurchase | None, uow: UnitOfWork
    ) -> PurchaseStatus | None:
        """The call's one transaction: the signature is used up even by a bad body."""
        await remember_signature(RememberSignature(digest), uow)
        status = None if cmd is None else await record_purchase(cmd, uow)
        await uow.commit()
        return status

    def _verify(self, header: str | None, body: bytes) -> str | web.Response:
        """The signature's digest (to remember it), or the 401 answer."""
        parsed = _parse_header(header)
        if parsed is None:
            return _error(401, f"missing or malformed {_HEADER} header")
        timestamp, given = parsed
        if abs(self.core.clock.now().timestamp() - timestamp) > TOLERANCE:
            return _error(401, "stale signature: timestamp more than 5 minutes away")
        assert self.secret is not None
        expected = sign(self.secret, body, timestamp).rpartition("v1=")[2]
        if not any(hmac.compare_digest(expected, v) for v in given):
            return _error(401, "bad signature")
        return hashlib.sha256(f"{timestamp}.{expected}".encode()).hexdigest()

    def _parse(self, body: bytes) -> tuple[RecordPurchase | None, list[str]]:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return None, ["body: not valid JSON"]
        if not isinstance(data, dict):
            return None, ["body: expected a JSON object"]
        return _Validator(self.core, data, self.followup_delay).command()


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def read_limited(request: web.Request) -> bytes | None:
    """The raw body, or None when it is (or claims to be) over the limit."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        return None
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(16 * 1024):
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_header(header: str | None) -> tuple[int, list[str]] | None:
    if not header or len(header) > 1024:
        return None
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif key == "v1" and _HEX.match(value.lower()):
            signatures.append(value.lower())
    return None if timestamp is None or not signatures else (timestamp, signatures)


class _Validator:
    """Collects every problem of the body, so the order system can fix them at once."""

    def __init__(self, core: PrivacyCore, data: dict[str, Any], delay: timedelta) -> None:
        self.core, self.data, self.delay = core, data, delay
        self.problems: list[str] = []

    def command(self) -> tuple[RecordPurchase | None, list[str]]:
        order_id = self._order_id()
        reference = self._reference()
        purchased_at = self._purchased_at()
        total = self._decimal(self.data.get("total"), "total")
        currency = self._currency()
        items = self._items()
        if self.problems:
            return None, self.problems
        assert order_id is not None
        assert reference is not None
        assert purchased_at is not None
        assert total is not None
        assert currency is not None
        kind, value = reference
        cmd = RecordPurchase(
            order_id, kind, value, purchased_at, total, currency, tuple(items), self.delay
        )
        return cmd, []

    def _fail(self, problem: str) -> None:
        self.problems.append(problem)

    def _order_id(self) -> str | None:
        value = self.data.get("order_id")
        if not isinstance(value, str) or not value.strip():
            self._fail("order_id: required, a non-empty string")
            return None
        if len(value) > 128 or not value.isprintable():
            self._fail("order_id: at most 128 printable characters")
            return None
        return value

    def _reference(self) -> tuple[IdentityKind, str] | None:
        given = [k for k in ("telegram_id", "phone", "email") if self.data.get(k) is not None]
        if len(given) != 1:
            self._fail("customer: exactly one of telegram_id, phone, email is required")
            return None
        key, raw = given[0], self.data[given[0]]
        if key == "telegram_id":
            text = str(raw) if isinstance(raw, int | str) and not isinstance(raw, bool) else ""
            if not text.isascii() or not text.isdigit() or len(text) > 20 or int(text) == 0:
                self._fail("telegram_id: expected a positive integer")
                return None
            return IdentityKind.TELEGRAM, str(int(text))  # one form: "0005401" is 5401
        kind = IdentityKind.PHONE if key == "phone" else IdentityKind.EMAIL
        try:
            if not isinstance(raw, str) or len(raw) > 254:
                raise InvalidInput("not a string")
            normalise_identity(kind, raw, self.core.policy.default_phone_region)
        except InvalidInput:
            self._fail(f"{key}: not a valid {key}")
            return None
        return kind, raw

    def _purchased_at(self) -> datetime | None:
        raw = self.data.get("purchased_at")
        try:
            at = datetime.fromisoformat(raw) if isinstance(raw, str) and len(raw) <= 40 else None
        except ValueError:
            at = None
        if at is None or at.tzinfo is None or at.utcoffset() is None:
            self._fail("purchased_at: expected ISO-8601 with a UTC offset")
            return None
        if at > self.core.clock.now() + timedelta(days=1):
            self._fail("purchased_at: more than a day in the future")
            return None
        return at

    def _decimal(self, raw: object, where: str) -> Decimal | None:
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            self._fail(f"{where}: expected a decimal number")
            return None
        text = str(raw).strip()
        # Plain digits only: no sign (so no "-0"), no exponent ("1e400"), no NaN.
        if not _AMOUNT.match(text):
            self._fail(f"{where}: expected a decimal number >= 0, below 10^12, at most 4 places")
            return None
        return Decimal(text)

    def _currency(self) -> str | None:
        raw = self.data.get("currency")
        if not isinstance(raw, str) or not _CURRENCY.match(raw):
            self._fail("currency: expected a 3-letter code like HKD")
            return None
        return raw.upper()

    def _items(self) -> list[PurchaseItem]:
        raw = self.data.get("items")
        if not isinstance(raw, list) or len(raw) > _MAX_ITEMS:
            self._fail(f"items: expected a list of at most {_MAX_ITEMS} items")
            return []
        return [item for i, r in enumerate(raw) if (item := self._item(r, f"items[{i}]"))]

    def _item(self, raw: object, where: str) -> PurchaseItem | None:
        if not isinstance(raw, dict):
            self._fail(f"{where}: expected an object with sku, name, quantity, price")
            return None
        before = len(self.problems)
        sku, name, quantity = raw.get("sku"), raw.get("name"), raw.get("quantity")
        if not isinstance(sku, str) or not 0 < len(sku) <= 64:
            self._fail(f"{where}.sku: required, at most 64 characters")
        if not isinstance(name, str) or not 0 < len(name) <= 200:
            self._fail(f"{where}.name: required, at most 200 characters")
        if (
            isinstance(quantity, bool)
            or not isinstance(quantity, int)
            or not 1 <= quantity <= _MAX_QUANTITY
        ):
            self._fail(f"{where}.quantity: expected a whole number from 1 to {_MAX_QUANTITY}")
        price = self._decimal(raw.get("price"), f"{where}.price")
        if len(self.problems) > before or price is None:
            return None
        assert isinstance(sku, str)
        assert isinstance(name, str)
        assert isinstance(quantity, int)
        return PurchaseItem(sku, name, quantity, price)
