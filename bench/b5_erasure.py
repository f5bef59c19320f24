"""B5 erasure: a customer with N purchases, through the real erasure job.

Set-up: a Telegram customer with name and email (through the services), then N
purchases bulk-inserted in one transaction with the customer's own
``FieldCipher`` (items encrypted exactly as ``PurchaseRepository.add`` does).
The erasure is requested, approved by staff, and run by the real job handler
(``RightsJobs.erasure``: target -> shred the key -> delete and pseudonymise).
The bench wraps the two steps of ``erase_customer`` to stamp when each one
committed:

- unreadable: job start -> the shred committed (``erase_customer`` commits it
  before it calls ``finish_erasure``: the data key is gone; checked: reading the
  purchases raises ``DataShredded``);
- purged: job start -> the job step committed (rows deleted, purchases
  pseudonymised, request completed) and the erased pages folded (WAL
  checkpointed).

Baseline: the same end state in plain SQL with sqlite3 on copies of the database
and of the key store taken just before: delete the key and journal it in the key
store (one transaction), then pseudonymise the purchases and delete the customer
with its cascades (one transaction).
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, update

from bench.common import Context, Row, core_settings, fmt_seconds
from bot.runner import settle_heap
from core.app import PrivacyCore, open_core
from core.errors import DataShredded
from core.storage.tables import JobRow, PurchaseRow
from tests.rights_helpers import approve, telegram_customer

__all__ = ["add_purchases_bulk", "run"]

_TARGET_UNREADABLE = 0.050
_CHAT = 880_001


async def add_purchases_bulk(core: PrivacyCore, ref: str, count: int, prefix: str) -> None:
    """``count`` purchases for ``ref`` in one transaction, items encrypted with its key."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    async with core.uow() as uow:
        cipher = await uow.keys.cipher(ref)
        pseudonym = uow.indexer.pseudonym("purchase", ref)
        now = uow.now()
        rows: list[dict[str, Any]] = []
        for n in range(count):
            items = [
                {"sku": f"SKU-{n % 97}", "name": "Jasmine tea 茉莉花茶", "quantity": 1 + n % 3,
                 "price": "64.95"},
                {"sku": "BAG-1", "name": "Paper bag", "quantity": 1, "price": "0.50"},
            ]  # fmt: skip
            rows.append(
                {
                    "order_id": f"{prefix}-{n:07d}",
                    "customer_ref": ref,
                    "pseudonym": pseudonym,
                    "purchased_at": start + timedelta(minutes=n),
                    "total": "130.40",
                    "currency": "HKD",
                    "items_enc": cipher.encrypt("items", json.dumps(items, ensure_ascii=False)),
                    "received_at": now,
                }
            )
        for first in range(0, count, 5000):
            await uow.session.execute(insert(PurchaseRow), rows[first : first + 5000])
        await uow.commit()


@dataclass
class Erased:
    unreadable: float
    purged: float
    shred_step: float  # the shred transaction alone (suppress contacts, delete key, audit)
    shredded_ok: bool  # purchases could not be read after the shred
    left_linked: int  # purchases still linked to the customer afterwards
    baseline: float
    setup: float


async def _request_approved(core: PrivacyCore, ref: str) -> None:
    """The customer asks, staff approve, and the erasure job is due at once."""
    from core.services.rights.erasure import RequestErasure, request_erasure

    async with core.uow() as uow:
        request, _ = await request_erasure(RequestErasure(ref), uow)
        await uow.commit()
    await approve(core, request.ref)
    async with core.uow() as uow:  # the approval poll would wait; run it now
        await uow.session.execute(
            update(JobRow).where(JobRow.state == "pending").values(run_after=uow.now())
        )
        await uow.commit()


async def _erase(core: PrivacyCore, ref: str) -> tuple[float, float, float, bool]:
    import bot.background.rights_jobs as rj
    import core.services.rights.erasure as erasure

    await _request_approved(core, ref)
    marks: dict[str, float] = {}
    shredded: list[bool] = []
    original = (erasure.shred_customer, erasure.finish_erasure)

    async def stamp_then_shred(*args: Any, **kwargs: Any) -> Any:
        marks["shred_start"] = time.perf_counter()
        return await original[0](*args, **kwargs)

    async def check_then_finish(*args: Any, **kwargs: Any) -> Any:
        # erase_customer calls this right after committing the shred.
        marks["unreadable"] = time.perf_counter()
        shredded.append(await _unreadable(core, ref))  # between the two steps
        marks["checked"] = time.perf_counter() - marks["unreadable"]
        return await original[1](*args, **kwargs)

    setattr(erasure, "shred_customer", stamp_then_shred)  # noqa: B010
    setattr(erasure, "finish_erasure", check_then_finish)  # noqa: B010
    try:
        jobs = rj.RightsJobs(core, None, None, worker="bench")
        start = time.perf_counter()
        ran = await jobs.run_due(("erasure",))  # the step, committed, then its pages folded
        end = time.perf_counter()
    finally:
        setattr(erasure, "shred_customer", original[0])  # noqa: B010
        setattr(erasure, "finish_erasure", original[1])  # noqa: B010
    if ran != 1 or "unreadable" not in marks:
        raise RuntimeError("the erasure job did not run through")
    unreadable = marks["unreadable"] - start
    purged = end - start - marks["checked"]  # the bench's own check excluded
    shred_step = marks["unreadable"] - marks["shred_start"]
    return unreadable, purged, shred_step, bool(shredded and shredded[0])


