"""The bot's sending budget: permits, chats, pause; in the database or in memory.

``SendBudgetRepository`` keeps it in core/storage/tables/sending.py, shared by
every process on the database; ``MemorySendBudget`` keeps it in this process
(one process on SQLite, and unit tests). Both are a ``SendBudgetStore``.

Every comparison uses the database's clock (``clock``), read once per
transaction, so several hosts agree on what "one second" is. Nothing here
commits; the unit of work's transaction does. On PostgreSQL permits are taken
with ``FOR UPDATE SKIP LOCKED``, so two processes never take the same one; on
SQLite the write lock taken at BEGIN serialises them.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Float, delete, func, literal_column, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from core.crypto.blind_index import BlindIndexer
from core.storage.tables import SendChatRow, SendPauseRow, SendPermitRow

__all__ = ["MemorySendBudget", "SendBudgetRepository", "SendBudgetStore"]

_P, _C = SendPermitRow, SendChatRow


class SendBudgetStore(Protocol):
    """Where a budget is kept; ``core.services.outreach.sending`` holds the rules."""

    async def clock(self) -> float: ...
    async def ensure_ring(self, budget: str, size: int) -> None: ...
    async def paused_until(self, budget: str) -> float: ...
    async def pause(self, budget: str, seconds: float) -> None: ...
    async def take(
        self, budget: str, count: int, free_before: float, now: float, window: float
    ) -> list[tuple[int, float]]: ...
    async def give_back(self, budget: str, stamps: Sequence[tuple[int, float]]) -> None: ...
    async def stamp(self, budget: str, slot: int) -> None: ...
    async def stamp_later(self, budget: str, slot: int) -> None: ...
    async def next_free(self, budget: str) -> float: ...
    async def claim_chats(
        self, budget: str, chats: Sequence[int], now: float, until: float
    ) -> set[int]: ...
    async def hold_chats(self, budget: str, chats: Sequence[int], until: float) -> None: ...
    async def chats_free_at(self, budget: str, chats: Sequence[int]) -> dict[int, float]: ...
    async def purge_chats(self, before: float) -> int: ...


class SendBudgetRepository:
    def __init__(self, session: AsyncSession, indexer: BlindIndexer) -> None:
        self._session = session
        self._indexer = indexer

    @property
    def _dialect(self) -> str:
        return self._session.get_bind().dialect.name

    def _now(self) -> ColumnElement[float]:
        if self._dialect == "postgresql":
            return func.extract("epoch", func.clock_timestamp()).cast(Float)
        return literal_column("((julianday('now') - 2440587.5) * 86400.0)", Float)

    async def clock(self) -> float:
        """The database's time now, in seconds since the epoch."""
        return float(await self._session.scalar(select(self._now())) or 0.0)

    async def ensure_ring(self, budget: str, size: int) -> None:
        """Exactly ``size`` permits for ``budget`` (a restart may have changed the limit)."""
        await self._session.execute(delete(_P).where(_P.budget == budget, _P.slot >= size))
        have = set(await self._session.scalars(select(_P.slot).where(_P.budget == budget)))
        rows = [{"budget": budget, "slot": n, "at": 0.0} for n in range(size) if n not in have]
        for first in range(0, len(rows), 1000):  # a driver takes at most 32,767 parameters
            chunk = rows[first : first + 1000]
            await self._session.execute(self._insert(_P).values(chunk).on_conflict_do_nothing())

    async def paused_until(self, budget: str) -> float:
        query = select(SendPauseRow.until).where(SendPauseRow.budget == budget)
        return float(await self._session.scalar(query) or 0.0)

    async def pause(self, budget: str, seconds: float) -> None:
        """Nothing leaves for ``seconds`` from now (a longer pause already set stays)."""
        statement = self._insert(SendPauseRow).values(budget=budget, until=self._now() + seconds)
        excluded = statement.excluded.until
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=["budget"],
                set_={"until": func.max(SendPauseRow.until, excluded)}
                if self._dialect == "sqlite"
                else {"until": func.greatest(SendPauseRow.until, excluded)},
            )
        )

    async def take(
        self, budget: str, count: int, free_before: float, now: float, window: float
    ) -> list[tuple[int, float]]:
        """Up to ``count`` permits last used before ``free_before``, each stamped with the
        moment it may be used (one window after its last use, or ``now``): (slot, moment)."""
        later = func.max if self._dialect == "sqlite" else func.greatest
        free = (
            select(_P.slot)
            .where(_P.budget == budget, _P.at <= free_before)
            .order_by(_P.at)
            .limit(count)
            .with_for_update(skip_locked=True)
        )
        taken = await self._session.execute(
            update(_P)
            .where(_P.budget == budget, _P.slot.in_(free.scalar_subquery()))
            .values(at=later(_P.at + window, now))
            .returning(_P.slot, _P.at)
        )
        return [(int(slot), float(at)) for slot, at in taken]

    async def give_back(self, budget: str, stamps: Sequence[tuple[int, float]]) -> None:
        """Permits taken but not used: stamped again as they were (nothing left with them)."""
        for slot, at in stamps:
            await self._session.execute(
                update(_P).where(_P.budget == budget, _P.slot == slot).values(at=at)
            )

    async def stamp(self, budget: str, slot: int) -> None:
        """The message is leaving now: its permit's window counts from this moment."""
        await self._session.execute(
            update(_P).where(_P.budget == budget, _P.slot == slot).values(at=self._now())
        )

    async def stamp_later(self, budget: str, slot: int) -> None:
        """Stamped now, unless it already carries a later stamp (a grant since)."""
        later = func.max if self._dialect == "sqlite" else func.greatest
        await self._session.execute(
            update(_P)
            .where(_P.budget == budget, _P.slot == slot)
            .values(at=later(_P.at, self._now()))
        )

    async def next_free(self, budget: str) -> float:
        """When the earliest-used permit was last used (it frees one window later)."""
        query = select(func.min(_P.at)).where(_P.budget == budget)
        return float(await self._session.scalar(query) or 0.0)

    async def claim_chats(
        self, budget: str, chats: Sequence[int], now: float, until: float
    ) -> set[int]:
        """The chats free at ``now`` (now taken until ``until``) among ``chats``."""
        if not chats:
            return set()
        keys = {self._key(chat): chat for chat in chats}
        statement = self._insert(_C).values(
            [{"budget": budget, "chat": key, "next_at": until} for key in keys]
        )
        claimed = await self._session.scalars(
            statement.on_conflict_do_update(
                index_elements=["budget", "chat"],
                set_={"next_at": statement.excluded.next_at},
                where=_C.next_at <= now,
            ).returning(_C.chat)
        )
        return {keys[key] for key in claimed}

    async def hold_chats(self, budget: str, chats: Sequence[int], until: float) -> None:
        """Replies just sent to ``chats``: no unprompted message before ``until``."""
        if not chats:
            return
        statement = self._insert(_C).values(
            [{"budget": budget, "chat": self._key(c), "next_at": until} for c in set(chats)]
        )
        later = func.max if self._dialect == "sqlite" else func.greatest
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=["budget", "chat"],
                set_={"next_at": later(_C.next_at, statement.excluded.next_at)},
            )
        )

    async def chats_free_at(self, budget: str, chats: Sequence[int]) -> dict[int, float]:
        keys = {self._key(chat): chat for chat in chats}
        rows = await self._session.execute(
            select(_C.chat, _C.next_at).where(_C.budget == budget, _C.chat.in_(list(keys)))
        )
        return {keys[key]: float(at) for key, at in rows}

    async def purge_chats(self, before: float) -> int:
        result = await self._session.execute(delete(_C).where(_C.next_at < before))
        return int(getattr(result, "rowcount", 0))

    def _key(self, chat: int) -> str:
        # Chat ids identify people: kept only as a keyed hash, like every identity.
        return self._indexer.index("send-chat", str(chat))

    def _insert(self, table: type[Any]) -> Any:
        dialect = postgresql if self._dialect == "postgresql" else sqlite
        return dialect.insert(table)


