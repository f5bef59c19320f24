"""The /stats chart as PNG bytes: matplotlib, Agg backend, imported only when asked.

Two panels: consent rate per purpose over the months (a point is left out where
the rate is withheld for small numbers; a panel with nothing to draw says so), and
requests by state (a count under 5 is drawn as a pale band up to 5 labelled "<5":
somewhere in there, not how many). Labels are in the staff member's language,
drawn with Noto Sans CJK (shipped by the ``mplfonts`` package, or found on the
system); with no CJK font at all the labels fall back to English, and a log line
says so, rather than drawing empty boxes.
"""

from __future__ import annotations

import io
import logging
from functools import cache
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING

from bot.render.i18n import DEFAULT_LOCALE, Translator
from core.services.desk.stats import SMALL, DeskStats, shown

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["cjk_font", "stats_chart", "stats_png"]

log = logging.getLogger(__name__)

_SHIPPED = "NotoSansCJKsc-Regular.otf"  # the full Noto Sans CJK: Traditional glyphs too
_SYSTEM = ("NotoSansCJK", "NotoSerifCJK", "SourceHanSans", "wqy-")


def stats_png(figures: DeskStats, purposes: dict[str, str], t: Translator) -> bytes:
    """``purposes``: purpose key -> its title key in the catalog."""
    from matplotlib import pyplot as plt

    fig = stats_chart(figures, purposes, t)
    try:
        out = io.BytesIO()
        fig.savefig(out, format="png")
    finally:
        plt.close(fig)
    return out.getvalue()


def stats_chart(figures: DeskStats, purposes: dict[str, str], t: Translator) -> Figure:
    """The figure, laid out; the caller closes it (``pyplot.close``)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    font = cjk_font()
    if font is None and t.locale != DEFAULT_LOCALE:
        log.warning("no CJK font found; the /stats chart is labelled in English")
        t = Translator(DEFAULT_LOCALE)
    # Named families, not "sans-serif": each text keeps them up to the drawing.
    with plt.rc_context({"font.family": [font or "DejaVu Sans", "DejaVu Sans"]}):
        fig, (rates, states) = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
        _consent_panel(rates, figures, {k: t(v) for k, v in purposes.items()}, t)
        _request_panel(states, figures, t)
        fig.tight_layout()
    return fig


@cache
def cjk_font() -> str | None:
    """The family name of a font with Chinese glyphs, registered with matplotlib; None if none."""
    from matplotlib import font_manager

    path = _shipped_font() or _system_font(font_manager.findSystemFonts())
    if path is None:
        return None
    font_manager.fontManager.addfont(str(path))
    return str(font_manager.FontProperties(fname=str(path)).get_name())


def _shipped_font() -> Path | None:
    spec = find_spec("mplfonts")  # locates the package without running its import-time code
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "fonts" / _SHIPPED
    return path if path.is_file() else None


def _system_font(paths: list[str]) -> Path | None:
    return next((Path(p) for p in sorted(paths) if any(n in Path(p).name for n in _SYSTEM)), None)


def _consent_panel(ax: Axes, figures: DeskStats, titles: dict[str, str], t: Translator) -> None:
    x = list(range(len(figures.months)))
    drawn = False
    for purpose, points in figures.consent.items():
        y = [float("nan") if p.rate is None else 100 * p.rate for p in points]
        if any(p.rate is not None for p in points):
            ax.plot(x, y, marker="o", label=titles.get(purpose, purpose))
            drawn = True
    ax.set_xticks(x, figures.months, rotation=30, fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_ylabel("%")
    ax.set_title(t("staff.chart.consent"), fontsize=10)
    if drawn:
        ax.legend(fontsize=7, loc="upper left")
    else:
        ax.text(
            0.5,
            0.5,
            t("staff.chart.withheld"),
            ha="center",
            va="center",
            transform=ax.transAxes,
            fontsize=9,
            wrap=True,
        )


def _request_panel(ax: Axes, figures: DeskStats, t: Translator) -> None:
    from matplotlib.ticker import MaxNLocator

    states = list(figures.by_state)
    counts = [figures.by_state[s] for s in states]
    small = [n < SMALL for n in counts]
    bars = ax.bar(
        range(len(states)),
        [SMALL if s else n for s, n in zip(small, counts, strict=True)],
        color=["#c9d3e6" if s else "#4c72b0" for s in small],
    )
    for bar, s in zip(bars, small, strict=True):
        if s:
            bar.set_hatch("//")
    ax.bar_label(bars, labels=[shown(n) for n in counts], fontsize=8)
    ax.set_ylim(0, max([SMALL, *counts]) * 1.2)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xticks(
        range(len(states)),
        [t(f"staff.state.{s}") for s in states],
        fontsize=8,
        rotation=30,
        ha="right",
    )
    ax.set_title(t("staff.chart.requests"), fontsize=10)
    if any(small):
        ax.text(
            0.99,
            0.98,
            t("staff.chart.small_band"),
            ha="right",
            va="top",
            transform=ax.transAxes,
            fontsize=7,
        )
