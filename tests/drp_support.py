"""Set-up for the DRP tests: the /drp server, agents the directory lists, customers."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from bot.http.app import build_app
from bot.http.drp import DrpHook
from bot.http.metrics import Metrics
from core.app import PrivacyCore
from core.domain.customer import Identity, IdentityKind
from core.services import MarkNoticeSeen, RegisterCustomer, mark_notice_seen, register_customer
from core.services.agents.envelope import Directory
from core.storage.tables import AgentRequestRow
from tests.drp_agent import BUSINESS_ID, DrpAgent

PHONE = "+85291234567"
EMAIL = "mei@example.com"
NAME = "Chan Tai Man"


@dataclass
class Drp:
    http: ClientSession
    agent: DrpAgent
    other: DrpAgent  # a second agent of the directory
    base: str
    hook: DrpHook


def agents(core: PrivacyCore, base: str) -> tuple[DrpAgent, DrpAgent]:
    now = core.clock.now
    return DrpAgent("TEST_AGENT", base, now), DrpAgent("OTHER_AGENT", base, now)


def enable_drp(core: PrivacyCore, *listed: DrpAgent) -> None:
    """The settings a shop sets: its directory id and the agents' verify keys."""
    core.settings = dataclasses.replace(
        core.settings,
        drp_business_id=BUSINESS_ID,
        drp_agents=tuple((a.agent_id, a.verify_key) for a in listed),
        drp_local_callbacks=True,  # the tests' agent listens on this machine
    )


@asynccontextmanager
async def drp_server(core: PrivacyCore) -> AsyncIterator[Drp]:
    placeholder = "http://placeholder/drp"
    agent, other = agents(core, placeholder)
    enable_drp(core, agent, other)
    directory = Directory.from_settings(core.settings)
    assert directory is not None
    hook = DrpHook(core, directory, Metrics())
    server = TestServer(build_app(Metrics(), drp=hook))
    await server.start_server()
    base = str(server.make_url("/drp"))
    agent.base = other.base = base
    try:
        async with ClientSession() as http:
            yield Drp(http, agent, other, base, hook)
    finally:
        await server.close()


async def customer_with_contacts(
    core: PrivacyCore, telegram_id: int = 5401, *, phone: str = PHONE, email: str | None = EMAIL
) -> str:
    """A Telegram customer also known by a verified phone and (by default) an email."""
    async with core.uow() as uow:
        customer, _ = await register_customer(
            RegisterCustomer(IdentityKind.TELEGRAM, str(telegram_id), name=NAME), uow
        )
        await mark_notice_seen(MarkNoticeSeen(customer.ref), uow)
        await uow.customers.add_identity(customer.ref, Identity(IdentityKind.PHONE, phone, True))
        if email:
            await uow.customers.add_identity(customer.ref, Identity(IdentityKind.EMAIL, email))
        await uow.commit()
    return customer.ref


async def agent_rows(core: PrivacyCore) -> int:
    async with core.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(AgentRequestRow)) or 0)


def claims(**extra: Any) -> dict[str, Any]:
    return {"phone_number": PHONE, "phone_number_verified": True, **extra}