_LONG_AGO = float("-inf")


class MemorySendBudget:
    """The budget in this process's memory, on the monotonic clock: nothing to share.

    Each ring is a heap of (stamp, slot) with stale entries skipped, so taking a
    permit costs log(size) even for a large ``per_second``.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._rings: dict[str, _Ring] = {}
        self._chats: dict[tuple[str, int], float] = {}
        self._pauses: dict[str, float] = {}

    async def clock(self) -> float:
        return self._clock()

    async def ensure_ring(self, budget: str, size: int) -> None:
        ring = self._rings.get(budget)
        if ring is None or len(ring.stamps) != size:
            self._rings[budget] = _Ring(size)

    async def paused_until(self, budget: str) -> float:
        return self._pauses.get(budget, _LONG_AGO)

    async def pause(self, budget: str, seconds: float) -> None:
        until = self._clock() + seconds
        self._pauses[budget] = max(self._pauses.get(budget, _LONG_AGO), until)

    async def take(
        self, budget: str, count: int, free_before: float, now: float, window: float
    ) -> list[tuple[int, float]]:
        return self._rings[budget].take(count, free_before, now, window)

    async def give_back(self, budget: str, stamps: Sequence[tuple[int, float]]) -> None:
        for slot, at in stamps:
            self._rings[budget].set(slot, at)

    async def stamp(self, budget: str, slot: int) -> None:
        self._rings[budget].set(slot, self._clock())

    async def stamp_later(self, budget: str, slot: int) -> None:
        ring = self._rings[budget]
        ring.set(slot, max(ring.stamps[slot], self._clock()))

    async def next_free(self, budget: str) -> float:
        return self._rings[budget].earliest()

    async def claim_chats(
        self, budget: str, chats: Sequence[int], now: float, until: float
    ) -> set[int]:
        claimed = set()
        for chat in chats:
            if self._chats.get((budget, chat), _LONG_AGO) <= now:
                self._chats[budget, chat] = until
                claimed.add(chat)
        return claimed

    async def hold_chats(self, budget: str, chats: Sequence[int], until: float) -> None:
        for chat in chats:
            self._chats[budget, chat] = max(self._chats.get((budget, chat), _LONG_AGO), until)

    async def chats_free_at(self, budget: str, chats: Sequence[int]) -> dict[int, float]:
        return {c: self._chats[budget, c] for c in chats if (budget, c) in self._chats}

    async def purge_chats(self, before: float) -> int:
        old = [key for key, at in self._chats.items() if at < before]
        for key in old:
            del self._chats[key]
        return len(old)


class _Ring:
    def __init__(self, size: int) -> None:
        self.stamps = [_LONG_AGO] * size
        self._heap = [(_LONG_AGO, slot) for slot in range(size)]

    def set(self, slot: int, at: float) -> None:
        self.stamps[slot] = at
        heapq.heappush(self._heap, (at, slot))

    def earliest(self) -> float:
        self._drop_stale()
        return self._heap[0][0]

    def take(
        self, count: int, free_before: float, now: float, window: float
    ) -> list[tuple[int, float]]:
        taken: list[tuple[int, float]] = []
        while len(taken) < count:
            self._drop_stale()
            used, slot = self._heap[0]
            if used > free_before:
                break
            heapq.heappop(self._heap)
            self.set(slot, max(used + window, now))
            taken.append((slot, self.stamps[slot]))
        return taken

    def _drop_stale(self) -> None:
        while self._heap[0][0] != self.stamps[self._heap[0][1]]:
            heapq.heappop(self._heap)
