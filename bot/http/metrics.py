"""Counters exposed at /metrics in Prometheus text format (no client library needed)."""

from __future__ import annotations

from collections import Counter

__all__ = ["Metrics"]


class Metrics:
    def __init__(self) -> None:
        self._counters: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
        self._help: dict[str, str] = {}

    def inc(self, name: str, help_text: str, amount: int = 1, **labels: str) -> None:
        self._help.setdefault(name, help_text)
        self._counters[(name, tuple(sorted(labels.items())))] += amount

    def render(self) -> str:
        lines: list[str] = []
        for name in sorted(self._help):
            lines.append(f"# HELP {name} {self._help[name]}")
            lines.append(f"# TYPE {name} counter")
            for (metric, labels), value in sorted(self._counters.items()):
                if metric != name:
                    continue
                label_text = ",".join(f'{k}="{v}"' for k, v in labels)
                lines.append(f"{name}{{{label_text}}} {value}" if labels else f"{name} {value}")
        return "\n".join(lines) + "\n"
