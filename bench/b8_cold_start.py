"""B8 cold start: ``privacy-bot --help`` and ``privacy-bot chat`` vs importing SQLAlchemy.

Each figure is the median of N fresh processes. ``chat`` reads "/help" from a pipe;
we time its first reply line (the first non-empty line after the banner) and its exit.
The chat's database is created by one warm-up run first, so the figure is a restart,
not a first install (that one is reported separately: it runs the migrations).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import Context, Row, fmt_seconds

__all__ = ["run"]

_BIN = Path(sys.executable).parent
_TARGET = 2.0


def _cli() -> list[str]:
    script = _BIN / "privacy-bot"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main())"]


def _time_exit(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def _time_chat(env: dict[str, str]) -> tuple[float, float]:
    """(seconds to the first reply line, seconds to exit) for one piped "/help"."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [*_cli(), "chat"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write("/help\n")
    proc.stdin.close()
    first_reply = float("nan")
    seen_banner = False
    for line in proc.stdout:
        if not line.strip():
            continue
        if seen_banner:
            first_reply = time.perf_counter() - start
            break
        seen_banner = True
    proc.stdout.read()
    proc.wait(timeout=60)
    return first_reply, time.perf_counter() - start


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRIVACY_", "TELEGRAM_"))}
    env["PRIVACY_DATA_DIR"] = str(data_dir)
    return env


def _median(fn: Callable[[], float], runs: int) -> float:
    return statistics.median(fn() for _ in range(runs))


async def run(ctx: Context) -> list[Row]:
    runs = ctx.size(3, 7)
    with tempfile.TemporaryDirectory(dir=ctx.workdir) as tmp:
        env = _env(Path(tmp))
        first_install = _time_chat(env)[1]  # creates the database and key file
        base = _median(lambda: _time_exit([sys.executable, "-c", _IMPORT], env), runs)
        helps = _median(lambda: _time_exit([*_cli(), "--help"], env), runs)
        chats = [_time_chat(env) for _ in range(runs)]
    reply = statistics.median(c[0] for c in chats)
    done = statistics.median(c[1] for c in chats)
    baseline = f"import sqlalchemy.ext.asyncio {fmt_seconds(base)}"
    return [
        _row("privacy-bot --help", helps, base, baseline, runs),
        _row("privacy-bot chat: first reply to /help", reply, base, baseline, runs),
        _row(
            "privacy-bot chat: /help and exit",
            done,
            base,
            baseline,
            runs,
            first_install_s=round(first_install, 3),
        ),
    ]


_IMPORT = "import sqlalchemy.ext.asyncio"


def _row(what: str, ours: float, base: float, baseline: str, runs: int, **extra: float) -> Row:
    ratio = ours / base
    return Row(
        bench="B8",
        what=what,
        ours=fmt_seconds(ours),
        baseline=baseline,
        ratio=round(ratio, 2),
        target=f"<= {_TARGET}x (time)",
        met=ratio <= _TARGET,
        details={"median_s": round(ours, 4), "baseline_s": round(base, 4), "runs": runs, **extra},
    )
