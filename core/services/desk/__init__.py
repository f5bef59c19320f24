"""The staff desk: the request queue and its decisions, look-ups, statistics.

``queue`` holds the queue on its legal clocks, the decisions and the desk's tools;
``lookup`` finds and reveals a customer; ``stats`` counts for the desk's charts.
"""

from __future__ import annotations

__all__: list[str] = []
