"""Where a bot's sending budget is kept: this process's memory, or the shared database.

Both follow the same rules (core/services/outreach/sending.py); they differ only
in who shares them. ``LocalBudget`` serves one process (a shop on SQLite);
``SharedBudget`` keeps the permits in the database every process of the bot
already uses, so three processes on one PostgreSQL send 30 a second together,
not 30 each. ``budget_for`` picks by the database.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from bot.outbound.config import OutboundConfig
from core.app import PrivacyCore
from core.services.outreach.sending import (
    Grant,
    PermitAsk,
    Taken,
    TakePermits,
    give_back_permit,
    pause_sending,
    prepare_budget,
    stamp_answer,
    stamp_departure,
    take_permits,
)
from core.storage.repositories.sending import MemorySendBudget, SendBudgetStore

__all__ = ["Budget", "LocalBudget", "SharedBudget", "budget_for"]

TELEGRAM = "telegram"  # the budget's name: one per bot (a second app gets its own)


class Budget(Protocol):
    async def take(self, asks: Sequence[PermitAsk], *, background: bool) -> Taken: ...
    async def depart(self, slot: int) -> None: ...
    async def answered(self, slot: int) -> None: ...
    async def give_back(self, grant: Grant) -> None: ...
    async def pause(self, seconds: float) -> None: ...


class LocalBudget:
    """The budget in this process's memory."""

    def __init__(self, config: OutboundConfig, name: str = TELEGRAM) -> None:
        self.config, self.name = config, name
        self._store = MemorySendBudget()
        self._ready = False

    async def take(self, asks: Sequence[PermitAsk], *, background: bool) -> Taken:
        if not self._ready:
            await prepare_budget(self.name, self.config.per_second, self._store)
            self._ready = True
        # One process: its own queue already puts replies first, no head start needed.
        cmd = _take(self.config, self.name, asks, self.config.window)
        return await take_permits(cmd, self._store)

    async def depart(self, slot: int) -> None:
        await stamp_departure(self.name, slot, self._store)

    async def answered(self, slot: int) -> None:
        await stamp_answer(self.name, slot, self._store)

    async def give_back(self, grant: Grant) -> None:
        await give_back_permit(self.name, grant, self.config.window, self._store)

    async def pause(self, seconds: float) -> None:
        await pause_sending(self.name, seconds, self._store)


class SharedBudget:
    """The budget in the database, one short transaction per call, shared by every process."""

    def __init__(self, core: PrivacyCore, config: OutboundConfig, name: str = TELEGRAM) -> None:
        self.core, self.config, self.name = core, config, name
        self._ready = False

    async def take(self, asks: Sequence[PermitAsk], *, background: bool) -> Taken:
        window = self.config.window + (self.config.head_start if background else 0.0)
        cmd = _take(self.config, self.name, asks, window)
        async with self.core.uow() as uow:
            if not self._ready:
                await prepare_budget(self.name, self.config.per_second, uow.sending)
            taken = await take_permits(cmd, uow.sending)
            await uow.commit()
        self._ready = True
        return taken

    async def depart(self, slot: int) -> None:
        await self._in_transaction(lambda store: stamp_departure(self.name, slot, store))

    async def answered(self, slot: int) -> None:
        await self._in_transaction(lambda store: stamp_answer(self.name, slot, store))

    async def give_back(self, grant: Grant) -> None:
        window = self.config.window
        await self._in_transaction(lambda s: give_back_permit(self.name, grant, window, s))

    async def pause(self, seconds: float) -> None:
        await self._in_transaction(lambda store: pause_sending(self.name, seconds, store))

    async def _in_transaction(self, work: Callable[[SendBudgetStore], Awaitable[None]]) -> None:
        async with self.core.uow() as uow:
            await work(uow.sending)
            await uow.commit()


def _take(
    config: OutboundConfig, name: str, asks: Sequence[PermitAsk], window: float
) -> TakePermits:
    interval = config.chat_interval + config.guard if config.chat_interval else 0.0
    return TakePermits(name, tuple(asks), window, interval, config.lead)


def budget_for(core: PrivacyCore, config: OutboundConfig) -> Budget:
    """Shared through PostgreSQL; in memory on SQLite, whose shop runs one process."""
    if core.db.is_sqlite:
        return LocalBudget(config)
    return SharedBudget(core, config)
