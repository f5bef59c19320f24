"""B4 audit verification: ``verify_audit`` over N entries vs hashing the same bytes.

The log is built fast: entries are hashed with the database's own chain key
(``indexer.derive("audit-chain")``) under the current chain version and
bulk-inserted with sqlite3, then the head row is set, so the real verifier sees a
real, intact chain. The baselines hash exactly the bytes the verifier hashes
(``core.audit.entry_message``: previous hash + the entry's stored columns), with
plain ``hashlib.sha256`` and with ``hmac.new`` (what the chain's MAC is), timed
chunk by chunk while building so memory stays flat.
"""

from __future__ import annotations

import cProfile
import hashlib
import hmac
import io
import pstats
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import Context, Row, core_settings, fmt_rate, fmt_seconds, stopwatch
from core.app import PrivacyCore, open_core
from core.audit import CHAIN_VERSION, GENESIS_HASH, AuditEntry, at_text, details_text, entry_message
from core.services import verify_audit

__all__ = ["run"]

_CHUNK = 10_000
PROFILE = Path(__file__).with_name("b4_profile.txt")
_TARGET = 0.3
_ACTIONS = ("consent.given", "consent.withdrawn", "customer.registered", "survey.answered")
_INSERT = (
    "INSERT INTO audit_entries (seq, at, actor_kind, actor_ref, action, subject_ref, purpose,"
    " outcome, details, prev_hash, hash, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


@dataclass
class Verified:
    seconds: float
    ok: bool
    count: int
    verdict: str


@dataclass
class Baseline:
    sha256_s: float = 0.0
    hmac_s: float = 0.0


def _entry(seq: int, prev: str, start: datetime) -> AuditEntry:
    customer = f"c{seq % 5000:031d}"
    return AuditEntry(
        seq=seq,
        at=start + timedelta(milliseconds=seq),
        actor_kind="customer",
        actor_ref=customer,
        action=_ACTIONS[seq % len(_ACTIONS)],
        subject_ref=customer,
        purpose="marketing" if seq % 2 else None,
        outcome="ok",
        details={"channel": "telegram", "notice": "2026-11", "n": seq % 7},
        prev_hash=prev,
        version=CHAIN_VERSION,
    )


def _time_baselines(messages: list[bytes], key: bytes, base: Baseline) -> None:
    sha256, new = hashlib.sha256, hmac.new
    t0 = time.perf_counter()
    for m in messages:
        sha256(m).hexdigest()
    t1 = time.perf_counter()
    for m in messages:
        new(key, m, sha256).hexdigest()
    base.sha256_s += t1 - t0
    base.hmac_s += time.perf_counter() - t1


def _row_of(e: AuditEntry, digest: str) -> tuple[object, ...]:
    # As the product stores it: ``at`` as SQLite's UTC text, details as their JSON text.
    return (e.seq, at_text(e.at), e.actor_kind, e.actor_ref, e.action, e.subject_ref,
            e.purpose, e.outcome, details_text(e.details), e.prev_hash, digest,
            e.version)  # fmt: skip


def _chunk(
    first: int, last: int, prev: str, key: bytes
) -> tuple[list[tuple[object, ...]], list[bytes], str]:
    rows, messages = [], []
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for seq in range(first, last):
        entry = _entry(seq, prev, start)
        message = entry_message(entry)
        prev = hmac.new(key, message, hashlib.sha256).hexdigest()
        rows.append(_row_of(entry, prev))
        messages.append(message)
    return rows, messages, prev


def build_log(db_file: Path, key: bytes, count: int) -> Baseline:
    """Write ``count`` chained entries straight into the database; time the baselines.

    The hash is computed as ``core.audit.entry_hash`` does; if the two ever drift
    apart, the verification below reports the chain broken at entry 1.
    """
    base, prev = Baseline(), GENESIS_HASH
    con = sqlite3.connect(db_file)
    try:
        con.execute("PRAGMA synchronous=OFF")
        for first in range(1, count + 1, _CHUNK):
            rows, messages, prev = _chunk(first, min(first + _CHUNK, count + 1), prev, key)
            _time_baselines(messages, key, base)
            con.executemany(_INSERT, rows)
        con.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (count, prev))
        con.commit()
    finally:
        con.close()
    return base


async def _verify(core: PrivacyCore) -> Verified:
    async with core.uow() as uow:
        with stopwatch() as t:
            result = await verify_audit(uow)
    return Verified(t[0], result.ok, result.count, result.describe())


async def _profile(core: PrivacyCore) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    await _verify(core)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
    return out.getvalue()


async def run(ctx: Context) -> list[Row]:
    count = ctx.size(40_000, 1_000_000)
    data = ctx.workdir / "b4"
    core = await open_core(core_settings(data))
    try:
        with stopwatch() as build:
            base = build_log(data / "privacy.db", core.indexer.derive("audit-chain"), count)
        ours = await _verify(core)
        if not ctx.quick:  # profiling doubles the time; the quick run skips it
            PROFILE.write_text(await _profile(core))
    finally:
        await core.close()
    return [_row(count, ours, base, build[0])]


def _row(count: int, v: Verified, base: Baseline, build: float) -> Row:
    sha, mac = count / base.sha256_s, count / base.hmac_s
    rate = count / v.seconds
    ratio = rate / sha
    return Row(
        bench="B4",
        what=f"verify_audit, {count:,} entries ({'ok' if v.ok else 'BROKEN'})",
        ours=f"{fmt_rate(rate, 'entries')} ({fmt_seconds(v.seconds)})",
        baseline=f"hashlib {fmt_rate(sha, 'entries')}; hmac {fmt_rate(mac, 'entries')}",
        ratio=round(ratio, 3),
        target=f">= {_TARGET} of hashlib",
        met=v.ok and ratio >= _TARGET,
        details={
            "entries": count,
            "sha256_per_s": round(sha),
            "hmac_per_s": round(mac),
            "build_s": round(build, 1),
            "verify_s": round(v.seconds, 3),
            "verdict": v.verdict,
            "ratio_vs_hmac": round(rate / mac, 3),
        },
    )
