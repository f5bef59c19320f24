"""Downstream notices (GDPR Art. 19): signed, retried until acknowledged, once per system."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from aiohttp import web

from bot.background.rights_jobs import RightsJobs
from core.app import PrivacyCore, open_core
from core.services.rights.processing import Flag, SetFlag, set_processing_flag
from core.settings import Settings
from tests.chat_drivers import free_port
from tests.followup_support import commit_fails_once, run_steps
from tests.rights_helpers import telegram_customer

SECRET = "downstream-test-secret"


class ShopSystem:
    """A shop system on 127.0.0.1 that fails ``failures`` times, then acknowledges."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[tuple[int, dict[str, object], bool]] = []  # status, body, signed ok

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        signed = _verify(request.headers.get("X-Privacy-Signature", ""), body)
        status = 503 if len(self.calls) < self.failures else 200
        self.calls.append((status, json.loads(body), signed))
        return web.Response(status=status)

    @property
    def acknowledged(self) -> int:
        return sum(1 for status, _, _ in self.calls if status == 200)


def _verify(header: str, body: bytes) -> bool:
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    expected = hmac.new(SECRET.encode(), f"{parts.get('t')}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), parts.get("v1", ""))


@pytest.fixture
async def systems() -> AsyncIterator[tuple[dict[str, ShopSystem], str]]:
    shops = {"crm": ShopSystem(failures=3), "eshop": ShopSystem(failures=0)}
    app = web.Application()
    for name, shop in shops.items():
        app.router.add_post(f"/{name}", shop.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield shops, f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
async def wired(
    settings: Settings, systems: tuple[dict[str, ShopSystem], str]
) -> AsyncIterator[PrivacyCore]:
    _, base = systems
    downstream = (("crm", f"{base}/crm"), ("eshop", f"{base}/eshop"))
    core = await open_core(replace(settings, downstream=downstream))
    yield core
    await core.close()


async def _drain(core: PrivacyCore, jobs: RightsJobs, rounds: int) -> None:
    from sqlalchemy import update

    from core.storage.tables import JobRow

    for _ in range(rounds):
        await jobs.run_due(("downstream",))
        async with core.uow() as uow:  # skip the backoff wait
            await uow.session.execute(
                update(JobRow).where(JobRow.state == "pending").values(run_after=uow.now())
            )
            await uow.commit()


async def test_downstream_delivery_is_retried_until_acknowledged_once_per_system(
    wired: PrivacyCore, systems: tuple[dict[str, ShopSystem], str]
) -> None:
    shops, _ = systems
    ref = await telegram_customer(wired, 7101)
    async with wired.uow() as uow:
        _, request = await set_processing_flag(
            SetFlag(ref, Flag.RESTRICT, True, downstream=("crm", "eshop")), uow
        )
        await uow.commit()
    jobs = RightsJobs(wired, None, SECRET)
    try:
        await _drain(wired, jobs, rounds=8)
    finally:
        await jobs.close()
    assert [s for s, _, _ in shops["crm"].calls] == [503, 503, 503, 200]
    assert shops["eshop"].acknowledged == 1
    assert len(shops["eshop"].calls) == 1
    assert all(signed for shop in shops.values() for _, _, signed in shop.calls)
    ids = {body["id"] for shop in shops.values() for _, body, _ in shop.calls}
    assert ids == {f"{request.ref}:restriction"}  # a retry re-sends the same event id
    async with wired.uow() as uow:
        confirmed = await uow.requests.confirmations(request.ref)
    assert set(confirmed) == {"crm", "eshop"}


async def test_downstream_events_carry_no_personal_data(
    wired: PrivacyCore, systems: tuple[dict[str, ShopSystem], str]
) -> None:
    shops, _ = systems
    ref = await telegram_customer(wired, 7102, name="Alice Wong", email="alice@example.com")
    async with wired.uow() as uow:
        await set_processing_flag(
            SetFlag(ref, Flag.OPT_OUT_SHARING, True, downstream=("eshop",)), uow
        )
        await uow.commit()
    jobs = RightsJobs(wired, None, SECRET)
    try:
        await _drain(wired, jobs, rounds=1)
    finally:
        await jobs.close()
    ((_, body, _),) = shops["eshop"].calls
    assert set(body) == {"id", "type", "request", "customer", "occurred_at", "facts"}
    assert body["customer"] == ref
    text = json.dumps(body)
    assert "Alice" not in text
    assert "alice@" not in text
    assert "7102" not in text


async def _restricted(core: PrivacyCore, user: int) -> str:
    ref = await telegram_customer(core, user)
    async with core.uow() as uow:
        _, request = await set_processing_flag(
            SetFlag(ref, Flag.RESTRICT, True, downstream=("eshop",)), uow
        )
        await uow.commit()
    return request.ref


async def test_a_notice_whose_step_died_before_its_commit_is_resent_and_confirmed_once(
    wired: PrivacyCore, systems: tuple[dict[str, ShopSystem], str]
) -> None:
    shops, _ = systems
    request_ref = await _restricted(wired, 7103)
    jobs = RightsJobs(wired, None, SECRET)
    try:
        handler = jobs.handlers()["downstream"]
        await run_steps(wired, "downstream", commit_fails_once(handler))
        await run_steps(wired, "downstream", handler)
    finally:
        await jobs.close()
    # At least once, under one event id the shop can deduplicate by; recorded once.
    assert [body["id"] for _, body, _ in shops["eshop"].calls] == [f"{request_ref}:restriction"] * 2
    async with wired.uow() as uow:
        assert set(await uow.requests.confirmations(request_ref)) == {"eshop"}
        assert await uow.jobs.count("downstream", "done") == 1


async def test_a_downstream_step_is_one_transaction(
    wired: PrivacyCore, systems: tuple[dict[str, ShopSystem], str]
) -> None:
    request_ref = await _restricted(wired, 7104)
    jobs = RightsJobs(wired, None, SECRET)
    try:
        [step] = await run_steps(wired, "downstream", jobs.handlers()["downstream"])
    finally:
        await jobs.close()
    assert step.writing == 1
    async with wired.uow() as uow:
        assert set(await uow.requests.confirmations(request_ref)) == {"eshop"}
