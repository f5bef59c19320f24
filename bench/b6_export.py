"""B6 export: the customer's ZIP (``bot.render.export.build_export``) for N purchases.

Two customers in one database, set up like B5 (services, then purchases
bulk-inserted with their own cipher): a small one and a big one (5x the
purchases). For each: export time (without tracing), then the peak of Python
allocations during a second export under ``tracemalloc``. Memory is flat when
the big customer's peak is close to the small one's; the ratio column is
big peak / small peak (1.0 = perfectly flat, 5.0 = grows with the purchases).
The ZIP's size is reported too: ``ExportFile.content`` holds the whole archive
in memory, so that part of the peak grows with the history by design.
"""

from __future__ import annotations

import time
import tracemalloc
from dataclasses import dataclass

from bench.b5_erasure import add_purchases_bulk
from bench.common import Context, Row, core_settings, fmt_seconds
from bot.render.export import build_export
from core.app import PrivacyCore, open_core
from tests.rights_helpers import telegram_customer

__all__ = ["run"]

_FLAT = 1.5  # peak(5x purchases) / peak(1x): our line for "flat"


@dataclass
class Exported:
    purchases: int
    seconds: float
    peak: int  # bytes, tracemalloc
    zip_bytes: int


async def _export(core: PrivacyCore, ref: str, count: int) -> Exported:
    start = time.perf_counter()
    built = await build_export(core, ref)
    seconds = time.perf_counter() - start
    if built.purchases != count:
        raise RuntimeError(f"export has {built.purchases} purchases, expected {count}")
    del built
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        built = await build_export(core, ref)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return Exported(count, seconds, peak, len(built.content))


async def run(ctx: Context) -> list[Row]:
    small, big = ctx.size(1000, 2000), ctx.size(5000, 10_000)
    core = await open_core(core_settings(ctx.workdir / "b6"))
    try:
        results = []
        for n, count in enumerate((small, big)):
            ref = await telegram_customer(core, 990_001 + n, name="Chan Tai Man")
            await add_purchases_bulk(core, ref, count, f"B6-{n}")
            results.append(await _export(core, ref, count))
    finally:
        await core.close()
    lo, hi = results
    growth = hi.peak / lo.peak if lo.peak else 0.0
    return [
        Row(
            bench="B6",
            what=f"export ZIP, {hi.purchases:,} purchases (vs {lo.purchases:,})",
            ours=f"{fmt_seconds(hi.seconds)}; peak {_mib(hi.peak)}, zip {_mib(hi.zip_bytes)}",
            baseline=f"{lo.purchases:,}: {fmt_seconds(lo.seconds)}; peak {_mib(lo.peak)}",
            ratio=round(growth, 2),
            target=f"peak ratio <= {_FLAT} (flat)",
            met=growth <= _FLAT,
            details={
                f"{e.purchases}": {
                    "export_s": round(e.seconds, 3),
                    "purchases_per_s": round(e.purchases / e.seconds),
                    "peak_bytes": e.peak,
                    "zip_bytes": e.zip_bytes,
                }
                for e in results
            },
        )
    ]


def _mib(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MiB"