async def _unreadable(core: PrivacyCore, ref: str) -> bool:
    async with core.uow() as uow:
        try:
            async for _ in uow.purchases.for_customer(ref):
                return False
        except DataShredded:
            return True
    return False


async def _linked(core: PrivacyCore, ref: str) -> int:
    async with core.uow() as uow:
        query = select(func.count()).where(PurchaseRow.customer_ref == ref)
        return int(await uow.session.scalar(query) or 0)


def _copy(db: Path, to: Path) -> None:
    src, dst = sqlite3.connect(db), sqlite3.connect(to)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def _plain_sql(db: Path, keys: Path, ref: str) -> float:
    con = sqlite3.connect(db, isolation_level=None)
    store = sqlite3.connect(keys, isolation_level=None)
    try:
        con.execute("PRAGMA foreign_keys=ON")
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        store.execute("PRAGMA secure_delete=ON")
        start = time.perf_counter()
        store.execute("BEGIN IMMEDIATE")
        store.execute("DELETE FROM data_keys WHERE customer_ref = ?", (ref,))
        store.execute(
            "INSERT INTO erasures (customer_ref, erased_at) VALUES (?, ?)",
            (ref, datetime.now(UTC).isoformat(" ")),
        )
        store.execute("COMMIT")
        con.execute("BEGIN IMMEDIATE")
        con.execute(
            "UPDATE purchases SET customer_ref = NULL, items_enc = NULL WHERE customer_ref = ?",
            (ref,),
        )
        con.execute("DELETE FROM customers WHERE ref = ?", (ref,))
        con.execute("COMMIT")
        return time.perf_counter() - start
    finally:
        con.close()
        store.close()


async def erase_one(ctx: Context, count: int) -> Erased:
    data = ctx.workdir / "b5"
    core = await open_core(core_settings(data))
    settle_heap()  # as `privacy-bot run` does once started
    try:
        setup_start = time.perf_counter()
        ref = await telegram_customer(core, _CHAT, name="Chan Tai Man", email="tm@example.com")
        await add_purchases_bulk(core, ref, count, "B5")
        setup = time.perf_counter() - setup_start
        copy, keys_copy = data / "baseline.db", data / "baseline-keys.db"
        _copy(data / "privacy.db", copy)
        _copy(data / "keys" / "keys.db", keys_copy)
        unreadable, purged, shred_step, shredded = await _erase(core, ref)
        left = await _linked(core, ref)
    finally:
        await core.close()
    baseline = _plain_sql(copy, keys_copy, ref)
    return Erased(unreadable, purged, shred_step, shredded, left, baseline, setup)


async def run(ctx: Context) -> list[Row]:
    count = ctx.size(2000, 10_000)
    e = await erase_one(ctx, count)
    ok = e.shredded_ok and e.left_linked == 0
    details = {
        "purchases": count,
        "unreadable_s": round(e.unreadable, 4),
        "shred_step_s": round(e.shred_step, 4),
        "purged_s": round(e.purged, 4),
        "plain_sql_s": round(e.baseline, 4),
        "unreadable_checked": e.shredded_ok,
        "purchases_still_linked": e.left_linked,
        "setup_s": round(e.setup, 2),
    }
    flag = "" if ok else " (NOT ERASED)"
    return [
        Row(
            bench="B5",
            what=f"erasure, {count:,} purchases: key destroyed (unreadable){flag}",
            ours=f"{fmt_seconds(e.unreadable)} (shred step {fmt_seconds(e.shred_step)})",
            baseline="",
            target=f"< {_TARGET_UNREADABLE * 1000:.0f} ms",
            met=ok and e.unreadable < _TARGET_UNREADABLE,
            details=details,
        ),
        Row(
            bench="B5",
            what=f"erasure, {count:,} purchases: fully purged{flag}",
            ours=fmt_seconds(e.purged),
            baseline=f"plain SQL {fmt_seconds(e.baseline)}",
            ratio=round(e.purged / e.baseline, 2) if e.baseline else None,
            target="(time, x plain SQL)",
            met=None,
            details={},
        ),
    ]
