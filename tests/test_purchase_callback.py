"""POST /hooks/purchase: signatures, replays, limits, body problems, idempotency."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from core.app import PrivacyCore
from core.services import audit_tail, verify_audit
from core.storage.repositories.purchases import PurchaseRepository
from core.storage.tables import NonceRow, PurchaseRow
from tests.followup_support import (
    count,
    customer,
    freeze,
    hook_client,
    jobs,
    post,
    purchase_body,
    signed,
)
from tests.transactions import counting


async def test_purchase_of_a_consenting_customer_schedules_one_followup(core: PrivacyCore) -> None:
    freeze(core)
    await customer(core, 7001)
    async with hook_client(core) as client:
        status, body = await post(client, core, purchase_body("A-1", 7001))
    assert (status, body) == (202, {"status": "scheduled"})
    [job] = await jobs(core)
    assert job.key == "followup:A-1"
    # 10:30 HK + 1 hour delay = 11:30 HK = 03:30 UTC
    assert job.run_after == datetime(2026, 12, 1, 3, 30, tzinfo=UTC)


async def test_items_are_stored_encrypted_and_kept_out_of_the_audit(core: PrivacyCore) -> None:
    freeze(core)
    await customer(core, 7001)
    async with hook_client(core) as client:
        await post(client, core, purchase_body("A-1", 7001))
    async with core.uow() as uow:
        row = await uow.session.scalar(select(PurchaseRow))
        uow.session.expunge_all()
        entries = await audit_tail(50, uow)
    assert row is not None
    assert row.items_enc is not None
    assert b"Jasmine" not in row.items_enc
    assert not any("Jasmine" in str(e.details) or "129.90" in str(e.details) for e in entries)
    assert "purchase.recorded" in {e.action for e in entries}


async def test_missing_signature_is_refused(core: PrivacyCore) -> None:
    freeze(core)
    async with hook_client(core) as client:
        response = await client.post("/hooks/purchase", json=purchase_body("A-1", 7001))
        assert response.status == 401


async def test_wrong_signature_is_refused(core: PrivacyCore) -> None:
    freeze(core)
    raw, headers = signed(core, purchase_body("A-1", 7001))
    async with hook_client(core) as client:
        response = await client.post("/hooks/purchase", data=raw + b" ", headers=headers)
        assert response.status == 401


async def test_signature_older_than_five_minutes_is_refused_as_stale(core: PrivacyCore) -> None:
    freeze(core)
    await customer(core, 7001)
    async with hook_client(core) as client:
        old, _ = await post(client, core, purchase_body("A-1", 7001), skew=-301)
        future, _ = await post(client, core, purchase_body("A-1", 7001), skew=301)
    assert (old, future) == (401, 401)
    assert await jobs(core) == []


async def test_reused_signature_is_refused_as_replay(core: PrivacyCore) -> None:
    freeze(core)
    await customer(core, 7001)
    raw, headers = signed(core, purchase_body("A-1", 7001))
    async with hook_client(core) as client:
        first = await client.post("/hooks/purchase", data=raw, headers=headers)
        again = await client.post("/hooks/purchase", data=raw, headers=headers)
        assert first.status == 202
        assert again.status == 401
        assert "replay" in (await again.json())["error"]


async def test_a_replayed_signature_is_audited_as_denied(core: PrivacyCore) -> None:
    freeze(core)
    await customer(core, 7001)
    raw, headers = signed(core, purchase_body("A-1", 7001))
    async with hook_client(core) as client:
        await client.post("/hooks/purchase", data=raw, headers=headers)
        again = await client.post("/hooks/purchase", data=raw, headers=headers)
    assert again.status == 401
    async with core.uow() as uow:
        entries = await audit_tail(10, uow)
        assert (await verify_audit(uow)).ok
    [denied] = [e for e in entries if e.action == "purchase.received"]
    assert (denied.outcome, denied.details) == ("denied", {"reason": "replayed"})


async def test_a_callback_is_one_transaction(core: PrivacyCore) -> None:
    freeze(core)
    await customer(core, 7001)
    async with hook_client(core) as client:
        with counting(core) as counted:
            status, body = await post(client, core, purchase_body("A-1", 7001))
    assert (status, body) == (202, {"status": "scheduled"})
    assert counted.commits == 1


async def test_a_bad_body_still_uses_up_its_signature(core: PrivacyCore) -> None:
    freeze(core)
    raw, headers = signed(core, {"order_id": ""})
    async with hook_client(core) as client:
        first = await client.post("/hooks/purchase", data=raw, headers=headers)
        again = await client.post("/hooks/purchase", data=raw, headers=headers)
    assert (first.status, again.status) == (400, 401)
    assert await count(core, NonceRow) == 1


async def test_a_duplicate_that_races_past_the_check_undoes_only_its_savepoint(
    core: PrivacyCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two requests for one order, both past the "seen it?" check: the second's insert
    clashes; its savepoint is undone, its call still commits (its signature stays)."""

    async def never_seen(_self: PurchaseRepository, _order_id: str) -> bool:
        return False

    monkeypatch.setattr(PurchaseRepository, "exists", never_seen)
    freeze(core)
    await customer(core, 7001)
    async with hook_client(core) as client:
        first = await post(client, core, purchase_body("A-1", 7001))
        second = await post(client, core, purchase_body("A-1", 7001), skew=-1)
    assert (first, second) == ((202, {"status": "scheduled"}), (202, {"status": "duplicate"}))
    assert (await count(core, PurchaseRow), await count(core, NonceRow)) == (1, 2)
    assert len(await jobs(core)) == 1
    async with core.uow() as uow:
        entries = await audit_tail(20, uow)
        assert (await verify_audit(uow)).ok
    assert [e.action for e in entries].count("purchase.recorded") == 1


