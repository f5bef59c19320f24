"""What every benchmark shares: the result row, the context, timing and machine facts."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.settings import Settings

__all__ = [
    "NOT_BUILT",
    "Context",
    "Row",
    "core_settings",
    "fmt_rate",
    "fmt_seconds",
    "machine",
    "percentile",
    "stopwatch",
]

NOT_BUILT = "n/a (not built yet)"


@dataclass
class Row:
    """One line of the table: our figure, the baseline's, their ratio and the target."""

    bench: str
    what: str
    ours: str
    baseline: str = ""
    ratio: float | None = None
    target: str = ""
    met: bool | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Context:
    quick: bool
    workdir: Path
    postgres: str | None = None

    def size(self, quick: int, full: int) -> int:
        return quick if self.quick else full


def core_settings(data_dir: Path, database_url: str | None = None) -> Settings:
    """Settings for a throw-away shop in ``data_dir`` (its key file is made on first open)."""
    url = database_url or f"sqlite+aiosqlite:///{data_dir / 'privacy.db'}"
    return Settings(
        data_dir=data_dir,
        database_url=url,
        master_key=None,
        policy_file=None,
    )


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """``with stopwatch() as t: ...`` then ``t[0]`` is the elapsed seconds."""
    box: list[float] = []
    start = time.perf_counter()
    try:
        yield box
    finally:
        box.append(time.perf_counter() - start)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[max(0, min(98, round(p) - 1))]


def fmt_rate(per_second: float, unit: str) -> str:
    return f"{per_second:,.0f} {unit}/s"


def fmt_seconds(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"
