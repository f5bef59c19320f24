"""What one consent press costs the core, without Telegram: ``python -m bench.press_probe``.

Drives ``FlowEngine.handle`` directly (the same flow, policy, database and audit as
B1/B2, no framework, no HTTP) for N presses and prints wall and CPU time per press
(CPU includes aiosqlite's thread) and the SQL statements per press by kind. A
diagnostic for B1/B2, not a benchmark: it has no baseline and prints no ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bench.common import core_settings
from bench.pg import scratch_database
from bot.conversation import EventKind, FlowEngine, Incoming, Outcome
from core.app import open_core

__all__ = ["main"]

_USER = 2


def _toggle(outcome: Outcome) -> str:
    """The marketing toggle's payload on the last keyboard drawn."""
    for reply in reversed(outcome.replies):
        if len(reply.buttons) > 1:
            return reply.buttons[1][0].data
    raise RuntimeError("no consent keyboard in the reply")


async def probe(presses: int, database_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        core = await open_core(core_settings(Path(workdir), database_url))
        statements: Counter[str] = Counter()
        measuring = [False]

        def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if measuring[0]:
                statements[statement.split()[0].upper()] += 1

        event.listen(core.db.engine.sync_engine, "before_cursor_execute", count)
        engine = FlowEngine(core)
        try:
            data = _toggle(await engine.handle(Incoming(_USER, _USER, EventKind.COMMAND, "start")))
            for measuring[0] in (False, True):  # a warm-up round, then the measured one
                wall, cpu = time.perf_counter(), time.process_time()
                for _ in range(presses):
                    event_ = Incoming(_USER, _USER, EventKind.BUTTON, data=data, message_id=1)
                    data = _toggle(await engine.handle(event_))
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        finally:
            await core.close()
    per_press = {kind: round(n / presses, 1) for kind, n in sorted(statements.items())}
    print(
        f"per press: wall {wall / presses * 1000:.2f} ms, cpu {cpu / presses * 1000:.2f} ms;"
        f" statements {per_press}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.press_probe", description=__doc__)
    parser.add_argument("--presses", type=int, default=300)
    parser.add_argument(
        "--postgres",
        default=None,
        help="postgresql+asyncpg://user@host/name: run in a scratch database <name>_press_probe",
    )
    args = parser.parse_args()
    asyncio.run(_run(args.presses, args.postgres))


async def _run(presses: int, postgres: str | None) -> None:
    if postgres is None:
        await probe(presses, None)
        return
    async with scratch_database(postgres, "press_probe") as url:
        await probe(presses, url)


if __name__ == "__main__":
    main()
