"""B10 ``privacy-bot consent export`` over N ledger decisions: memory and speed.

The ledger: N decisions, five per customer (given, withdrawn, given again on two
purposes, and a refusal), bulk-inserted with sqlite3 ``executemany`` into a migrated
SQLite database. Ours: ``consent_export_command`` writing ISO/IEC TS 27560 JSON-LD
(one record per decision, statuses walked from the ledger, the customer's language
joined in), first over N / 10 decisions, then over N: the process's peak resident
memory (``ru_maxrss``) after each; flat memory means the larger run raises the peak
by no more than a few MiB, whatever N. (Not tracemalloc: it slows Python threefold
and would spoil the timing.) Baseline: the plain statement,
``SELECT`` of the same rows in the same order through sqlite3 written with the csv
module, no records built; the ratio is ours / plain in decisions per second.
"""

from __future__ import annotations

import csv
import resource
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import Context, Row, core_settings, fmt_rate, fmt_seconds
from bot.cli.consent import consent_export_command
from core.app import open_core

__all__ = ["run"]

_FLAT_MIB = 16  # the run over N may raise the resident peak by at most this much
_PER_CUSTOMER = 5
_SQL_DATE = "%Y-%m-%d %H:%M:%S.%f"
_INSERT = (
    "INSERT INTO consents (ref, customer_ref, purpose, decision, notice_version, channel,"
    " decided_at, separately) VALUES (?, ?, ?, ?, '2026-11', 'telegram', ?, NULL)"
)
_PLAN = (("marketing", "given"), ("marketing", "withdrawn"), ("marketing", "given"),
         ("analytics", "given"), ("personalization", "withdrawn"))  # fmt: skip


def _rows(count: int) -> Iterator[tuple[str, str, str, str, str]]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(count):
        customer, step = divmod(n, _PER_CUSTOMER)
        purpose, decision = _PLAN[step]
        at = (start + timedelta(seconds=n)).replace(tzinfo=None).strftime(_SQL_DATE)
        yield f"B10-{n:09d}", f"c{customer:024x}", purpose, decision, at


def _seed(db: Path, count: int) -> float:
    started = time.perf_counter()
    con = sqlite3.connect(db)
    try:
        con.execute("PRAGMA synchronous=OFF")  # no customers rows: the join gives "en"
        batch: list[tuple[str, str, str, str, str]] = []
        for row in _rows(count):
            batch.append(row)
            if len(batch) >= 50_000:
                con.executemany(_INSERT, batch)
                batch = []
        con.executemany(_INSERT, batch)
        con.commit()
    finally:
        con.close()
    return time.perf_counter() - started


def _plain(db: Path, out: Path) -> float:
    con = sqlite3.connect(db)
    try:
        start = time.perf_counter()
        with out.open("w", newline="") as handle:
            writer = csv.writer(handle)
            for row in con.execute(
                "SELECT ref, customer_ref, purpose, decision, decided_at FROM consents"
                " ORDER BY customer_ref, purpose, decided_at, ref"
            ):
                writer.writerow(row)
        return time.perf_counter() - start
    finally:
        con.close()


async def _export(ctx: Context, count: int) -> tuple[float, int, Path, float]:
    """Seconds, the process's resident peak so far (bytes), the database, the seeding time."""
    folder = ctx.workdir / f"b10-{count}"
    folder.mkdir(parents=True, exist_ok=True)
    core = await open_core(core_settings(folder))
    db = folder / "privacy.db"
    try:
        seeded = _seed(db, count)
        start = time.perf_counter()
        code = await consent_export_command(str(folder / "out.jsonld"), "27560", None, None, core)
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
        assert code == 0
    finally:
        await core.close()
    return seconds, peak, db, seeded


async def run(ctx: Context) -> list[Row]:
    count = ctx.size(100_000, 1_000_000)
    small_s, small_peak, _, _ = await _export(ctx, count // 10)
    seconds, peak, db, seeded = await _export(ctx, count)
    plain = _plain(db, db.with_name("plain.csv"))
    ours_rate, plain_rate = count / seconds, count / plain
    ratio = ours_rate / plain_rate
    flat = peak - small_peak <= _FLAT_MIB * 1024 * 1024
    mib = 1024 * 1024
    return [
        Row(
            bench="B10",
            what=f"consent export, ISO 27560 JSON-LD, {count:,} decisions, SQLite",
            ours=f"{fmt_rate(ours_rate, 'records')} ({fmt_seconds(seconds)}),"
            f" resident peak {peak / mib:.0f} MiB"
            f" (after {count // 10:,}: {small_peak / mib:.0f} MiB)",
            baseline=f"plain SELECT to CSV {fmt_rate(plain_rate, 'rows')} ({fmt_seconds(plain)})",
            ratio=round(ratio, 3),
            # The target is the memory; the speed ratio is reported, not judged.
            target=f"memory flat: peak +<= {_FLAT_MIB} MiB from N/10 to N",
            met=flat,
            details={
                "decisions": count,
                "export_s": round(seconds, 2),
                "plain_s": round(plain, 2),
                "rss_peak_mib": round(peak / mib, 2),
                "rss_peak_after_tenth_mib": round(small_peak / mib, 2),
                "tenth_export_s": round(small_s, 2),
                "seed_s": round(seeded, 1),
            },
        )
    ]
