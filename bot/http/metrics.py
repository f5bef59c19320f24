"""Counters and gauges exposed at /metrics in Prometheus text format (no client library).

A gauge is read when /metrics is asked for: ``watch`` registers a function that
answers its current values by label set.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping

__all__ = ["Labels", "Metrics"]

Labels = tuple[tuple[str, str], ...]


class Metrics:
    def __init__(self) -> None:
        self._counters: Counter[tuple[str, Labels]] = Counter()
        self._help: dict[str, str] = {}
        self._gauges: dict[str, Callable[[], Mapping[Labels, float]]] = {}

    def inc(self, name: str, help_text: str, amount: int = 1, **labels: str) -> None:
        self._help.setdefault(name, help_text)
        self._counters[(name, tuple(sorted(labels.items())))] += amount

    def watch(self, name: str, help_text: str, read: Callable[[], Mapping[Labels, float]]) -> None:
        """A gauge whose values ``read()`` gives when rendered."""
        self._help[name] = help_text
        self._gauges[name] = read

    def render(self) -> str:
        lines: list[str] = []
        for name in sorted(self._help):
            kind = "gauge" if name in self._gauges else "counter"
            lines.append(f"# HELP {name} {self._help[name]}")
            lines.append(f"# TYPE {name} {kind}")
            values = self._gauges[name]() if name in self._gauges else self._counted(name)
            for labels, value in sorted(values.items()):
                label_text = ",".join(f'{k}="{v}"' for k, v in labels)
                shown = f"{value:g}" if isinstance(value, float) else str(value)
                lines.append(f"{name}{{{label_text}}} {shown}" if labels else f"{name} {shown}")
        return "\n".join(lines) + "\n"

    def _counted(self, name: str) -> dict[Labels, float]:
        return {
            labels: value for (metric, labels), value in self._counters.items() if metric == name
        }
