"""The /stats text: each figure, or plainly what is withheld and why (chat and CLI alike)."""

from __future__ import annotations

from bot.render.i18n import Translator
from core.services.desk.stats import DeskStats, RatePoint, shown

__all__ = ["stats_text"]


def stats_text(t: Translator, figures: DeskStats, titles: dict[str, str]) -> str:
    """``titles``: purpose key -> its title in ``t``'s language."""
    lines = [t("staff.stats.consent_title", month=figures.months[-1])]
    for purpose, points in figures.consent.items():
        lines.append("· " + _consent_line(t, titles.get(purpose, purpose), points[-1]))
    lines += ["", t("staff.stats.requests_title")]
    lines += [f"· {t(f'staff.state.{s}')}: {shown(n)}" for s, n in figures.by_state.items()]
    lines.append(_on_time_line(t, figures))
    lines.append(
        t(
            "staff.stats.incidents",
            incidents=figures.incidents,
            notified=figures.incidents_notified,
            on_time=figures.incidents_on_time,
        )
    )
    if figures.by_channel:
        apps = {k: shown(n) for k, n in figures.by_channel.items()}
        lines.append(
            t("staff.stats.channels", telegram=apps["telegram"], whatsapp=apps["whatsapp"])
        )
    lines += ["", t("staff.stats.small_note")]
    return "\n".join(lines)


def _consent_line(t: Translator, title: str, point: RatePoint) -> str:
    if point.rate is None:
        why = point.withheld
        return t(f"staff.stats.consent.{why}", title=title, customers=point.customers)
    return t(
        "staff.stats.consent.shown",
        title=title,
        rate=f"{point.rate:.0%}",
        given=point.given,
        customers=point.customers,
    )


def _on_time_line(t: Translator, figures: DeskStats) -> str:
    overdue = shown(figures.overdue_open)
    rate = figures.on_time_rate
    if rate is None:
        why = figures.on_time_withheld
        return t(f"staff.stats.on_time.{why}", closed=figures.closed, overdue=overdue)
    return t("staff.stats.on_time", rate=f"{rate:.0%}", closed=figures.closed, overdue=overdue)
