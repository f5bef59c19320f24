"""Incident response: a personal-data breach, its clocks, and the customers' notices."""

from __future__ import annotations

from core.services.incidents.notices import (
    INCIDENT_NOTICE,
    FinishIncidentNotice,
    IncidentNoticeStart,
    NotifyIncident,
    StartIncidentNotice,
    finish_incident_notice,
    incident_notice_not_sent,
    notify_incident,
    start_incident_notice,
)
from core.services.incidents.record import (
    AssessIncident,
    CloseIncident,
    IncidentView,
    OpenIncident,
    TellAuthority,
    ViewIncident,
    assess_incident,
    close_incident,
    incident_view,
    list_incidents,
    open_incident,
    tell_authority,
    view_incident,
)

__all__ = [
    "INCIDENT_NOTICE",
    "AssessIncident",
    "CloseIncident",
    "FinishIncidentNotice",
    "IncidentNoticeStart",
    "IncidentView",
    "NotifyIncident",
    "OpenIncident",
    "StartIncidentNotice",
    "TellAuthority",
    "ViewIncident",
    "assess_incident",
    "close_incident",
    "finish_incident_notice",
    "incident_notice_not_sent",
    "incident_view",
    "list_incidents",
    "notify_incident",
    "open_incident",
    "start_incident_notice",
    "tell_authority",
    "view_incident",
]
