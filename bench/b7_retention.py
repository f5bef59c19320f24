"""B7 retention sweep over N expired rows vs a plain SQL DELETE of the same rows.

The rows: invoice records (pseudonymised purchases: order id, date, total,
currency, the purchase pseudonym; no customer link, no items) older than the
transaction category's legal hold (7 years), so the sweep deletes them; 100 per
pseudonym (N / 100 subjects, each audited once, as the sweep does), plus 10%
recent rows that must stay. They are bulk-inserted (sqlite3 ``executemany``;
asyncpg ``COPY`` on PostgreSQL) into a migrated database, then the database is
copied (SQLite backup API; PostgreSQL ``CREATE DATABASE ... TEMPLATE``).

Ours: ``run_retention``: the plan (one grouped query per kind of record: rows
per subject), then batches of up to 100 subjects / 10,000 rows, one transaction
each: one DELETE for the batch's subjects that also counts per subject (a
data-modifying CTE on PostgreSQL; a count, then the DELETE, under SQLite's write
lock), one ``retention.removed`` audit entry per subject, commit.
Baseline: ``DELETE FROM purchases WHERE purchased_at < cutoff`` on the copy,
one statement, one transaction. Both report rows/s; the ratio is ours / plain.
Same rows, same durability (WAL + ``synchronous=NORMAL`` on SQLite, the
server's default commit on PostgreSQL), both timed from an open connection.
Not alike by design: ours also plans (the dry run's report), commits once per
batch and writes one audit entry per subject; the baseline does none of that.
A full run on SQLite writes a cProfile of the sweep to ``bench/b7_profile.txt``.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.common import Context, Row, core_settings, fmt_rate, fmt_seconds
from bench.pg import scratch_database
from core.app import PrivacyCore, open_core
from core.services.retention import run_retention
from core.storage.tables import PurchaseRow

__all__ = ["run"]

_TARGET = 0.5
_PER_SUBJECT = 100
_CHUNK = 50_000
PROFILE = Path(__file__).with_name("b7_profile.txt")
_OLD = datetime(2015, 1, 1, tzinfo=UTC)  # past the 7-year legal hold
_CUTOFF = datetime(2019, 1, 1, tzinfo=UTC)  # everything older goes; nothing newer is old
_SQL_DATE = "%Y-%m-%d %H:%M:%S.%f"
_INSERT = (
    "INSERT INTO purchases (order_id, customer_ref, pseudonym, purchased_at, total, currency,"
    " items_enc, received_at) VALUES (?, NULL, ?, ?, '12.50', 'HKD', NULL, ?)"
)
_COLUMNS = ("order_id", "customer_ref", "pseudonym", "purchased_at", "total", "currency",
            "items_enc", "received_at")  # fmt: skip


@dataclass
class Swept:
    rows: int  # rows the sweep removed
    seconds: float
    left_old: int  # expired rows still there afterwards (should be 0)
    kept: int  # recent rows still there (should be all)


def _rows(count: int) -> Iterator[tuple[str, str, datetime, datetime]]:
    """(order id, pseudonym, purchased at, received at): ``count`` old, then 10% recent."""
    recent = datetime.now(UTC) - timedelta(days=30)
    for n in range(count + count // 10):
        old = n < count
        at = _OLD + timedelta(seconds=n) if old else recent + timedelta(seconds=n)
        subject = n // _PER_SUBJECT if old else n
        yield f"B7-{n:08d}", f"{subject:032x}", at, at


def _chunks(count: int) -> Iterator[list[tuple[str, str, datetime, datetime]]]:
    chunk: list[tuple[str, str, datetime, datetime]] = []
    for row in _rows(count):
        chunk.append(row)
        if len(chunk) >= _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _seed_sqlite(db: Path, count: int) -> None:
    con = sqlite3.connect(db)
    try:
        con.execute("PRAGMA synchronous=OFF")
        for chunk in _chunks(count):
            con.executemany(
                _INSERT,
                [(o, p, a.replace(tzinfo=None).strftime(_SQL_DATE), a.replace(tzinfo=None)
                  .strftime(_SQL_DATE)) for o, p, a, _ in chunk],
            )  # fmt: skip
        con.commit()
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()


def _copy_sqlite(db: Path, to: Path) -> None:
    src, dst = sqlite3.connect(db), sqlite3.connect(to)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=WAL")
    finally:
        src.close()
        dst.close()


def _plain_sqlite(db: Path) -> tuple[int, float]:
    con = sqlite3.connect(db, isolation_level=None)
    try:
        con.execute("PRAGMA foreign_keys=ON")
        con.execute("PRAGMA synchronous=NORMAL")
        cutoff = _CUTOFF.replace(tzinfo=None).strftime(_SQL_DATE)
        start = time.perf_counter()
        con.execute("BEGIN IMMEDIATE")
        removed = con.execute("DELETE FROM purchases WHERE purchased_at < ?", (cutoff,)).rowcount
        con.execute("COMMIT")
        return removed, time.perf_counter() - start
    finally:
        con.close()


async def _sweep(core: PrivacyCore, count: int, profile: bool = False) -> Swept:
    profiler = cProfile.Profile() if profile else None
    async with core.uow() as uow:
        start = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        plan = await run_retention(uow)
        if profiler is not None:
            profiler.disable()
        seconds = time.perf_counter() - start
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
        PROFILE.write_text(out.getvalue())
    async with core.uow() as uow:
        old = PurchaseRow.purchased_at < _CUTOFF
        left = int(await uow.session.scalar(select(func.count()).where(old)) or 0)
        kept = int(await uow.session.scalar(select(func.count()).where(~old)) or 0)
    removed = plan.totals().get("transaction_deleted", 0)
    return Swept(removed, seconds, left, kept)


async def _on_sqlite(ctx: Context, count: int) -> tuple[Swept, int, float, float]:
    data = ctx.workdir / "b7"
    core = await open_core(core_settings(data))
    try:
        start = time.perf_counter()
        _seed_sqlite(data / "privacy.db", count)
        _copy_sqlite(data / "privacy.db", data / "baseline.db")
        seed = time.perf_counter() - start
        swept = await _sweep(core, count, profile=not ctx.quick)
    finally:
        await core.close()
    removed, plain = _plain_sqlite(data / "baseline.db")
    return swept, removed, plain, seed


async def _seed_pg(url: str, count: int) -> None:
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        for chunk in _chunks(count):
            records = [(o, None, p, a, "12.50", "HKD", None, r) for o, p, a, r in chunk]
            await conn.copy_records_to_table("purchases", records=records, columns=_COLUMNS)
        await conn.execute("ANALYZE purchases")
    finally:
        await conn.close()


def _asyncpg_dsn(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _plain_pg(url: str) -> tuple[int, float]:
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        start = time.perf_counter()
        async with conn.transaction():
            status = await conn.execute("DELETE FROM purchases WHERE purchased_at < $1", _CUTOFF)
        return int(status.split()[-1]), time.perf_counter() - start
    finally:
        await conn.close()


async def _template_copy(admin_url: str, source: str, target: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    admin = make_url(admin_url).set(drivername="postgresql", database="postgres")
    conn = await asyncpg.connect(admin.render_as_string(hide_password=False))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')
    finally:
        await conn.close()


async def _on_postgres(ctx: Context, count: int) -> tuple[Swept, int, float, float]:
    from sqlalchemy.engine import make_url

    async with (
        scratch_database(ctx.postgres or "", "b7") as url,
        scratch_database(ctx.postgres or "", "b7_copy") as copy_url,
    ):
        settings = core_settings(ctx.workdir / "b7-pg", url)
        core = await open_core(settings)
        await core.close()  # migrated; a template database must have no connections
        start = time.perf_counter()
        await _seed_pg(url, count)
        source, target = make_url(url).database, make_url(copy_url).database
        assert source is not None
        assert target is not None
        await _template_copy(url, source, target)
        seed = time.perf_counter() - start
        core = await open_core(settings)
        try:
            swept = await _sweep(core, count)
        finally:
            await core.close()
        removed, plain = await _plain_pg(copy_url)
    return swept, removed, plain, seed


async def run(ctx: Context) -> list[Row]:
    count = ctx.size(50_000, 1_000_000)
    rows = [_row("SQLite", count, *await _on_sqlite(ctx, count))]
    if ctx.postgres:
        rows.append(_row("PostgreSQL", count, *await _on_postgres(ctx, count)))
    return rows


def _row(db: str, count: int, s: Swept, removed: int, plain: float, seed: float) -> Row:
    ours_rate, plain_rate = s.rows / s.seconds, removed / plain
    ratio = ours_rate / plain_rate
    correct = s.rows == count and s.left_old == 0 and s.kept == count // 10 and removed == count
    details: dict[str, Any] = {
        "rows": count,
        "subjects": count // _PER_SUBJECT,
        "removed_by_sweep": s.rows,
        "removed_by_delete": removed,
        "expired_left": s.left_old,
        "recent_kept": s.kept,
        "sweep_s": round(s.seconds, 3),
        "delete_s": round(plain, 3),
        "seed_s": round(seed, 1),
    }
    return Row(
        bench="B7",
        what=f"retention sweep, {count:,} rows, {count // _PER_SUBJECT:,} subjects, {db}"
        + ("" if correct else " (WRONG ROWS)"),
        ours=f"{fmt_rate(ours_rate, 'rows')} ({fmt_seconds(s.seconds)})",
        baseline=f"DELETE {fmt_rate(plain_rate, 'rows')} ({fmt_seconds(plain)})",
        ratio=round(ratio, 3),
        target=f">= {_TARGET} of plain DELETE",
        met=correct and ratio >= _TARGET,
        details=details,
    )
