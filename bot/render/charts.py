"""The /stats chart as PNG bytes: matplotlib, Agg backend, imported only when asked.

Two panels: consent rate per purpose over the months (a point is left out where
the rate is withheld for small numbers), and requests by state (a count under 5
is drawn as an empty bar labelled "<5"). Labels come from the English catalog:
matplotlib's bundled font has no Chinese glyphs; the text sent with the chart is
in the staff member's language.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from bot.render.i18n import Translator
from core.services.desk.stats import SMALL, DeskStats, shown

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["stats_png"]


def stats_png(figures: DeskStats, purposes: dict[str, str]) -> bytes:
    """``purposes``: purpose key -> its title key in the catalog."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    t = Translator("en")
    fig, (rates, states) = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    try:
        _consent_panel(rates, figures, {k: t(v) for k, v in purposes.items()}, t)
        _request_panel(states, figures, t)
        fig.tight_layout()
        out = io.BytesIO()
        fig.savefig(out, format="png")
    finally:
        plt.close(fig)
    return out.getvalue()


def _consent_panel(ax: Axes, figures: DeskStats, titles: dict[str, str], t: Translator) -> None:
    x = list(range(len(figures.months)))
    for purpose, points in figures.consent.items():
        y = [float("nan") if p.rate is None else 100 * p.rate for p in points]
        ax.plot(x, y, marker="o", label=titles.get(purpose, purpose))
    ax.set_xticks(x, figures.months, rotation=30, fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_ylabel("%")
    ax.set_title(t("staff.chart.consent"), fontsize=10)
    ax.legend(fontsize=7, loc="upper left")


def _request_panel(ax: Axes, figures: DeskStats, t: Translator) -> None:
    states = list(figures.by_state)
    counts = [figures.by_state[s] for s in states]
    heights = [n if n >= SMALL else 0 for n in counts]
    bars = ax.bar(range(len(states)), heights, color="#4c72b0")
    ax.bar_label(bars, labels=[shown(n) for n in counts], fontsize=8)
    ax.set_xticks(range(len(states)), [t(f"staff.state.{s}") for s in states], fontsize=8)
    ax.set_title(t("staff.chart.requests"), fontsize=10)
