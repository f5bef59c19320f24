"""One runner for every benchmark: ``python -m bench.run [--quick] [--only B1,B4]``.

Prints a table (with the machine in its header) and writes ``bench/results.json``.
Benchmarks report figures; they never assert them.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import Context, Row, machine

__all__ = ["main"]

RESULTS = Path(__file__).with_name("results.json")

# Order matters: cheap and self-contained first.
BENCHMARKS: dict[str, tuple[str, str]] = {
    "B8": ("bench.b8_cold_start", "cold start"),
    "B4": ("bench.b4_audit", "audit verification"),
    "B1": ("bench.b1_inbound", "inbound, aiogram"),
    "B2": ("bench.b2_inbound_ptb", "inbound, python-telegram-bot"),
    "B3": ("bench.b3_outbound", "outbound follow-ups"),
    "B3m": ("bench.b3m_processes", "outbound, three processes"),
    "B5": ("bench.b5_erasure", "erasure"),
    "B6": ("bench.b6_export", "export"),
    "B7": ("bench.b7_retention", "retention sweep"),
    "B9": ("bench.b9_incident", "breach notices"),
    "B10": ("bench.b10_consent_export", "consent records export"),
}

Bench = Callable[[Context], Awaitable[list[Row]]]


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (under 2 minutes)")
    parser.add_argument("--only", default="", help="comma-separated ids, e.g. B1,B4")
    parser.add_argument(
        "--postgres",
        default=None,
        help="postgresql+asyncpg://user@host/name: B3 and B7 also run there, each in a"
        " scratch database <name>_<bench> created and dropped on that server",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON")
    return parser.parse_args(argv)


def _selected(only: str) -> list[str]:
    wanted = [_canonical(x.strip()) for x in only.split(",") if x.strip()]
    unknown = [x for x in wanted if x not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {', '.join(unknown)}")
    return wanted or list(BENCHMARKS)


def _canonical(bench_id: str) -> str:
    return next((b for b in BENCHMARKS if b.upper() == bench_id.upper()), bench_id)


def _load(module_name: str) -> Bench | None:
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and error.name.startswith("bench."):
            return None
        raise
    bench: Bench = module.run
    return bench


async def _one(bench_id: str, ctx: Context) -> tuple[list[Row], float]:
    module_name, title = BENCHMARKS[bench_id]
    start = time.perf_counter()
    try:
        bench = _load(module_name)
        rows = await bench(ctx) if bench else [Row(bench_id, title, "n/a (no benchmark yet)")]
    except Exception as error:
        traceback.print_exc()
        rows = [Row(bench_id, title, f"error: {type(error).__name__}: {str(error)[:80]}")]
    return rows, time.perf_counter() - start


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def render(rows: list[Row], facts: dict[str, Any], quick: bool) -> str:
    head = (
        f"privacy-bot benchmarks ({'quick' if quick else 'full'}) — "
        f"{facts['nproc']} cores, {facts['cpu']}, Python {facts['python']}, "
        f"load {facts['load_avg']}"
    )
    columns = ["id", "what", "ours", "baseline", "ratio", "target", "met"]
    table = [[r.bench, r.what, r.ours, r.baseline, r.ratio, r.target, r.met] for r in rows]
    cells = [columns, *[[_cell(v) for v in line] for line in table]]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = [head, ""]
    for n, line in enumerate(cells):
        lines.append(" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("-+-".join("-" * w for w in widths))
    return "\n".join(lines)


async def _run_all(args: argparse.Namespace) -> int:
    facts = machine()
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": facts,
        "benchmarks": {},
    }
    rows: list[Row] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="privacy-bench-") as tmp:
        ctx = Context(quick=args.quick, workdir=Path(tmp), postgres=args.postgres)
        for bench_id in _selected(args.only):
            print(f"... {bench_id} {BENCHMARKS[bench_id][1]}", file=sys.stderr, flush=True)
            got, seconds = await _one(bench_id, ctx)
            rows.extend(got)
            results["benchmarks"][bench_id] = {
                "seconds": round(seconds, 2),
                "rows": [r.as_json() for r in got],
            }
    results["machine"]["load_avg_end"] = machine()["load_avg"]
    results["wall_s"] = round(time.perf_counter() - started, 1)
    print(render(rows, facts, args.quick))
    print(f"\nwall {results['wall_s']} s; load at the end {results['machine']['load_avg_end']}")
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwritten: {args.out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    logging.basicConfig(level=logging.ERROR)
    return asyncio.run(_run_all(args))


if __name__ == "__main__":
    raise SystemExit(main())