async def test_same_order_signed_anew_answers_duplicate(core: PrivacyCore) -> None:
    freeze(core)
    await customer(core, 7001)
    async with hook_client(core) as client:
        await post(client, core, purchase_body("A-1", 7001))
        status, body = await post(client, core, purchase_body("A-1", 7001), skew=-1)
    assert (status, body) == (202, {"status": "duplicate"})
    assert len(await jobs(core)) == 1


async def test_customer_without_followup_consent_gets_none(core: PrivacyCore) -> None:
    freeze(core)
    await customer(core, 7001, follow_up=False)
    async with hook_client(core) as client:
        status, body = await post(client, core, purchase_body("A-1", 7001))
    assert (status, body) == (202, {"status": "no_consent"})
    assert await jobs(core) == []
    async with core.uow() as uow:
        entries = await audit_tail(5, uow)
    [denied] = [e for e in entries if e.action == "followup.suppressed"]
    assert denied.details["reason"] == "no_consent"


async def test_unknown_customer_is_answered_and_nothing_is_stored(core: PrivacyCore) -> None:
    freeze(core)
    async with hook_client(core) as client:
        status, body = await post(client, core, purchase_body("A-1", None, email="x@example.com"))
    assert (status, body) == (202, {"status": "unknown_customer"})
    assert await count(core, PurchaseRow) == 0
    assert await jobs(core) == []


async def test_followup_due_in_quiet_hours_moves_to_the_morning(core: PrivacyCore) -> None:
    freeze(core, datetime(2026, 12, 1, 12, 0, tzinfo=UTC))  # 20:00 in Hong Kong
    await customer(core, 7001)
    body = purchase_body("A-1", 7001, purchased_at="2026-12-01T20:00:00+08:00")
    async with hook_client(core) as client:
        await post(client, core, body)
    [job] = await jobs(core)
    assert job.run_after == datetime(2026, 12, 2, 1, 0, tzinfo=UTC)  # 09:00 HK next day


async def test_second_purchase_within_the_interval_gets_no_second_followup(
    core: PrivacyCore,
) -> None:
    freeze(core)
    await customer(core, 7001)
    async with hook_client(core) as client:
        await post(client, core, purchase_body("A-1", 7001))
        _status, body = await post(client, core, purchase_body("A-2", 7001))
    assert body == {"status": "no_consent"}
    assert len(await jobs(core)) == 1


async def test_body_over_64_kib_is_refused_with_413(core: PrivacyCore) -> None:
    freeze(core)
    big = json.dumps(purchase_body("A-1", 7001, padding="x" * 10_000_000)).encode()
    raw, headers = signed(core, big)
    async with hook_client(core) as client:
        response = await client.post("/hooks/purchase", data=raw, headers=headers)
        assert response.status == 413


async def test_bad_body_lists_every_problem(core: PrivacyCore) -> None:
    freeze(core)
    body = {
        "order_id": "",
        "telegram_id": 1,
        "phone": "+85291234567",
        "purchased_at": "2026-12-01T10:30:00",
        "total": "-1",
        "currency": "HKDX",
        "items": [{"sku": "", "name": "Tea", "quantity": 0, "price": "x"}],
    }
    async with hook_client(core) as client:
        status, answer = await post(client, core, body)
        not_json, _ = await post(client, core, b"{not json")
    assert status == 400
    assert not_json == 400
    problems = " | ".join(answer["problems"])
    for field in ("order_id", "exactly one of", "purchased_at", "total", "currency"):
        assert field in problems
    for field in ("items[0].sku", "items[0].quantity", "items[0].price"):
        assert field in problems


async def test_without_a_secret_the_endpoint_says_it_is_off(core: PrivacyCore) -> None:
    freeze(core)
    async with hook_client(core, secret=None) as client:
        response = await client.post("/hooks/purchase", json=purchase_body("A-1", 7001))
        assert response.status == 503
        assert "PRIVACY_WEBHOOK_SECRET" in (await response.json())["error"]


async def test_fifty_identical_concurrent_posts_schedule_one_followup(core: PrivacyCore) -> None:
    freeze(core)
    await customer(core, 7001)
    raw, headers = signed(core, purchase_body("A-1", 7001))
    async with hook_client(core) as client:

        async def one() -> int:
            async with client.post("/hooks/purchase", data=raw, headers=headers) as response:
                return response.status

        statuses = await asyncio.gather(*(one() for _ in range(50)))
    assert sorted(statuses) == [202] + [401] * 49  # the same signature again is a replay
    assert len(await jobs(core)) == 1


async def test_thousand_concurrent_callbacks_with_duplicates_one_followup_per_order(
    core: PrivacyCore,
) -> None:
    freeze(core)
    orders, copies = 50, 20
    for i in range(orders):
        await customer(core, 10_000 + i)
    async with hook_client(core) as client:
        # Each order 20 times, each signed anew (distinct timestamps): 1,000 posts.
        posts = [
            post(client, core, purchase_body(f"O-{i}", 10_000 + i), skew=-copy)
            for copy in range(copies)
            for i in range(orders)
        ]
        answers = await asyncio.gather(*posts)
    words = [body["status"] for status, body in answers if status == 202]
    assert len(words) == 1000
    assert words.count("scheduled") == orders
    assert words.count("duplicate") == (copies - 1) * orders
    keys = [job.key for job in await jobs(core)]
    assert sorted(keys) == sorted(f"followup:O-{i}" for i in range(orders))
    async with core.uow() as uow:
        assert (await verify_audit(uow)).ok
