"""The report for the authority: ``incident-<id>.json`` and ``incident-<id>.html``.

The timeline, the data categories, customers affected per regime and language,
notices sent and not deliverable, and each regulator's clock met or missed.
Pseudonymous throughout: counts, never a customer; the staff summary is the shop's
own account of what happened, for the authority.
"""

from __future__ import annotations

import html
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from core.services.incidents import IncidentView

__all__ = ["REPORT_FORMAT", "report_data", "report_files", "write_report"]

REPORT_FORMAT = "privacy-incident-report/1"
_NOTICE_STATES = ("sent", "queued", "sending", "uncertain", "undeliverable", "erased")


def report_data(view: IncidentView, shop_officer: str, now: datetime) -> dict[str, Any]:
    i = view.incident
    notices = {s: view.told(s) for s in _NOTICE_STATES}
    return {
        "format": REPORT_FORMAT,
        "incident": i.ref,
        "written_at": now.isoformat(),
        "state": i.state.value,
        "privacy_officer": shop_officer,
        "summary": i.summary,
        "aware_at": i.aware_at.isoformat(),
        "categories": list(i.categories),
        "window": {
            "all_customers": i.all_customers,
            "from": i.held_from.isoformat() if i.held_from else None,
            "until": i.held_until.isoformat() if i.held_until else None,
        },
        "risk": i.risk.value if i.risk else None,
        "measures": [m.value for m in i.measures],
        "timeline": [
            {"at": at.isoformat(), "state": state.value, "note": note}
            for at, state, note in i.history
        ],
        "affected": {
            "customers": sum(view.affected.values()),
            "erased_since": sum(view.erased.values()),
            "by_regime": dict(sorted(view.by_regime.items())),
            "by_language": dict(sorted(view.by_language.items())),
        },
        "notices": notices,
        "clocks": [
            {
                "regime": c.regime,
                "audience": c.audience.value,
                "hours": c.hours,
                "due_at": c.due_at.isoformat(),
                "customers": c.customers,
                "threshold": c.threshold,
                "applies": c.applies,
                "done_at": c.done_at.isoformat() if c.done_at else None,
                "met": c.met if c.done_at else (False if c.overdue(now) else None),
            }
            for c in view.clocks
        ],
    }


def report_files(data: dict[str, Any]) -> dict[str, bytes]:
    """File name -> content: the JSON for machines, the HTML page for people."""
    stem = f"incident-{data['incident']}"
    return {
        f"{stem}.json": (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode(),
        f"{stem}.html": _html(data).encode(),
    }


def write_report(data: dict[str, Any], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in report_files(data).items():
        (folder / name).write_bytes(content)
        written.append(folder / name)
    return written


def _html(d: dict[str, Any]) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(c['regime'])}</td><td>{e(c['audience'])}</td><td>{c['hours']} h</td>"
        f"<td>{e(c['due_at'])}</td><td>{c['customers']}</td><td>{e(_met(c))}</td></tr>"
        for c in d["clocks"]
    )
    timeline = "".join(
        f"<li>{e(t['at'])}: {e(t['state'])} {e(t['note'])}</li>" for t in d["timeline"]
    )
    counts = "".join(
        f"<li>{e(k)}: {v}</li>"
        for k, v in {**d["affected"]["by_regime"], **d["affected"]["by_language"]}.items()
    )
    notices = "".join(f"<li>{e(k)}: {v}</li>" for k, v in d["notices"].items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Incident {e(d["incident"])}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}
td,th{{border:1px solid #999;padding:.3em .6em}}table{{border-collapse:collapse}}</style></head>
<body><h1>Personal-data breach {e(d["incident"])}</h1>
<p>State: {e(d["state"])}. Aware: {e(d["aware_at"])}. Risk: {e(str(d["risk"]))}.
Privacy officer: {e(d["privacy_officer"])}. Written {e(d["written_at"])}.</p>
<h2>What happened</h2><p>{e(d["summary"])}</p>
<h2>Data categories</h2><p>{e(", ".join(d["categories"]))}</p>
<h2>Measures taken</h2><p>{e(", ".join(d["measures"]) or "none recorded")}</p>
<h2>Customers affected</h2><p>{d["affected"]["customers"]} held now,
{d["affected"]["erased_since"]} erased since (counted, not messaged).</p><ul>{counts}</ul>
<h2>Notices</h2><ul>{notices}</ul>
<h2>Clocks</h2><table><tr><th>regime</th><th>to tell</th><th>within</th><th>due</th>
<th>customers</th><th>standing</th></tr>{rows}</table>
<h2>Timeline</h2><ul>{timeline}</ul></body></html>
"""


def _met(clock: dict[str, Any]) -> str:
    if not clock["applies"]:
        return "does not apply"
    return {True: "met", False: "missed", None: "running"}[clock["met"]]
